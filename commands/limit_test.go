package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// /status says when a limited agent goes on, and that nothing is to do.
func TestStatusTextLimited(t *testing.T) {
	now := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	ss := []fleet.Status{
		{Name: "builder", State: claude.Limited, Reason: claude.ReasonUsageLimit, ResetsAt: "2026-12-03T14:00:00Z", Since: now.Add(-time.Hour)},
		{Name: "weekly", State: claude.Limited, Reason: claude.ReasonWeeklyLimit, ResetsAt: "2026-12-05T19:00:00Z"},
		{Name: "unknown-reset", State: claude.Limited, Reason: claude.ReasonSpendLimit},
		{Name: "ok", State: claude.Idle},
	}
	got := StatusText(ss, now)
	for _, want := range []string{
		"4 agents: 1 idle, 3 limited",
		"⏳ builder — limited until 14:00 (continues by itself) · 5-hour usage limit reached",
		"⏳ weekly — limited until Sat 19:00 (continues by itself) · weekly usage limit reached",
		"⏳ unknown-reset — limited (continues by itself)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/status lacks %q:\n%s", want, got)
		}
	}
}

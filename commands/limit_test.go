package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
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

// The morning report and the timeline count the hours lost to usage limits
// per agent; the limit is not an outage (no incident).
func TestReportLimitedHours(t *testing.T) {
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	recs := []audit.Record{
		{Time: now.Add(-6 * time.Hour), Kind: audit.KindTransition, Agents: []string{"builder"}, From: "working", To: "limited", Reason: "usage_limit"},
		{Time: now.Add(-4 * time.Hour), Kind: audit.KindTransition, Agents: []string{"builder"}, From: "limited", To: "working"},
		{Time: now.Add(-3 * time.Hour), Kind: audit.KindTransition, Agents: []string{"docs"}, From: "idle", To: "limited", Reason: "weekly_limit"},
		{Time: now.Add(-150 * time.Minute), Kind: audit.KindTransition, Agents: []string{"docs"}, From: "limited", To: "exited"},
		{Time: now.Add(-140 * time.Minute), Kind: audit.KindTransition, Agents: []string{"docs"}, From: "exited", To: "limited", Reason: "weekly_limit"},
	}
	got := Report(ReportInput{Now: now, Loc: time.UTC, Records: recs,
		Agents: []fleet.Status{{Name: "builder", State: claude.Working}, {Name: "docs", State: claude.Limited, Reason: claude.ReasonWeeklyLimit}}})
	for _, want := range []string{"Usage limits: 4 h 50 m lost — docs 2 h 50 m, builder 2 h", "Last 24 h: 1 incident(s), 10 outage minutes"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	tl := audit.Timeline(recs, time.UTC, now)
	for _, want := range []string{"usage limit (continues after the reset)", "weekly usage limit (continues after the reset)"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
}

type noRestarter struct{ asked [][]string }

func (n *noRestarter) Restart(_ context.Context, names []string) []fleet.RestartResult {
	n.asked = append(n.asked, names)
	return nil
}

// /restart leaves a limited agent alone unless it is named, and then warns
// that a restart loses the automatic continue before asking to confirm.
func TestRestartOfALimitedAgentWarns(t *testing.T) {
	acl := NewACL()
	acl.Grant("telegram", RoleOperator, "2")
	h := NewHandler(Options{ACL: acl, Audit: &memAudit{}, Now: func() time.Time { return now }})
	rs := &noRestarter{}
	RegisterRecovery(h, Recovery{Restarter: rs, Fleet: &fakeFleet{sts: []fleet.Status{
		{Name: "builder", State: claude.Limited, Reason: claude.ReasonUsageLimit, ResetsAt: "2026-12-03T14:00:00Z"},
		{Name: "docs", State: claude.Exited},
	}}})
	got := ask(t, h, "2", true, "/restart")
	if !strings.Contains(got, "Restart 1 agent(s): docs?") || strings.Contains(got, "builder") {
		t.Errorf("/restart: %q, want only docs offered", got)
	}
	got = ask(t, h, "2", true, "/restart builder")
	if !strings.Contains(got, "builder is at a usage limit") || !strings.Contains(got, "loses that automatic continue") || !strings.Contains(got, "Restart 1 agent(s): builder?") {
		t.Errorf("/restart builder: %q, want the warning and a question", got)
	}
	if len(rs.asked) != 0 {
		t.Errorf("restarted %v before any confirmation", rs.asked)
	}
}

package daemon

import (
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// What the limit notices say: one line per window, with the reset time in
// the local zone and the promise that nothing is to be done.
func TestLimitText(t *testing.T) {
	now := time.Date(2026, 12, 3, 11, 0, 0, 0, time.Local)
	reset := time.Date(2026, 12, 3, 14, 0, 0, 0, time.Local)
	zone := reset.Format("MST")
	many := make([]string, 13)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	tests := []struct {
		a           fleet.LimitAction
		title, text string
	}{
		{fleet.LimitAction{Kind: fleet.LimitNotice, Agents: many, Reason: claude.ReasonUsageLimit, ResetsAt: reset},
			"Usage limit", "Usage limit on 13 agents · resets 14:00 " + zone + " · they continue by themselves"},
		{fleet.LimitAction{Kind: fleet.LimitNotice, Agents: []string{"builder"}, Reason: claude.ReasonWeeklyLimit, ResetsAt: reset.Add(48 * time.Hour)},
			"Weekly limit", "Weekly limit on 1 agent · resets Sat 5 Dec 14:00 " + zone + " · it continues by itself: builder"},
		{fleet.LimitAction{Kind: fleet.LimitNotice, Agents: []string{"x", "y"}, Reason: claude.ReasonSpendLimit},
			"Spend limit", "Spend limit on 2 agents · reset time not shown · they continue by themselves: x, y"},
		{fleet.LimitAction{Kind: fleet.LimitBack, Agents: []string{"a", "b"}, Lost: 3*time.Hour + 4*time.Minute},
			"Back after the usage limit", "a, b went on after the limit (3h4m lost at most)"},
		{fleet.LimitAction{Kind: fleet.LimitWaiting, Agents: []string{"c"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset},
			"Still waiting after the limit reset", "c is still limited after the reset (resets 14:00 " + zone + "). /peek it; /send c continue"},
	}
	for _, tt := range tests {
		title, text := limitText(tt.a, now)
		if title != tt.title || text != tt.text {
			t.Errorf("%s: got %q / %q, want %q / %q", tt.a.Kind, title, text, tt.title, tt.text)
		}
	}
}

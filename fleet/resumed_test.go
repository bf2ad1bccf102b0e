package fleet

import (
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// The judgement of a resumed agent's screens, step by step, on a clock the
// test moves: which failure is history, which is new.
func TestResumedHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	old := Status{State: claude.AuthFailed, Reason: claude.ReasonExpired, Evidence: "Login expired · Please run /login", unconfirmed: true}
	idle := Status{State: claude.Idle}
	working := Status{State: claude.Working}
	other := Status{State: claude.APIError, Reason: claude.ReasonOverloaded, Evidence: "API Error: 529 overloaded", unconfirmed: true}
	confirmed := old
	confirmed.unconfirmed = false

	type step struct {
		at        time.Duration // since the restart; negative: captured before it
		screen    Status
		wantState claude.State
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"old error at start is history, and stays so", []step{
			{time.Second, old, claude.Idle}, {10 * time.Minute, old, claude.Idle}}},
		{"a screen from before the restart leaves the mark", []step{
			{-time.Second, confirmed, claude.AuthFailed}, {2 * time.Second, old, claude.Idle}}},
		{"no old error at start: a failure later is new", []step{
			{time.Second, idle, claude.Idle}, {2 * time.Minute, old, claude.AuthFailed}}},
		{"a new turn ends the excuse", []step{
			{time.Second, old, claude.Idle}, {5 * time.Second, working, claude.Working}, {9 * time.Second, old, claude.AuthFailed}}},
		{"another error than the one resumed is new", []step{
			{time.Second, old, claude.Idle}, {5 * time.Second, other, claude.APIError}}},
		{"a failure with its placeholder is live", []step{
			{time.Second, confirmed, claude.AuthFailed}, {2 * time.Second, old, claude.AuthFailed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(Options{Now: func() time.Time { return t0 }})
			f.markResumed("a", "%1")
			for i, s := range tt.steps {
				st := s.screen
				st.Name, st.PaneID = "a", "%1"
				got := f.resumedHistory(st, t0.Add(s.at))
				if got.State != s.wantState {
					t.Errorf("step %d (%v, %s): state %s, want %s", i, s.at, s.screen.State, got.State, s.wantState)
				}
			}
		})
	}
}

package fleet

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// The usage-limit cycle as the policy sees it, scan by scan: one notice
// for the window, nothing while the agents wait, the ones that went on
// reported back, the one relaunched during the wait prompted once after the
// reset and grace, never one that still waits, and a late one told about.
func TestLimitsCycle(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	reset := t0.Add(3 * time.Hour)
	l := NewLimits(LimitOptions{AutoResume: true, Prompt: "continue", Grace: 2 * time.Minute})
	limited := func(name string, noResume bool) Status {
		return Status{Name: name, State: claude.Limited, Reason: claude.ReasonUsageLimit, ResetsAt: reset.Format(time.RFC3339), NoResume: noResume}
	}
	idle := func(name string) Status { return Status{Name: name, State: claude.Idle} }
	working := func(name string) Status { return Status{Name: name, State: claude.Working} }
	exited := func(name string) Status { return Status{Name: name, State: claude.Exited} }

	steps := []struct {
		at   time.Time
		sts  []Status
		want []LimitAction
	}{
		{t0, []Status{limited("a", false), limited("b", false), idle("c")},
			[]LimitAction{{Kind: LimitNotice, Agents: []string{"a", "b"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset}}},
		// c joins the same window a minute later: no second notice.
		{t0.Add(time.Minute), []Status{limited("a", false), limited("b", false), limited("c", false)}, nil},
		// b is relaunched during the wait: exited, then its CLI will not resume.
		{t0.Add(time.Hour), []Status{limited("a", false), exited("b"), limited("c", false)}, nil},
		{t0.Add(time.Hour + time.Minute), []Status{limited("a", false), limited("b", true), limited("c", false)}, nil},
		// At the reset, within the grace: nothing is typed yet.
		{reset.Add(time.Minute), []Status{working("a"), limited("b", true), limited("c", false)},
			[]LimitAction{{Kind: LimitBack, Agents: []string{"a"}, Lost: reset.Add(time.Minute).Sub(t0)}}},
		// Past the time shown plus the grace, but the screen shows minutes:
		// the real reset may still be up to a minute away. Nothing yet.
		{reset.Add(2*time.Minute + 30*time.Second), []Status{idle("a"), limited("b", true), limited("c", false)}, nil},
		// After the grace: b gets the prompt once; c, still waiting, is told of.
		{reset.Add(3 * time.Minute), []Status{idle("a"), limited("b", true), limited("c", false)},
			[]LimitAction{
				{Kind: LimitResume, Agents: []string{"b"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset},
				{Kind: LimitWaiting, Agents: []string{"c"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset},
			}},
		// Nothing twice.
		{reset.Add(4 * time.Minute), []Status{idle("a"), limited("b", true), limited("c", false)}, nil},
		{reset.Add(5 * time.Minute), []Status{idle("a"), working("b"), working("c")},
			[]LimitAction{{Kind: LimitBack, Agents: []string{"b", "c"}, Lost: reset.Add(5 * time.Minute).Sub(t0)}}},
	}
	for i, st := range steps {
		got := l.Observe(st.sts, st.at)
		if !equalActions(got, st.want) {
			t.Errorf("step %d (%s): got %+v, want %+v", i, st.at.Format("15:04"), got, st.want)
		}
	}
}

// Without auto_resume, an agent that will not go on is reported as still
// waiting, and nothing is typed.
func TestLimitsNoAutoResume(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	reset := t0.Add(time.Hour)
	l := NewLimits(LimitOptions{AutoResume: false, Grace: 2 * time.Minute})
	s := Status{Name: "a", State: claude.Limited, Reason: claude.ReasonWeeklyLimit, ResetsAt: reset.Format(time.RFC3339), NoResume: true}
	l.Observe([]Status{s}, t0)
	got := l.Observe([]Status{s}, reset.Add(3*time.Minute))
	want := []LimitAction{{Kind: LimitWaiting, Agents: []string{"a"}, Reason: claude.ReasonWeeklyLimit, ResetsAt: reset}}
	if !equalActions(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// An unknown reset time: noticed, never prompted.
	u := NewLimits(LimitOptions{AutoResume: true, Grace: time.Minute})
	s = Status{Name: "x", State: claude.Limited, Reason: claude.ReasonSpendLimit, NoResume: true}
	if got := u.Observe([]Status{s}, t0); len(got) != 1 || got[0].Kind != LimitNotice || !got[0].ResetsAt.IsZero() {
		t.Errorf("unknown reset: got %+v, want one notice", got)
	}
	if got := u.Observe([]Status{s}, t0.Add(48*time.Hour)); len(got) != 0 {
		t.Errorf("unknown reset, later: got %+v, want nothing", got)
	}
}

func equalActions(a, b []LimitAction) bool {
	return slices.EqualFunc(a, b, func(x, y LimitAction) bool {
		return x.Kind == y.Kind && slices.Equal(x.Agents, y.Agents) && x.Reason == y.Reason && x.ResetsAt.Equal(y.ResetsAt) && x.Lost == y.Lost
	})
}

// With failover on: an agent limited for failover_after moves (once, with
// the others of its window), a failed move leaves it to wait as before,
// and a moved agent comes back after the reset and the grace, between
// turns, even across a restart of fleetwarden.
func TestLimitsFailover(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	reset := t0.Add(3 * time.Hour)
	o := LimitOptions{AutoResume: true, Grace: 2 * time.Minute, Failover: true, FailoverAfter: 15 * time.Minute}
	l := NewLimits(o)
	limited := func(name string) Status {
		return Status{Name: name, State: claude.Limited, Reason: claude.ReasonUsageLimit, ResetsAt: reset.Format(time.RFC3339), NoResume: true}
	}
	idle := func(name string) Status { return Status{Name: name, State: claude.Idle} }
	working := func(name string) Status { return Status{Name: name, State: claude.Working} }
	notice := LimitAction{Kind: LimitNotice, Agents: []string{"a", "b"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset}
	move := func(agents ...string) LimitAction {
		return LimitAction{Kind: LimitFailover, Agents: agents, Reason: claude.ReasonUsageLimit, ResetsAt: reset}
	}
	back := func(agents ...string) LimitAction {
		return LimitAction{Kind: LimitFailback, Agents: agents, Reason: claude.ReasonUsageLimit, ResetsAt: reset}
	}
	step := func(at time.Time, sts []Status, want ...LimitAction) {
		t.Helper()
		if got := l.Observe(sts, at); !equalActions(got, want) {
			t.Errorf("%s: got %+v, want %+v", at.Format("15:04"), got, want)
		}
	}
	step(t0, []Status{limited("a"), limited("b")}, notice)
	step(t0.Add(14*time.Minute), []Status{limited("a"), limited("b")})
	step(t0.Add(15*time.Minute), []Status{limited("a"), limited("b")}, move("a", "b"))
	// b's move failed: it waits out its limit as before, never moved again.
	l.FailoverDone("a", "pro", true)
	l.FailoverDone("b", "pro", false)
	step(t0.Add(16*time.Minute), []Status{working("a"), limited("b")})
	step(t0.Add(time.Hour), []Status{idle("a"), limited("b")})
	if got := l.Moved(); len(got) != 1 || !got["a"].ResetsAt.Equal(reset) || got["a"].From != "pro" {
		t.Fatalf("moved: got %+v, want a from pro until %s", got, reset)
	}
	// fleetwarden restarts: what was moved is restored.
	saved := l.Moved()
	l = NewLimits(o)
	l.Restore(saved)
	l.Observe([]Status{working("a"), limited("b")}, t0.Add(2*time.Hour))
	// After the reset and the grace: a is in a turn, so it stays; b, never
	// moved, gets its prompt.
	step(reset.Add(3*time.Minute), []Status{working("a"), limited("b")},
		LimitAction{Kind: LimitResume, Agents: []string{"b"}, Reason: claude.ReasonUsageLimit, ResetsAt: reset})
	step(reset.Add(4*time.Minute), []Status{idle("a"), working("b")}, back("a"),
		LimitAction{Kind: LimitBack, Agents: []string{"b"}, Lost: reset.Add(4 * time.Minute).Sub(t0.Add(2 * time.Hour))})
	// Decided once; a failed move back is tried again on the next scan.
	step(reset.Add(4*time.Minute+30*time.Second), []Status{idle("a"), idle("b")})
	if got := l.Moved()["a"].From; got != "pro" {
		t.Errorf("moving back: from = %q, want pro", got)
	}
	l.FailbackDone("a", false)
	step(reset.Add(5*time.Minute), []Status{idle("a"), idle("b")}, back("a"))
	l.FailbackDone("a", true)
	step(reset.Add(6*time.Minute), []Status{idle("a"), idle("b")})
	if got := l.Moved(); len(got) != 0 {
		t.Errorf("moved after the move back: got %+v, want none", got)
	}

	// No move when the reset is unknown or already past, or failover is off.
	for _, tc := range []struct {
		name string
		o    LimitOptions
		s    Status
	}{
		{"reset unknown", o, Status{Name: "x", State: claude.Limited, Reason: claude.ReasonSpendLimit}},
		{"off", LimitOptions{Grace: time.Minute, FailoverAfter: time.Minute}, limited("x")},
	} {
		l := NewLimits(tc.o)
		for _, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
			for _, a := range l.Observe([]Status{tc.s}, at) {
				if a.Kind == LimitFailover {
					t.Errorf("%s: got a move at %s", tc.name, at.Format("15:04"))
				}
			}
		}
	}
}

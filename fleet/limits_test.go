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

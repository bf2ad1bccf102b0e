package alert

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

func TestTwelveAgentsOneMessageRepeatAndResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		t0 := time.Now()

		names := agentNames(12)
		for _, a := range names {
			ev := fail(a, KindAuthFailed, "expired")
			ev.ReloginFixes = true
			observe(e.m, ev)
			advance(500 * time.Millisecond)
		}
		wantNotes(t, tg) // still in the group wait
		advance(t0.Add(10 * time.Second).Sub(time.Now()))
		got := wantNotes(t, tg, "firing auth_failed/expired")
		n := got[0]
		if !slices.Equal(n.Agents, names) {
			t.Errorf("agents = %v, want %v", n.Agents, names)
		}
		if want := "Login expired on 12 agents: a01, a02, a03, a04, a05, a06, a07, a08, a09, a10 and 2 more"; n.Summary != want {
			t.Errorf("summary = %q, want %q", n.Summary, want)
		}
		if !strings.Contains(n.Remedy, "/login") || n.Severity != SeverityCritical {
			t.Errorf("remedy %q severity %q, want /login and critical", n.Remedy, n.Severity)
		}
		if !n.StartsAt.Equal(t0) {
			t.Errorf("starts at %v, want %v", n.StartsAt, t0)
		}

		advance(time.Hour - time.Second)
		wantNotes(t, tg, "firing auth_failed/expired")
		advance(time.Second)
		got = wantNotes(t, tg, "firing auth_failed/expired", "repeat auth_failed/expired")
		if !slices.Equal(got[1].Agents, names) {
			t.Errorf("repeat names %v, want %v", got[1].Agents, names)
		}

		for _, a := range names[:11] {
			observe(e.m, cleared(a, KindAuthFailed))
		}
		advance(time.Minute)
		wantNotes(t, tg, "firing auth_failed/expired", "repeat auth_failed/expired")
		observe(e.m, cleared(names[11], KindAuthFailed))
		got = wantNotes(t, tg, "firing auth_failed/expired", "repeat auth_failed/expired", "resolved auth_failed/expired")
		r := got[2]
		if !slices.Equal(r.Agents, names) || !r.EndsAt.Equal(time.Now()) || r.Remedy != "" {
			t.Errorf("resolved = agents %v ends %v remedy %q; want all 12, now, no remedy", r.Agents, r.EndsAt, r.Remedy)
		}
		if !strings.HasPrefix(r.Summary, "Login works again on 12 agents") {
			t.Errorf("resolved summary = %q", r.Summary)
		}
		if len(slices.Compact(ids(got))) != 3 {
			t.Errorf("notification IDs not unique: %v", ids(got))
		}

		advance(3 * time.Hour)
		wantNotes(t, tg, "firing auth_failed/expired", "repeat auth_failed/expired", "resolved auth_failed/expired")
		var actions []string
		for _, r := range e.j.of(audit.KindAlert) {
			actions = append(actions, r.Action)
		}
		if want := []string{"fired", "repeated", "resolved"}; !slices.Equal(actions, want) {
			t.Errorf("journal alert actions = %v, want %v", actions, want)
		}
		if s := e.m.Stats(); s.Fired != 1 || s.Repeated != 1 || s.Resolved != 1 || s.Routes["telegram"].Delivered != 3 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestClearedDuringGroupWaitSendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, fail("a", KindAuthFailed, "expired"), fail("b", KindAuthFailed, "expired"))
		advance(5 * time.Second)
		observe(e.m, cleared("a", KindAuthFailed), cleared("b", KindAuthFailed))
		advance(3 * time.Hour)
		wantNotes(t, tg)
		if recs := e.j.of(audit.KindAlert); len(recs) != 0 {
			t.Errorf("journal has alert records %+v, want none", recs)
		}

		// It fails again later: a new group, told once.
		observe(e.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing auth_failed/expired")
	})
}

func TestLateAgentJoinsInAnUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, fail("a", KindExited, "pane_dead"))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing exited/pane_dead")
		advance(10 * time.Second)
		observe(e.m, fail("b", KindExited, "pane_dead"), fail("c", KindExited, "pane_dead"))
		advance(9 * time.Second)
		wantNotes(t, tg, "firing exited/pane_dead")
		advance(time.Second)
		got := wantNotes(t, tg, "firing exited/pane_dead", "firing exited/pane_dead")
		u := got[1]
		if !slices.Equal(u.Agents, []string{"a", "b", "c"}) || !slices.Equal(u.Added, []string{"b", "c"}) {
			t.Errorf("update agents %v added %v, want [a b c] added [b c]", u.Agents, u.Added)
		}
		if !strings.Contains(u.Text(), "(new: b, c)") || !strings.Contains(u.Remedy, "/restart a b c") {
			t.Errorf("update text %q", u.Text())
		}
		// The repeat is an hour after the update, not after the first message.
		advance(time.Hour - time.Second)
		wantNotes(t, tg, "firing exited/pane_dead", "firing exited/pane_dead")
		advance(time.Second)
		wantNotes(t, tg, "firing exited/pane_dead", "firing exited/pane_dead", "repeat exited/pane_dead")
	})
}

func TestEachCauseHasItsOwnMessageAndRemedy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m,
			fail("a", KindAuthFailed, "expired"),
			fail("b", KindAuthFailed, "subscription"),
			fail("c", KindAPIError, "overloaded"),
			fail("d", KindStuck, ""),
			fail("e", KindNeedsInput, "permission"),
		)
		advance(10 * time.Second)
		got := tg.received()
		want := map[string]struct{ summary, remedy string }{
			"auth_failed/expired":      {"Login expired on a", "Send /login"},
			"auth_failed/subscription": {"Subscription refused (403) on b", "Re-login will not help — renew billing or switch the agent to an API-key credential"},
			"api_error/overloaded":     {"API overloaded on c", "Usually passes; nothing to do unless it lasts"},
			"stuck":                    {"Stuck, no progress on d", "/peek d to look, /restart d if it is hung"},
			"needs_input/permission":   {"Waiting for an answer (permission) on e", "Answer it with /answer e N (/peek e to see it)"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %v, want one per cause", brief(got))
		}
		for _, n := range got {
			w, ok := want[n.AlertKey]
			if !ok {
				t.Errorf("unexpected %s", n.AlertKey)
				continue
			}
			if n.Summary != w.summary || !strings.Contains(n.Remedy, w.remedy) {
				t.Errorf("%s: summary %q remedy %q; want %q and %q", n.AlertKey, n.Summary, n.Remedy, w.summary, w.remedy)
			}
		}
	})
}

func TestAuthFailureMutesExitedOfTheSameAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m,
			fail("a", KindExited, "pane_dead"),
			fail("a", KindAuthFailed, "expired"),
			fail("b", KindExited, "pane_dead"),
			fail("c", KindAuthFailed, "expired"),
			fail("c", KindStuck, ""),
			fail("c", KindAPIError, "network"),
		)
		advance(10 * time.Second)
		got := tg.received()
		byKey := map[string][]string{}
		for _, n := range got {
			byKey[n.AlertKey] = n.Agents
		}
		want := map[string][]string{"auth_failed/expired": {"a", "c"}, "exited/pane_dead": {"b"}}
		if len(byKey) != len(want) || !slices.Equal(byKey["auth_failed/expired"], want["auth_failed/expired"]) ||
			!slices.Equal(byKey["exited/pane_dead"], want["exited/pane_dead"]) {
			t.Fatalf("got %v, want auth [a c] and exited [b] only", brief(got))
		}

		// a logs in again but stays exited: now its exit is news.
		observe(e.m, cleared("a", KindAuthFailed))
		advance(10 * time.Second)
		got = tg.received()[2:]
		if len(got) != 1 || got[0].AlertKey != "exited/pane_dead" || !slices.Equal(got[0].Added, []string{"a"}) {
			t.Fatalf("after a's login: %v, want an exited update adding a", brief(got))
		}
		// c's auth failure resolves; a is named with it as it was announced.
		observe(e.m, cleared("c", KindAuthFailed), cleared("c", KindStuck), cleared("c", KindAPIError))
		got = tg.received()[3:]
		if len(got) != 1 || got[0].Status != StatusResolved || !slices.Equal(got[0].Agents, []string{"a", "c"}) {
			t.Fatalf("after c's login: %v, want auth resolved for [a c]", brief(got))
		}
	})
}

// A stuck agent whose login then fails is not "making progress again":
// the stuck alert ends without naming it, and the login failure is told.
func TestStuckThenLoginFailedIsNoRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, fail("a", KindStuck, ""), fail("b", KindStuck, ""))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing stuck")
		observe(e.m, cleared("a", KindStuck), fail("a", KindAuthFailed, "expired"), cleared("b", KindStuck))
		advance(10 * time.Second)
		got := wantNotes(t, tg, "firing stuck", "resolved stuck", "firing auth_failed/expired")
		if !slices.Equal(got[1].Agents, []string{"b"}) {
			t.Errorf("resolved stuck names %v, want only b (a's login failed)", got[1].Agents)
		}
	})
}

func TestSilentMutesNeedsInputOfTheSameAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, fail("a", KindNeedsInput, ""))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing needs_input")
		advance(10 * time.Minute)
		observe(e.m, fail("a", KindSilent, ""))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing needs_input", "firing silent")
		advance(2 * time.Hour) // needs_input is muted: only silent repeats
		wantNotes(t, tg, "firing needs_input", "firing silent", "repeat silent", "repeat silent")
		observe(e.m, cleared("a", KindNeedsInput), cleared("a", KindSilent))
		got := wantNotes(t, tg, "firing needs_input", "firing silent", "repeat silent", "repeat silent", "resolved silent")
		if got[4].Summary != "Prompt answered on a" {
			t.Errorf("resolved summary %q", got[4].Summary)
		}
	})
}

func TestSilences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()

		for _, bad := range []struct {
			target string
			d      time.Duration
		}{{"", time.Hour}, {"a b", time.Hour}, {"a", 0}, {"a", -time.Minute}} {
			if _, err := e.m.Silence(bad.target, bad.d, "", "x"); err == nil {
				t.Errorf("Silence(%q, %v) succeeded, want an error", bad.target, bad.d)
			}
		}

		s, err := e.m.Silence("a", time.Hour, "upgrading a", "telegram:111")
		if err != nil {
			t.Fatal(err)
		}
		if got := e.m.Silences(); len(got) != 1 || got[0] != s || s.By != "telegram:111" || s.Reason != "upgrading a" || !s.End.Equal(time.Now().Add(time.Hour)) {
			t.Fatalf("Silences() = %+v, want [%+v]", got, s)
		}
		observe(e.m, fail("a", KindExited, ""), fail("b", KindExited, ""))
		advance(10 * time.Second)
		got := wantNotes(t, tg, "firing exited")
		if !slices.Equal(got[0].Agents, []string{"b"}) {
			t.Errorf("agents %v, want [b] (a is silenced)", got[0].Agents)
		}

		// The silence lifts by itself; a is still down and is told.
		advance(time.Hour - 10*time.Second)
		if got := e.m.Silences(); len(got) != 0 {
			t.Errorf("Silences() after the end = %+v, want none", got)
		}
		advance(10 * time.Second)
		got = wantNotes(t, tg, "firing exited", "firing exited")
		if !slices.Equal(got[1].Added, []string{"a"}) {
			t.Errorf("after the silence: %v, want an update adding a", brief(got))
		}

		// Everything silenced: no repeat, and no resolved for what cleared meanwhile.
		all, err := e.m.Silence("ALL", 3*time.Hour, "", "console")
		if err != nil || all.Target != TargetAll {
			t.Fatalf("Silence(all) = %+v, %v", all, err)
		}
		advance(2 * time.Hour)
		observe(e.m, cleared("a", KindExited), cleared("b", KindExited))
		observe(e.m, fail("c", KindAuthFailed, "expired"), Event{Kind: KindTransport, Reason: "telegram", Active: true})
		advance(30 * time.Minute)
		wantNotes(t, tg, "firing exited", "firing exited")

		if e.m.Unsilence("nope") {
			t.Error("Unsilence(unknown) = true")
		}
		if _, err := e.m.Silence("d", time.Hour, "", "console"); err != nil {
			t.Fatal(err)
		}
		if n := e.m.ClearSilences(); n != 2 {
			t.Errorf("ClearSilences() = %d, want 2", n)
		}
		advance(10 * time.Second)
		wantNotes(t, tg, "firing exited", "firing exited", "firing auth_failed/expired", "firing transport/telegram")

		var actions []string
		for _, r := range e.j.of(audit.KindSilence) {
			actions = append(actions, r.Action)
		}
		if want := []string{"added", "expired", "added", "added", "removed", "removed"}; !slices.Equal(actions, want) {
			t.Errorf("journal silence actions %v, want %v", actions, want)
		}
		if r := e.j.of(audit.KindSilence)[0]; r.Actor != "telegram:111" || r.Reason != "upgrading a" || !slices.Equal(r.Agents, []string{"a"}) || r.Fields["until"] == "" {
			t.Errorf("silence record %+v", r)
		}
	})
}

func TestUnsilenceOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		s, err := e.m.Silence("a", time.Hour, "", "console")
		if err != nil {
			t.Fatal(err)
		}
		observe(e.m, fail("a", KindStuck, ""))
		advance(time.Minute)
		wantNotes(t, tg)
		if !e.m.Unsilence(s.ID) {
			t.Fatalf("Unsilence(%q) = false", s.ID)
		}
		advance(10 * time.Second)
		wantNotes(t, tg, "firing stuck")
	})
}

func TestSilencesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	m1, err := New(Options{QueueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m1.Silence("builder", time.Hour, "deploy", "telegram:1")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := New(Options{QueueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := m2.Silences()
	if len(got) != 1 || got[0].ID != s.ID || got[0].Target != "builder" || !got[0].End.Equal(s.End) {
		t.Fatalf("after restart Silences() = %+v, want [%+v]", got, s)
	}
	s2, err := m2.Silence("tester", time.Hour, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID == s.ID {
		t.Errorf("a new silence reused ID %q", s.ID)
	}
}

func TestTransportDownIsFleetLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, dc := newRoute("telegram"), newRoute("discord")
		tg.set(errString("409 Conflict"), false)
		e := start(t, Options{Primary: []Route{tg, dc}})
		defer e.stop()
		observe(e.m, Event{Kind: KindTransport, Reason: "telegram", Evidence: "409 Conflict: terminated by other getUpdates request", Active: true})
		advance(10 * time.Second)
		got := wantNotes(t, dc, "firing transport/telegram")
		n := got[0]
		if len(n.Agents) != 0 || n.Summary != "Chat channel down: telegram" || !strings.Contains(n.Remedy, "same bot token") {
			t.Errorf("transport alert: agents %v summary %q remedy %q", n.Agents, n.Summary, n.Remedy)
		}
		tg.set(nil, false)
		observe(e.m, Event{Kind: KindTransport, Reason: "telegram", Active: false})
		got = wantNotes(t, dc, "firing transport/telegram", "resolved transport/telegram")
		if got[1].Summary != "Chat channel works again: telegram" {
			t.Errorf("resolved summary %q", got[1].Summary)
		}
	})
}

func TestInfoIsSentOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, Event{Agent: "a", Kind: KindInfo, Reason: "login_expires_soon", Evidence: "credential main expires in 1h", Active: true},
			Event{Agent: "b", Kind: KindInfo, Reason: "login_expires_soon", Active: true})
		advance(3 * time.Hour)
		got := wantNotes(t, tg, "firing info/login_expires_soon")
		if got[0].Summary != "Login expires soon on 2 agents: a, b" || got[0].Evidence != "credential main expires in 1h" {
			t.Errorf("info = %q / %q", got[0].Summary, got[0].Evidence)
		}
	})
}

// A silenced agent's notices are kept quiet too (a silence ignores no
// kind); a notice for the others still goes out, without it.
func TestSilenceMutesNotices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		if _, err := e.m.Silence("a", time.Hour, "upgrading a", "telegram:111"); err != nil {
			t.Fatal(err)
		}
		observe(e.m, Event{Agent: "a", Kind: KindInfo, Reason: "limit resume", Evidence: "typed continue", Active: true})
		advance(time.Minute)
		wantNotes(t, tg)
		observe(e.m, Event{Agent: "a", Kind: KindInfo, Reason: "waiting", Active: true},
			Event{Agent: "b", Kind: KindInfo, Reason: "waiting", Active: true})
		advance(time.Minute)
		got := wantNotes(t, tg, "firing info/waiting")
		if !slices.Equal(got[0].Agents, []string{"b"}) {
			t.Errorf("agents %v, want [b] (a is silenced)", got[0].Agents)
		}
	})
}

func TestFiringListsCurrentAlerts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		observe(e.m, fail("a", KindAuthFailed, "expired"), fail("b", KindAuthFailed, "expired"))
		if got := e.m.Firing(); len(got) != 0 {
			t.Errorf("Firing() during group wait = %v, want none", brief(got))
		}
		advance(10 * time.Second)
		observe(e.m, cleared("b", KindAuthFailed))
		got := e.m.Firing()
		if len(got) != 1 || !slices.Equal(got[0].Agents, []string{"a"}) || !slices.Equal(got[0].Reached, []string{"telegram"}) {
			t.Fatalf("Firing() = %+v, want auth for [a] reached telegram", got)
		}
		observe(e.m, cleared("a", KindAuthFailed))
		if got := e.m.Firing(); len(got) != 0 {
			t.Errorf("Firing() after clearing = %v", brief(got))
		}
	})
}

func TestEvidenceIsRedacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}})
		defer e.stop()
		ev := fail("a", KindAuthFailed, "invalid_api_key")
		ev.Evidence = "Invalid API key sk-ant-api03-abcdefABCDEF0123456789 · Please run /login"
		observe(e.m, ev)
		advance(10 * time.Second)
		got := wantNotes(t, tg, "firing auth_failed/invalid_api_key")
		if strings.Contains(got[0].Text(), "abcdefABCDEF") || !strings.Contains(got[0].Evidence, "sk-ant-api03-…[redacted]") {
			t.Errorf("evidence not redacted: %q", got[0].Evidence)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	r := newRoute("telegram")
	for name, o := range map[string]Options{
		"no queue dir":   {Primary: []Route{r}},
		"negative wait":  {QueueDir: t.TempDir(), GroupWait: -time.Second},
		"duplicate name": {QueueDir: t.TempDir(), Primary: []Route{r}, Fallback: []Route{newRoute("telegram")}},
		"nil route":      {QueueDir: t.TempDir(), Fallback: []Route{nil}},
		"retry min>max":  {QueueDir: t.TempDir(), RetryMin: time.Hour, RetryMax: time.Minute},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

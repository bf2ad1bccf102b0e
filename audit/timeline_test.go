package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// at is a time on 4 March 2025 in loc.
func at(loc *time.Location, hh, mm, ss int) time.Time {
	return time.Date(2025, 3, 4, hh, mm, ss, 0, loc)
}

var (
	yes = ptr(true)
	no  = ptr(false)
)

// recordedIncident is what the journal holds after a night when every
// login expired at once, Telegram was down, and an admin fixed it from a
// phone in the morning.
func recordedIncident(loc *time.Location) []Record {
	all := []string{"builder", "tester", "docs"}
	admin := map[string]string{"role": "admin"}
	tr := func(t time.Time, agent, from, to, reason, msg string) Record {
		return Record{Time: t, Kind: KindTransition, Agents: []string{agent}, From: from, To: to, Reason: reason, Message: msg}
	}
	return []Record{
		{Time: at(loc, 1, 0, 0), Kind: KindCommand, Actor: "telegram:111", Action: "/status", Message: "ok", Fields: admin},
		tr(at(loc, 2, 14, 5), "builder", "working", "auth_failed", "expired", "OAuth token has expired"),
		tr(at(loc, 2, 14, 6), "tester", "idle", "auth_failed", "expired", "OAuth token has expired"),
		tr(at(loc, 2, 14, 7), "docs", "working", "auth_failed", "expired", "OAuth token has expired"),
		{Time: at(loc, 2, 14, 17), Kind: KindAlert, Action: "fired", Agents: all, Message: "3 agents: login expired"},
		{Time: at(loc, 2, 14, 18), Kind: KindDelivery, Action: "fired", Route: "telegram", OK: no, Error: "500"},
		{Time: at(loc, 2, 15, 2), Kind: KindDelivery, Action: "fired", Route: "email", OK: yes},
		// The same trouble seen again with other words is not news.
		tr(at(loc, 3, 0, 0), "builder", "auth_failed", "auth_failed", "expired", "Login expired · Please run /login"),
		{Time: at(loc, 3, 14, 17), Kind: KindAlert, Action: "repeated", Agents: all},
		{Time: at(loc, 3, 14, 18), Kind: KindDelivery, Action: "repeated", Route: "email", OK: yes},
		{Time: at(loc, 7, 1, 30), Kind: KindCommand, Actor: "telegram:111", Action: "/peek", Message: "ok", Fields: map[string]string{"role": "admin", "args": "builder"}},
		{Time: at(loc, 7, 2, 10), Kind: KindLogin, Action: "started", Actor: "telegram:111"},
		{Time: at(loc, 7, 2, 11), Kind: KindLogin, Action: "url_sent", Actor: "telegram:111"},
		{Time: at(loc, 7, 2, 12), Kind: KindCommand, Actor: "telegram:111", Action: "/login", Message: "ok", Fields: admin},
		{Time: at(loc, 7, 3, 0), Kind: KindLogin, Action: "verified"},
		{Time: at(loc, 7, 3, 1), Kind: KindRestart, Action: "started", Agents: all, Actor: "fleetwarden"},
		tr(at(loc, 7, 3, 2), "builder", "auth_failed", "exited", "", ""),
		{Time: at(loc, 7, 3, 2), Kind: KindRestart, Action: "ok", Agents: []string{"builder"}, OK: yes},
		{Time: at(loc, 7, 3, 3), Kind: KindRestart, Action: "ok", Agents: []string{"tester"}, OK: yes},
		{Time: at(loc, 7, 3, 3), Kind: KindRestart, Action: "ok", Agents: []string{"docs"}, OK: yes},
		{Time: at(loc, 7, 3, 4), Kind: KindRestart, Action: "summary", Agents: all, OK: yes},
		tr(at(loc, 7, 3, 5), "builder", "exited", "working", "", ""),
		tr(at(loc, 7, 3, 6), "tester", "auth_failed", "idle", "", ""),
		tr(at(loc, 7, 3, 7), "docs", "auth_failed", "working", "", ""),
		{Time: at(loc, 7, 3, 17), Kind: KindAlert, Action: "resolved", Agents: all},
		{Time: at(loc, 7, 3, 18), Kind: KindDelivery, Action: "resolved", Route: "telegram", OK: yes},
		tr(at(loc, 7, 4, 0), "tester", "idle", "working", "", ""),
		{Time: at(loc, 7, 10, 0), Kind: KindCommand, Actor: "discord:222", Action: "/status", Message: "ok"},
	}
}

func TestTimelineOfRecordedIncident(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	const want = "02:14 builder, tester, docs: login expired (OAuth token has expired)\n" +
		"02:14 alert sent to Telegram (failed: 500)\n" +
		"02:15 alert sent by email\n" +
		"03:14 reminder sent by email\n" +
		"07:02 /login by admin telegram:111\n" +
		"07:03 login verified\n" +
		"07:03 3 agents restarted (all back in 6 s)\n" +
		"Outage: 4 h 49 m."
	recs := recordedIncident(loc)
	// Journal order is not always time order: Timeline sorts.
	shuffled := slices.Clone(recs)
	slices.Reverse(shuffled)
	for name, in := range map[string][]Record{"in order": recs, "reversed": shuffled} {
		// Rendered in loc even when the records are in UTC.
		for i := range in {
			in[i].Time = in[i].Time.UTC()
		}
		if got := Timeline(in, loc, at(loc, 8, 0, 0)); got != want {
			t.Errorf("%s: got\n%s\n\nwant\n%s", name, got, want)
		}
	}
}

func TestTimelineAcrossMidnight(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	day1 := func(hh, mm, ss int) time.Time { return time.Date(2025, 3, 3, hh, mm, ss, 0, loc) }
	admin := func(kv ...string) map[string]string {
		m := map[string]string{"role": "admin"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	recs := []Record{
		{Time: day1(22, 58, 0), Kind: KindStart, Actor: "fleetwarden", Message: "fleetwarden 1.0 started"},
		{Time: day1(23, 10, 0), Kind: KindTransition, Agents: []string{"builder"}, From: "working", To: "api_error", Reason: "overloaded", Message: "529   Overloaded"},
		{Time: day1(23, 10, 30), Kind: KindAlert, Action: "fired", Agents: []string{"builder"}},
		{Time: day1(23, 10, 31), Kind: KindDelivery, Action: "fired", Route: "discord", OK: yes},
		{Time: day1(23, 11, 0), Kind: KindTransition, Agents: []string{"builder"}, From: "api_error", To: "needs_input"},
		{Time: day1(23, 12, 0), Kind: KindTransition, Agents: []string{"builder"}, From: "needs_input", To: "working"},
		{Time: day1(23, 20, 0), Kind: KindTransition, Agents: []string{"builder"}, From: "working", To: "idle"},
		{Time: day1(23, 40, 1), Kind: KindRefused, Actor: "telegram:999", Action: "/restart", Message: "needs admin, has viewer"},
		{Time: day1(23, 40, 2), Kind: KindRefused, Actor: "telegram:999", Action: "/restart", Message: "needs admin, has viewer"},
		{Time: day1(23, 40, 3), Kind: KindRefused, Actor: "telegram:999", Action: "/restart", Message: "needs admin, has viewer"},
		{Time: day1(23, 55, 0), Kind: KindCredential, Action: "health", From: "ok", To: "expiring", Message: "expires in 2 h", Fields: map[string]string{"credential": "main"}},
		{Time: at(loc, 0, 5, 0), Kind: KindTransition, Agents: []string{"tester"}, From: "working", To: "auth_failed", Reason: "revoked", Message: "OAuth token revoked"},
		{Time: at(loc, 0, 5, 20), Kind: KindTransition, Agents: []string{"docs"}, From: "idle", To: "exited"},
		{Time: at(loc, 0, 5, 30), Kind: KindAlert, Action: "fired", Agents: []string{"tester", "docs"}},
		{Time: at(loc, 0, 5, 31), Kind: KindDelivery, Route: "telegram", OK: yes},
		{Time: at(loc, 0, 5, 32), Kind: KindDelivery, Route: "telegram", OK: yes}, // a second admin chat
		{Time: at(loc, 0, 5, 33), Kind: KindDelivery, Route: "webhook:ops", OK: no, Error: "dial tcp 127.0.0.1:9000: connection refused"},
		{Time: at(loc, 0, 6, 0), Kind: KindSilence, Action: "added", Agents: []string{"docs"}, Actor: "discord:222", Reason: "maintenance",
			Fields: admin("until", at(loc, 2, 6, 0).Format(time.RFC3339))},
		{Time: at(loc, 0, 6, 1), Kind: KindCommand, Action: "/silence", Actor: "discord:222", Message: "ok", Fields: admin("args", "2h docs")},
		{Time: at(loc, 0, 7, 0), Kind: KindCredential, Action: "failover", Agents: []string{"tester"}, From: "main", To: "backup", Reason: "refresh failed"},
		{Time: at(loc, 0, 8, 0), Kind: KindCommand, Action: "/restart", Actor: "telegram:111", Message: "ok", Fields: admin("args", "tester")},
		{Time: at(loc, 0, 8, 20), Kind: KindRestart, Action: "started", Agents: []string{"tester"}},
		{Time: at(loc, 0, 8, 21), Kind: KindRestart, Action: "failed", Agents: []string{"tester"}, Error: "pane %3 not found"},
		{Time: at(loc, 0, 8, 21), Kind: KindRestart, Action: "summary", Agents: []string{"tester"}, OK: no},
		{Time: at(loc, 0, 8, 22), Kind: KindCommand, Action: "/restart (confirmed)", Actor: "telegram:111", Message: "ok", Fields: admin("args", "tester")},
		{Time: at(loc, 0, 9, 0), Kind: KindLogin, Action: "code_submitted", Actor: "telegram:111"},
		{Time: at(loc, 0, 9, 3), Kind: KindLogin, Action: "failed", Error: "That code wasn't accepted"},
		{Time: at(loc, 0, 9, 3), Kind: KindCommand, Action: "/code", Actor: "telegram:111", Message: "error", Error: "That code wasn't accepted", Fields: admin()},
		{Time: at(loc, 0, 9, 30), Kind: KindCommand, Action: "/restart", Actor: "telegram:111", Message: "usage", Fields: admin("args", "nosuch")},
		{Time: at(loc, 0, 30, 0), Kind: KindAlert, Action: "repeated", Agents: []string{"tester", "docs"}},
		{Time: at(loc, 0, 30, 1), Kind: KindDelivery, Route: "telegram", OK: yes},
		{Time: at(loc, 0, 31, 0), Kind: KindCommand, Action: "/peek", Actor: "telegram:111", Message: "ok", Fields: admin("args", "tester")},
	}
	const want = "Mon 3 Mar 22:58 fleetwarden started\n" +
		"23:10 builder: API error: overloaded (529 Overloaded)\n" +
		"23:10 alert sent to Discord\n" +
		"23:12 builder: back to work\n" +
		"23:40 refused /restart from telegram:999 (needs admin, has viewer; 3 times)\n" +
		"23:55 credential main: ok → expiring (expires in 2 h)\n" +
		"Tue 4 Mar 00:05 tester: login revoked (OAuth token revoked)\n" +
		"00:05 docs: Claude Code exited\n" +
		"00:05 alert sent to Telegram\n" +
		"00:05 alert sent to webhook ops (failed: dial tcp 127.0.0.1:9000: connection refused)\n" +
		"00:06 alerts silenced for docs until 02:06 by admin discord:222 (maintenance)\n" +
		"00:07 tester: failed over from credential main to backup (refresh failed)\n" +
		"00:08 /restart tester confirmed by admin telegram:111\n" +
		"00:08 restart of tester failed (pane %3 not found)\n" +
		"00:09 code submitted by admin telegram:111\n" +
		"00:09 login failed (That code wasn't accepted)\n" +
		"00:30 reminder sent to Telegram\n" +
		"2 outages: 2 m (from Mon 3 Mar 23:10), 55 m so far (from Tue 4 Mar 00:05, ongoing)."
	if got := Timeline(recs, loc, at(loc, 1, 0, 0)); got != want {
		t.Errorf("got\n%s\n\nwant\n%s", got, want)
	}
}

func TestTimelineLines(t *testing.T) {
	loc := time.UTC
	tr := func(sec int, agent, from, to string) Record {
		return Record{Time: at(loc, 9, 0, sec), Kind: KindTransition, Agents: []string{agent}, From: from, To: to}
	}
	many := func() []Record {
		var out []Record
		for i := range 9 {
			out = append(out, tr(i, fmt.Sprintf("a%d", i), "working", "exited"))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		recs []Record
		want string
	}{
		{"nothing", nil, "Nothing happened in this period."},
		{"only noise", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindCommand, Action: "/status", Actor: "console"},
			tr(1, "builder", "working", "idle"),
			tr(2, "builder", "idle", "needs_input"),
		}, "Nothing happened in this period."},
		{"config", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindConfig, Action: "last_good_used", Actor: "fleetwarden",
				Message: "config.toml:12: agent[1].target: bad — running on the last good config from Tue 02:14; fix the file and /reload"},
			{Time: at(loc, 9, 1, 0), Kind: KindConfig, Action: "reload_waiting", Actor: "telegram:111", Message: "Needs an admin's confirmation:\n  - agent docs removed"},
			{Time: at(loc, 9, 2, 0), Kind: KindRefused, Action: "/reload (button)", Actor: "telegram:333", Message: "pressed the button of telegram:111"},
			{Time: at(loc, 9, 3, 0), Kind: KindConfig, Action: "reload", Actor: "telegram:111", Message: "Needs an admin's confirmation:\n  - agent docs removed"},
		}, "09:00 config did not load: running on the last good config (config.toml:12: agent[1].target: bad)\n" +
			"09:01 config reload waits for an admin's confirmation by telegram:111 (- agent docs removed)\n" +
			"09:02 refused /reload from telegram:333 (pressed the button of telegram:111)\n" +
			"09:03 config reloaded by telegram:111 (- agent docs removed)"},
		{"many agents", many(), "09:00 a0, a1, a2, a3, a4 and 4 more: Claude Code exited\nOutage ongoing: 3 m so far."},
		{"partial restart", []Record{
			tr(0, "a", "working", "auth_failed"), tr(0, "b", "working", "auth_failed"), tr(0, "c", "working", "auth_failed"),
			{Time: at(loc, 9, 1, 0), Kind: KindRestart, Action: "started", Agents: []string{"a", "b", "c"}},
			{Time: at(loc, 9, 1, 1), Kind: KindRestart, Action: "ok", Agents: []string{"a"}},
			{Time: at(loc, 9, 1, 1), Kind: KindRestart, Action: "ok", Agents: []string{"b"}},
			{Time: at(loc, 9, 1, 1), Kind: KindRestart, Action: "failed", Agents: []string{"c"}, Error: "no pane"},
			{Time: at(loc, 9, 1, 2), Kind: KindRestart, Action: "summary", Agents: []string{"a", "b", "c"}, OK: no},
			{Time: at(loc, 9, 1, 31), Kind: KindTransition, Agents: []string{"a"}, From: "auth_failed", To: "working"},
		}, "09:00 a, b, c: login failed\n09:01 2 of 3 agents restarted (1 back in 31 s; b not back); c failed (no pane)\nOutage ongoing: 3 m so far."},
		{"restart timed by its writer", []Record{
			tr(0, "a", "working", "auth_failed"), tr(0, "b", "idle", "auth_failed"),
			{Time: at(loc, 9, 1, 0), Kind: KindCommand, Action: "/restart", Actor: "telegram:111", Message: "ok", Fields: map[string]string{"role": "operator", "args": "all"}},
			// The restart waits until each agent is back, then writes; the
			// watch loop notices the recoveries before and after that.
			{Time: at(loc, 9, 1, 10), Kind: KindTransition, Agents: []string{"a"}, From: "auth_failed", To: "exited"},
			{Time: at(loc, 9, 1, 20), Kind: KindTransition, Agents: []string{"a"}, From: "exited", To: "working"},
			{Time: at(loc, 9, 1, 30), Kind: KindRestart, Action: "agent", Agents: []string{"a"}, OK: yes},
			{Time: at(loc, 9, 1, 30), Kind: KindRestart, Action: "agent", Agents: []string{"b"}, OK: yes},
			{Time: at(loc, 9, 1, 30), Kind: KindRestart, Action: "summary", Agents: []string{"a", "b"},
				Message: "2 of 2 back in 24s", Fields: map[string]string{"ok": "2", "failed": "0", "seconds": "24"}},
			{Time: at(loc, 9, 1, 31), Kind: KindCommand, Action: "/restart (confirmed)", Actor: "telegram:111", Message: "ok", Fields: map[string]string{"role": "operator", "args": "all"}},
			{Time: at(loc, 9, 1, 35), Kind: KindTransition, Agents: []string{"b"}, From: "auth_failed", To: "idle"},
			// Much later, a new failure and recovery are news again.
			{Time: at(loc, 9, 20, 0), Kind: KindTransition, Agents: []string{"b"}, From: "idle", To: "exited"},
			{Time: at(loc, 9, 21, 0), Kind: KindTransition, Agents: []string{"b"}, From: "exited", To: "idle"},
		}, "09:00 a, b: login failed\n09:01 /restart all confirmed by operator telegram:111\n09:01 2 agents restarted (all back in 24 s)\n" +
			"09:20 b: Claude Code exited\n09:21 b: back, idle\n2 outages: 1 m 35 s (from 09:00), 1 m (from 09:20)."},
		{"silences as /silence writes them", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindSilence, Action: "add", Agents: []string{"docs"}, Actor: "telegram:111", Reason: "deploy",
				Message: "alerts for docs muted for 2h0m0s", Fields: map[string]string{"role": "operator"}},
			{Time: at(loc, 9, 0, 0), Kind: KindCommand, Action: "/silence", Actor: "telegram:111", Message: "ok", Fields: map[string]string{"role": "operator", "args": "docs 2h deploy"}},
			{Time: at(loc, 9, 1, 0), Kind: KindCommand, Action: "/silence", Actor: "telegram:111", Message: "ok", Fields: map[string]string{"role": "operator", "args": "list"}},
			{Time: at(loc, 9, 2, 0), Kind: KindSilence, Action: "clear", Actor: "telegram:111", Message: "1 silences lifted"},
			{Time: at(loc, 9, 2, 0), Kind: KindCommand, Action: "/silence", Actor: "telegram:111", Message: "ok", Fields: map[string]string{"role": "operator", "args": "clear"}},
		}, "09:00 alerts for docs muted for 2h0m0s by operator telegram:111 (deploy)\n09:02 1 silences lifted by telegram:111"},
		{"restart without summary", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindRestart, Action: "ok", Agents: []string{"a"}},
			{Time: at(loc, 9, 0, 1), Kind: KindRestart, Action: "ok", Agents: []string{"b"}},
			{Time: at(loc, 9, 0, 2), Kind: KindRestart, Action: "failed", Agents: []string{"c"}, Error: "no pane"},
		}, "09:00 a, b: restarted\n09:00 c: restart failed (no pane)"},
		{"recovery by itself, secrets redacted", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindTransition, Agents: []string{"a"}, From: "working", To: "auth_failed", Reason: "invalid_api_key",
				Message: "key sk-ant-api03-secretsecret refused"},
			{Time: at(loc, 9, 2, 30), Kind: KindTransition, Agents: []string{"a"}, From: "auth_failed", To: "logging_in"},
			{Time: at(loc, 9, 3, 0), Kind: KindTransition, Agents: []string{"a"}, From: "logging_in", To: "idle"},
		}, "09:00 a: invalid API key (key sk-ant-api03-…[redacted] refused)\n09:03 a: back, idle\nOutage: 3 m."},
		{"login without a command", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindLogin, Action: "started", Actor: "fleetwarden"},
			{Time: at(loc, 9, 0, 1), Kind: KindLogin, Action: "url_sent", Actor: "telegram:111"},
			{Time: at(loc, 9, 0, 2), Kind: KindLogin, Action: "code_submitted", Actor: "console"},
			{Time: at(loc, 9, 15, 2), Kind: KindLogin, Action: "timeout"},
			{Time: at(loc, 9, 16, 0), Kind: KindCommand, Action: "/restart", Actor: "console", Message: "cancelled"},
		}, "09:00 login started by fleetwarden\n09:00 login link sent to telegram:111\n09:00 code submitted by console\n" +
			"09:15 login timed out\n09:16 /restart cancelled by console"},
		{"alert about no agent", []Record{
			{Time: at(loc, 9, 0, 0), Kind: KindAlert, Action: "fired", Message: "credential main expires in 2 d"},
			{Time: at(loc, 9, 0, 1), Kind: KindDelivery, Route: "exec:pager", OK: yes},
			{Time: at(loc, 9, 5, 0), Kind: KindAlert, Action: "resolved", Message: "credential main renewed"},
			{Time: at(loc, 9, 5, 1), Kind: KindDelivery, Route: "telegram", OK: no, Error: "timeout"},
		}, "09:00 alert: credential main expires in 2 d\n09:00 alert sent by command pager\n" +
			"09:05 alert resolved: credential main renewed\n09:05 all-clear sent to Telegram (failed: timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := at(loc, 9, 3, 0)
			if got := Timeline(tc.recs, loc, now); got != tc.want {
				t.Errorf("got\n%s\n\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestIncidents(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	recs := recordedIncident(loc)
	got := Incidents(recs)
	if len(got) != 1 {
		t.Fatalf("got %d incidents, want 1: %+v", len(got), got)
	}
	inc := got[0]
	if want := at(loc, 2, 14, 5); !inc.Start.Equal(want) {
		t.Errorf("Start = %v, want %v", inc.Start, want)
	}
	if want := at(loc, 7, 3, 7); !inc.End.Equal(want) {
		t.Errorf("End = %v, want %v", inc.End, want)
	}
	if want := []string{"builder", "tester", "docs"}; !slices.Equal(inc.Agents, want) {
		t.Errorf("Agents = %v, want %v", inc.Agents, want)
	}
	if inc.Cause != "login expired" || inc.Ongoing {
		t.Errorf("Cause, Ongoing = %q, %v; want \"login expired\", false", inc.Cause, inc.Ongoing)
	}
	if got, want := inc.Duration(at(loc, 23, 0, 0)), 4*time.Hour+49*time.Minute+2*time.Second; got != want {
		t.Errorf("Duration = %v, want %v", got, want)
	}

	// Cut the story before the restart: the outage is still going on, and
	// an agent falling later joins it.
	cut := slices.DeleteFunc(slices.Clone(recs), func(r Record) bool { return r.Time.After(at(loc, 7, 0, 0)) })
	cut = append(cut, Record{Time: at(loc, 7, 0, 30), Kind: KindTransition, Agents: []string{"ops"}, From: "idle", To: "api_error"})
	got = Incidents(cut)
	if len(got) != 1 || !got[0].Ongoing || !got[0].End.IsZero() {
		t.Fatalf("got %+v, want one ongoing incident", got)
	}
	if want := []string{"builder", "tester", "docs", "ops"}; !slices.Equal(got[0].Agents, want) {
		t.Errorf("Agents = %v, want %v", got[0].Agents, want)
	}
	if got, want := got[0].Duration(at(loc, 4, 17, 5)), 2*time.Hour+3*time.Minute; got != want {
		t.Errorf("ongoing Duration = %v, want %v", got, want)
	}
	if got, want := Timeline(cut, loc, at(loc, 4, 17, 5)), "Outage ongoing: 2 h 3 m so far."; !strings.HasSuffix(got, want) {
		t.Errorf("timeline ends\n%s\nwant it to end with %q", got, want)
	}

	// Two separate outages.
	two := []Record{
		{Time: at(loc, 1, 0, 0), Kind: KindTransition, Agents: []string{"a"}, From: "working", To: "exited"},
		{Time: at(loc, 1, 5, 0), Kind: KindTransition, Agents: []string{"a"}, From: "exited", To: "idle"},
		{Time: at(loc, 2, 0, 0), Kind: KindTransition, Agents: []string{"a", "b"}, From: "working", To: "api_error", Reason: "rate_limit"},
		{Time: at(loc, 2, 1, 0), Kind: KindTransition, Agents: []string{"a"}, From: "api_error", To: "working"},
		{Time: at(loc, 2, 9, 0), Kind: KindTransition, Agents: []string{"b"}, From: "api_error", To: "working"},
	}
	got = Incidents(two)
	var durs, causes []string
	for _, inc := range got {
		durs = append(durs, FormatDuration(inc.Duration(time.Time{})))
		causes = append(causes, inc.Cause)
	}
	if want := []string{"5 m", "9 m"}; !slices.Equal(durs, want) {
		t.Errorf("durations %v, want %v", durs, want)
	}
	if want := []string{"Claude Code exited", "API error: rate limit"}; !slices.Equal(causes, want) {
		t.Errorf("causes %v, want %v", causes, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"},
		{900 * time.Millisecond, "0 s"},
		{6 * time.Second, "6 s"},
		{65 * time.Second, "1 m 5 s"},
		{2*time.Hour + 3*time.Minute + 59*time.Second, "2 h 3 m"},
		{4*time.Hour + 49*time.Minute + 2*time.Second, "4 h 49 m"},
		{time.Hour + 30*time.Second, "1 h"},
		{51*time.Hour + 10*time.Minute, "2 d 3 h"},
		{48 * time.Hour, "2 d"},
		{-90 * time.Second, "-1 m 30 s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// Credential records as fleetwarden writes them: checks are news only when
// the health changes; switches say which agents moved and who did it.
func TestTimelineCredentialLines(t *testing.T) {
	loc := time.UTC
	check := func(min int, name string, ok bool, detail string) Record {
		return Record{Time: at(loc, 9, min, 0), Kind: KindCredential, Actor: "fleetwarden", Action: "checked",
			Message: name + ": " + detail, OK: ptr(ok), Fields: map[string]string{"credential": name}}
	}
	recs := []Record{
		check(0, "primary", true, "oauth (max), refresh in 29d"),
		check(15, "primary", true, "oauth (max), refresh in 29d"),
		check(30, "primary", false, "refresh token expired — run /login"),
		check(45, "primary", false, "refresh token expired — run /login"),
		{Time: at(loc, 9, 46, 0), Kind: KindCredential, Agents: []string{"alpha"}, Actor: "fleetwarden", Action: "failover",
			From: "primary", To: "backup", Reason: "time_limit", OK: yes, Message: "primary: refresh token expired"},
		{Time: at(loc, 9, 50, 0), Kind: KindCredential, Actor: "fleetwarden", Action: "expiry_warning",
			Message: "⏳ The refresh token of credential backup runs out in 23h (Tue 5 Mar 08:50). Log in again before then: /login."},
		check(55, "primary", true, "oauth (max), refresh in 29d"),
		{Time: at(loc, 9, 58, 0), Kind: KindCredential, Agents: []string{"alpha", "beta"}, Actor: "telegram:111", Action: "use", To: "primary",
			Fields: map[string]string{"role": "admin"}},
	}
	const want = "09:30 credential primary unhealthy (refresh token expired — run /login)\n" +
		"09:46 alpha: failed over from credential primary to backup (time limit)\n" +
		"09:50 expiry warning sent (refresh token of credential backup runs out in 23h (Tue 5 Mar 08:50))\n" +
		"09:55 credential primary healthy again\n" +
		"09:58 alpha, beta: moved to credential primary by admin telegram:111"
	if got := Timeline(recs, loc, at(loc, 10, 0, 0)); got != want {
		t.Errorf("got\n%s\n\nwant\n%s", got, want)
	}
}

// A chat transport going down and coming back is part of the story; its
// "up" at every start and a moment of slow sending are not.
func TestTimelineTransportLines(t *testing.T) {
	loc := time.UTC
	tp := func(min int, state, err string) Record {
		return Record{Time: at(loc, 9, min, 0), Kind: KindAlert, Actor: "fleetwarden", Action: "transport_" + state, Route: "telegram", Error: err}
	}
	recs := []Record{
		{Time: at(loc, 9, 0, 0), Kind: KindStart, Actor: "fleetwarden"},
		// The start notice is told by the start record, not again as an alert.
		{Time: at(loc, 9, 0, 1), Kind: KindAlert, Action: "fired", Reason: "fleetwarden started", Message: "fleetwarden started",
			Fields: map[string]string{"id": "info_start.1"}},
		{Time: at(loc, 9, 0, 2), Kind: KindDelivery, Action: "fired", Route: "telegram", OK: yes, Fields: map[string]string{"id": "info_start.1"}},
		tp(0, "up", ""),
		tp(5, "degraded", "429 Too Many Requests"),
		tp(6, "up", ""),
		tp(10, "down", "409 Conflict: terminated by other getUpdates request"),
		tp(12, "down", "409 Conflict: terminated by other getUpdates request"),
		tp(20, "up", ""),
	}
	const want = "09:00 fleetwarden started\n" +
		"09:10 Telegram unreachable (409 Conflict: terminated by other getUpdates request)\n" +
		"09:20 Telegram reachable again"
	if got := Timeline(recs, loc, at(loc, 10, 0, 0)); got != want {
		t.Errorf("got\n%s\n\nwant\n%s", got, want)
	}
}

// Answers and lines typed into agents from chat are told with what they did.
func TestTimelineTellsAnswersAndSends(t *testing.T) {
	loc := time.UTC
	recs := []Record{
		{Time: at(loc, 9, 0, 0), Kind: KindCommand, Actor: "telegram:222", Action: "/answer (button)", Message: "ok",
			Fields: map[string]string{"role": "operator", "args": "builder 1", "outcome": "answered “1. Yes”; working now"}},
		{Time: at(loc, 9, 5, 0), Kind: KindCommand, Actor: "discord:333", Action: "/send", Message: "ok",
			Fields: map[string]string{"role": "operator", "args": "docs run the tests", "outcome": "typed into docs"}},
	}
	got := Timeline(recs, loc, at(loc, 10, 0, 0))
	for _, want := range []string{"09:00 /answer builder 1 by", "answered “1. Yes”; working now", "09:05 /send docs run the tests by", "typed into docs"} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline:\n%s\nwant %q", got, want)
		}
	}
}

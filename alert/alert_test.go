package alert

import (
	"strings"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	firing := sample()
	repeat := firing
	repeat.Status = StatusRepeat
	update := firing
	update.Added = []string{"docs"}
	resolved := firing
	resolved.Status, resolved.EndsAt, resolved.Remedy = StatusResolved, firing.StartsAt.Add(42*time.Minute), ""
	resolved.Summary = summary(KindAuthFailed, "expired", StatusResolved, firing.Agents)
	many := firing
	many.Agents = agentNames(12)
	many.Summary = summary(KindAuthFailed, "expired", StatusFiring, many.Agents)
	overnight := firing
	overnight.StartsAt = firing.Time.Add(-3 * time.Hour)
	warn := firing
	warn.Severity, warn.Summary, warn.Remedy, warn.Evidence = SeverityWarning, "Stuck, no progress on builder", "", ""

	for _, c := range []struct {
		name string
		n    Notification
		want string
	}{
		{"firing", firing, "🔴 Login expired on 3 agents: builder, tester, docs\n" +
			"since 02:14 · critical\n" +
			"» Please run /login · API Error: 401\n" +
			"What to do: Send /login to log in again; the agents restart by themselves after."},
		{"repeat", repeat, "🔴 Still: Login expired on 3 agents: builder, tester, docs\n" +
			"since 02:14 · critical\n" +
			"» Please run /login · API Error: 401\n" +
			"What to do: Send /login to log in again; the agents restart by themselves after."},
		{"update", update, "🔴 Login expired on 3 agents: builder, tester, docs (new: docs)\n" +
			"since 02:14 · critical\n" +
			"» Please run /login · API Error: 401\n" +
			"What to do: Send /login to log in again; the agents restart by themselves after."},
		{"resolved", resolved, "✅ Login works again on 3 agents: builder, tester, docs\n" +
			"lasted 42m (since 02:14)"},
		{"many agents", many, "🔴 Login expired on 12 agents: a01, a02, a03, a04, a05, a06, a07, a08, a09, a10 and 2 more\n" +
			"since 02:14 · critical\n" +
			"Agents: a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12\n" +
			"» Please run /login · API Error: 401\n" +
			"What to do: Send /login to log in again; the agents restart by themselves after."},
		{"since yesterday", overnight, "🔴 Login expired on 3 agents: builder, tester, docs\n" +
			"since Mar 3 23:14 · critical\n" +
			"» Please run /login · API Error: 401\n" +
			"What to do: Send /login to log in again; the agents restart by themselves after."},
		{"warning", warn, "🟠 Stuck, no progress on builder\nsince 02:14 · warning"},
	} {
		if got := c.n.Text(); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestRemedies(t *testing.T) {
	for _, c := range []struct {
		kind     Kind
		reason   string
		evidence string
		agents   []string
		relogin  bool
		want     string
	}{
		{KindAuthFailed, "time_limit", "", []string{"a"}, false, "Send /login"},
		{KindAuthFailed, "revoked", "", []string{"a"}, false, "Send /login"},
		{KindAuthFailed, "not_logged_in", "", []string{"a"}, false, "Send /login"},
		{KindAuthFailed, "forbidden", "", []string{"a"}, false, "The organization refuses this login (403) — check its settings or switch credentials."},
		{KindAuthFailed, "invalid_api_key", "", []string{"a"}, false, "Replace the API key."},
		{KindAuthFailed, "something_new", "", []string{"a"}, true, "Send /login"},
		{KindAuthFailed, "something_new", "", []string{"a"}, false, "Re-login may not help"},
		{KindAPIError, "rate_limit", "", []string{"a"}, false, "Usually passes; nothing to do unless it lasts."},
		{KindAuthFailed, "refresh_race", "", []string{"a"}, true, "claude setup-token"},
		{KindAuthFailed, "refresh_race", "", []string{"a"}, false, "config directory per agent"},
		{KindAuthFailed, "disk_full", "", []string{"a"}, false, "a new login will not help"},
		{KindAuthFailed, "account_disabled", "", []string{"a"}, false, "A login will not help"},
		{KindAuthFailed, "gateway_ended", "", []string{"a"}, false, "/restart a"},
		{KindAPIError, "overloaded", "", []string{"a"}, false, "/model"},
		{KindAPIError, "throttled", "", []string{"a"}, false, "not a usage limit"},
		{KindAPIError, "prompt_too_long", "", []string{"a"}, false, "A restart will not help: type /compact"},
		{KindAPIError, "network", "", []string{"a"}, false, "Check the host's network."},
		{KindExited, "pane_dead", "", []string{"a"}, false, "Send /restart a to start it again."},
		{KindExited, "", "", []string{"a", "b"}, false, "Send /restart a b to start them again."},
		{KindStuck, "", "", []string{"a", "b"}, false, "/peek <agent> to look (e.g. /peek a), /restart <agent> if it is hung."},
		{KindSilent, "", "", []string{"a"}, false, "Answer it with /answer a N (/peek a to see it)."},
		{KindTransport, "telegram", "409 Conflict: terminated by other getUpdates request", nil, false, "same bot token"},
		{KindTransport, "discord", "401 Unauthorized", nil, false, "check the token"},
		{KindTransport, "telegram", "dial tcp: i/o timeout", nil, false, "Check the host's network"},
	} {
		if got := remedy(c.kind, c.reason, c.evidence, c.agents, c.relogin); !strings.Contains(got, c.want) {
			t.Errorf("remedy(%s, %q, %q) = %q, want it to say %q", c.kind, c.reason, c.evidence, got, c.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                "45s",
		42*time.Minute + 10*time.Second: "42m",
		3*time.Hour + 5*time.Minute:     "3h05m",
		50*time.Hour + 30*time.Minute:   "2d2h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

func TestMorningReport(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	ok := true
	recs := []audit.Record{
		{Time: now.Add(-5 * time.Hour), Kind: audit.KindTransition, Agents: []string{"builder"}, From: "working", To: "auth_failed", Reason: "expired"},
		{Time: now.Add(-5 * time.Hour), Kind: audit.KindAlert, Action: "fired", Reason: "expired"},
		{Time: now.Add(-5 * time.Hour), Kind: audit.KindDelivery, Route: "telegram", OK: &ok},
		{Time: now.Add(-4 * time.Hour), Kind: audit.KindRestart, Action: "agent", Agents: []string{"builder"}, OK: &ok},
		{Time: now.Add(-4 * time.Hour), Kind: audit.KindTransition, Agents: []string{"builder"}, From: "auth_failed", To: "idle"},
	}
	got := Report(ReportInput{
		Now: now, Loc: loc, Started: now.Add(-26 * time.Hour),
		Agents: []fleet.Status{
			{Name: "builder", State: claude.Idle},
			{Name: "docs", State: claude.AuthFailed, Reason: claude.ReasonSubscription, Since: now.Add(-30 * time.Minute)},
		},
		Credentials: []CredentialStatus{{Name: "default", Kind: "oauth-file", Healthy: true, Detail: "oauth (max), refresh in 2d"}},
		Expiries:    []Expiry{{Credential: "default", Token: "refresh", At: now.Add(50 * time.Hour)}},
		Records:     recs,
	})
	for _, want := range []string{
		"fleetwarden report — Sun 22 Nov 08:00 CET",
		"Fleet: 2 agents — 1 idle, 1 auth_failed",
		"docs: auth_failed (subscription refused",
		"for 30m",
		"✅ default: oauth (max), refresh in 2d",
		"⏳ default: refresh token runs out in 2d2h",
		"Last 24 h: 1 incident(s), 60 outage minutes",
		"03:00 ", // the incident's start, in the report's zone
		"Restarts: 1",
		"Alerts: 1 fired; delivered: telegram 1",
		"fleetwarden up for 1d2h.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n > 20 {
		t.Errorf("report has %d lines; it must stay short enough for a phone", n)
	}
}

type fakeSilencer struct {
	added []string
	list  []alert.Silence
}

func (f *fakeSilencer) Silence(target string, d time.Duration, reason, by string) (alert.Silence, error) {
	f.added = append(f.added, target+" "+d.String()+" "+reason+" "+by)
	s := alert.Silence{Target: target, Reason: reason, By: by, End: now.Add(d)}
	f.list = append(f.list, s)
	return s, nil
}
func (f *fakeSilencer) Silences() []alert.Silence { return f.list }
func (f *fakeSilencer) ClearSilences() int {
	n := len(f.list)
	f.list = nil
	return n
}

func TestSilenceCommand(t *testing.T) {
	h, a := newTestHandler(t)
	s := &fakeSilencer{}
	RegisterSilence(h, s, func() []string { return []string{"builder", "docs"} })
	for _, tc := range []struct{ user, text, want string }{
		{"3", "/silence all 1h", "needs the operator role"},
		{"2", "/silence", "usage: /silence"},
		{"2", "/silence nobody 1h", `no agent named "nobody"`},
		{"2", "/silence docs forever", "is not a duration"},
		{"2", "/silence docs 30d", "is not a duration"},
		{"2", "/silence docs 2h billing is being fixed", "Alerts for docs muted until 09:00 (billing is being fixed)"},
		{"2", "/silence list", "docs — 2h left, by telegram:2 (billing is being fixed)"},
		{"2", "/silence clear", "Lifted 1 silence(s)."},
		{"2", "/silence list", "No silences."},
	} {
		if got := ask(t, h, tc.user, true, tc.text); !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: got %q, want %q", tc.user, tc.text, got, tc.want)
		}
	}
	if len(s.added) != 1 || s.added[0] != "docs 2h0m0s billing is being fixed telegram:2" {
		t.Errorf("silences added: %q", s.added)
	}
	found := false
	for _, r := range a.recs {
		if r.Kind == audit.KindSilence && r.Action == "add" && r.Actor == "telegram:2" && r.Reason == "billing is being fixed" {
			found = true
		}
	}
	if !found {
		t.Error("the silence was not recorded with who and why")
	}
}

func TestTimelineCommand(t *testing.T) {
	h, _ := newTestHandler(t)
	var asked time.Time
	RegisterHistory(h, func(since time.Time) ([]audit.Record, error) {
		asked = since
		return []audit.Record{{Time: now.Add(-time.Hour), Kind: audit.KindTransition, Agents: []string{"docs"}, From: "idle", To: "auth_failed", Reason: "expired"}}, nil
	}, time.UTC, func(context.Context) (string, error) { return "the report", nil })
	got := ask(t, h, "3", true, "/timeline 2h")
	if !asked.Equal(now.Add(-2*time.Hour)) || !strings.Contains(got, "06:00 docs") {
		t.Errorf("timeline since %v: %q", asked, got)
	}
	if got := ask(t, h, "3", true, "/timeline yesterday"); !strings.Contains(got, "usage: /timeline") {
		t.Errorf("bad period: %q", got)
	}
	if got := ask(t, h, "3", true, "/report"); got != "the report" {
		t.Errorf("report: %q", got)
	}
}

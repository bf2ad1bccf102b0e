package credentials

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/config"
)

var (
	testAgents = []config.Agent{
		{Name: "builder", Credential: "max", Backup: "api"},
		{Name: "reviewer", Credential: "max"},
		{Name: "trainer", Backup: "api"}, // on the default login
	}
	testCreds = []string{"max", "api", "spare", DefaultName}
)

func good(name string) Health {
	return Health{Name: name, Healthy: true, Detail: name + " fine", Checked: t0}
}

func bad(name, reason string) Health {
	return Health{Name: name, Reason: reason, Detail: name + " is " + reason, Checked: t0}
}

func healths(hs ...Health) map[string]Health {
	m := map[string]Health{}
	for _, h := range hs {
		m[h.Name] = h
	}
	return m
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name, mode, agent, reason string
		health                    map[string]Health
		action, to                string
		why                       []string
	}{
		{"auto: subscription, backup healthy", ModeAuto, "builder", "subscription",
			healths(good("max"), good("api")), ActionSwitch, "api",
			[]string{"builder's credential max failed (subscription refused (payment or plan) — re-login does not fix it); its backup api is healthy"}},
		{"auto: forbidden", ModeAuto, "builder", "forbidden", healths(good("api")), ActionSwitch, "api", nil},
		{"auto: invalid api key", ModeAuto, "builder", "invalid_api_key", healths(good("api")), ActionSwitch, "api", nil},
		{"ask mode asks", ModeAsk, "builder", "subscription", healths(good("api")), ActionAsk, "api", []string{"switch it to api?"}},
		{"off never switches", ModeOff, "builder", "subscription", healths(good("api")), ActionNone, "api", []string{"failover is off"}},
		{"backup also bad", ModeAuto, "builder", "subscription", healths(good("max"), bad("api", "invalid_api_key")), ActionNone, "api",
			[]string{"both are bad", "backup api is unhealthy too (api is invalid_api_key)"}},
		{"backup never checked", ModeAuto, "builder", "forbidden", healths(good("max")), ActionNone, "api", []string{"has not been checked"}},
		{"expired but the login checks alive: /login", ModeAuto, "builder", "expired", healths(good("max"), good("api")), ActionNone, "api",
			[]string{"still checks healthy", "/login fixes it"}},
		{"expired and the login is dead", ModeAuto, "builder", "expired", healths(bad("max", "expired"), good("api")), ActionSwitch, "api",
			[]string{"login expired and its check fails: max is expired"}},
		{"time_limit, primary not checked", ModeAuto, "builder", "time_limit", healths(good("api")), ActionNone, "api", []string{"has not confirmed a dead login"}},
		{"check alone failed", ModeAuto, "builder", "", healths(bad("max", "time_limit"), good("api")), ActionSwitch, "api", nil},
		{"check alone, primary healthy", ModeAuto, "builder", "", healths(good("max"), good("api")), ActionNone, "api", []string{"checks healthy"}},
		{"auto: account on hold", ModeAuto, "builder", "account_disabled", healths(good("api")), ActionSwitch, "api", nil},
		// A race for the shared refresh token, a full disk, an ended gateway
		// sign-in: another credential is not the cure.
		{"refresh race", ModeAuto, "builder", "refresh_race", healths(bad("max", "expired"), good("api")), ActionNone, "api", []string{"not a credential failure"}},
		{"disk full", ModeAuto, "builder", "disk_full", healths(bad("max", "expired"), good("api")), ActionNone, "api", []string{"not a credential failure"}},
		{"not a credential failure", ModeAuto, "builder", "rate_limit", healths(bad("max", "expired"), good("api")), ActionNone, "api", []string{"not a credential failure"}},
		{"no backup", ModeAuto, "reviewer", "subscription", healths(good("api")), ActionNone, "", []string{"has no backup"}},
		{"default primary", ModeAuto, "trainer", "forbidden", healths(good("api")), ActionSwitch, "api", []string{"trainer's credential default failed"}},
		{"unknown agent", ModeAuto, "ghost", "forbidden", healths(good("api")), ActionNone, "", []string{`unknown agent "ghost"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFailover(testAgents, testCreds, tt.mode, "")
			if err != nil {
				t.Fatal(err)
			}
			d := f.Decide(tt.agent, tt.reason, tt.health)
			if d.Action != tt.action || d.To != tt.to {
				t.Errorf("got %s → %q, want %s → %q (why %q)", d.Action, d.To, tt.action, tt.to, d.Why)
			}
			if tt.agent != "ghost" && d.From != f.Current(tt.agent) {
				t.Errorf("From = %q, want %q", d.From, f.Current(tt.agent))
			}
			for _, w := range tt.why {
				if !strings.Contains(d.Why, w) {
					t.Errorf("why %q does not say %q", d.Why, w)
				}
			}
		})
	}
}

func TestFailoverNoLoopAndUse(t *testing.T) {
	f, err := NewFailover(testAgents, testCreds, ModeAuto, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Decide("builder", "subscription", healths(good("api"))); d.Action != ActionSwitch {
		t.Fatalf("first failure: %s, want switch", d.Action)
	}
	if err := f.Switched("builder", "api"); err != nil {
		t.Fatal(err)
	}
	if got := f.Current("builder"); got != "api" {
		t.Fatalf("Current = %q, want api", got)
	}
	// Now the backup fails and the primary looks fine again: no switch back.
	d := f.Decide("builder", "invalid_api_key", healths(good("max"), bad("api", "invalid_api_key")))
	if d.Action != ActionNone || !strings.Contains(d.Why, "already runs on its backup api") {
		t.Errorf("on backup: %s (%q), want none saying it already runs on its backup", d.Action, d.Why)
	}
	// The human moves it back: automatic failover is armed again.
	if err := f.Use([]string{"builder"}, "max"); err != nil {
		t.Fatal(err)
	}
	if got := f.Current("builder"); got != "max" {
		t.Errorf("after Use: Current = %q, want max", got)
	}
	if d := f.Decide("builder", "forbidden", healths(good("api"))); d.Action != ActionSwitch || d.To != "api" {
		t.Errorf("after moving back: %s → %q, want switch → api", d.Action, d.To)
	}
	// Moved by hand to another credential: never switched automatically.
	if err := f.Use([]string{"builder"}, "spare"); err != nil {
		t.Fatal(err)
	}
	if d := f.Decide("builder", "forbidden", healths(good("api"), good("max"))); d.Action != ActionNone || !strings.Contains(d.Why, "set by /auth use") {
		t.Errorf("on a hand-picked credential: %s (%q), want none", d.Action, d.Why)
	}
}

func TestFailoverUseErrors(t *testing.T) {
	f, err := NewFailover(testAgents, testCreds, ModeAsk, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		agents []string
		cred   string
		err    string
	}{
		{[]string{"builder"}, "nope", `unknown credential "nope" (known: api, default, max, spare)`},
		{[]string{"builder", "ghost"}, "api", `unknown agent "ghost" (known: builder, reviewer, trainer)`},
		{nil, "api", "no agent named"},
	}
	for _, tt := range tests {
		err := f.Use(tt.agents, tt.cred)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Use(%v, %q) = %v, want %q", tt.agents, tt.cred, err, tt.err)
		}
	}
	if got := f.Current("builder"); got != "max" {
		t.Errorf("a refused Use changed builder to %q", got)
	}
	if err := f.Switched("ghost", "api"); err == nil {
		t.Errorf("Switched(ghost): no error")
	}
	if err := f.Switched("builder", "nope"); err == nil {
		t.Errorf("Switched to an unknown credential: no error")
	}

	if err := f.Use([]string{"all"}, "spare"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.Assignments() {
		if a.Credential != "spare" || a.OnBackup {
			t.Errorf("after Use(all, spare): %+v", a)
		}
	}
}

func TestNewFailoverErrors(t *testing.T) {
	tests := []struct {
		name   string
		agents []config.Agent
		mode   string
		err    string
	}{
		{"bad mode", testAgents, "sometimes", `failover mode "sometimes": use auto, ask or off`},
		{"unknown backup", []config.Agent{{Name: "a", Credential: "max", Backup: "gone"}}, "", `agent "a": backup "gone" is not one of`},
		{"unknown credential", []config.Agent{{Name: "a", Credential: "gone"}}, "", `agent "a": credential "gone"`},
		{"duplicate agent", []config.Agent{{Name: "a"}, {Name: "a"}}, "", `agent "a" appears twice`},
	}
	for _, tt := range tests {
		_, err := NewFailover(tt.agents, testCreds, tt.mode, "")
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
		}
	}
	f, err := NewFailover(testAgents, testCreds, "", "")
	if err != nil || f.Mode() != ModeAsk {
		t.Errorf("mode \"\": %v, %v; want ask", f, err)
	}
}

func TestFailoverPersists(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state", "failover.json")
	f, err := NewFailover(testAgents, testCreds, ModeAuto, state)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Switched("builder", "api"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}

	// fleetwarden restarts: builder stays on its backup and is not switched again.
	f2, err := NewFailover(testAgents, testCreds, ModeAuto, state)
	if err != nil {
		t.Fatal(err)
	}
	want := []Assignment{
		{Agent: "builder", Credential: "api", Primary: "max", Backup: "api", OnBackup: true},
		{Agent: "reviewer", Credential: "max", Primary: "max"},
		{Agent: "trainer", Credential: DefaultName, Primary: DefaultName, Backup: "api"},
	}
	got := f2.Assignments()
	if len(got) != len(want) {
		t.Fatalf("Assignments = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Assignments[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if d := f2.Decide("builder", "subscription", healths(good("max"), good("api"))); d.Action != ActionNone {
		t.Errorf("after reload: %s, want none", d.Action)
	}

	// Back to the primary: nothing left to remember.
	if err := f2.Use([]string{"builder"}, "max"); err != nil {
		t.Fatal(err)
	}
	f3, err := NewFailover(testAgents, testCreds, ModeAuto, state)
	if err != nil {
		t.Fatal(err)
	}
	if got := f3.Current("builder"); got != "max" {
		t.Errorf("after Use back and reload: %q, want max", got)
	}

	// Entries the config no longer backs are dropped.
	b, _ := json.Marshal(stateFile{Version: 1, Agents: map[string]string{"ghost": "api", "reviewer": "removed", "trainer": "api"}})
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f4, err := NewFailover(testAgents, testCreds, ModeAuto, state)
	if err != nil {
		t.Fatal(err)
	}
	if r, tr := f4.Current("reviewer"), f4.Current("trainer"); r != "max" || tr != "api" {
		t.Errorf("reviewer %q trainer %q, want max and api", r, tr)
	}

	if err := os.WriteFile(state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFailover(testAgents, testCreds, ModeAuto, state); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("malformed state: err %v, want a clear error", err)
	}
}

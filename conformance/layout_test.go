//go:build claude_e2e

package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
)

// The recovery loop in the setups users have, with the files the real CLI
// made itself (its onboarding run through against the fake service, no
// hand-written .claude.json): the login dies, the alert comes, /login and
// /code through chat, the agents restart — and come back usable, not on
// the first-run onboarding — and answer the next prompt with the new token.
func TestChatLoginInTheUsersLayout(t *testing.T) {
	t.Parallel()
	tilde := "~/.claude"
	layouts := []struct {
		name string
		// configDirKey is claude.config_dir as written; nil: left out.
		configDirKey *string
		// own: the agents run with CLAUDE_CONFIG_DIR set to a directory of
		// their own (else without it, the CLI's default ~/.claude).
		own bool
	}{
		{name: "no_config_dir"},
		{name: "tilde_claude", configDirKey: &tilde},
		{name: "own_dir", own: true},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, false)
			if l.own {
				e.configDir = filepath.Join(filepath.Dir(e.home), "claude-work")
				if err := os.MkdirAll(e.configDir, 0o700); err != nil {
					t.Fatal(err)
				}
				e.configDirKey = &e.configDir
			} else {
				e.noConfigDirEnv = true
				none := ""
				e.configDirKey = &none
				if l.configDirKey != nil {
					e.configDirKey = l.configDirKey
				}
			}
			old := e.onboard()

			bot := telegramtest.New(t, botToken)
			bot.AddChat(adminChat)
			names := []string{"alpha", "beta"}
			panes := map[string]string{}
			for _, n := range names {
				panes[n] = e.startAgent(n)
			}
			for _, n := range names {
				e.waitReady(panes[n])
			}
			e.runDaemon(bot, names...)

			e.api.ExpireAccess()
			e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
			for _, n := range names {
				e.prompt(panes[n], "job for "+n)
				e.waitState(panes[n], claude.AuthFailed, claude.ReasonExpired, turnTimeout)
			}
			waitChat(t, bot, 0, time.Minute, "Login expired on 2 agents")
			statusShows(t, bot, "2 agents: 2 auth_failed")

			_, n, _ := chatLogin(t, e, bot, time.Minute)
			// The report: "✓ All 2 agent(s) back in …" or "Restarted 1 of 2 …".
			report := waitChat(t, bot, n, startTimeout+time.Minute, " — ")
			t.Logf("restart report: %q", report.Plain)
			for _, a := range names {
				if !strings.Contains(report.Plain, "✓ "+a) {
					t.Errorf("%s is not reported back: %q", a, report.Plain)
				}
			}
			for _, a := range names {
				text := e.capture(panes[a])
				if r := claude.Classify(text); r.State == claude.NeedsInput || r.State == claude.LoggingIn {
					t.Fatalf("%s came back on %s: %s\n%s", a, claude.DialogName(r), r.Evidence, claude.Redact(text))
				}
				e.prompt(panes[a], "after the login, job for "+a)
				e.waitFor(panes[a], turnTimeout, a+" answered", func(r claude.Result, s string) bool {
					return r.State == claude.Idle &&
						strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "after the login, job for "+a)
				})
				if req, ok := lastPrompt(e.api, "after the login, job for "+a); !ok || req.Token == anthropictest.Fingerprint(old.Access) {
					t.Errorf("%s: after the login the prompt went out with %q (old token %s)", a, req.Token, anthropictest.Fingerprint(old.Access))
				}
			}
			// The login went where the agents read it, and nothing made a
			// second world: no .claude.json in ~/.claude for the default layouts.
			if cr, err := claude.ReadCredentials(claude.CredentialsPath(e.configDir)); err != nil || cr.Dead() {
				t.Errorf("credentials in %s after the login: %+v, %v", e.configDir, cr, err)
			}
			if !l.own {
				if _, err := os.Stat(filepath.Join(e.configDir, ".claude.json")); err == nil {
					t.Errorf("a .claude.json appeared in ~/.claude: something ran the CLI with CLAUDE_CONFIG_DIR=~/.claude")
				}
			}
		})
	}
}

// onboard runs the real CLI's first start in the layout (HOME, and
// CLAUDE_CONFIG_DIR unless noConfigDirEnv) the way a user does: a login
// issued by the fake service, then every dialog of the first run answered
// as a user does (the default theme, the notes, "Yes, I trust this
// folder"), until the
// input box shows; then it exits. The CLI writes its own .claude.json. It
// returns the login.
func (e *env) onboard() anthropictest.Tokens {
	e.t.Helper()
	tok := e.login()
	pane := e.startAgent("onboard")
	deadline := time.Now().Add(2 * startTimeout)
	var last string   // the screen last answered
	var lastEv string // and its dialog's line
	for step := 0; ; step++ {
		if step > 20 || time.Now().After(deadline) {
			e.t.Fatalf("the first run did not reach the input box (%d screens); last screen:\n%s", step, claude.Redact(last))
		}
		// Wait for the next dialog, drawn and still for a moment (a dialog
		// redraws itself; answering twice would answer the next one). The
		// same dialog still there after 10 s lost its key: answer again.
		var r claude.Result
		var text, prev string
		since := time.Now()
		e.poll(pane, 10*time.Second, func(s string) bool {
			r, text = claude.Classify(s), s
			if s != prev {
				prev, since = s, time.Now()
				return false
			}
			open := r.State == claude.Idle || r.State == claude.NeedsInput || r.State == claude.LoggingIn
			return open && r.Evidence != lastEv && time.Since(since) >= 300*time.Millisecond
		})
		if r.State != claude.Idle && r.State != claude.NeedsInput && r.State != claude.LoggingIn {
			continue
		}
		last, lastEv = text, r.Evidence
		e.seen("first run", r)
		if r.State == claude.Idle {
			break
		}
		if r.State == claude.LoggingIn && r.LoginURL != "" && strings.Contains(text, "Paste code") {
			code, err := e.api.Authorize(r.LoginURL)
			if err != nil {
				e.t.Fatalf("first-run login: %v", err)
			}
			e.send(pane, code)
			issued := e.api.Issued()
			tok = issued[len(issued)-1]
			continue
		}
		keys := []string{"Enter"}
		if strings.Contains(text, "Yes, I trust this folder") && !strings.Contains(text, "❯ Yes, I trust") {
			keys = []string{"Down", "Enter"} // its default is "No, exit"
		}
		for _, k := range keys {
			if err := e.tm.SendKeys(e.t.Context(), pane, k); err != nil {
				e.t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // the CLI takes keys sent at once as one chord
		}
	}
	e.send(pane, "/exit")
	if !e.poll(pane, startTimeout, func(string) bool { return e.paneDead(pane) }) {
		e.t.Fatalf("the CLI did not exit after the first run")
	}
	if err := e.tm.KillPane(e.t.Context(), pane); err != nil {
		e.t.Fatal(err)
	}
	global := filepath.Join(e.home, ".claude.json")
	if !e.noConfigDirEnv {
		global = filepath.Join(e.configDir, ".claude.json")
	}
	b, err := os.ReadFile(global)
	if err != nil {
		e.t.Fatalf("the CLI's first run wrote no %s: %v", global, err)
	}
	var st struct {
		Done     bool `json:"hasCompletedOnboarding"`
		Projects map[string]struct {
			Trusted bool `json:"hasTrustDialogAccepted"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(b, &st); err != nil || !st.Done {
		e.t.Fatalf("%s after the first run: onboarding done %v (%v)", global, st.Done, err)
	}
	e.t.Logf("the CLI wrote %s: onboarding done, %d project(s), work dir trusted: %v", global, len(st.Projects), st.Projects[e.workdir].Trusted)
	return tok
}

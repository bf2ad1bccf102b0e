//go:build claude_e2e

package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
	"github.com/fleetwarden/fleetwarden/login"
)

// The whole recovery against the real CLI: two agents lose their login,
// fleetwarden sees it, a wrong code is refused, the right one logs in over
// `claude auth login` on pipes, fleetwarden restarts the agents (resuming
// their sessions) and each answers its next prompt with the new login.
func TestLoginRecoversFleet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.login()
	names := []string{"alpha", "beta"}
	panes := map[string]string{}
	for _, n := range names {
		panes[n] = e.startAgent(n)
	}
	f := e.fleet(names...)
	for _, n := range names {
		e.waitReady(panes[n])
		e.prompt(panes[n], "first job for "+n)
		e.waitFor(panes[n], turnTimeout, n+" answered", func(r claude.Result, s string) bool {
			return r.State == claude.Idle && strings.Contains(s, "● "+anthropictest.DefaultAnswer)
		})
	}
	for n, st := range e.scan(f) {
		if !st.Healthy() {
			t.Fatalf("%s before the failure: %s/%s %q, want idle", n, st.State, st.Reason, st.Evidence)
		}
	}

	// The login dies: the access token expires and the refresh is refused.
	e.api.ExpireAccess()
	e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
	for _, n := range names {
		e.prompt(panes[n], "second job for "+n)
		e.waitFor(panes[n], turnTimeout, n+" refused", func(r claude.Result, _ string) bool {
			return r.State == claude.AuthFailed
		})
	}
	for _, n := range names {
		st := e.scan(f)[n]
		t.Logf("fleet sees %s: %s/%s %q (command %q)", n, st.State, st.Reason, st.Evidence, st.Command)
		if st.State != claude.AuthFailed || !st.Reason.ReloginFixes() {
			t.Errorf("%s: fleet says %s/%s, want auth_failed with a reason a login fixes", n, st.State, st.Reason)
		}
	}
	cr, err := claude.ReadCredentials(claude.CredentialsPath(e.configDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("credentials after the failure: %s", cr.Status(time.Now()))
	if !cr.Dead() {
		t.Errorf("credentials not dead after the refused refresh: %s", cr.Status(time.Now()))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	opts := login.AuthOptions{Bin: e.bin, ConfigDir: e.configDir, Env: e.environ(), Timeout: time.Minute}

	// A code from another login attempt is refused by the server.
	bad, err := login.StartAuth(ctx, opts)
	if err != nil {
		t.Fatalf("start login: %v", err)
	}
	wrong, err := e.api.Authorize(bad.URL())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	wrong = "stale" + wrong // a code the server never issued
	out, err := bad.Submit(ctx, wrong)
	if err != nil {
		t.Fatalf("submit the wrong code: %v", err)
	}
	t.Logf("wrong code: ok=%v message=%q advice=%q", out.OK, out.Message, out.Advice)
	if out.OK || !strings.Contains(out.Message, "Couldn't log in") {
		t.Errorf("wrong code: got ok=%v %q, want refused with \"Couldn't log in\"", out.OK, out.Message)
	}

	// The real login.
	l, err := login.StartAuth(ctx, opts)
	if err != nil {
		t.Fatalf("start login: %v", err)
	}
	t.Logf("login URL: %s", cutURL(l.URL()))
	code, err := e.api.Authorize(l.URL())
	if err != nil {
		t.Fatalf("authorize %s: %v", cutURL(l.URL()), err)
	}
	out, err = l.Submit(ctx, code)
	if err != nil {
		t.Fatalf("submit the code: %v", err)
	}
	t.Logf("login: ok=%v message=%q", out.OK, out.Message)
	if !out.OK {
		t.Fatalf("login refused: %q (advice %q); CLI said:\n%s", out.Message, out.Advice, l.Output())
	}
	issued := e.api.Issued()
	fresh := issued[len(issued)-1]
	cr, err = claude.ReadCredentials(claude.CredentialsPath(e.configDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("credentials after the login: %s", cr.Status(time.Now()))
	if cr.Dead() || !cr.HasRefresh || cr.Fingerprint != anthropictest.Fingerprint(fresh.Access) {
		t.Fatalf("credentials after login: %s, fingerprint %s; want live, with a refresh token, fingerprint %s",
			cr.Status(time.Now()), cr.Fingerprint, anthropictest.Fingerprint(fresh.Access))
	}
	if strings.Contains(l.Output(), fresh.Access) {
		t.Errorf("the login output holds the access token unredacted")
	}

	// fleetwarden restarts the agents; each resumes its conversation.
	res := f.Restart(ctx, names, fleet.RestartOptions{ConfigDir: e.configDir, Timeout: startTimeout})
	for _, r := range res {
		t.Logf("restart %s: ok=%v state=%s session=%q took=%v err=%q", r.Agent, r.OK, r.State, r.SessionID, r.Took.Round(time.Millisecond), r.Err)
		if !r.OK {
			t.Errorf("restart %s failed: %s\n%s", r.Agent, r.Err, r.LastLines)
		}
		if r.SessionID == "" {
			t.Errorf("restart %s: no Claude session found to resume", r.Agent)
		}
	}
	for _, n := range names {
		if text := e.capture(panes[n]); !strings.Contains(text, "first job for "+n) {
			t.Errorf("%s after the restart does not show its earlier conversation:\n%s", n, claude.Redact(text))
		}
		e.prompt(panes[n], "third job for "+n)
		e.waitFor(panes[n], turnTimeout, n+" answered after the login", func(r claude.Result, s string) bool {
			return r.State == claude.Idle && strings.Count(s, "● "+anthropictest.DefaultAnswer) >= 1 &&
				strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "third job for "+n)
		})
		req, ok := lastPrompt(e.api, "third job for "+n)
		switch {
		case !ok:
			t.Errorf("%s: the fake never got the third prompt", n)
		case req.Token == anthropictest.Fingerprint(old.Access):
			t.Errorf("%s: answered with the old token", n)
		case req.Status != 200:
			t.Errorf("%s: third prompt answered %d", n, req.Status)
		}
	}
	for n, st := range e.scan(f) {
		t.Logf("fleet sees %s after the restart: %s %q", n, st.State, st.Evidence)
		if !st.Healthy() {
			t.Errorf("%s after the restart: %s/%s, want idle", n, st.State, st.Reason)
		}
	}
}

// `claude setup-token` in tmux: fleetwarden reads the wrapped URL off the
// pane, the code is typed in, and the printed long-lived token is captured
// (and works), without the suite ever printing it.
func TestSetupToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pane := e.startAgent("setup", "setup-token")
	r, text := e.waitFor(pane, startTimeout, "the login URL and code prompt", func(r claude.Result, s string) bool {
		return r.State == claude.LoggingIn && r.LoginURL != "" && strings.Contains(s, "Paste code here")
	})
	e.seen("waiting for the code", r)
	if u := claude.ExtractLoginURL(text); u != r.LoginURL {
		t.Errorf("ExtractLoginURL = %q, Classify's LoginURL = %q; want the same", cutURL(u), cutURL(r.LoginURL))
	}
	code, err := e.api.Authorize(r.LoginURL)
	if err != nil {
		t.Fatalf("the URL read off the pane is not a usable login URL: %v\npane:\n%s", err, claude.Redact(text))
	}
	e.send(pane, code)
	r, text = e.waitFor(pane, turnTimeout, "the token", func(_ claude.Result, s string) bool {
		return strings.Contains(s, "Long-lived authentication token created") || strings.Contains(s, "OAuth error")
	})
	e.seen("after the code", r)
	if !strings.Contains(text, "Long-lived authentication token created") {
		t.Fatalf("setup-token failed:\n%s", claude.Redact(text))
	}
	issued := e.api.Issued()
	if len(issued) != 1 {
		t.Fatalf("the fake issued %d logins, want 1", len(issued))
	}
	tok := issued[0]
	got := printedToken(text)
	if got != tok.Access {
		t.Fatalf("token on the pane (fingerprint %s) is not the one issued (fingerprint %s)",
			anthropictest.Fingerprint(got), anthropictest.Fingerprint(tok.Access))
	}
	t.Logf("captured %s (fingerprint %s), scopes %v, valid %v, refresh token: %v",
		claude.Redact(got), anthropictest.Fingerprint(got), tok.Scopes, time.Until(tok.AccessExpires).Round(time.Hour), tok.Refresh != "")
	if strings.Contains(claude.Redact(text), tok.Access) {
		t.Errorf("claude.Redact left the token in the pane text")
	}
	// The CLI usually exits half a second after printing the token, but on a
	// loaded CI machine it once sat there for the whole wait. fleetwarden does
	// not wait for it: once the token is read it kills the login window, and
	// so does this test if the CLI lingers.
	if e.poll(pane, 15*time.Second, func(string) bool { return e.paneDead(pane) }) {
		e.seen("after setup-token exited", claude.Classify(e.capture(pane)))
	} else {
		t.Logf("setup-token still running 15s after printing the token; killing it as fleetwarden does")
		if err := e.tm.KillPane(t.Context(), pane); err != nil {
			t.Fatalf("kill the setup-token pane: %v", err)
		}
	}
	if _, err := claude.ReadCredentials(claude.CredentialsPath(e.configDir)); err == nil {
		t.Errorf("setup-token wrote .credentials.json; the notes say it does not")
	}

	// The token works as CLAUDE_CODE_OAUTH_TOKEN.
	e.extra["CLAUDE_CODE_OAUTH_TOKEN"] = got
	agent := e.startAgent("agent")
	e.waitReady(agent)
	e.prompt(agent, "use the long-lived token")
	e.waitFor(agent, turnTimeout, "the answer", func(r claude.Result, s string) bool {
		return r.State == claude.Idle && strings.Contains(s, "● "+anthropictest.DefaultAnswer)
	})
	if req, ok := lastPrompt(e.api, "use the long-lived token"); !ok || req.Token != anthropictest.Fingerprint(tok.Access) {
		t.Errorf("prompt sent with token %q, want the setup-token one %s", req.Token, anthropictest.Fingerprint(tok.Access))
	}
}

// printedToken finds the sk-ant-oat01- token setup-token printed.
func printedToken(text string) string {
	i := strings.Index(text, "sk-ant-oat01-")
	if i < 0 {
		return ""
	}
	j := i
	for j < len(text) && (isTokenByte(text[j])) {
		j++
	}
	return text[i:j]
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// /login inside the agent's own TUI: the chooser, the URL hard-wrapped at
// the pane's width, the code typed into the pane. The agent then answers
// without a restart.
func TestSlashLoginInTUI(t *testing.T) {
	t.Parallel()
	// Wide, and as narrow as a phone's terminal: the URL then spans lines.
	for _, size := range [][2]int{{0, 0}, {60, 30}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.size = size
			old := e.login()
			pane := e.startAgent("agent")
			e.waitReady(pane)
			e.api.ExpireAccess()
			e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
			e.prompt(pane, "before the login")
			e.waitState(pane, claude.AuthFailed, claude.ReasonExpired, turnTimeout)

			e.send(pane, "/login")
			r, _ := e.waitFor(pane, turnTimeout, "the login method chooser", func(r claude.Result, s string) bool {
				return r.State == claude.LoggingIn && strings.Contains(s, "Select login method")
			})
			e.seen("login chooser", r)
			if err := e.tm.SendKeys(t.Context(), pane, "Enter"); err != nil {
				t.Fatal(err)
			}
			r, text := e.waitFor(pane, turnTimeout, "the login URL", func(r claude.Result, s string) bool {
				return r.State == claude.LoggingIn && r.LoginURL != "" && strings.Contains(s, "Paste code here")
			})
			e.seen("login URL", r)
			code, err := e.api.Authorize(r.LoginURL)
			if err != nil {
				t.Fatalf("the URL joined from the pane does not work: %v\npane:\n%s", err, claude.Redact(text))
			}
			e.send(pane, code)
			r, text = e.waitFor(pane, turnTimeout, "the verdict", func(_ claude.Result, s string) bool {
				return strings.Contains(s, "Login successful") || strings.Contains(s, "OAuth error")
			})
			e.seen("after the code", r)
			if !strings.Contains(text, "Login successful") {
				t.Fatalf("login in the TUI failed:\n%s", claude.Redact(text))
			}
			if strings.Contains(text, code) {
				t.Logf("note: the pane still shows the pasted code")
			}
			if err := e.tm.SendKeys(t.Context(), pane, "Enter"); err != nil {
				t.Fatal(err)
			}
			r, _ = e.waitState(pane, claude.Idle, "", turnTimeout)
			e.seen("back at the prompt", r)
			e.prompt(pane, "after the login")
			e.waitFor(pane, turnTimeout, "the answer", func(r claude.Result, s string) bool {
				return r.State == claude.Idle &&
					strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "after the login")
			})
			if req, ok := lastPrompt(e.api, "after the login"); !ok || req.Token == anthropictest.Fingerprint(old.Access) {
				t.Errorf("after the TUI login the prompt went out with %q, want the new token", req.Token)
			}
		})
	}
}

// After a failed turn and a login made elsewhere, fleetwarden restarts the
// agent (`claude --resume <id>`): the old error is back on screen — under
// the classic renderer right above the empty input box, where it looks like
// the last turn — but it is history: the fleet reports the agent ready.
func TestResumeAfterFailure(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		e.login()
		pane := e.startAgent("agent")
		e.waitReady(pane)
		f := e.fleet("agent")
		e.api.ExpireAccess()
		e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
		e.prompt(pane, "this one fails")
		e.waitState(pane, claude.AuthFailed, claude.ReasonExpired, turnTimeout)
		if st := e.scan(f)["agent"]; st.State != claude.AuthFailed {
			t.Fatalf("fleet sees %s/%s %q before the restart, want auth_failed", st.State, st.Reason, st.Evidence)
		}
		e.login() // a human logged in elsewhere

		res := f.Restart(t.Context(), []string{"agent"}, fleet.RestartOptions{ConfigDir: e.configDir, Timeout: startTimeout})
		if r := res[0]; !r.OK || r.SessionID == "" {
			t.Fatalf("restart: %+v, want back in its session", r)
		}
		// Resumed: the old turn and its error are back, above an empty input box.
		r, text := e.waitFor(pane, startTimeout, "the resumed conversation", func(_ claude.Result, s string) bool {
			_, inBox := turnState(s, "")
			return strings.Contains(s, "❯ this one fails") && strings.Contains(s, "Login expired") && inBox &&
				!strings.Contains(s, "Once fixed")
		})
		e.seen("resumed, the pane alone", r)
		if r.State == claude.AuthFailed && !r.Unconfirmed {
			t.Errorf("the resumed screen's old error counts as confirmed: %s", describe(r))
		}
		st := e.scan(f)["agent"]
		t.Logf("fleet sees the resumed agent: %s %q", st.State, st.Evidence)
		if st.State != claude.Idle {
			e.mismatch(fmt.Sprintf("fleet sees the resumed agent %s/%s %q, want idle: the error is from before the restart", st.State, st.Reason, st.Evidence), text)
		}
		e.prompt(pane, "and this one works")
		r, _ = e.waitFor(pane, turnTimeout, "the answer", func(r claude.Result, s string) bool {
			return strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "and this one works")
		})
		e.seen("after a new prompt", r)
		if r.State != claude.Idle {
			t.Errorf("after the answer: %s, want idle", describe(r))
		}
		e.skipKnown()
	})
}

// Since 2.1.330 the CLI prints a short sign-in link (no fields to read);
// CLAUDE_CODE_FULL_SIGN_IN_LINK=1 brings the full one back. A login works
// with either: fleetwarden relays the link as printed.
func TestLoginWithEitherLinkForm(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"as printed", nil},
		{"full link", []string{"CLAUDE_CODE_FULL_SIGN_IN_LINK=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			l, err := login.StartAuth(ctx, login.AuthOptions{Bin: e.bin, ConfigDir: e.configDir,
				Env: append(e.environ(), tt.env...), Timeout: time.Minute})
			if err != nil {
				t.Fatalf("start login: %v", err)
			}
			form := "short"
			if strings.Contains(l.URL(), "state=") {
				form = "full"
			}
			t.Logf("%s link: %s", form, cutURL(l.URL()))
			if tt.env != nil && form != "full" {
				t.Errorf("CLAUDE_CODE_FULL_SIGN_IN_LINK=1 printed %s", cutURL(l.URL()))
			}
			code, err := e.api.Authorize(l.URL())
			if err != nil {
				t.Fatalf("authorize %s: %v", cutURL(l.URL()), err)
			}
			out, err := l.Submit(ctx, code)
			if err != nil || !out.OK {
				t.Fatalf("login with the %s link: ok=%v %q %v; CLI said:\n%s", form, out.OK, out.Message, err, l.Output())
			}
		})
	}
}

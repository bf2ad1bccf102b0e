//go:build claude_e2e

package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// A logged-in agent answers a prompt: working while the answer streams,
// idle with the answer on screen after.
func TestLoggedInSessionAnswers(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		tok := e.login()
		pane := e.startAgent("agent")
		e.seen("at start", claude.Classify(e.waitReady(pane)))

		release := make(chan struct{})
		e.api.Script(anthropictest.AnswerWhen("The fleet is fine.", release))
		e.prompt(pane, "how is the fleet")
		r, _ := e.waitState(pane, claude.Working, "", turnTimeout)
		e.seen("while answering", r)
		close(release)

		r, text := e.waitFor(pane, turnTimeout, "idle with the answer", func(r claude.Result, s string) bool {
			return r.State == claude.Idle && strings.Contains(s, "The fleet is fine.")
		})
		e.seen("after the answer", r)

		req, ok := lastPrompt(e.api, "how is the fleet")
		if !ok {
			t.Fatalf("the fake never got the prompt; pane:\n%s", claude.Redact(text))
		}
		if req.Token != anthropictest.Fingerprint(tok.Access) {
			t.Errorf("prompt sent with token %s, want the logged-in one %s", req.Token, anthropictest.Fingerprint(tok.Access))
		}
	})
}

// lastPrompt finds the last /v1/messages request carrying prompt.
func lastPrompt(api *anthropictest.Server, prompt string) (anthropictest.Request, bool) {
	reqs := api.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if anthropictest.Messages(reqs[i]) && strings.Contains(reqs[i].Prompt, prompt) {
			return reqs[i], true
		}
	}
	return anthropictest.Request{}, false
}

// Each way a login dies, produced the way the servers produce it, and what
// fleetwarden must read from the pane after the next prompt.
func TestAuthFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		env      map[string]string
		cause    func(api *anthropictest.Server)
		reason   claude.Reason
		evidence string // what the CLI says, as it says it
		dead     bool   // the CLI must have wiped the refresh token
		ended    string // loginEnded in the credentials file after
	}{
		{
			name: "access expired, refresh refused",
			cause: func(api *anthropictest.Server) {
				api.ExpireAccess()
				api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
			},
			reason: claude.ReasonExpired, evidence: "Login expired · Please run /login", dead: true,
		},
		{
			// The refresh works, yet the API keeps refusing the new token.
			name:     "401 expired although the refresh worked",
			env:      map[string]string{"CLAUDE_CODE_MAX_RETRIES": "1"},
			cause:    func(api *anthropictest.Server) { api.Script(anthropictest.Expired()) },
			reason:   claude.ReasonExpired,
			evidence: "Please run /login · API Error: 401 OAuth token has expired.",
		},
		{
			name: "refresh token expired",
			cause: func(api *anthropictest.Server) {
				api.ExpireAccess()
				api.ExpireRefresh()
			},
			reason: claude.ReasonTimeLimit, evidence: "Login reached its time limit · Please run /login",
			dead: true, ended: "time_limit",
		},
		{
			// The API says revoked and a refresh does not help.
			name:     "token revoked",
			cause:    func(api *anthropictest.Server) { api.Script(anthropictest.Revoked()) },
			reason:   claude.ReasonRevoked,
			evidence: "OAuth token revoked · Please run /login",
		},
		{
			// The whole grant revoked (as from claude.ai settings): the
			// refresh fails too, and the CLI calls it an expired login.
			name:     "grant revoked with its refresh token",
			cause:    func(api *anthropictest.Server) { api.RevokeAll() },
			reason:   claude.ReasonExpired,
			evidence: "Login expired · Please run /login", dead: true,
		},
		{
			name:     "403 subscription",
			cause:    func(api *anthropictest.Server) { api.Script(anthropictest.Subscription()) },
			reason:   claude.ReasonSubscription,
			evidence: "Claude Code can't use your Claude subscription",
		},
		{
			name: "other 403",
			cause: func(api *anthropictest.Server) {
				api.Script(anthropictest.Forbidden("Your request was blocked by an access policy."))
			},
			reason:   claude.ReasonForbidden,
			evidence: "Please run /login · API Error: 403 Your request was blocked by an access policy.",
		},
	}
	for _, c := range cases {
		for _, rd := range renderers {
			t.Run(rd.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.use(rd)
				for k, v := range c.env {
					e.extra[k] = v
				}
				e.login()
				pane := e.startAgent("agent")
				e.waitReady(pane)
				c.cause(e.api)
				e.prompt(pane, "next task please")
				r, text := e.waitFor(pane, turnTimeout, "the CLI's verdict on screen", func(_ claude.Result, s string) bool {
					return strings.Contains(s, c.evidence)
				})
				// The verdict is on screen: the classifier must agree at once.
				e.seen("after the prompt", r)
				if r.State != claude.AuthFailed || r.Reason != c.reason {
					t.Errorf("classified %s, want %s/%s; the CLI said %q", describe(r), claude.AuthFailed, c.reason, c.evidence)
					t.Logf("pane:\n%s", claude.Redact(text))
				}
				cr, err := claude.ReadCredentials(claude.CredentialsPath(e.configDir))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("credentials after: %s", cr.Status(time.Now()))
				if c.dead && cr.HasRefresh {
					t.Errorf("credentials still hold a refresh token; want it wiped by the failed refresh")
				}
				if cr.LoginEnded != c.ended {
					t.Errorf("loginEnded = %q, want %q", cr.LoginEnded, c.ended)
				}
			})
		}
	}
}

// Without any login a prompt is refused at once. The footer says "Not
// logged in · run /login" too: at once with the classic renderer, but with
// the fullscreen one only after the CLI's startup checks (seen up to ~20 s),
// until when the pane looks idle.
func TestNotLoggedIn(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		pane := e.startAgent("agent")
		r, _ := e.waitFor(pane, startTimeout, "the input box", func(r claude.Result, _ string) bool {
			return r.State == claude.Idle || r.State == claude.AuthFailed && r.Reason == claude.ReasonNotLoggedIn
		})
		e.seen("at start", r)
		e.prompt(pane, "anyone there")
		r, _ = e.waitFor(pane, turnTimeout, "the refused turn", func(_ claude.Result, s string) bool {
			return strings.Contains(s, "Not logged in · Please run /login")
		})
		e.seen("after the prompt", r)
		if r.State != claude.AuthFailed || r.Reason != claude.ReasonNotLoggedIn {
			t.Errorf("classified %s, want auth_failed/not_logged_in", describe(r))
		}
		if n := e.api.Count(anthropictest.Messages); n != 0 {
			t.Errorf("the CLI sent %d /v1/messages without a login, want 0", n)
		}
	})
}

// What a graceful stop relies on: Ctrl-C twice ends the CLI, which prints
// how to resume the session; the dead pane reads as exited.
//
// Found here: Escape followed at once by Ctrl-C does not stop it (the CLI
// reads ESC + ^C as one Alt-chord); with a pause after Escape, or without
// Escape, it does.
func TestCtrlCTwiceExits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.login()
	pane := e.startAgent("agent")
	e.waitReady(pane)
	e.prompt(pane, "remember this")
	e.waitFor(pane, turnTimeout, "the answer", func(r claude.Result, s string) bool {
		return r.State == claude.Idle && strings.Contains(s, "● "+anthropictest.DefaultAnswer)
	})
	for range 2 {
		if err := e.tm.SendKeys(t.Context(), pane, "C-c"); err != nil {
			t.Fatal(err)
		}
	}
	r, text := e.waitFor(pane, turnTimeout, "the CLI gone", func(r claude.Result, _ string) bool {
		return r.State == claude.Exited
	})
	e.seen("after Ctrl-C twice", r)
	if !strings.Contains(text, "claude --resume ") {
		t.Errorf("no resume hint printed:\n%s", claude.Redact(text))
	}
	st := e.scan(e.fleet("agent"))["agent"]
	t.Logf("fleet sees: %s/%s %q", st.State, st.Reason, st.Evidence)
	if st.State != claude.Exited {
		t.Errorf("fleet says %s/%s, want exited", st.State, st.Reason)
	}
}

//go:build claude_e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropic"
)

// A logged-in agent answers a prompt: working while the answer streams,
// idle with the answer on screen after.
func TestLoggedInSessionAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login()
	pane := e.startAgent("agent")
	e.seen("at start", claude.Classify(e.waitReady(pane)))

	release := make(chan struct{})
	e.api.Script(anthropic.AnswerWhen("The fleet is fine.", release))
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
		t.Fatalf("the fake never got the prompt; pane:\n%s", text)
	}
	if req.Token != anthropic.Fingerprint(tok.Access) {
		t.Errorf("prompt sent with token %s, want the logged-in one %s", req.Token, anthropic.Fingerprint(tok.Access))
	}
}

// lastPrompt finds the last /v1/messages request carrying prompt.
func lastPrompt(api *anthropic.Server, prompt string) (anthropic.Request, bool) {
	reqs := api.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if anthropic.Messages(reqs[i]) && strings.Contains(reqs[i].Prompt, prompt) {
			return reqs[i], true
		}
	}
	return anthropic.Request{}, false
}

// Each way a login dies, produced the way the servers produce it, and what
// fleetwarden must read from the pane.
func TestAuthFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		break_ func(api *anthropic.Server)
		reason claude.Reason
		dead   bool   // the CLI must have wiped the refresh token
		ended  string // loginEnded in the credentials file after
	}{
		{
			name: "expired, refresh refused",
			break_: func(api *anthropic.Server) {
				api.ExpireAccess()
				api.ScriptToken(anthropic.GrantRefreshToken, anthropic.TokenInvalidGrant)
			},
			reason: claude.ReasonExpired, dead: true,
		},
		{
			name:   "expired, refresh works but the API still says expired",
			break_: func(api *anthropic.Server) { api.Script(anthropic.Expired()) },
			reason: claude.ReasonExpired,
		},
		{
			name: "refresh token expired",
			break_: func(api *anthropic.Server) {
				api.ExpireAccess()
				api.ExpireRefresh()
			},
			reason: claude.ReasonTimeLimit, dead: true, ended: "time_limit",
		},
		{
			name:   "revoked",
			break_: func(api *anthropic.Server) { api.RevokeAll() },
			reason: claude.ReasonRevoked,
		},
		{
			name:   "subscription",
			break_: func(api *anthropic.Server) { api.Script(anthropic.Subscription()) },
			reason: claude.ReasonSubscription,
		},
		{
			name:   "other 403",
			break_: func(api *anthropic.Server) { api.Script(anthropic.Forbidden("Your request was blocked by an access policy.")) },
			reason: claude.ReasonForbidden,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.login()
			pane := e.startAgent("agent")
			e.waitReady(pane)
			c.break_(e.api)
			e.prompt(pane, "next task please")
			r, _ := e.waitState(pane, claude.AuthFailed, c.reason, turnTimeout)
			e.seen("after the prompt", r)
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

// Without any login the footer says so at once, and a prompt is refused.
func TestNotLoggedIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pane := e.startAgent("agent")
	r, _ := e.waitState(pane, claude.AuthFailed, claude.ReasonNotLoggedIn, startTimeout)
	e.seen("at start", r)
	e.prompt(pane, "anyone there")
	r, _ = e.waitFor(pane, turnTimeout, "the refused turn", func(r claude.Result, s string) bool {
		return r.State == claude.AuthFailed && r.Reason == claude.ReasonNotLoggedIn &&
			strings.Contains(s, "Not logged in · Please run /login")
	})
	e.seen("after the prompt", r)
	if n := e.api.Count(anthropic.Messages); n != 0 {
		t.Errorf("the CLI sent %d /v1/messages without a login, want 0", n)
	}
}

//go:build claude_e2e

package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// Non-auth API failures: the CLI retries (the status line says so), then
// gives up with "API Error: …" and "Resend your message to try again" in the
// input box. Both are api_error, with the cause as the reason.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		reply    anthropictest.Reply
		reason   claude.Reason
		retrying string // what the retry status line says
		final    string // what the CLI says when it gives up
		// finalReason, when set, is the reason of that last word: a 429
		// that is no usage limit ends as "Server is temporarily limiting
		// requests (not your usage limit)", a short throttle.
		finalReason claude.Reason
	}{
		{"529 overloaded", anthropictest.Error(529, "overloaded_error", "Overloaded"), claude.ReasonOverloaded,
			"529 Overloaded · retrying", "API Error: 529 Overloaded.", ""},
		{"500 server error", anthropictest.Error(http.StatusInternalServerError, "api_error", "Internal server error"), claude.ReasonServer,
			"500 Internal server error · retrying", "API Error: 500 Internal server error.", ""},
		{"429 rate limited", anthropictest.Error(http.StatusTooManyRequests, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
			claude.ReasonRateLimit, "429 Number of request tokens", "API Error: Server is temporarily limiting requests", claude.ReasonThrottled},
		{"connection dropped", anthropictest.Hangup(), claude.ReasonNetwork,
			"Connection dropped (ECONNRESET) · retrying", "API Error: Connection dropped (ECONNRESET).", ""},
	}
	for _, c := range cases {
		for _, rd := range renderers {
			t.Run(rd.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.use(rd)
				e.extra["CLAUDE_CODE_MAX_RETRIES"] = "1" // one retry, then the verdict
				e.login()
				pane := e.startAgent("agent")
				e.waitReady(pane)
				e.api.Script(c.reply)
				e.prompt(pane, "next task please")
				var retry *claude.Result
				r, text := e.waitFor(pane, turnTimeout, "the verdict", func(r claude.Result, s string) bool {
					if retry == nil && strings.Contains(s, c.retrying) {
						retry = &r
					}
					return strings.Contains(s, c.final) && strings.Contains(s, "Resend your message")
				})
				switch {
				case retry == nil:
					t.Logf("the retry status %q passed between two looks", c.retrying)
				case retry.State != claude.APIError || retry.Reason != c.reason:
					t.Errorf("while retrying: classified %s, want %s/%s", describe(*retry), claude.APIError, c.reason)
				default:
					e.seen("while retrying", *retry)
				}
				e.seen("after the prompt", r)
				want := c.reason
				if c.finalReason != "" {
					want = c.finalReason
				}
				if r.State != claude.APIError || r.Reason != want {
					e.mismatch(fmt.Sprintf("classified %s, want %s/%s; the CLI said %q", describe(r), claude.APIError, want, c.final), text)
				}
			})
		}
	}
}

// An agent given an API key in its environment (an api-key credential) is
// asked at start whether to use it: needs_input. A key the API refuses ends
// a turn as auth_failed/invalid_api_key. When fleetwarden restarts an agent
// onto a key it injected, it answers the dialog itself and the agent works.
func TestAPIKeyCredential(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		e.extra["CLAUDE_CODE_MAX_RETRIES"] = "1"

		// By hand, with a key the API does not know.
		e.extra["ANTHROPIC_API_KEY"] = "sk-ant-api03-" + strings.Repeat("b", 80) + "-bogusAA"
		pane := e.startAgent("byhand")
		r, _ := e.waitFor(pane, startTimeout, "the API key dialog", func(_ claude.Result, s string) bool {
			return strings.Contains(s, "Do you want to use this API key?")
		})
		e.seen("the dialog", r)
		if r.State != claude.NeedsInput {
			t.Errorf("the API key dialog classified %s, want needs_input", describe(r))
		}
		for _, k := range []string{"Up", "Enter"} { // "Yes"; "No" is preselected
			if err := e.tm.SendKeys(t.Context(), pane, k); err != nil {
				t.Fatal(err)
			}
		}
		e.waitReady(pane)
		e.prompt(pane, "next task please")
		r, text := e.waitFor(pane, turnTimeout, "the verdict", func(_ claude.Result, s string) bool {
			return strings.Contains(s, "Invalid API key")
		})
		e.seen("after the prompt", r)
		if r.State != claude.AuthFailed || r.Reason != claude.ReasonInvalidAPIKey {
			e.mismatch(fmt.Sprintf("classified %s, want auth_failed/invalid_api_key", describe(r)), text)
		}

		// fleetwarden restarts an agent (no login at all) onto a good key.
		delete(e.extra, "ANTHROPIC_API_KEY")
		good := "sk-ant-api03-" + strings.Repeat("k", 80) + "-goodAA"
		e.api.AddAPIKey(good)
		agent := e.startAgent("agent")
		e.waitFor(agent, startTimeout, "the CLI up", func(r claude.Result, _ string) bool { return r.State != claude.Unknown })
		f := e.fleet("agent")
		res := f.Restart(t.Context(), []string{"agent"}, fleet.RestartOptions{ConfigDir: e.configDir, Timeout: startTimeout,
			Env: func(fleet.Agent) (map[string]string, error) { return map[string]string{"ANTHROPIC_API_KEY": good}, nil }})
		if r := res[0]; !r.OK {
			t.Fatalf("restart onto the API key: ok=%v state=%s err=%q\n%s", r.OK, r.State, r.Err, r.LastLines)
		}
		e.prompt(agent, "work on the key")
		e.waitFor(agent, turnTimeout, "the answer", func(r claude.Result, s string) bool {
			return r.State == claude.Idle && strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "work on the key")
		})
		if req, ok := lastPrompt(e.api, "work on the key"); !ok || req.Status != 200 {
			t.Errorf("the prompt on the API key: %+v, %v; want answered", req, ok)
		}
	})
}

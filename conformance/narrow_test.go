//go:build claude_e2e

package conformance

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// In a narrow pane (a split window, a phone's terminal) the CLI wraps its
// messages and dialogs; the verdicts stay the same.
func TestNarrowPanes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cause  func(e *env)
		args   []string
		until  string // on screen (lines joined) when the CLI has spoken
		state  claude.State
		reason claude.Reason
	}{
		{"login expired", func(e *env) {
			e.api.ExpireAccess()
			e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
		}, nil, "Once fixed", claude.AuthFailed, claude.ReasonExpired},
		{"subscription refused", func(e *env) { e.api.Script(anthropictest.Subscription()) }, nil, "Once fixed",
			claude.AuthFailed, claude.ReasonSubscription},
		{"overloaded", func(e *env) { e.api.Script(anthropictest.Error(529, "overloaded_error", "Overloaded")) }, nil, "Resend your",
			claude.APIError, claude.ReasonOverloaded},
		{"permission prompt", func(e *env) {
			e.api.Script(anthropictest.ToolUse("Bash", map[string]any{"command": "touch " + filepath.Join(e.workdir, "m"), "description": "Create a marker file"}))
		}, []string{"--permission-mode", "default"}, "Do you want to proceed?", claude.NeedsInput, ""},
	}
	for _, c := range cases {
		for _, rd := range renderers {
			t.Run(fmt.Sprintf("%s/%s", rd, c.name), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.use(rd)
				e.size = [2]int{50, 20}
				e.extra["CLAUDE_CODE_MAX_RETRIES"] = "1"
				e.login()
				pane := e.startAgent("agent", c.args...)
				e.waitReady(pane)
				c.cause(e)
				e.prompt(pane, "next task please")
				r, text := e.waitFor(pane, turnTimeout, "the CLI's verdict", func(_ claude.Result, s string) bool {
					return strings.Contains(strings.ReplaceAll(s, "\n", " "), c.until)
				})
				e.seen("50 columns", r)
				if r.State != c.state || r.Reason != c.reason {
					e.mismatch(fmt.Sprintf("classified %s, want %s/%s", describe(r), c.state, c.reason), text)
				}
			})
		}
	}
}

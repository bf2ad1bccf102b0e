//go:build claude_e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropic"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// Timeouts. The CLI starts in 1–3 s here; these leave room for a loaded
// 2-core machine without letting a stuck case eat the suite's budget.
const (
	startTimeout = 45 * time.Second
	turnTimeout  = 45 * time.Second
	enterGap     = 500 * time.Millisecond // Claude Code needs it between text and Enter
)

// env is one throwaway world for the CLI: its own HOME and CLAUDE_CONFIG_DIR,
// a working directory it trusts, the fake Anthropic servers, and a private
// tmux server.
type env struct {
	t         *testing.T
	bin       string
	api       *anthropic.Server
	tm        *tmux.Client
	home      string
	configDir string
	workdir   string
	start     time.Time

	mu    sync.Mutex
	panes map[string]string // target → agent name, for the failure report
}

func newEnv(t *testing.T) *env {
	t.Helper()
	bin := claudeBin(t)
	root := t.TempDir()
	// The CLI resolves its cwd; the trusted project path must match it.
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	e := &env{
		t:         t,
		bin:       bin,
		api:       anthropic.New(t),
		tm:        tmuxtest.Server(t),
		home:      filepath.Join(root, "home"),
		configDir: filepath.Join(root, "home", ".claude"),
		workdir:   filepath.Join(root, "work"),
		start:     time.Now(),
		panes:     map[string]string{},
	}
	for _, d := range []string{e.configDir, e.workdir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Skip onboarding and the trust dialog: with CLAUDE_CONFIG_DIR set, the
	// CLI reads .claude.json from there.
	cfg, _ := json.Marshal(map[string]any{
		"hasCompletedOnboarding": true,
		"projects":               map[string]any{e.workdir: map[string]any{"hasTrustDialogAccepted": true}},
	})
	for _, p := range []string{filepath.Join(e.configDir, ".claude.json"), filepath.Join(e.home, ".claude.json")} {
		if err := os.WriteFile(p, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_REPORT") != "" {
			e.report()
		}
		t.Logf("%s: Claude Code %s, %v", t.Name(), cli.version, time.Since(e.start).Round(time.Millisecond))
	})
	return e
}

// report prints what a failing case needs: every pane and what the fake
// was asked.
func (e *env) report() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.mu.Lock()
	panes := make(map[string]string, len(e.panes))
	for k, v := range e.panes {
		panes[k] = v
	}
	e.mu.Unlock()
	for target, name := range panes {
		text, err := e.tm.Capture(ctx, target, 200)
		if err != nil {
			e.t.Logf("pane %s (%s): capture: %v", name, target, err)
			continue
		}
		e.t.Logf("pane %s (%s) classified %s:\n%s", name, target, describe(claude.Classify(text)), claude.Redact(text))
	}
	if u := e.api.Unknown(); len(u) > 0 {
		e.t.Logf("requests the fake does not serve (404): %d", len(u))
	}
	e.t.Logf("requests to the fake Anthropic servers:\n%s", e.api.Dump())
}

// vars is the environment of every CLI process of the test.
func (e *env) vars() map[string]string {
	v := e.api.Env()
	v["HOME"] = e.home
	v["CLAUDE_CONFIG_DIR"] = e.configDir
	v["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
	v["DISABLE_AUTOUPDATER"] = "1"
	v["BROWSER"] = "true" // never open a browser on the host
	v["TERM"] = "xterm-256color"
	// A developer's own credentials must not leak into the test.
	v["ANTHROPIC_API_KEY"] = ""
	v["CLAUDE_CODE_OAUTH_TOKEN"] = ""
	v["ANTHROPIC_BASE_URL"] = ""
	return v
}

// environ is vars as KEY=VALUE, for exec.
func (e *env) environ() []string {
	var out []string
	for k, v := range e.vars() {
		out = append(out, k+"="+v)
	}
	return out
}

// login issues a fresh login and writes it where the CLI reads it.
func (e *env) login() anthropic.Tokens {
	e.t.Helper()
	tok := e.api.Login()
	if _, err := e.api.WriteCredentials(e.configDir, tok); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startAgent runs the CLI (with args) in a new tmux session and returns its
// pane. The pane stays after the CLI exits, so its last words can be read.
func (e *env) startAgent(name string, args ...string) string {
	e.t.Helper()
	cmd := shellQuote(e.bin)
	for _, a := range args {
		cmd += " " + shellQuote(a)
	}
	ctx := e.t.Context()
	p, err := e.tm.NewSession(ctx, name, "", tmux.SpawnOptions{Dir: e.workdir, Env: e.vars(), Command: cmd})
	if err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	if err := e.tm.SetOption(ctx, p.ID, "remain-on-exit", "on"); err != nil {
		e.t.Fatalf("remain-on-exit for %s: %v", name, err)
	}
	e.mu.Lock()
	e.panes[p.ID] = name
	e.mu.Unlock()
	return p.ID
}

// capture returns the pane's screen (no scrollback, as fleetwarden reads it).
func (e *env) capture(target string) string {
	e.t.Helper()
	text, err := e.tm.Capture(e.t.Context(), target, 0)
	if err != nil {
		e.t.Fatalf("capture %s: %v", target, err)
	}
	return text
}

// waitFor polls the pane until cond holds on its classification and text,
// and returns both; it fails the test, showing the pane, at the timeout.
func (e *env) waitFor(target string, timeout time.Duration, what string, cond func(r claude.Result, text string) bool) (claude.Result, string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var r claude.Result
	var text string
	for {
		var err error
		text, err = e.tm.Capture(e.t.Context(), target, 0)
		if err == nil {
			r = claude.Classify(text)
			if cond(r, text) {
				return r, text
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not seen within %v; last classified %s (capture error: %v)", what, timeout, describe(r), err)
		}
		select {
		case <-e.t.Context().Done():
			e.t.Fatalf("%s: %v", what, e.t.Context().Err())
		case <-tick.C:
		}
	}
}

// waitState waits for the pane to be classified st (and reason, unless "").
func (e *env) waitState(target string, st claude.State, reason claude.Reason, timeout time.Duration) (claude.Result, string) {
	e.t.Helper()
	what := string(st)
	if reason != "" {
		what += "/" + string(reason)
	}
	return e.waitFor(target, timeout, what, func(r claude.Result, _ string) bool {
		return r.State == st && (reason == "" || r.Reason == reason)
	})
}

// waitReady waits for the CLI's input box with nothing in progress.
func (e *env) waitReady(target string) string {
	e.t.Helper()
	_, text := e.waitState(target, claude.Idle, "", startTimeout)
	return text
}

// send types a line into the pane as a human would.
func (e *env) send(target, line string) {
	e.t.Helper()
	if err := e.tm.SendLine(e.t.Context(), target, line, enterGap); err != nil {
		e.t.Fatalf("send %q to %s: %v", line, target, err)
	}
}

// prompt sends a user turn and waits for the CLI to show it: Claude Code
// drops keys typed while it is still drawing, so the turn is retyped if it
// never appears.
func (e *env) prompt(target, text string) {
	e.t.Helper()
	e.send(target, text)
	e.waitFor(target, turnTimeout, fmt.Sprintf("user turn %q on screen", text), func(_ claude.Result, s string) bool {
		return strings.Contains(s, "❯ "+text)
	})
}

// seen logs what a case saw, for the record.
func (e *env) seen(label string, r claude.Result) {
	e.t.Helper()
	e.t.Logf("%s (+%v): %s", label, time.Since(e.start).Round(10*time.Millisecond), describe(r))
}

func describe(r claude.Result) string {
	s := string(r.State)
	if r.Reason != "" {
		s += "/" + string(r.Reason)
	}
	if r.Evidence != "" {
		s += " evidence=" + strconv.Quote(r.Evidence)
	}
	if r.LoginURL != "" {
		s += " login_url=" + strconv.Quote(cutURL(r.LoginURL))
	}
	return s
}

func cutURL(u string) string {
	if len(u) > 60 {
		return u[:60] + "…"
	}
	return u
}

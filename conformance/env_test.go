//go:build claude_e2e

package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
	"github.com/fleetwarden/fleetwarden/internal/procstat"
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
	api       *anthropictest.Server
	tm        *tmux.Client
	home      string
	configDir string
	workdir   string
	start     time.Time

	mu    sync.Mutex
	panes map[string]string // target → agent name, for the failure report
	pids  []leader          // pane processes: session leaders of everything the CLI starts
	extra map[string]string // more environment for the CLI processes
	known []string          // known classifier mismatches met (see knownMismatches)
	size  [2]int            // pane width and height for new agents; zero: tmux's default here
	// claudeKeys are more keys of the [claude] section of runDaemon's config.
	claudeKeys string
	// noConfigDirEnv: the CLI processes run without CLAUDE_CONFIG_DIR, as a
	// user's do who never set it (configDir is then ~/.claude).
	noConfigDirEnv bool
	// configDirKey is claude.config_dir as runDaemon writes it: nil =
	// configDir, "" = the key left out.
	configDirKey *string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, true)
}

// newEnvWith makes the env; handMade writes the .claude.json that skips
// the CLI's onboarding and trust dialog (else the CLI must write its own).
func newEnvWith(t *testing.T, handMade bool) *env {
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
		api:       anthropictest.New(t),
		tm:        tmuxtest.Server(t),
		home:      filepath.Join(root, "home"),
		configDir: filepath.Join(root, "home", ".claude"),
		workdir:   filepath.Join(root, "work"),
		start:     time.Now(),
		panes:     map[string]string{},
		extra:     map[string]string{},
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
		if !handMade {
			break
		}
		if err := os.WriteFile(p, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Runs before tmuxtest's cleanup and t.TempDir's removal: the CLI must be
	// gone before its config directory is deleted under it.
	t.Cleanup(e.stopAll)
	t.Cleanup(func() {
		for _, r := range e.api.Unknown() {
			unserved.add(r.Method + " " + r.Host + strings.SplitN(r.Path, "?", 2)[0])
		}
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
	panes := maps.Clone(e.panes)
	e.mu.Unlock()
	for _, target := range slices.Sorted(maps.Keys(panes)) {
		name := panes[target]
		text, err := e.tm.Capture(ctx, target, 200)
		if err != nil {
			e.t.Logf("pane %s (%s): capture: %v", name, target, err)
			continue
		}
		e.t.Logf("pane %s (%s) classified %s:\n%s", name, target, describe(claude.Classify(text)), claude.Redact(text))
	}
	if u := e.api.Unknown(); len(u) > 0 {
		var b strings.Builder
		for _, r := range u {
			b.WriteString(r.String() + "\n")
		}
		e.t.Logf("requests the fake does not serve (answered 404):\n%s", b.String())
	}
	e.t.Logf("requests to the fake Anthropic servers:\n%s", e.api.Dump())
}

// renderer is a Claude Code TUI renderer, as CLAUDE_CODE_NO_FLICKER selects it.
type renderer string

const (
	fullscreen renderer = "1" // the alt-screen renderer, the default
	classic    renderer = "0" // the main-screen renderer (settings "tui": "default")
)

func (r renderer) String() string {
	if r == classic {
		return "classic"
	}
	return "fullscreen"
}

var renderers = []renderer{fullscreen, classic}

// use selects the renderer of the CLI processes started from now on.
// atPermissionPrompt logs in, starts an agent in the default permission
// mode and has it ask to run a Bash tool that touches marker: the agent
// waits at "Do you want to proceed?", its classification r.
func (e *env) atPermissionPrompt() (pane, marker string, r claude.Result) {
	e.login()
	pane = e.startAgent("agent", "--permission-mode", "default")
	e.waitReady(pane)
	marker = filepath.Join(e.workdir, "marker")
	e.api.Script(anthropictest.ToolUse("Bash", map[string]any{"command": "touch " + marker, "description": "Create a marker file"}))
	e.prompt(pane, "make the marker")
	r, _ = e.waitFor(pane, turnTimeout, "the permission prompt", func(_ claude.Result, s string) bool {
		return strings.Contains(s, "Do you want to proceed?")
	})
	return pane, marker, r
}

// eachRenderer runs f once per renderer, in parallel, each in a fresh env
// using that renderer.
func eachRenderer(t *testing.T, f func(t *testing.T, e *env, rd renderer)) {
	t.Helper()
	t.Parallel()
	for _, rd := range renderers {
		t.Run(rd.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.use(rd)
			f(t, e, rd)
		})
	}
}

func (e *env) use(r renderer) { e.extra["CLAUDE_CODE_NO_FLICKER"] = string(r) }

// vars is the environment of every CLI process of the test.
func (e *env) vars() map[string]string {
	v := e.api.Env()
	v["HOME"] = e.home
	if !e.noConfigDirEnv {
		v["CLAUDE_CONFIG_DIR"] = e.configDir
	}
	v["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
	// Pin the renderer: by default the CLI picks fullscreen, but falls back
	// to classic on its own after a launch it thinks crashed, and the two
	// draw the bottom of the screen differently. Cases that care run both.
	v["CLAUDE_CODE_NO_FLICKER"] = string(fullscreen)
	v["DISABLE_AUTOUPDATER"] = "1"
	v["BROWSER"] = "true" // never open a browser on the host
	v["TERM"] = "xterm-256color"
	// A developer's own credentials must not leak into the test.
	v["ANTHROPIC_API_KEY"] = ""
	v["CLAUDE_CODE_OAUTH_TOKEN"] = ""
	v["ANTHROPIC_BASE_URL"] = ""
	for k, x := range e.extra {
		v[k] = x
	}
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
func (e *env) login() anthropictest.Tokens {
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
	cmd := "exec " + shellQuote(e.bin)
	for _, a := range args {
		cmd += " " + shellQuote(a)
	}
	ctx := e.t.Context()
	p, err := e.tm.NewSession(ctx, name, "", tmux.SpawnOptions{Dir: e.workdir, Env: e.vars(), Command: cmd, Width: e.size[0], Height: e.size[1]})
	if err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	if err := e.tm.SetOption(ctx, p.ID, "remain-on-exit", "on"); err != nil {
		e.t.Fatalf("remain-on-exit for %s: %v", name, err)
	}
	e.mu.Lock()
	e.panes[p.ID] = name
	e.pids = append(e.pids, leaderOf(p.PID))
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

// prompt sends a user turn and waits until the CLI has taken it (it shows
// as a turn above the input box). Keys typed while the CLI redraws can be
// lost: a line left in the input box gets its Enter again, a lost line is
// typed again.
func (e *env) prompt(target, text string) {
	e.t.Helper()
	sent := time.Now()
	e.send(target, text)
	deadline := time.Now().Add(turnTimeout)
	// Taken: the turn shows above the box, or the CLI has already asked the
	// API with it (a slow redraw must not make the retry's Enter answer
	// the dialog the turn opened).
	asked := func() bool {
		for _, r := range e.api.Requests() {
			if r.Prompt == text && !r.Time.Before(sent) {
				return true
			}
		}
		return false
	}
	for try := 1; ; try++ {
		var inBox bool
		ok := e.poll(target, 5*time.Second, func(s string) bool {
			var submitted bool
			submitted, inBox = turnState(s, text)
			return submitted || asked()
		})
		if ok || asked() {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the CLI never took the prompt %q (%d tries)", text, try)
		}
		e.t.Logf("prompt %q not taken after 5s (in the input box: %v); again", text, inBox)
		if inBox {
			if err := e.tm.SendKeys(e.t.Context(), target, "Enter"); err != nil {
				e.t.Fatal(err)
			}
		} else {
			e.send(target, text)
		}
	}
}

// paneDead reports whether the pane's program has exited (remain-on-exit
// keeps the pane), from tmux's own pane_dead flag.
func (e *env) paneDead(target string) bool {
	panes, err := e.tm.ListPanes(e.t.Context())
	if err != nil {
		return false
	}
	for _, p := range panes {
		if p.ID == target {
			return p.Dead
		}
	}
	return false
}

// poll captures the pane until cond holds (true) or timeout passes (false).
func (e *env) poll(target string, timeout time.Duration, cond func(text string) bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if text, err := e.tm.Capture(e.t.Context(), target, 0); err == nil && cond(text) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-e.t.Context().Done():
			return false
		case <-tick.C:
		}
	}
}

// turnState says whether text shows as a user turn above the input box,
// and whether it sits, unsent, in the input box (the last ❯ line).
func turnState(screen, text string) (submitted, inBox bool) {
	lines := strings.Split(strings.ReplaceAll(screen, "\u00a0", " "), "\n")
	box := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "❯") {
			box = i
			break
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "❯ "+text) {
			if i == box {
				inBox = true
			} else {
				submitted = true
			}
		}
	}
	return submitted, inBox
}

// knownMismatches are classifier verdicts this suite found wrong and
// reported (see the screens in its log); a case listed here is skipped,
// loudly, instead of failing until claude/ is fixed. Remove an entry once
// its case passes.
var knownMismatches = map[string]string{}

// mismatch reports a wrong verdict on screen: an error, or for a known
// mismatch a note that skipKnown turns into a skip at the end of the case
// (the rest of the case still runs and can still fail).
func (e *env) mismatch(msg, screen string) {
	e.t.Helper()
	e.t.Logf("screen:\n%s", claude.Redact(screen))
	if why, ok := knownMismatches[e.t.Name()]; ok {
		e.known = append(e.known, fmt.Sprintf("KNOWN CLASSIFIER MISMATCH (%s): %s", why, msg))
		return
	}
	e.t.Error(msg)
}

// skipKnown ends a case that met only known mismatches as skipped.
func (e *env) skipKnown() {
	e.t.Helper()
	if len(e.known) > 0 && !e.t.Failed() {
		e.t.Skip(strings.Join(e.known, "; "))
	}
	if len(e.known) == 0 {
		if _, ok := knownMismatches[e.t.Name()]; ok {
			e.t.Logf("the known mismatch of %s is gone: remove its knownMismatches entry", e.t.Name())
		}
	}
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

// fleet returns a fleetwarden fleet watching the named agents (each in the
// tmux session of its name), restartable with the CLI and this env.
func (e *env) fleet(names ...string) *fleet.Fleet {
	var agents []fleet.Agent
	for _, n := range names {
		agents = append(agents, fleet.Agent{
			Name:    n,
			Target:  n,
			Command: "exec " + shellQuote(e.bin) + " --continue",
			Workdir: e.workdir,
			Env:     e.vars(),
		})
	}
	return fleet.New(fleet.Options{Agents: agents, Sources: map[string]fleet.Panes{"": e.tm}})
}

// scan runs one fleet scan and returns the states by agent name.
func (e *env) scan(f *fleet.Fleet) map[string]fleet.Status {
	e.t.Helper()
	sts, err := f.Scan(e.t.Context())
	if err != nil {
		e.t.Fatalf("fleet scan: %v", err)
	}
	out := map[string]fleet.Status{}
	for _, s := range sts {
		out[s.Name] = s
	}
	return out
}

// stopAll kills the tmux server and waits until every process the panes
// started has exited, killing stragglers.
func (e *env) stopAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	e.mu.Lock()
	pids := slices.Clone(e.pids)
	e.mu.Unlock()
	// A restart respawns a pane with a new process: take the panes' current ones too.
	if panes, err := e.tm.ListPanes(ctx); err == nil {
		for _, p := range panes {
			pids = append(pids, leaderOf(p.PID))
		}
	}
	if err := e.tm.KillServer(ctx); err != nil {
		e.t.Errorf("kill tmux server: %v", err)
	}
	killed := false
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := sessionMembers(ours(pids))
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if killed {
				e.t.Errorf("processes %v outlived their tmux panes", left)
				return
			}
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			killed, deadline = true, time.Now().Add(5*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leader is a pane's process: its PID and start time. With pid_max at
// 32768 and the suite running beside other packages' tests, a PID recorded
// at the start of a case is often another process's by its end (another
// test's pane, itself a session leader): the start time tells them apart.
type leader struct {
	pid   int
	start string // field 22 of /proc/PID/stat; "" when it could not be read
}

func leaderOf(pid int) leader { return leader{pid: pid, start: procstat.StartTime(pid)} }

// ours lists the session IDs still ours: a leader that still runs with its
// start time, or that is gone (its PID cannot be reused while processes of
// its session live on). A PID now held by a process started since is not.
func ours(ls []leader) []int {
	var out []int
	for _, l := range ls {
		now := procstat.StartTime(l.pid)
		if now == "" || now == l.start {
			out = append(out, l.pid)
		}
	}
	return out
}

// sessionMembers lists the live processes whose session is one of sids
// (tmux makes each pane's process a session leader).
func sessionMembers(sids []int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session …; comm may hold spaces.
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 4 || f[0] == "Z" {
			continue
		}
		sid, _ := strconv.Atoi(f[3])
		if slices.Contains(sids, sid) {
			out = append(out, pid)
		}
	}
	return out
}

// unserved counts, over the whole suite, the requests the fake answered
// 404: a new CLI version that calls something new shows up in the suite's
// summary even when every case passes.
var unserved = &counter{n: map[string]int{}}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	c.n[k]++
	c.mu.Unlock()
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		parts = append(parts, fmt.Sprintf("%s (%d×)", k, c.n[k]))
	}
	return strings.Join(parts, ", ")
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

type statusRow struct {
	Name     string    `json:"name"`
	Target   string    `json:"target"`
	State    string    `json:"state"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
	Evidence string    `json:"evidence"`
}

// fleetEnv is a private tmux server with agents running the fake Claude CLI.
type fleetEnv struct {
	t      *testing.T
	tm     *tmux.Client
	dir    string
	claude string
}

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	return &fleetEnv{t: t, tm: tmuxtest.Server(t), dir: t.TempDir(), claude: testenv.FakeClaude(t)}
}

// agent starts a session running the fake CLI on a captured screen.
func (e *fleetEnv) agent(name, screen string) { e.agentWith(name, screen, nil) }

// agentWith is agent with more environment for the fake CLI.
func (e *fleetEnv) agentWith(name, screen string, more map[string]string) {
	e.t.Helper()
	env := map[string]string{"FAKECLAUDE_SCREENS": testenv.ScreensDir(), "FAKECLAUDE_SCREEN": screen}
	maps.Copy(env, more)
	p, err := e.tm.NewSession(e.t.Context(), name, "main", tmux.SpawnOptions{
		Dir:     e.dir,
		Env:     env,
		Command: e.claude,
	})
	if err != nil {
		e.t.Fatalf("starting agent %s: %v", name, err)
	}
	// Started, as a user's agents are before fleetwarden looks: the pane
	// runs the CLI, no longer the shell that reads its environment.
	tmuxtest.WaitFor(e.t, 15*time.Second, func() (bool, string) {
		panes, err := e.tm.ListPanes(e.t.Context())
		for _, q := range panes {
			if q.ID == p.ID {
				return filepath.Base(q.Command) == "claude" || q.Dead, "agent " + name + " runs " + q.Command
			}
		}
		return false, fmt.Sprintf("agent %s: no pane %s (%v)", name, p.ID, err)
	})
}

func (e *fleetEnv) shell(name string) {
	e.t.Helper()
	if _, err := e.tm.NewSession(e.t.Context(), name, "main", tmux.SpawnOptions{Dir: e.dir, Command: "bash --norc --noprofile"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fleetEnv) config(agents ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n\n[state]\ndir = %q\n\n", e.tm.Socket(), filepath.Join(e.dir, "state"))
	for _, a := range agents {
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = \"%s:main\"\n\n", a, a)
	}
	return testenv.WriteFile(e.t, e.dir, "config.toml", b.String())
}

func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(t.Context(), args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

func statusJSON(t *testing.T, cfg string) map[string]statusRow {
	t.Helper()
	out, errOut, code := runMain(t, "status", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("status --json is not a JSON array: %v\n%s", err, out)
	}
	m := map[string]statusRow{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

// waitStates polls `fleetwarden status --json` until every agent shows the
// wanted state (the fake CLI needs a moment to draw).
func waitStates(t *testing.T, cfg string, want map[string]string) map[string]statusRow {
	t.Helper()
	var got map[string]statusRow
	tmuxtest.WaitFor(t, 15*time.Second, func() (bool, string) {
		got = statusJSON(t, cfg)
		for name, st := range want {
			if got[name].State != st {
				return false, fmt.Sprintf("agent %s: got state %q (%s), want %q", name, got[name].State, got[name].Evidence, st)
			}
		}
		return true, ""
	})
	return got
}

func TestStatusReportsEachAgentsState(t *testing.T) {
	e := newFleetEnv(t)
	e.agent("builder", "15-busy.txt")
	e.agent("tester", "17-busy-7s.txt")
	e.agent("docs", "19-tui-401.txt")
	e.agent("ops", "61-permission.txt")
	e.agent("billing", "54-tui-403org.txt")
	e.shell("shell")
	cfg := e.config("builder", "tester", "docs", "ops", "billing", "shell", "gone")

	got := waitStates(t, cfg, map[string]string{
		"builder": "idle", "tester": "working", "docs": "auth_failed", "ops": "needs_input",
		"billing": "auth_failed", "shell": "exited", "gone": "exited",
	})
	for name, reason := range map[string]string{"docs": "expired", "billing": "subscription", "gone": "pane_missing", "shell": "not_running"} {
		if got[name].Reason != reason {
			t.Errorf("agent %s: got reason %q, want %q", name, got[name].Reason, reason)
		}
	}
	if r := got["docs"]; !strings.Contains(r.Evidence, "Login expired") || r.Target != "docs:main" || r.Since.IsZero() {
		t.Errorf("docs row = %+v, want evidence with the failure text, target docs:main and a since time", r)
	}

	// Kill the failing agent's pane: it is exited. Start it again: it is back.
	if err := e.tm.KillSession(t.Context(), "docs"); err != nil {
		t.Fatal(err)
	}
	got = statusJSON(t, cfg)
	if r := got["docs"]; r.State != "exited" || r.Reason != "pane_missing" {
		t.Errorf("after kill: docs = %s/%s, want exited/pane_missing", r.State, r.Reason)
	}
	e.agent("docs", "15-busy.txt")
	waitStates(t, cfg, map[string]string{"docs": "idle"})
}

func TestStatusRespawnedPaneComesBack(t *testing.T) {
	e := newFleetEnv(t)
	e.agent("builder", "19-tui-401.txt")
	cfg := e.config("builder")
	waitStates(t, cfg, map[string]string{"builder": "auth_failed"})

	if err := e.tm.SetOption(t.Context(), "builder:main", "remain-on-exit", "on"); err != nil {
		t.Fatal(err)
	}
	// Two Ctrl-C exit the CLI; with remain-on-exit the pane stays, dead.
	if err := e.tm.SendKeys(t.Context(), "builder:main", "C-c"); err != nil {
		t.Fatal(err)
	}
	if err := e.tm.SendKeys(t.Context(), "builder:main", "C-c"); err != nil {
		t.Fatal(err)
	}
	// Between the CLI's exit and tmux reaping it, tmux names the pane's
	// command after its shell ("bash", pane not yet dead): a scan then reads
	// not_running. Under load that lasts long enough to be seen; what must
	// follow is pane_dead.
	tmuxtest.WaitFor(t, 15*time.Second, func() (bool, string) {
		r := statusJSON(t, cfg)["builder"]
		return r.State == "exited" && r.Reason == "pane_dead", fmt.Sprintf("builder is %s/%s, want exited/pane_dead", r.State, r.Reason)
	})
	err := e.tm.Respawn(t.Context(), "builder:main", tmux.SpawnOptions{Dir: e.dir, Command: e.claude,
		Env: map[string]string{"FAKECLAUDE_SCREENS": testenv.ScreensDir(), "FAKECLAUDE_SCREEN": "15-busy.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	waitStates(t, cfg, map[string]string{"builder": "idle"})
}

func TestStatusDiscoversClaudePanes(t *testing.T) {
	e := newFleetEnv(t)
	e.agent("alpha", "15-busy.txt")
	e.agent("beta", "50-tui-401-refreshfail.txt")
	e.shell("notclaude")
	cfg := testenv.WriteFile(t, e.dir, "discover.toml", fmt.Sprintf("[tmux]\nsocket = %q\ndiscover = true\n[state]\ndir = %q\n", e.tm.Socket(), e.dir))
	got := waitStates(t, cfg, map[string]string{"alpha": "idle", "beta": "auth_failed"})
	if _, ok := got["notclaude"]; ok {
		t.Errorf("discovery picked up a plain shell: %+v", got)
	}
}

func TestClassifyCommand(t *testing.T) {
	for _, tc := range []struct {
		file, state, reason string
		url                 bool
	}{
		{"19-tui-401.txt", "auth_failed", "expired", false},
		{"22-slash-login-url.txt", "logging_in", "", true},
		{"17-busy-7s.txt", "working", "", false},
		{"61-permission.txt", "needs_input", "", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errOut, code := runMain(t, "classify", "--json", filepath.Join(testenv.ScreensDir(), tc.file))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r claude.Result
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("bad JSON %q: %v", out, err)
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(out), &m)
			for _, k := range []string{"state", "reason", "evidence", "login_url"} {
				if _, ok := m[k]; !ok {
					t.Errorf("JSON lacks %q: %s", k, out)
				}
			}
			if string(r.State) != tc.state || string(r.Reason) != tc.reason || (r.LoginURL != "") != tc.url {
				t.Errorf("got %+v, want state %s reason %q url %v", r, tc.state, tc.reason, tc.url)
			}
		})
	}
	// From stdin.
	var o, e bytes.Buffer
	code := Main(context.Background(), []string{"classify", "--json", "-"}, strings.NewReader("bash-5.2$ \n"), &o, &e)
	if code != 0 || !strings.Contains(o.String(), `"state"`) {
		t.Errorf("classify from stdin: exit %d, out %q, err %q", code, o.String(), e.String())
	}
}

func TestBadConfigIsRefusedWithLine(t *testing.T) {
	dir := t.TempDir()
	cfg := testenv.WriteFile(t, dir, "bad.toml", "[watchdog]\ninterval = \"10s\"\n\n[[agent]]\nname = \"a\"\ntarget = \"fleet:\"\n")
	for _, sub := range []string{"check", "status", "run"} {
		_, errOut, code := runMain(t, sub, "--config", cfg)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", sub, code)
		}
		if want := "bad.toml:6:"; !strings.Contains(errOut, want) {
			t.Errorf("%s: stderr %q does not name %s", sub, errOut, want)
		}
	}
}

func TestCheckExampleConfig(t *testing.T) {
	// The example documents every key; it must validate with its env: secrets set.
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456789:AAexampleexampleexampleexampleexam")
	t.Setenv("DISCORD_BOT_TOKEN", "example-discord-token")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-api03-example")
	t.Setenv("SMTP_PASSWORD", "example")
	t.Setenv("FLEETWARDEN_DASHBOARD_TOKEN", "example")
	t.Setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-example")
	_, err := os.Stat(filepath.Join(testenv.Root(), "config.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, _ := runMain(t, "check", "--offline", "--config", filepath.Join(testenv.Root(), "config.toml.example"))
	if !strings.Contains(out, "config.toml.example is valid") {
		t.Errorf("example config not valid:\n%s\n%s", out, errOut)
	}
	// What check may still find is this machine's, not the config's: no
	// tmux server with the example's panes, no Claude login, no such host.
	for _, l := range strings.Split(out+errOut, "\n") {
		if !strings.HasPrefix(l, "✗ ") {
			continue
		}
		if !strings.HasPrefix(l, "✗ tmux") && !strings.HasPrefix(l, "✗ credential") && !strings.HasPrefix(l, "✗ host") &&
			!strings.HasPrefix(l, "✗ agent") && !strings.HasPrefix(l, "✗ claude CLI") {
			t.Errorf("check finds a problem with the example itself: %s", l)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runMain(t, "version")
	if code != 0 || !strings.HasPrefix(out, "fleetwarden ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	_, _, code = runMain(t, "frobnicate")
	if code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
}

func TestCheckRefusesBadRoutesWithTheirLines(t *testing.T) {
	dir := t.TempDir()
	cfg := testenv.WriteFile(t, dir, "routes.toml", `[state]
dir = "`+dir+`"

[[alerts.route]]
type = "pager"

[[alerts.route]]
type = "email"
from = "fw@example.com"
to = ["ops@example.com"]
`)
	_, errOut, code := runMain(t, "check", "--offline", "--config", cfg)
	if code != 1 {
		t.Errorf("check exit %d, want 1", code)
	}
	for _, want := range []string{"routes.toml:5:", "pager", "routes.toml:7:", "host"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
}

// hostTOML is a [[host]] table reaching sshd; socket, when set, is the
// tmux server the fake sshd's tmux commands use.
func hostTOML(name string, sshd *sshdtest.Server, socket string) string {
	s := fmt.Sprintf("[[host]]\nname = %q\naddress = %q\nuser = %q\nkey_file = %q\nknown_hosts = %q\n",
		name, sshd.Addr(), sshd.User(), sshd.KeyFile(), sshd.KnownHosts())
	if socket != "" {
		s += fmt.Sprintf("socket = %q\n", socket)
	}
	return s
}

func TestStatusOfAgentsOnAnotherHostOverSSH(t *testing.T) {
	e := newFleetEnv(t)
	e.agent("remote1", "19-tui-401.txt")
	e.agent("remote2", "15-busy.txt")
	sshd := sshdtest.New(t)
	cfg := testenv.WriteFile(t, e.dir, "hosts.toml", fmt.Sprintf(`[state]
dir = %q

%s
[[agent]]
name = "remote1"
target = "remote1:main"
host = "gpu-box"

[[agent]]
name = "remote2"
target = "remote2:main"
host = "gpu-box"
`, filepath.Join(e.dir, "state"), hostTOML("gpu-box", sshd, e.tm.Socket())))
	waitStates(t, cfg, map[string]string{"remote1": "auth_failed", "remote2": "idle"})
	if sshd.Execs() == 0 {
		t.Error("the remote agents were not reached over SSH")
	}
	out, errOut, code := runMain(t, "check", "--offline", "--config", cfg)
	if !strings.Contains(out, "host gpu-box: ") {
		t.Errorf("check (exit %d) does not probe the host:\n%s\n%s", code, out, errOut)
	}
}

// check shows the Claude Code version on this machine and on each host (over
// its SSH connection), and warns — without failing — when it is newer than
// any release the real-CLI suite has passed on.
func TestCheckShowsTheClaudeVersions(t *testing.T) {
	dir := t.TempDir()
	sshd := sshdtest.New(t)
	cfg := testenv.WriteFile(t, dir, "cli.toml", fmt.Sprintf(`[state]
dir = %q

[claude]
bin = %q

%s`, filepath.Join(dir, "state"), testenv.FakeClaude(t), hostTOML("gpu-box", sshd, "")))
	// The host runs `claude --version` in the user's login shell: keep this
	// machine's profile (pyenv, nvm … in ~/.bashrc) out of the test.
	t.Setenv("SHELL", "/bin/sh")
	t.Setenv("HOME", t.TempDir())
	newest := claude.LatestTested()
	for _, tt := range []struct {
		version string
		want    []string
	}{
		{newest, []string{"✓ claude CLI: " + newest, "✓ claude CLI on gpu-box: " + newest}},
		{"99.1.0", []string{"⚠ claude CLI: Claude Code 99.1.0 is newer than any release", "⚠ claude CLI on gpu-box: Claude Code 99.1.0 is newer", "CLAUDE_CODE_VERSION=99.1.0"}},
	} {
		t.Setenv("FAKECLAUDE_VERSION", tt.version)
		out, errOut, _ := runMain(t, "check", "--offline", "--config", cfg)
		for _, w := range tt.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%s: check output lacks %q:\n%s\n%s", tt.version, w, out, errOut)
			}
		}
		if strings.Contains(errOut, "✗ claude CLI") {
			t.Errorf("%s: a CLI version is not a failure:\n%s", tt.version, errOut)
		}
	}
	// No CLI where agents run: a problem.
	t.Setenv("FAKECLAUDE_VERSION", "")
	missing := testenv.WriteFile(t, dir, "missing.toml", fmt.Sprintf("[state]\ndir = %q\n[claude]\nbin = %q\n", filepath.Join(dir, "state"), filepath.Join(dir, "no-claude")))
	_, errOut, code := runMain(t, "check", "--offline", "--config", missing)
	if code != 1 || !strings.Contains(errOut, "✗ claude CLI: ") || !strings.Contains(errOut, "no-claude --version") {
		t.Errorf("no CLI: exit %d, want 1 and a ✗ claude CLI line:\n%s", code, errOut)
	}
}

// check says so when it cannot tell whether a fleetwarden runs (and so
// whether the chat transports it journals are in trouble), rather than
// leaving those lines out as if all were well.
// status with no agent to show says why: no tmux server (fine, exit 0),
// or a tmux that cannot be run (exit 1).
func TestStatusSaysWhyThereAreNoAgents(t *testing.T) {
	dir := t.TempDir()
	noServer := testenv.WriteFile(t, dir, "ns.toml", "[tmux]\nsocket = \"fw-no-such-server\"\n")
	out, _, code := runMain(t, "status", "--config", noServer)
	if code != 0 || !strings.Contains(out, "no tmux server is running") {
		t.Errorf("no server: exit %d, %q", code, out)
	}
	noTmux := testenv.WriteFile(t, dir, "nt.toml", "[tmux]\nsocket = \"fw-no-such-server\"\nbin = \""+filepath.Join(dir, "no-tmux")+"\"\n")
	_, errOut, code := runMain(t, "status", "--config", noTmux)
	if code != 1 || !strings.Contains(errOut, "cannot list the panes") {
		t.Errorf("no tmux binary: exit %d, %q; want 1 and why", code, errOut)
	}
}

// fleetwarden run in a terminal (a tmux pane here) has the console: the
// person at it asks /status, /peek and /help, and sees alerts there.
func TestConsoleInATerminal(t *testing.T) {
	e := newFleetEnv(t)
	e.agent("alpha", "15-busy.txt")
	cfg := e.config("alpha")
	// Dashboard off: the test must not depend on port 8787 being free.
	if err := os.WriteFile(cfg, append(mustRead(t, cfg), []byte("\n[dashboard]\nlisten = \"off\"\n\n[alerts]\ngroup_wait = \"300ms\"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := e.tm.NewSession(t.Context(), "fw", "main", tmux.SpawnOptions{Dir: e.dir, Width: 160, Height: 50,
		Command: testenv.Fleetwarden(t) + " run --config " + cfg + " 2>" + filepath.Join(e.dir, "fw.log")})
	if err != nil {
		t.Fatal(err)
	}
	screen := func() string {
		text, _ := e.tm.Capture(t.Context(), p.ID, 200)
		return text
	}
	ask := func(cmd, want string) {
		t.Helper()
		if err := e.tm.SendLine(t.Context(), p.ID, cmd, 0); err != nil {
			t.Fatal(err)
		}
		tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
			return strings.Contains(screen(), want), fmt.Sprintf("%s: no %q on the console:\n%s", cmd, want, screen())
		})
	}
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return strings.Contains(screen(), "fleetwarden started"), "no start notice on the console:\n" + screen()
	})
	ask("/status", "1 agents: 1 idle")
	ask("/peek alpha 5", "alpha, last 5 lines")
	ask("/help", "/restart")
	// An alert shows there too.
	if err := e.tm.SendLine(t.Context(), "alpha:main", ":screen 19-tui-401.txt", 0); err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return strings.Contains(screen(), "Login expired on alpha"), "no alert on the console:\n" + screen()
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckWarnsOfAnOpenConfigWithSecrets: a bot token written inline in a
// config file other users can read is said; chmod 600 or env: silences it.
func TestCheckWarnsOfAnOpenConfigWithSecrets(t *testing.T) {
	dir := t.TempDir()
	body := "[tmux]\nsocket = \"fw-check-open-none\"\n\n[state]\ndir = \"" + filepath.Join(dir, "state") + "\"\n\n" +
		"[telegram]\ntoken = \"123456789:AAinlineinlineinlineinlineinlineinl\"\nadmins = [1]\n"
	cfg := testenv.WriteFile(t, dir, "config.toml", body)
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o640, true}, {0o600, false}} {
		if err := os.Chmod(cfg, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, errOut, _ := runMain(t, "check", "--offline", "--config", cfg)
		got := strings.Contains(errOut, "⚠ config: "+cfg+" holds telegram.token inline and other users can read it")
		if got != tc.warn {
			t.Errorf("mode %04o: warned %v, want %v:\n%s", tc.mode, got, tc.warn, errOut)
		}
		if strings.Contains(errOut, "AAinline") {
			t.Errorf("the warning shows the token: %s", errOut)
		}
	}
	// The same file with the token from the environment says nothing.
	t.Setenv("FW_TEST_TG", "123456789:AAinlineinlineinlineinlineinlineinl")
	cfg = testenv.WriteFile(t, dir, "config.toml", strings.Replace(body, `"123456789:AAinlineinlineinlineinlineinlineinl"`, `"env:FW_TEST_TG"`, 1))
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, _ := runMain(t, "check", "--offline", "--config", cfg); strings.Contains(errOut, "⚠ config:") {
		t.Errorf("warned about a config without inline secrets:\n%s", errOut)
	}
}

// Agents found by discovery are named after their tmux window when that
// name is theirs alone: "builder", not "agents:0.0".
func TestDiscoveredAgentsNamedAfterTheirWindow(t *testing.T) {
	e := newFleetEnv(t)
	env := map[string]string{"FAKECLAUDE_SCREENS": testenv.ScreensDir(), "FAKECLAUDE_SCREEN": "15-busy.txt"}
	if _, err := e.tm.NewSession(t.Context(), "agents", "builder", tmux.SpawnOptions{Dir: e.dir, Env: env, Command: e.claude}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tm.NewWindow(t.Context(), "agents", "reviewer", tmux.SpawnOptions{Dir: e.dir, Env: env, Command: e.claude}); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.WriteFile(t, e.dir, "discover.toml", fmt.Sprintf("[tmux]\nsocket = %q\ndiscover = true\n[state]\ndir = %q\n", e.tm.Socket(), e.dir))
	got := waitStates(t, cfg, map[string]string{"builder": "idle", "reviewer": "idle"})
	if len(got) != 2 {
		t.Errorf("status = %+v, want builder and reviewer", got)
	}
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// runFile is `fleetwarden run --config path` in this process, as main
// runs it: the config (or the last good one), New, Run; it returns the
// exit code, and says what main says on stderr.
func runFile(ctx context.Context, path string, o Options) int {
	return runFileWith(ctx, path, o, nil)
}

// runFileWith is runFile that hands the daemon, once made, to made (when
// not nil): for what only the running daemon knows, as its Addr.
func runFileWith(ctx context.Context, path string, o Options, made func(*Daemon)) int {
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	cfg, notes, err := Load(path)
	var lerr *LoadError
	switch {
	case errors.As(err, &lerr):
		printErrors(o.Stderr, lerr.Config)
		fmt.Fprintf(o.Stderr, "fleetwarden: %v\n", lerr.LastGood)
		return 1
	case err != nil:
		printErrors(o.Stderr, err)
		return 1
	}
	for _, n := range notes {
		fmt.Fprintln(o.Stderr, n)
	}
	o.Notes = notes
	d, err := New(cfg, o)
	if err == nil {
		if made != nil {
			made(d)
		}
		err = d.Run(ctx)
	}
	if err != nil {
		fmt.Fprintf(o.Stderr, "fleetwarden: %v\n", err)
		return 1
	}
	return 0
}

func printErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
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

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type statusRow = fleet.Status

// statusJSON is one scan of the fleet of the config at path, as
// `fleetwarden status --json` shows it, by agent.
func statusJSON(t *testing.T, path string) map[string]statusRow {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sts, _, err := Scan(t.Context(), cfg, NewLogger(cfg, io.Discard))
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	m := map[string]statusRow{}
	for _, s := range sts {
		m[s.Name] = s
	}
	return m
}

// checkOffline is what `fleetwarden check --offline --config path` says
// of the last good config: the difference from it, or, for a file that
// does not load, its errors and what run would start on instead.
func checkOffline(t *testing.T, path string) (stdout, stderr string, code int) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		var b strings.Builder
		printErrors(&b, err)
		LastGoodInstead(path, &b)
		return "", b.String(), 1
	}
	return CheckLastGood(cfg.State.Dir, cfg) + "\n", "", 0
}

// reloadCLI is `fleetwarden reload --config path [--yes]`.
func reloadCLI(t *testing.T, path string, yes bool) (stdout, stderr string, code int) {
	t.Helper()
	text, err := RequestReload(t.Context(), path, yes)
	if err != nil {
		var b strings.Builder
		printErrors(&b, err)
		return "", b.String(), 1
	}
	return text + "\n", "", 0
}

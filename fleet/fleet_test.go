package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

type world struct {
	t      *testing.T
	tm     *tmux.Client
	claude string
	dir    string
}

func newWorld(t *testing.T) *world {
	return &world{t: t, tm: tmuxtest.Server(t), claude: testenv.FakeClaude(t), dir: t.TempDir()}
}

func (w *world) env(screen string) map[string]string {
	return map[string]string{"FAKECLAUDE_SCREENS": testenv.ScreensDir(), "FAKECLAUDE_SCREEN": screen,
		"CLAUDE_CONFIG_DIR": filepath.Join(w.dir, "claude")}
}

func (w *world) start(session, screen string) {
	w.t.Helper()
	if _, err := w.tm.NewSession(w.t.Context(), session, "main", tmux.SpawnOptions{Dir: w.dir, Env: w.env(screen), Command: w.claude}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) fleet(agents ...Agent) *Fleet {
	return New(Options{Agents: agents, Sources: map[string]Panes{"": w.tm}})
}

func (w *world) waitState(f *Fleet, want map[string]claude.State) []Status {
	w.t.Helper()
	var sts []Status
	tmuxtest.WaitFor(w.t, 20*time.Second, func() (bool, string) {
		var err error
		sts, err = f.Scan(w.t.Context())
		if err != nil {
			return false, err.Error()
		}
		for _, s := range sts {
			if ws, ok := want[s.Name]; ok && s.State != ws {
				return false, fmt.Sprintf("%s is %s (%s), want %s", s.Name, s.State, s.Evidence, ws)
			}
		}
		return true, ""
	})
	return sts
}

func TestRestartManyInParallelReportsEach(t *testing.T) {
	w := newWorld(t)
	const n = 20
	var agents []Agent
	want := map[string]claude.State{}
	for i := range n {
		name := fmt.Sprintf("a%02d", i)
		w.start(name, "19-tui-401.txt")
		screen := "15-busy.txt"
		if i == 7 {
			screen = "19-tui-401.txt" // this one never comes back: its login is still dead
		}
		agents = append(agents, Agent{Name: name, Target: name + ":main", Workdir: w.dir, Command: w.claude, Env: w.env(screen)})
		want[name] = claude.AuthFailed
	}
	f := w.fleet(agents...)
	w.waitState(f, want)

	var names []string
	for _, a := range agents {
		names = append(names, a.Name)
	}
	res := f.Restart(t.Context(), names, RestartOptions{Parallel: 8, Timeout: 8 * time.Second, StopTimeout: 3 * time.Second,
		Poll: 50 * time.Millisecond, ConfigDir: filepath.Join(w.dir, "claude")})
	if len(res) != n {
		t.Fatalf("got %d results, want %d", len(res), n)
	}
	for _, r := range res {
		if r.Agent == "a07" {
			if r.OK || !strings.Contains(r.Err, "not back") || !strings.Contains(r.LastLines, "Login expired") {
				t.Errorf("a07 = %+v, want failed with its last lines", r)
			}
			continue
		}
		if !r.OK || r.State != claude.Idle {
			t.Errorf("%s = %+v, want back idle", r.Agent, r)
		}
		if r.SessionID == "" {
			t.Errorf("%s: no session resumed, want the session from its session file", r.Agent)
		}
	}
	// The panes really run again, resumed with the same session.
	sts := w.waitState(f, map[string]claude.State{"a00": claude.Idle, "a19": claude.Idle, "a07": claude.AuthFailed})
	_ = sts
	panes, err := w.tm.ListPanes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(panes) != n {
		t.Errorf("%d panes after restart, want %d (no pane lost or added)", len(panes), n)
	}
	entries, _ := os.ReadDir(filepath.Join(w.dir, "claude", "sessions"))
	if len(entries) < 2*n-1 {
		t.Errorf("%d session files, want the restarted processes to have written theirs", len(entries))
	}
}

// A conversation resumed after a failed turn shows that error again (the
// classic renderer, with no "Once fixed" placeholder): after a restart it is
// history, the agent is back; a new failure afterwards counts again.
func TestRestartResumedErrorIsHistory(t *testing.T) {
	// The agent failed before the restart, or fleetwarden never saw it fail
	// (it was started since, or the conversation is another's).
	for _, before := range []string{"19-tui-401.txt", "14-main-tui.txt"} {
		t.Run(before, func(t *testing.T) { testRestartResumedErrorIsHistory(t, before) })
	}
}

func testRestartResumedErrorIsHistory(t *testing.T, before string) {
	w := newWorld(t)
	screens := t.TempDir()
	for src, name := range map[string]string{
		filepath.Join(testenv.ScreensDir(), "19-tui-401.txt"):                              "19-tui-401.txt",
		filepath.Join(testenv.ScreensDir(), "14-main-tui.txt"):                             "14-main-tui.txt",
		filepath.Join(testenv.Root(), "claude/testdata/resumed/classic-after-failure.txt"): "resumed.txt",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(screens, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := func(screen string) map[string]string {
		e := w.env(screen)
		e["FAKECLAUDE_SCREENS"] = screens
		return e
	}
	if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: env(before), Command: w.claude}); err != nil {
		t.Fatal(err)
	}
	f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: env("resumed.txt")})
	w.waitState(f, map[string]claude.State{"a": claude.Classify(readFile(t, filepath.Join(screens, before))).State})

	// The watchdog keeps scanning while the restart runs (the keys it sends
	// make the pane write, which triggers scans).
	stop := make(chan struct{})
	scanning := make(chan struct{})
	go func() {
		defer close(scanning)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = f.Scan(t.Context())
			}
		}
	}()
	res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: 8 * time.Second, StopTimeout: 3 * time.Second,
		Poll: 50 * time.Millisecond, ConfigDir: filepath.Join(w.dir, "claude")})
	close(stop)
	<-scanning
	if r := res[0]; !r.OK || r.State != claude.Idle || r.SessionID == "" {
		t.Fatalf("restart = %+v, want back idle in the resumed session", r)
	}
	sts := w.waitState(f, map[string]claude.State{"a": claude.Idle})
	if got := sts[0].Evidence; !strings.Contains(got, "resumed") || !strings.Contains(got, "Login expired") {
		t.Errorf("evidence %q, want it to say the error shown is from before the restart", got)
	}
	if r := claude.Classify(w.capture("a:main")); r.State != claude.AuthFailed || !r.Unconfirmed {
		t.Fatalf("the pane itself classifies %s (unconfirmed %v); the test needs the resumed screen", r.State, r.Unconfirmed)
	}

	// The agent fails again, for real: the placeholder confirms it.
	if err := w.tm.SendLine(t.Context(), "a:main", ":screen 19-tui-401.txt", 0); err != nil {
		t.Fatal(err)
	}
	w.waitState(f, map[string]claude.State{"a": claude.AuthFailed})
	// From now on the same screen without the placeholder is no longer excused.
	if err := w.tm.SendLine(t.Context(), "a:main", ":screen resumed.txt", 0); err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(w.capture("a:main"), "this one fails"), "the resumed screen again"
	})
	if sts := w.waitState(f, map[string]claude.State{"a": claude.AuthFailed}); sts[0].Reason != claude.ReasonExpired {
		t.Errorf("reason %q, want expired", sts[0].Reason)
	}
}

func (w *world) capture(target string) string {
	w.t.Helper()
	text, err := w.tm.Capture(w.t.Context(), target, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return text
}

func TestRestartRecreatesMissingPane(t *testing.T) {
	w := newWorld(t)
	w.start("other", "15-busy.txt") // a server must exist for the new session
	a := Agent{Name: "ghost", Target: "ghost:work", Workdir: w.dir, Command: w.claude, Env: w.env("15-busy.txt")}
	f := w.fleet(a)
	w.waitState(f, map[string]claude.State{"ghost": claude.Exited})
	res := f.Restart(t.Context(), []string{"ghost"}, RestartOptions{Timeout: 8 * time.Second, Poll: 50 * time.Millisecond})
	if !res[0].OK {
		t.Fatalf("restart of a missing pane: %+v", res[0])
	}
	w.waitState(f, map[string]claude.State{"ghost": claude.Idle})
}

func TestResumeCommand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"claude --continue", "claude --resume ID"},
		{"claude -c --model opus", "claude --model opus --resume ID"},
		{"claude", "claude --resume ID"},
		{"claude --resume OTHER", "claude --resume OTHER"},
		// Written quoting and spacing are kept: the shell runs the command.
		{"claude --append-system-prompt 'a  b' --continue", "claude --append-system-prompt 'a  b' --resume ID"},
		{`claude --append-system-prompt "say \"-c\"  twice" -c`, `claude --append-system-prompt "say \"-c\"  twice" --resume ID`},
		{"exec 'my claude'  --continue  --model opus", "exec 'my claude'  --model opus --resume ID"},
		{"claude --resume=OTHER -c", "claude --resume=OTHER -c"},
	} {
		if got := resumeCommand(tc.in, "ID"); got != tc.want {
			t.Errorf("resumeCommand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The session file is the agent's to write: a sessionId that is not a UUID
// never reaches the restart command line (where "x; touch pwned #" would
// run), and the configured command's quoted arguments reach the new process
// as written.
func TestRestartTakesOnlyAUUIDFromTheSessionFile(t *testing.T) {
	w := newWorld(t)
	env := w.env("14-main-tui.txt")
	env["FAKECLAUDE_SESSION_ID"] = "x; touch pwned #"
	if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: env, Command: w.claude}); err != nil {
		t.Fatal(err)
	}
	command := w.claude + " --append-system-prompt 'two  spaces' --continue"
	f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: command, Env: w.env("14-main-tui.txt")})
	w.waitState(f, map[string]claude.State{"a": claude.Idle})
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		s, err := claude.ReadSessions(filepath.Join(w.dir, "claude"))
		return err == nil && len(s) == 1, "the agent's session file"
	})
	res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: 8 * time.Second, StopTimeout: 3 * time.Second,
		Poll: 50 * time.Millisecond, ConfigDir: filepath.Join(w.dir, "claude")})
	if r := res[0]; !r.OK {
		t.Fatalf("restart = %+v, want back", r)
	}
	panes, err := w.tm.ListPanes(t.Context())
	if err != nil || len(panes) != 1 {
		t.Fatalf("panes %v, %v", panes, err)
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		pids, err := w.tm.PanePIDTree(t.Context(), panes[0].PID)
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, pid := range pids {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				continue
			}
			args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
			if slices.Contains(args, "two  spaces") {
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("%q", args))
		}
		return false, "no process of the pane got the argument 'two  spaces': " + strings.Join(seen, ", ")
	})
	// Whatever followed the ID on the command line would run once the CLI ends.
	if err := w.tm.SendLine(t.Context(), "a:main", ":exit", 0); err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		ps, err := w.tm.ListPanes(t.Context())
		return err == nil && len(ps) == 1 && ps[0].Dead, "the pane's command ended"
	})
	if _, err := os.Stat(filepath.Join(w.dir, "pwned")); err == nil {
		t.Fatal("the sessionId from the session file ran as a command")
	}
	if r := res[0]; r.SessionID != "" {
		t.Errorf("restart resumed session %q, want none (not a UUID)", r.SessionID)
	}
}

// A restart that brings the agent up on a dialog (the CLI's onboarding, the
// login chooser, an API-key question about a key it was not given) is not
// done: it is reported as failed with the dialog's line within seconds, not
// after the restart timeout.
func TestRestartOntoADialogFailsAtOnce(t *testing.T) {
	for _, tc := range []struct{ screen, want string }{
		{"01-first-run.txt", "stuck on the first-run dialog: Choose the text style that looks best with your terminal"},
		{"02-after-theme.txt", "stuck on the login chooser: Select login method:"},
		{"custom-api-key.txt", "stuck on the API-key question: Do you want to use this API key?"},
	} {
		t.Run(tc.screen, func(t *testing.T) {
			w := newWorld(t)
			screens := t.TempDir()
			for _, src := range []string{
				filepath.Join(testenv.ScreensDir(), "14-main-tui.txt"),
				filepath.Join(testenv.ScreensDir(), tc.screen),
				filepath.Join(testenv.Root(), "claude/testdata/dialogs", tc.screen),
			} {
				if b, err := os.ReadFile(src); err == nil {
					if err := os.WriteFile(filepath.Join(screens, filepath.Base(src)), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			env := func(screen string) map[string]string {
				e := w.env(screen)
				e["FAKECLAUDE_SCREENS"] = screens
				return e
			}
			if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: env("14-main-tui.txt"), Command: w.claude}); err != nil {
				t.Fatal(err)
			}
			f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: env(tc.screen)})
			w.waitState(f, map[string]claude.State{"a": claude.Idle})
			const timeout = time.Minute
			res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: timeout, StopTimeout: 3 * time.Second,
				Poll: 50 * time.Millisecond, DialogAfter: time.Second, ConfigDir: filepath.Join(w.dir, "claude")})
			r := res[0]
			if r.OK || r.Err != tc.want {
				t.Fatalf("restart = %+v, want failed with %q", r, tc.want)
			}
			if r.Took > timeout/2 {
				t.Errorf("reported after %v, want at once (the timeout is %v)", r.Took, timeout)
			}
			if r.LastLines == "" {
				t.Errorf("no last lines in the report")
			}
		})
	}
}

func TestWatchdogConditions(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 14, 0, 0, time.UTC)
	o := WatchOptions{StuckAfter: 20 * time.Minute, InputAfter: 10 * time.Minute}
	w := NewWatchdog(New(Options{}), o)
	scan := func(sts ...Status) []Event { return w.conditionsLocked(sts, now) }

	evs := scan(Status{Name: "a", State: claude.AuthFailed, Reason: claude.ReasonExpired}, Status{Name: "b", State: claude.Idle})
	if len(evs) != 1 || evs[0].Kind != "auth_failed" || !evs[0].Active || !evs[0].ReloginFixes {
		t.Fatalf("first scan events = %+v", evs)
	}
	if evs := scan(Status{Name: "a", State: claude.AuthFailed, Reason: claude.ReasonExpired}); len(evs) != 0 {
		t.Errorf("unchanged scan gave events %+v", evs)
	}
	// The reason changes: the old condition ends, the new one begins.
	evs = scan(Status{Name: "a", State: claude.AuthFailed, Reason: claude.ReasonSubscription})
	if len(evs) != 2 || evs[0].Active || evs[0].Reason != "expired" || !evs[1].Active || evs[1].ReloginFixes {
		t.Errorf("reason change events = %+v", evs)
	}
	// Working with a pane unchanged for 25 minutes is stuck; 5 minutes is not.
	evs = scan(Status{Name: "a", State: claude.Working, Changed: now.Add(-25 * time.Minute)},
		Status{Name: "c", State: claude.Working, Changed: now.Add(-5 * time.Minute)})
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, fmt.Sprintf("%s/%s/%v", e.Agent, e.Kind, e.Active))
	}
	if got, want := strings.Join(kinds, " "), "a/auth_failed/false a/stuck/true"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// A permission prompt waiting 11 minutes is needs_input and silent.
	evs = scan(Status{Name: "a", State: claude.NeedsInput, Since: now.Add(-11 * time.Minute)})
	kinds = nil
	for _, e := range evs {
		kinds = append(kinds, fmt.Sprintf("%s/%s/%v", e.Agent, e.Kind, e.Active))
	}
	if got, want := strings.Join(kinds, " "), "a/stuck/false a/needs_input/true a/silent/true"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSinceAndWorkingCarryAcrossScans(t *testing.T) {
	w := newWorld(t)
	w.start("a", "17-busy-7s.txt")
	clock := time.Now()
	f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}}, Sources: map[string]Panes{"": w.tm},
		Now: func() time.Time { return clock }})
	w.waitState(f, map[string]claude.State{"a": claude.Working})
	ctl := filepath.Join(w.dir, "ctl")
	_ = ctl
	// Switch the pane to the auth failure screen by typing to the fake CLI.
	if err := w.tm.SendLine(t.Context(), "a:main", ":screen 19-tui-401.txt", 0); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	sts := w.waitState(f, map[string]claude.State{"a": claude.AuthFailed})
	if !sts[0].Working || !sts[0].Since.Equal(clock) {
		t.Errorf("after failing mid-task: %+v, want Working=true and Since=%v", sts[0], clock)
	}
	clock = clock.Add(time.Minute)
	sts, _ = f.Scan(t.Context())
	if !sts[0].Working || sts[0].Since.Equal(clock) {
		t.Errorf("next scan: %+v, want Since kept and Working kept", sts[0])
	}
}

func TestEventDrivenDetection(t *testing.T) {
	w := newWorld(t)
	w.start("a", "15-busy.txt")
	w.start("b", "15-busy.txt")
	f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}, {Name: "b", Target: "b:main"}},
		Sources: map[string]Panes{"": w.tm}, Recapture: time.Hour})
	w.waitState(f, map[string]claude.State{"a": claude.Idle, "b": claude.Idle})
	events := make(chan Event, 16)
	scans := make(chan int, 64)
	act := &recordingActivity{Activity: w.tm, outputs: map[string]int{}}
	wd := NewWatchdog(f, WatchOptions{
		Interval: time.Hour, // the periodic scan never comes: only tmux activity can tell
		Activity: act,
		OnEvent:  func(e Event) { events <- e },
		OnScan:   func(sts []Status, _ time.Duration) { scans <- len(sts) },
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { wd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-scans // the first scan starts the control clients

	// Keep poking until the control client is attached, then flip a to a
	// login failure: the watchdog must see it without a periodic scan.
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		_ = w.tm.SendLine(t.Context(), "a:main", ":screen 19-tui-401.txt", 0)
		select {
		case e := <-events:
			if e.Agent == "a" && e.Kind == "auth_failed" && e.Active {
				return true, ""
			}
			return false, fmt.Sprintf("unexpected event %+v", e)
		case <-time.After(300 * time.Millisecond):
			return false, "no auth_failed event for a"
		}
	})
	st := f.Snapshot()
	for _, s := range st {
		if s.Name == "b" && s.State != claude.Idle {
			t.Errorf("b = %s, want idle (untouched)", s.State)
		}
	}
	// It was the control clients that told: they reported a's output and
	// never ended (an ending client triggers a full scan, which would
	// have found the failure without them).
	act.mu.Lock()
	if act.outputs[st[0].PaneID] == 0 || act.watches != 2 || act.ended != 0 {
		t.Errorf("control clients: %d started, %d ended, output of a's pane reported %d times; want 2 started, none ended, a's output seen",
			act.watches, act.ended, act.outputs[st[0].PaneID])
	}
	act.mu.Unlock()

	// A control client that dies (detached, tmux restarted) is started
	// again, and the panes it follows are heard again.
	flag := "-L"
	if strings.Contains(w.tm.Socket(), "/") {
		flag = "-S"
	}
	if out, err := exec.Command("tmux", flag, w.tm.Socket(), "detach-client", "-s", "a").CombinedOutput(); err != nil {
		t.Fatalf("detach-client: %v: %s", err, out)
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		act.mu.Lock()
		defer act.mu.Unlock()
		return act.watches == 3 && act.ended == 1, fmt.Sprintf("%d control clients started, %d ended; want a's started again", act.watches, act.ended)
	})
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		_ = w.tm.SendLine(t.Context(), "a:main", ":screen 15-busy.txt", 0)
		select {
		case e := <-events:
			return e.Agent == "a" && e.Kind == "auth_failed" && !e.Active, fmt.Sprintf("event %+v", e)
		case <-time.After(300 * time.Millisecond):
			return false, "a's login failure did not end"
		}
	})
	act.mu.Lock()
	defer act.mu.Unlock()
	if act.ended != 1 {
		t.Errorf("%d control clients ended, want 1 (the detached one)", act.ended)
	}
}

// recordingActivity notes what the control clients report.
type recordingActivity struct {
	Activity
	mu             sync.Mutex
	watches, ended int
	outputs        map[string]int
}

func (r *recordingActivity) Watch(ctx context.Context, session string, onOutput func(paneID string)) error {
	r.mu.Lock()
	r.watches++
	r.mu.Unlock()
	err := r.Activity.Watch(ctx, session, func(p string) {
		r.mu.Lock()
		r.outputs[p]++
		r.mu.Unlock()
		onOutput(p)
	})
	if ctx.Err() == nil {
		r.mu.Lock()
		r.ended++
		r.mu.Unlock()
	}
	return err
}

// BenchmarkScan measures one full scan (one list-panes, a capture and a
// classification per agent) of 50 agents, and an event scan where one pane
// is dirty and the others are not due.
func BenchmarkScan(b *testing.B) {
	tm := tmuxtest.Server(b)
	claudeBin := testenv.FakeClaude(b)
	dir := b.TempDir()
	var agents []Agent
	for i := range 50 {
		name := fmt.Sprintf("a%02d", i)
		o := tmux.SpawnOptions{Dir: dir, Command: claudeBin, Env: map[string]string{"FAKECLAUDE_SCREENS": testenv.ScreensDir(), "FAKECLAUDE_SCREEN": "15-busy.txt"}}
		var err error
		if i == 0 {
			_, err = tm.NewSession(b.Context(), "fleet", name, o)
		} else {
			_, err = tm.NewWindow(b.Context(), "fleet", name, o)
		}
		if err != nil {
			b.Fatal(err)
		}
		agents = append(agents, Agent{Name: name, Target: "fleet:" + name})
	}
	b.Run("full", func(b *testing.B) {
		f := New(Options{Agents: agents, Sources: map[string]Panes{"": tm}})
		for b.Loop() {
			if _, err := f.Scan(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-dirty", func(b *testing.B) {
		f := New(Options{Agents: agents, Sources: map[string]Panes{"": tm}, Recapture: time.Hour})
		sts, err := f.Scan(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		dirty := map[string]bool{sts[7].PaneID: true}
		for b.Loop() {
			if _, err := f.ScanDirty(b.Context(), dirty); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The alert manager learns that its picture of the fleet is complete (the
// restored alerts may be judged) from OnScan: every event of that scan
// must have reached it first, or a failure still there would resolve.
func TestScanReportsEventsBeforeTheScan(t *testing.T) {
	w := newWorld(t)
	w.start("a", "19-tui-401.txt")
	f := w.fleet(Agent{Name: "a", Target: "a:main"})
	w.waitState(f, map[string]claude.State{"a": claude.AuthFailed})

	var calls []string
	wd := NewWatchdog(New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}}, Sources: map[string]Panes{"": w.tm}}), WatchOptions{
		OnTransition: func(tr Transition) { calls = append(calls, "transition "+tr.Agent+" "+string(tr.To.State)) },
		OnEvent:      func(ev Event) { calls = append(calls, fmt.Sprintf("event %s %s %v", ev.Agent, ev.Kind, ev.Active)) },
		OnScan:       func(sts []Status, _ time.Duration) { calls = append(calls, fmt.Sprintf("scan %d", len(sts))) },
	})
	wd.ScanOnce(t.Context())
	got, want := strings.Join(calls, "; "), "transition a auth_failed; event a auth_failed true; scan 1"
	if got != want {
		t.Errorf("callbacks: %s\nwant %s", got, want)
	}
}

// The CLI asks at start whether to use an API key it finds in its
// environment, "No" preselected. A restart that put the key there answers
// yes; a key it did not put there it leaves to a person.
func TestRestartAnswersTheAPIKeyDialog(t *testing.T) {
	ours := "sk-ant-api03-bogusbogusbogusbogusbogusbogusbogusbogus-AAAA"
	tests := []struct {
		name, key string
		want      claude.State
	}{
		{"the key the restart injected", ours, claude.Idle},
		{"a key from elsewhere", "sk-ant-api03-someoneelsesomeoneelsesomeoneelse-BBBB", claude.NeedsInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			screens := t.TempDir()
			for src, name := range map[string]string{
				filepath.Join(testenv.ScreensDir(), "14-main-tui.txt"):                      "14-main-tui.txt",
				filepath.Join(testenv.Root(), "claude/testdata/dialogs/custom-api-key.txt"): "dialog.txt",
			} {
				if err := os.WriteFile(filepath.Join(screens, name), []byte(readFile(t, src)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := func(screen string) map[string]string {
				e := w.env(screen)
				e["FAKECLAUDE_SCREENS"], e["FAKECLAUDE_UP_ENTER"] = screens, "14-main-tui.txt"
				return e
			}
			if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: env("14-main-tui.txt"), Command: w.claude}); err != nil {
				t.Fatal(err)
			}
			f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: env("dialog.txt")})
			w.waitState(f, map[string]claude.State{"a": claude.Idle})
			timeout := 5 * time.Second
			if tt.want != claude.Idle {
				timeout = 2 * time.Second // it will not come back
			}
			res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: timeout, StopTimeout: 3 * time.Second,
				Poll: 50 * time.Millisecond, ConfigDir: filepath.Join(w.dir, "claude"),
				Env: func(Agent) (map[string]string, error) { return map[string]string{"ANTHROPIC_API_KEY": tt.key}, nil }})
			if r := res[0]; r.State != tt.want || r.OK != (tt.want == claude.Idle) {
				t.Fatalf("restart = %+v, want state %s", r, tt.want)
			}
		})
	}
}

// After --resume of an old, long session the CLI may ask whether to resume
// from a summary or in full; the restart answers as configured (the CLI's
// recommended summary by default) and the agent comes back.
func TestRestartAnswersTheResumeQuestion(t *testing.T) {
	tests := []struct {
		choice  string
		summary bool // the answer was "Resume from summary" (its screen has a turn the other lacks)
	}{
		{"", true}, // Enter: the preselected "Resume from summary"
		{claude.ResumeSummary, true},
		{claude.ResumeFull, false},
	}
	for _, tt := range tests {
		t.Run("choice="+tt.choice, func(t *testing.T) {
			w := newWorld(t)
			screens := t.TempDir()
			for src, name := range map[string]string{
				filepath.Join(testenv.ScreensDir(), "14-main-tui.txt"):                      "full.txt",
				filepath.Join(testenv.ScreensDir(), "15-busy.txt"):                          "summary.txt",
				filepath.Join(testenv.Root(), "claude/testdata/dialogs/resume-summary.txt"): "dialog.txt",
			} {
				if err := os.WriteFile(filepath.Join(screens, name), []byte(readFile(t, src)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := func(screen string) map[string]string {
				e := w.env(screen)
				e["FAKECLAUDE_SCREENS"], e["FAKECLAUDE_ENTER"], e["FAKECLAUDE_DOWN_ENTER"] = screens, "summary.txt", "full.txt"
				return e
			}
			if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: env("summary.txt"), Command: w.claude}); err != nil {
				t.Fatal(err)
			}
			f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: env("dialog.txt")})
			w.waitState(f, map[string]claude.State{"a": claude.Idle})
			res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: 10 * time.Second, StopTimeout: 3 * time.Second,
				Poll: 50 * time.Millisecond, ConfigDir: filepath.Join(w.dir, "claude"), ResumeChoice: tt.choice})
			if r := res[0]; !r.OK || r.State != claude.Idle {
				t.Fatalf("restart = %+v, want the agent back idle", r)
			}
			tmuxtest.WaitFor(t, 5*time.Second, func() (bool, string) {
				text, err := w.tm.Capture(t.Context(), "a:main", 0)
				return err == nil && !strings.Contains(text, "Resume from summary") &&
					strings.Contains(text, "Worked for 0s") == tt.summary, "pane shows:\n" + text
			})
		})
	}
}

// countingPanes counts the captures per pane.
type countingPanes struct {
	Panes
	mu  sync.Mutex
	got map[string]int
}

func (c *countingPanes) Capture(ctx context.Context, target string, history int) (string, error) {
	c.mu.Lock()
	c.got[target]++
	c.mu.Unlock()
	return c.Panes.Capture(ctx, target, history)
}

func (c *countingPanes) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = map[string]int{}
	return got
}

// An event scan captures the panes that wrote and no other; the periodic
// safety scan captures those not looked at for a while.
func TestEventScanCapturesOnlyDirtyPanes(t *testing.T) {
	w := newWorld(t)
	for _, s := range []string{"a", "b", "c"} {
		w.start(s, "15-busy.txt")
	}
	src := &countingPanes{Panes: w.tm, got: map[string]int{}}
	clock := time.Now()
	f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}, {Name: "b", Target: "b:main"}, {Name: "c", Target: "c:main"}},
		Sources: map[string]Panes{"": src}, Recapture: time.Minute, Now: func() time.Time { return clock }})
	sts := w.waitState(f, map[string]claude.State{"a": claude.Idle, "b": claude.Idle, "c": claude.Idle})
	src.take()

	clock = clock.Add(2 * time.Minute) // every pane is due a safety look
	if _, err := f.ScanDirty(t.Context(), map[string]bool{sts[0].PaneID: true}); err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 1 || got[sts[0].PaneID] != 1 {
		t.Errorf("event scan for a captured %v, want only a's pane %s", got, sts[0].PaneID)
	}
	if _, err := f.ScanDirty(t.Context(), map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 2 {
		t.Errorf("safety scan captured %v, want b and c (a was just looked at)", got)
	}
}

// A CLI deaf to Escape, Ctrl-C and hangup — and the tool it started —
// is killed when the graceful stop runs out, and the agent comes back.
func TestRestartKillsAHungCLI(t *testing.T) {
	w := newWorld(t)
	stubborn := w.env("15-busy.txt")
	stubborn["FAKECLAUDE_STUBBORN"] = "1"
	p, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: stubborn, Command: w.claude})
	if err != nil {
		t.Fatal(err)
	}
	var old []int
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		old, _ = w.tm.PanePIDTree(t.Context(), p.PID)
		return len(old) >= 2 && strings.Contains(w.capture("a:main"), "tool pid"), fmt.Sprintf("process tree %v", old)
	})
	t.Cleanup(func() {
		for _, pid := range old {
			kill(pid) // should the test fail: leave no hung processes behind
		}
	})
	f := w.fleet(Agent{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: w.env("15-busy.txt")})
	res := f.Restart(t.Context(), []string{"a"}, RestartOptions{Timeout: 10 * time.Second, StopTimeout: time.Second, Poll: 50 * time.Millisecond})
	if !res[0].OK {
		t.Fatalf("restart = %+v, want the agent back", res[0])
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		var left []int
		for _, pid := range old {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0, fmt.Sprintf("old processes still alive: %v of %v", left, old)
	})
}

// gatedRespawn holds every respawn until released, and counts them.
type gatedRespawn struct {
	*tmux.Client
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (g *gatedRespawn) Respawn(ctx context.Context, target string, o tmux.SpawnOptions) error {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	return g.Client.Respawn(ctx, target, o)
}

// Two restarts of one agent at once (the restart after a login, a
// /restart, a failover) restart it once; both hear how it went.
func TestConcurrentRestartsOfOneAgentRestartItOnce(t *testing.T) {
	w := newWorld(t)
	w.start("a", "15-busy.txt")
	g := &gatedRespawn{Client: w.tm, entered: make(chan struct{}, 2), release: make(chan struct{})}
	f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main", Workdir: w.dir, Command: w.claude, Env: w.env("15-busy.txt")}},
		Sources: map[string]Panes{"": g}})
	w.waitState(f, map[string]claude.State{"a": claude.Idle})
	o := RestartOptions{Timeout: 10 * time.Second, StopTimeout: 3 * time.Second, Poll: 50 * time.Millisecond}
	results := make(chan RestartResult, 2)
	go func() { results <- f.Restart(t.Context(), []string{"a"}, o)[0] }()
	<-g.entered // the first is respawning the pane
	go func() { results <- f.Restart(t.Context(), []string{"a"}, o)[0] }()
	select {
	case <-g.entered:
		t.Error("the second restart respawned the pane too")
	case r := <-results:
		t.Errorf("the second restart returned before the first was done: %+v", r)
	case <-time.After(500 * time.Millisecond):
		// It waits for the first (a negative can only be watched for a while).
	}
	close(g.release)
	for range 2 {
		if r := <-results; !r.OK {
			t.Errorf("restart = %+v, want ok", r)
		}
	}
	if g.n != 1 {
		t.Errorf("%d respawns, want 1", g.n)
	}
}

// A restart keeps the fact that an agent was mid-task when it failed, so
// the report can say whose work to re-check.
func TestRestartRemembersWhoWasWorking(t *testing.T) {
	w := newWorld(t)
	w.start("busy", "17-busy-7s.txt")
	w.start("quiet", "15-busy.txt")
	agents := []Agent{
		{Name: "busy", Target: "busy:main", Workdir: w.dir, Command: w.claude, Env: w.env("15-busy.txt")},
		{Name: "quiet", Target: "quiet:main", Workdir: w.dir, Command: w.claude, Env: w.env("15-busy.txt")},
	}
	f := w.fleet(agents...)
	w.waitState(f, map[string]claude.State{"busy": claude.Working, "quiet": claude.Idle})
	for _, a := range []string{"busy", "quiet"} {
		if err := w.tm.SendLine(t.Context(), a+":main", ":screen 19-tui-401.txt", 0); err != nil {
			t.Fatal(err)
		}
	}
	w.waitState(f, map[string]claude.State{"busy": claude.AuthFailed, "quiet": claude.AuthFailed})
	res := f.Restart(t.Context(), []string{"busy", "quiet"}, RestartOptions{Timeout: 10 * time.Second, StopTimeout: 3 * time.Second, Poll: 50 * time.Millisecond})
	got := map[string]bool{}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("restart = %+v", r)
		}
		got[r.Agent] = r.WasWorking
	}
	if !got["busy"] || got["quiet"] {
		t.Errorf("WasWorking = %v, want busy only", got)
	}
}

// A login failure lasts until the agent works again: Claude Code exiting
// meanwhile adds an exit (which the alerts mute under the login failure)
// but does not end the failure, which would read "Login works again".
func TestLoginFailureOutlastsAnExit(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 14, 0, 0, time.UTC)
	w := NewWatchdog(New(Options{}), WatchOptions{StuckAfter: 20 * time.Minute, InputAfter: 10 * time.Minute})
	scan := func(st Status) string {
		st.Name = "a"
		var got []string
		for _, e := range w.conditionsLocked([]Status{st}, now) {
			got = append(got, fmt.Sprintf("%s/%v", e.Kind, e.Active))
		}
		return strings.Join(got, " ")
	}
	steps := []struct {
		st   Status
		want string
	}{
		{Status{State: claude.AuthFailed, Reason: claude.ReasonExpired}, "auth_failed/true"},
		{Status{State: claude.Exited, Reason: ReasonPaneDead}, "exited/true"},
		{Status{State: claude.LoggingIn}, "exited/false"},
		{Status{State: claude.Idle}, "auth_failed/false"},
	}
	for i, s := range steps {
		if got := scan(s.st); got != s.want {
			t.Errorf("step %d (%s): events %q, want %q", i, s.st.State, got, s.want)
		}
	}
}

// The safety looks at quiet panes are spread over the recapture period from
// the start: half a period after the first scan, some panes are due and some
// are not (they used to come due all at once, a whole period after start).
func TestSafetyLooksSpreadFromStart(t *testing.T) {
	w := newWorld(t)
	var agents []Agent
	want := map[string]claude.State{}
	for i := range 12 {
		s := fmt.Sprintf("s%02d", i)
		w.start(s, "15-busy.txt")
		agents = append(agents, Agent{Name: s, Target: s + ":main"})
		want[s] = claude.Idle
	}
	src := &countingPanes{Panes: w.tm, got: map[string]int{}}
	clock := time.Now()
	f := New(Options{Agents: agents, Sources: map[string]Panes{"": src}, Recapture: time.Hour, Now: func() time.Time { return clock }})
	w.waitState(f, want)
	src.take()

	clock = clock.Add(30 * time.Minute)
	if _, err := f.ScanDirty(t.Context(), map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if got := len(src.take()); got == 0 || got == len(agents) {
		t.Errorf("safety scan half a period after start captured %d of %d panes, want some but not all", got, len(agents))
	}
}

// gatedList is a host whose pane list can fail or hang (an SSH connection
// that stopped answering) until released.
type gatedList struct {
	Panes
	mu   sync.Mutex
	err  error
	gate chan struct{} // non-nil: ListPanes waits for it
}

func (g *gatedList) ListPanes(ctx context.Context) ([]tmux.Pane, error) {
	g.mu.Lock()
	err, gate := g.err, g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return g.Panes.ListPanes(ctx)
}

func (g *gatedList) set(err error, hang bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.err = err
	if hang {
		g.gate = make(chan struct{})
	}
}

// A host whose tmux does not answer does not hold up the others: the scan
// waits HostWait for it once, keeps its agents' last state, and detects
// what happens elsewhere; a host whose last list failed is not waited for
// at all until it answers (with HostWait an hour, a scan that waited would
// never end). When the host answers again, its agents are seen again.
func TestAHungHostDoesNotHoldUpTheOthers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		wait     time.Duration
		failOnce bool          // the host's list fails before it hangs
		want     claude.State  // the remote agent while its host hangs
		reason   claude.Reason // and why
	}{
		{"late: last state kept", 20 * time.Millisecond, false, claude.Idle, ""},
		{"failed, then hung: not waited for", time.Hour, true, claude.Unknown, ReasonHostDown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.start("a", "15-busy.txt")
			w.start("r", "15-busy.txt")
			host := &gatedList{Panes: w.tm}
			t.Cleanup(func() { host.set(nil, false) })
			f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}, {Name: "b", Target: "b:main"}, {Name: "r", Target: "r:main", Host: "gpu"}},
				Sources: map[string]Panes{"": w.tm, "gpu": host}, HostWait: tt.wait})
			before := w.waitState(f, map[string]claude.State{"a": claude.Idle, "r": claude.Idle})
			if tt.failOnce {
				host.set(errors.New("ssh: connection reset"), false)
				w.waitState(f, map[string]claude.State{"r": claude.Unknown})
			}
			host.set(nil, true)
			w.start("b", "19-tui-401.txt") // something happens on this machine
			got := w.waitState(f, map[string]claude.State{"a": claude.Idle, "b": claude.AuthFailed})
			r := byName(got, "r")
			if r.State != tt.want || r.Reason != tt.reason {
				t.Errorf("r while its host hangs: %s/%s (%s), want %s/%s", r.State, r.Reason, r.Evidence, tt.want, tt.reason)
			}
			if !tt.failOnce && !r.Since.Equal(byName(before, "r").Since) {
				t.Errorf("r's state was kept, but its since moved: %v → %v", byName(before, "r").Since, r.Since)
			}
			host.set(nil, false) // it answers again
			w.waitState(f, map[string]claude.State{"r": claude.Idle})
		})
	}
}

func byName(sts []Status, name string) Status {
	for _, s := range sts {
		if s.Name == name {
			return s
		}
	}
	return Status{}
}

// gatedCapture counts captures and, once armed (started set), holds the
// first one until released.
type gatedCapture struct {
	Panes
	started chan struct{} // closed when the first capture has begun
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (g *gatedCapture) Capture(ctx context.Context, target string, history int) (string, error) {
	g.mu.Lock()
	g.n++
	first := g.n == 1 && g.started != nil // armed
	started, release := g.started, g.release
	g.mu.Unlock()
	if first {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return g.Panes.Capture(ctx, target, history)
}

// The safety scan gives way to a pane that writes: after its first round
// of looks (Concurrency of them, here one), the looks it has not started
// wait for the next safety scan (those panes keep their last verdict), so
// the event scan queued behind it waits for one capture, not a sixth of
// the fleet's. A fleet that writes all the time still gets that round.
func TestSafetyScanGivesWayToOutput(t *testing.T) {
	for _, tt := range []struct {
		name     string
		wrote    bool // a pane writes during the first look
		allAlong bool // panes were writing before the scan began
		want     int  // captures by the safety scan
	}{
		{"nothing wrote", false, false, 4},
		{"a pane wrote", true, false, 1},
		{"writing all along", true, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			var agents []Agent
			want := map[string]claude.State{}
			for _, s := range []string{"a", "b", "c", "d"} {
				w.start(s, "15-busy.txt")
				agents = append(agents, Agent{Name: s, Target: s + ":main"})
				want[s] = claude.Idle
			}
			clock := time.Now()
			var mu sync.Mutex
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			src := &gatedCapture{Panes: w.tm}
			f := New(Options{Agents: agents, Sources: map[string]Panes{"": src}, Concurrency: 1, Recapture: time.Minute, Now: now})
			w.waitState(f, want)

			mu.Lock()
			clock = clock.Add(2 * time.Minute) // every pane is due a look
			mu.Unlock()
			src.mu.Lock()
			src.n = 0
			src.started, src.release = make(chan struct{}), make(chan struct{})
			src.mu.Unlock()
			var wrote atomic.Bool
			wrote.Store(tt.allAlong)
			type result struct {
				sts []Status
				err error
			}
			done := make(chan result, 1)
			go func() {
				sts, err := f.ScanSafety(t.Context(), wrote.Load)
				done <- result{sts, err}
			}()
			var r result
			select {
			case <-src.started: // the first look is under way
				wrote.Store(tt.wrote)
				close(src.release)
				r = <-done
			case r = <-done: // it took no look at all
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			src.mu.Lock()
			got := src.n
			src.mu.Unlock()
			if got != tt.want {
				t.Errorf("safety scan took %d looks, want %d", got, tt.want)
			}
			for _, s := range r.sts {
				if s.State != claude.Idle {
					t.Errorf("%s = %s (%s), want idle (its last verdict)", s.Name, s.State, s.Evidence)
				}
			}
		})
	}
}

// countingLists counts pane lists.
type countingLists struct {
	Panes
	n atomic.Int32
}

func (c *countingLists) ListPanes(ctx context.Context) ([]tmux.Pane, error) {
	c.n.Add(1)
	return c.Panes.ListPanes(ctx)
}

// An event scan lists only the tmux servers whose panes wrote: a host
// that said nothing (or hangs) is not asked, and its agents keep their
// state. Pane ids repeat across servers, so a dirty pane is named with
// its host.
func TestEventScanListsOnlyHostsThatWrote(t *testing.T) {
	w := newWorld(t)
	w.start("a", "15-busy.txt")
	w.start("r", "15-busy.txt")
	local, remote := &countingLists{Panes: w.tm}, &countingLists{Panes: w.tm}
	f := New(Options{Agents: []Agent{{Name: "a", Target: "a:main"}, {Name: "r", Target: "r:main", Host: "gpu"}},
		Sources: map[string]Panes{"": local, "gpu": remote}, Recapture: time.Hour})
	sts := w.waitState(f, map[string]claude.State{"a": claude.Idle, "r": claude.Idle})
	a := byName(sts, "a")
	local.n.Store(0)
	remote.n.Store(0)
	got, err := f.ScanDirty(t.Context(), map[string]bool{PaneKey("", a.PaneID): true})
	if err != nil {
		t.Fatal(err)
	}
	if l, r := local.n.Load(), remote.n.Load(); l != 1 || r != 0 {
		t.Errorf("event scan of a local pane listed this machine %d times and gpu %d times, want 1 and 0", l, r)
	}
	if r := byName(got, "r"); r.State != claude.Idle || !r.Since.Equal(byName(sts, "r").Since) {
		t.Errorf("r = %s since %v, want idle since %v (as it was)", r.State, r.Since, byName(sts, "r").Since)
	}
	if _, err := f.ScanDirty(t.Context(), map[string]bool{PaneKey("gpu", byName(sts, "r").PaneID): true}); err != nil {
		t.Fatal(err)
	}
	if l, r := local.n.Load(), remote.n.Load(); l != 1 || r != 1 {
		t.Errorf("event scan of gpu's pane: lists %d here and %d on gpu so far, want 1 and 1", l, r)
	}
}

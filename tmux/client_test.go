package tmux_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

const wait = 10 * time.Second

// captured returns a WaitFor condition that holds once target's capture satisfies ok.
func captured(t *testing.T, c *tmux.Client, target string, history int, ok func(string) bool) func() (bool, string) {
	return func() (bool, string) {
		s, err := c.Capture(t.Context(), target, history)
		if err != nil {
			return false, err.Error()
		}
		return ok(s), fmt.Sprintf("pane %s shows:\n%s", target, s)
	}
}

func paneByID(t *testing.T, c *tmux.Client, id string) (tmux.Pane, bool) {
	t.Helper()
	panes, err := c.ListPanes(t.Context())
	if err != nil {
		t.Fatalf("ListPanes: %v", err)
	}
	return tmux.FindPane(panes, id)
}

func realDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSessionsWindowsAndListPanes(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	dir := realDir(t)

	first, err := c.NewSession(ctx, "fleet", "builder", tmux.SpawnOptions{Dir: dir, Command: "cat"})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	second, err := c.NewWindow(ctx, "fleet", "code review", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatalf("NewWindow: %v", err)
	}
	other, err := c.NewSession(ctx, "fleet2", "", tmux.SpawnOptions{Command: "cat", Width: 120, Height: 30})
	if err != nil {
		t.Fatalf("NewSession fleet2: %v", err)
	}
	if first.ID == "" || first.ID[0] != '%' || first.ID == second.ID {
		t.Errorf("pane IDs %q, %q: want distinct %%N", first.ID, second.ID)
	}

	var panes []tmux.Pane
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		panes, err = c.ListPanes(ctx)
		if err != nil {
			return false, err.Error()
		}
		cats := 0
		for _, p := range panes {
			if p.Command == "cat" {
				cats++
			}
		}
		return len(panes) == 3 && cats == 3, fmt.Sprintf("panes %+v", panes)
	})

	b, ok := tmux.FindPane(panes, "fleet:builder")
	if !ok {
		t.Fatalf("fleet:builder not found in %+v", panes)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", b.ID, first.ID},
		{"Target", b.Target(), "fleet:0.0"},
		{"WindowName", b.WindowName, "builder"},
		{"Command", b.Command, "cat"},
		{"Width", b.Width, 200},
		{"Height", b.Height, 50},
		{"Path", b.Path, dir},
		{"Active", b.Active, true},
		{"Dead", b.Dead, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("builder pane %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if b.PID <= 0 {
		t.Errorf("builder pane PID = %d, want > 0", b.PID)
	}
	if age := time.Since(b.Activity); age < -2*time.Second || age > time.Minute {
		t.Errorf("builder pane Activity = %v, want about now", b.Activity)
	}

	r, ok := tmux.FindPane(panes, "fleet:code review")
	switch {
	case !ok:
		t.Errorf("window with a space in its name not found in %+v", panes)
	case r.ID != second.ID || r.Target() != "fleet:1.0" || r.Active || !r.PaneActive:
		t.Errorf("second window pane = %+v; want ID %s, target fleet:1.0, inactive window (-d), active pane", r, second.ID)
	case r.Width != 200 || r.Height != 50:
		t.Errorf("new window size %dx%d, want the session's 200x50", r.Width, r.Height)
	}
	if o, ok := tmux.FindPane(panes, "fleet2"); !ok || o.ID != other.ID || o.Width != 120 || o.Height != 30 {
		t.Errorf("fleet2 pane = %+v, %v; want %s sized 120x30", o, ok, other.ID)
	}
	if _, err := c.NewWindow(ctx, "nosuch", "w", tmux.SpawnOptions{}); err == nil || !strings.Contains(err.Error(), "can't find session") {
		t.Errorf("NewWindow in a missing session: err = %v, want tmux's \"can't find session\"", err)
	}
}

func TestCaptureHistory(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "cap", "w", tmux.SpawnOptions{
		Command: `for i in $(seq 1 300); do echo line-$i; done; exec cat`,
	})
	if err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, wait, captured(t, c, p.ID, 0, func(s string) bool { return strings.HasSuffix(s, "line-300") }))

	// The screen is 50 rows: lines 252..300 and the empty cursor row, which
	// Capture trims.
	tests := []struct {
		history     int
		first, last string
		n           int
	}{
		{0, "line-252", "line-300", 49},
		{100, "line-152", "line-300", 149},
		{300, "line-1", "line-300", 300},
	}
	for _, tt := range tests {
		s, err := c.Capture(ctx, p.ID, tt.history)
		if err != nil {
			t.Fatalf("Capture(%d): %v", tt.history, err)
		}
		ls := strings.Split(s, "\n")
		if ls[0] != tt.first || ls[len(ls)-1] != tt.last || len(ls) != tt.n {
			t.Errorf("Capture(history %d): %d lines %q..%q, want %d lines %q..%q",
				tt.history, len(ls), ls[0], ls[len(ls)-1], tt.n, tt.first, tt.last)
		}
	}
}

func TestSendTextIsLiteral(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "send", "w", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	// Each piece is its own send-keys call, so pieces that end in ";" or
	// start with "-" hit tmux's argument parsing on their own.
	pieces := []string{"-n ", "a;", " ", ";", " ", `b\;`, " $HOME #{pane_id} ", "Enter", ` "q" 'x' ~ \ % {} `, "-", " héllo ✓ 日本", ";;"}
	for _, s := range pieces {
		if err := c.SendText(ctx, p.ID, s); err != nil {
			t.Fatalf("SendText(%q): %v", s, err)
		}
	}
	if err := c.SendKeys(ctx, p.ID, "Enter"); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(pieces, "")
	// The terminal echoes the line, then cat prints it: two copies.
	tmuxtest.WaitFor(t, wait, captured(t, c, p.ID, 0, func(s string) bool {
		return strings.Count(s, want+"\n") == 1 && strings.HasSuffix(s, "\n"+want)
	}))

}

func TestSendTextLong(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	out := filepath.Join(t.TempDir(), "typed")
	p, err := c.NewSession(ctx, "long", "w", tmux.SpawnOptions{Command: "stty -echo; exec cat > " + out})
	if err != nil {
		t.Fatal(err)
	}
	// More than one tmux command can carry (16 KiB), with multi-byte runes
	// across every chunk boundary; lines stay under the tty's 4 KiB limit.
	var long strings.Builder
	for i := range 100 {
		fmt.Fprintf(&long, "%03d-%s;\n", i, strings.Repeat("✓日", 30))
	}
	want := long.String()
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		pn, ok := paneByID(t, c, p.ID)
		return ok && pn.Command == "cat", fmt.Sprintf("pane runs %q", pn.Command)
	})
	if err := c.SendText(ctx, p.ID, want); err != nil {
		t.Fatalf("SendText(long): %v", err)
	}
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		b, err := os.ReadFile(out)
		return string(b) == want, fmt.Sprintf("file has %d of %d bytes (%v)", len(b), len(want), err)
	})
}

// timingRunner records when each tmux command ran.
type timingRunner struct {
	tmux.Runner
	mu    sync.Mutex
	calls []string
	at    []time.Time
}

func (r *timingRunner) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	r.mu.Lock()
	r.calls = append(r.calls, strings.Join(args, " "))
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	return r.Runner.Run(ctx, stdin, args...)
}

func TestSendLine(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "line", "w", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	tr := &timingRunner{Runner: tmux.Exec{}}
	tc := tmux.New(c.Socket(), tr)

	const gap = 150 * time.Millisecond
	if err := tc.SendLine(ctx, p.ID, "hello world", gap); err != nil {
		t.Fatalf("SendLine: %v", err)
	}
	tmuxtest.WaitFor(t, wait, captured(t, c, p.ID, 0, func(s string) bool { return s == "hello world\nhello world" }))
	if len(tr.calls) != 2 || !strings.HasSuffix(tr.calls[1], "Enter") {
		t.Fatalf("SendLine ran %q, want text then Enter", tr.calls)
	}
	if d := tr.at[1].Sub(tr.at[0]); d < gap {
		t.Errorf("Enter followed the text after %v, want at least %v", d, gap)
	}

	// Cancelled during the gap: the text is typed, Enter is not.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr.mu.Lock()
	tr.calls = nil
	tr.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- tc.SendLine(cctx, p.ID, "unsent", time.Hour) }()
	tmuxtest.WaitFor(t, wait, captured(t, c, p.ID, 0, func(s string) bool { return strings.HasSuffix(s, "unsent") }))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SendLine cancelled in the gap: err = %v, want context.Canceled", err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.calls) != 1 {
		t.Errorf("cancelled SendLine ran %q, want only the text", tr.calls)
	}
}

func TestRespawnWithDirEnvCommand(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "re", "w", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	dir := realDir(t)
	err = c.Respawn(ctx, "re:w", tmux.SpawnOptions{
		Dir:     dir,
		Env:     map[string]string{"FW_GREETING": "hello; from env", "FW_OTHER": "x"},
		Command: `echo "[$FW_GREETING|$FW_OTHER] in $(pwd)"; exec cat`,
	})
	if err != nil {
		t.Fatalf("Respawn: %v", err)
	}
	want := "[hello; from env|x] in " + dir
	tmuxtest.WaitFor(t, wait, captured(t, c, p.ID, 0, func(s string) bool { return s == want }))
	np, ok := paneByID(t, c, p.ID)
	if !ok || np.PID == p.PID || np.Path != dir {
		t.Errorf("after respawn pane = %+v, %v; want same ID, new PID (was %d), path %s", np, ok, p.PID, dir)
	}
	if err := c.Respawn(ctx, "re:nosuch", tmux.SpawnOptions{Command: "cat"}); err == nil || !strings.Contains(err.Error(), "can't find window") {
		t.Errorf("Respawn of a missing window: err = %v, want tmux's \"can't find window\"", err)
	}
}

func TestKill(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	a, err := c.NewSession(ctx, "k", "a", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.NewWindow(ctx, "k", "b", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewSession(ctx, "kk", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	if err := c.KillPane(ctx, b.ID); err != nil {
		t.Fatalf("KillPane: %v", err)
	}
	if _, ok := paneByID(t, c, b.ID); ok {
		t.Errorf("pane %s still listed after KillPane", b.ID)
	}
	if _, ok := paneByID(t, c, a.ID); !ok {
		t.Errorf("pane %s gone after killing another pane", a.ID)
	}
	// "k" is a prefix of "kk": killing "k" must not touch "kk" and vice versa.
	if err := c.KillSession(ctx, "k"); err != nil {
		t.Fatalf("KillSession: %v", err)
	}
	panes, err := c.ListPanes(ctx)
	if err != nil || len(panes) != 1 || panes[0].Session != "kk" {
		t.Errorf("after KillSession(k): %+v, %v; want only session kk", panes, err)
	}
	if err := c.KillSession(ctx, "k"); err == nil || !strings.Contains(err.Error(), "can't find session") {
		t.Errorf("KillSession of a killed session: err = %v, want \"can't find session\" (no prefix match on kk)", err)
	}
	if err := c.KillServer(ctx); err != nil {
		t.Fatalf("KillServer: %v", err)
	}
	if _, err := c.ListPanes(ctx); !errors.Is(err, tmux.ErrNoServer) {
		t.Errorf("ListPanes after KillServer: err = %v, want ErrNoServer", err)
	}
	if err := c.KillServer(ctx); err != nil {
		t.Errorf("KillServer twice: %v, want nil", err)
	}
}

func TestDeadPane(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "dead", "w", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetOption(ctx, "dead:w", "remain-on-exit", "on"); err != nil {
		t.Fatalf("SetOption: %v", err)
	}
	// The background sleep holds the terminal open past the exit: tmux 3.3a
	// loses the status of a program whose exit races its terminal closing.
	if err := c.Respawn(ctx, p.ID, tmux.SpawnOptions{Command: "sleep 0.2 & exit 3"}); err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		d, ok := paneByID(t, c, p.ID)
		return ok && d.Dead && d.DeadStatus == 3, fmt.Sprintf("pane %+v (found %v), want Dead with status 3", d, ok)
	})
	if err := c.SetOption(ctx, "dead:w", "no-such-option", "on"); err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("SetOption of an unknown option: err = %v, want tmux's complaint naming it", err)
	}
}

func TestErrorsCarryStderr(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	if _, err := c.NewSession(ctx, "e", "w", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Capture(ctx, "nosuch", 0)
	if err == nil || !strings.Contains(err.Error(), "tmux capture-pane: can't find pane: nosuch") {
		t.Errorf("Capture(nosuch): err = %v, want it to carry \"tmux capture-pane: can't find pane: nosuch\"", err)
	}
	if errors.Is(err, tmux.ErrNoServer) {
		t.Errorf("Capture(nosuch) error %v matches ErrNoServer; the server is running", err)
	}
	if err := c.SendText(ctx, "e:9", "x"); err == nil || !strings.Contains(err.Error(), "can't find window: 9") {
		t.Errorf("SendText(e:9): err = %v, want \"can't find window: 9\"", err)
	}
	if _, err := c.ShowBuffer(ctx); err == nil || !strings.Contains(err.Error(), "no buffers") {
		t.Errorf("ShowBuffer with no buffers: err = %v, want \"no buffers\"", err)
	}
}

func TestNoServer(t *testing.T) {
	c := tmuxtest.Server(t) // nothing started on it
	ctx := t.Context()
	panes, err := c.ListPanes(ctx)
	if !errors.Is(err, tmux.ErrNoServer) || panes == nil || len(panes) != 0 {
		t.Errorf("ListPanes on an empty socket = %v, %v; want empty list and ErrNoServer", panes, err)
	}
	if _, err := c.Capture(ctx, "s", 0); !errors.Is(err, tmux.ErrNoServer) {
		t.Errorf("Capture on an empty socket: err = %v, want ErrNoServer", err)
	}
}

func TestBuffer(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	if _, err := c.NewSession(ctx, "b", "w", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	text := "https://claude.ai/oauth/authorize?code=true&state=x;\nsecond line ✓\n"
	if err := c.SetBuffer(ctx, text); err != nil {
		t.Fatalf("SetBuffer: %v", err)
	}
	got, err := c.ShowBuffer(ctx)
	if err != nil || got != text {
		t.Errorf("ShowBuffer = %q, %v; want %q", got, err, text)
	}
}

func TestPanePIDTree(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	// The pane's shell keeps a child shell that keeps a sleep: three levels.
	p, err := c.NewSession(ctx, "pids", "w", tmux.SpawnOptions{Command: `sh -c 'sleep 300; :' & wait`})
	if err != nil {
		t.Fatal(err)
	}
	comm := func(pid int) string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return strings.TrimSpace(string(b))
	}
	var tree []int
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		tree, err = c.PanePIDTree(ctx, p.PID)
		if err != nil {
			return false, err.Error()
		}
		return len(tree) == 3 && comm(tree[2]) == "sleep", fmt.Sprintf("tree %v", tree)
	})
	if tree[0] != p.PID {
		t.Errorf("tree starts with %d, want the pane pid %d", tree[0], p.PID)
	}
	if slices.Contains(tree, os.Getpid()) {
		t.Errorf("tree %v contains the test process", tree)
	}
	if _, err := c.PanePIDTree(ctx, 1<<30); err == nil {
		t.Errorf("PanePIDTree of a missing pid: err = nil, want error")
	}
}

func BenchmarkListPanes100(b *testing.B) {
	c := tmuxtest.Server(b)
	ctx := b.Context()
	for s := range 10 {
		name := fmt.Sprintf("s%d", s)
		if _, err := c.NewSession(ctx, name, "w0", tmux.SpawnOptions{Command: "cat"}); err != nil {
			b.Fatal(err)
		}
		for w := 1; w < 10; w++ {
			if _, err := c.NewWindow(ctx, name, fmt.Sprintf("w%d", w), tmux.SpawnOptions{Command: "cat"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		panes, err := c.ListPanes(ctx)
		if err != nil || len(panes) != 100 {
			b.Fatalf("ListPanes: %d panes, %v; want 100", len(panes), err)
		}
	}
}

// A session made just as the server exits (its last session closed) is
// made by a new server, not refused with "server exited unexpectedly".
func TestNewSessionWhileTheServerExits(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	for i := range 30 {
		if _, err := c.NewSession(ctx, "s", "w", tmux.SpawnOptions{Command: "cat"}); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := c.KillSession(ctx, "s"); err != nil {
			t.Fatalf("round %d: kill: %v", i, err)
		}
	}
}

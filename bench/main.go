// Command bench measures fleetwarden at fleet scale: it builds fleetwarden
// and the fake Claude CLI, starts a private tmux server with N agent panes,
// runs fleetwarden against the in-process fake Telegram server, and prints
// one JSON line per figure:
//
//	{"figure":"detection_p99_ms","n":100,"value":123.4}
//
// Figures: detection_p50_ms, detection_p99_ms (failure screen written → alert
// accepted by the fake Telegram server, control mode), poll_detection_p99_ms
// (the same with control mode off, polling every 2 s as the anchors do),
// poll_vs_event_p99_ratio, idle_cpu_s_per_min and peak_rss_mb (fleetwarden
// watching N idle agents), restart_s (/restart all until every agent is back),
// status_ms (/status received → reply sent).
//
// Usage: go run ./bench [-n 10,100,500] [-trials 20] [-restart 20,100] [-idle 30s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	fake "github.com/fleetwarden/fleetwarden/internal/fakes/telegram"
	"github.com/fleetwarden/fleetwarden/tmux"
)

const token = "123456789:AAbenchbenchbenchbenchbenchbenchbenc"

var (
	admin     = fake.User{ID: 111, Username: "admin", FirstName: "Ada"}
	adminChat = fake.Chat{ID: 111, Type: "private"}
)

type figure struct {
	Figure string  `json:"figure"`
	N      int     `json:"n"`
	Value  float64 `json:"value"`
}

func main() {
	ns := flag.String("n", "10,100,500", "fleet sizes")
	trials := flag.Int("trials", 20, "detection trials per fleet size")
	restartNs := flag.String("restart", "20,100", "fleet sizes whose restart is timed")
	idle := flag.Duration("idle", 30*time.Second, "how long idle CPU is measured")
	poll := flag.Bool("poll", true, "also measure with control mode off (polling every 2 s)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.cleanup()
	enc := json.NewEncoder(os.Stdout)
	emit := func(f figure) {
		f.Value = math.Round(f.Value*10) / 10
		_ = enc.Encode(f)
	}
	restartSet := map[int]bool{}
	for _, n := range parseInts(*restartNs) {
		restartSet[n] = true
	}
	for _, n := range parseInts(*ns) {
		if err := b.runSize(ctx, n, *trials, *idle, restartSet[n], *poll, emit); err != nil {
			log.Fatalf("n=%d: %v", n, err)
		}
	}
	// Restart sizes not among -n get their own fleet.
	for n := range restartSet {
		if !slices.Contains(parseInts(*ns), n) {
			if err := b.runRestartOnly(ctx, n, emit); err != nil {
				log.Fatalf("restart n=%d: %v", n, err)
			}
		}
	}
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

type bench struct {
	dir     string
	fw      string
	claude  string
	screens string
}

func newBench(ctx context.Context) (*bench, error) {
	dir, err := os.MkdirTemp("", "fwbench-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, fw: filepath.Join(dir, "fleetwarden"), claude: filepath.Join(dir, "claude")}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	b.screens = filepath.Join(root, "claude", "testdata", "screens")
	for _, c := range [][]string{{"-o", b.fw, "."}, {"-o", b.claude, "./internal/fakes/fakeclaude"}} {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, c...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %v: %v\n%s", c, err, out)
		}
	}
	return b, nil
}

func (b *bench) cleanup() { os.RemoveAll(b.dir) }

// tb lets the fake Telegram server run outside a test.
type tb struct {
	mu       sync.Mutex
	cleanups []func()
}

func (*tb) Helper()                           {}
func (*tb) Errorf(format string, args ...any) { log.Printf("fake telegram: "+format, args...) }
func (*tb) Fatalf(format string, args ...any) { log.Fatalf("fake telegram: "+format, args...) }
func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}
func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// fleet is one fleet of N fake agents on a private tmux server.
type fleet struct {
	b      *bench
	n      int
	dir    string
	tm     *tmux.Client
	names  []string
	pids   map[string]int
	tg     *fake.Server
	tgT    *tb
	sent   chan fake.Message
	proc   *exec.Cmd
	output *os.File
}

func (b *bench) newFleet(ctx context.Context, n int) (*fleet, error) {
	dir := filepath.Join(b.dir, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(filepath.Join(dir, "ctl"), 0o700); err != nil {
		return nil, err
	}
	f := &fleet{b: b, n: n, dir: dir, pids: map[string]int{}, sent: make(chan fake.Message, 4096)}
	f.tm = tmux.New(fmt.Sprintf("fwbench-%d-%d", os.Getpid(), n), nil).WithConfigFile("/dev/null")
	log.Printf("n=%d: starting %d agent panes", n, n)
	for i := range n {
		name := fmt.Sprintf("a%03d", i)
		session := fmt.Sprintf("fleet%d", i/50)
		o := tmux.SpawnOptions{Dir: dir, Command: b.claude, Env: map[string]string{
			"FAKECLAUDE_SCREENS": b.screens, "FAKECLAUDE_SCREEN": "15-busy.txt",
			"FAKECLAUDE_CONTROL": filepath.Join(dir, "ctl", name)}}
		var err error
		if i%50 == 0 {
			_, err = f.tm.NewSession(ctx, session, name, o)
		} else {
			_, err = f.tm.NewWindow(ctx, session, name, o)
		}
		if err != nil {
			return nil, err
		}
		f.names = append(f.names, name)
	}
	if err := f.refreshPIDs(ctx); err != nil {
		return nil, err
	}
	f.tgT = &tb{}
	f.tg = fake.New(f.tgT, token)
	f.tg.AddChat(adminChat)
	f.tg.OnSent(func(m fake.Message) {
		select {
		case f.sent <- m:
		default:
		}
	})
	return f, nil
}

func (f *fleet) refreshPIDs(ctx context.Context) error {
	panes, err := f.tm.ListPanes(ctx)
	if err != nil {
		return err
	}
	for _, p := range panes {
		f.pids[p.WindowName] = p.PID
	}
	return nil
}

func (f *fleet) close() {
	f.stopFleetwarden()
	if f.tg != nil {
		f.tgT.close()
	}
	_ = f.tm.KillServer(context.Background())
}

func (f *fleet) target(name string) string {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "a"))
	return fmt.Sprintf("fleet%d:%s", i/50, name)
}

// startFleetwarden runs the fleetwarden binary on this fleet.
func (f *fleet) startFleetwarden(ctx context.Context, controlMode bool, interval string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n\n", f.tm.Socket())
	fmt.Fprintf(&b, "[telegram]\ntoken = %q\napi_url = %q\nadmins = [111]\nalert_chats = [111]\n\n", token, f.tg.URL())
	fmt.Fprintf(&b, "[watchdog]\ninterval = %q\ncontrol_mode = %v\n\n", interval, controlMode)
	fmt.Fprintf(&b, "[alerts]\ngroup_wait = \"0s\"\n\n[login]\nparallel = 16\n\n[dashboard]\nlisten = \"off\"\n\n")
	fmt.Fprintf(&b, "[state]\ndir = %q\n\n[log]\nlevel = \"warn\"\n\n", filepath.Join(f.dir, fmt.Sprintf("state-%v", controlMode)))
	for _, name := range f.names {
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = %q\ncommand = %q\nworkdir = %q\n", name, f.target(name), f.b.claude, f.dir)
		fmt.Fprintf(&b, "[agent.env]\nFAKECLAUDE_SCREENS = %q\nFAKECLAUDE_SCREEN = \"15-busy.txt\"\nFAKECLAUDE_CONTROL = %q\n\n", f.b.screens, filepath.Join(f.dir, "ctl", name))
	}
	cfg := filepath.Join(f.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(f.dir, fmt.Sprintf("fleetwarden-%v.log", controlMode)))
	if err != nil {
		return err
	}
	f.output = out
	f.proc = exec.Command(f.b.fw, "run", "--config", cfg)
	f.proc.Stdout, f.proc.Stderr = out, out
	if err := f.proc.Start(); err != nil {
		return err
	}
	// Ready when /status shows every agent idle.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := f.command(ctx, "/status", fmt.Sprintf("%d agents: %d idle", f.n, f.n), 10*time.Second); err == nil {
			return nil
		}
	}
	return fmt.Errorf("fleetwarden never reported %d idle agents (log: %s)", f.n, out.Name())
}

func (f *fleet) stopFleetwarden() {
	if f.proc == nil {
		return
	}
	_ = f.proc.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = f.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = f.proc.Process.Kill()
		<-done
	}
	f.proc = nil
	f.output.Close()
}

// drain drops messages already sent.
func (f *fleet) drain() {
	for {
		select {
		case <-f.sent:
		default:
			return
		}
	}
}

// waitFor waits for a sent message containing want; it returns when the fake accepted it.
func (f *fleet) waitFor(ctx context.Context, want string, timeout time.Duration) (time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m := <-f.sent:
			if strings.Contains(m.Plain, want) {
				return time.Now(), nil
			}
		case <-t.C:
			return time.Time{}, fmt.Errorf("no message containing %q within %s", want, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// command sends a chat command and returns the time until the reply containing want.
func (f *fleet) command(ctx context.Context, text, want string, timeout time.Duration) (time.Duration, error) {
	f.drain()
	start := time.Now()
	f.tg.SendUserMessage(admin, adminChat, text)
	at, err := f.waitFor(ctx, want, timeout)
	if err != nil {
		return 0, err
	}
	return at.Sub(start), nil
}

// flip shows screen on agent name and returns the instant it was asked to.
func (f *fleet) flip(name, screen string) (time.Time, error) {
	if err := os.WriteFile(filepath.Join(f.dir, "ctl", name), []byte(screen), 0o600); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	return t0, syscall.Kill(f.pids[name], syscall.SIGUSR1)
}

// pace lets Telegram's per-chat limit (about one message a second, short
// bursts allowed, which fleetwarden honours) refill between measurements, so
// a figure measures fleetwarden and not the previous trial's messages.
func pace(ctx context.Context) error {
	select {
	case <-time.After(1200 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// detect measures failure screen → alert accepted, trials times.
func (f *fleet) detect(ctx context.Context, trials int) ([]float64, error) {
	var ms []float64
	for k := range trials {
		if err := pace(ctx); err != nil {
			return nil, err
		}
		name := f.names[(k*7919)%f.n]
		f.drain()
		t0, err := f.flip(name, "19-tui-401.txt")
		if err != nil {
			return nil, err
		}
		at, err := f.waitFor(ctx, "Login expired on "+name, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("trial %d (%s): %w", k, name, err)
		}
		ms = append(ms, float64(at.Sub(t0).Microseconds())/1000)
		if _, err := f.flip(name, "15-busy.txt"); err != nil {
			return nil, err
		}
		if _, err := f.waitFor(ctx, "Login works again on "+name, 30*time.Second); err != nil {
			return nil, fmt.Errorf("trial %d (%s) resolve: %w", k, name, err)
		}
		if err := pace(ctx); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// cpuSeconds is the CPU time of pid, of its reaped children (the tmux
// commands it ran) and of its live ones (the tmux -C control clients).
func cpuSeconds(pid int) (float64, error) {
	own, _, err := procCPU(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		if ticks, ppid, err := procCPU(st); err == nil && ppid == pid {
			own += ticks
		}
	}
	return own / 100, nil // USER_HZ
}

// procCPU reads utime+stime+cutime+cstime (in ticks) and the parent pid
// from a /proc/PID/stat file.
func procCPU(path string) (ticks float64, ppid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 15 {
		return 0, 0, fmt.Errorf("%s: short", path)
	}
	ppid, _ = strconv.Atoi(fields[1])
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
		v, _ := strconv.ParseFloat(fields[i], 64)
		ticks += v
	}
	return ticks, ppid, nil
}

func peakRSSMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM")
}

func (b *bench) runSize(ctx context.Context, n, trials int, idle time.Duration, restart, poll bool, emit func(figure)) error {
	f, err := b.newFleet(ctx, n)
	if err != nil {
		return err
	}
	defer f.close()
	log.Printf("n=%d: fleetwarden with control mode", n)
	if err := f.startFleetwarden(ctx, true, "10s"); err != nil {
		return err
	}
	pid := f.proc.Process.Pid
	// Idle cost: nothing happens for `idle`.
	c0, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	log.Printf("n=%d: idle for %s", n, idle)
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	c1, _ := cpuSeconds(pid)
	emit(figure{"idle_cpu_s_per_min", n, (c1 - c0) / idle.Minutes()})

	log.Printf("n=%d: %d detection trials", n, trials)
	ms, err := f.detect(ctx, trials)
	if err != nil {
		return err
	}
	emit(figure{"detection_p50_ms", n, percentile(ms, 50)})
	emit(figure{"detection_p99_ms", n, percentile(ms, 99)})

	var st []float64
	for range 10 {
		if err := pace(ctx); err != nil {
			return err
		}
		d, err := f.command(ctx, "/status", fmt.Sprintf("%d agents", n), 30*time.Second)
		if err != nil {
			return err
		}
		st = append(st, float64(d.Microseconds())/1000)
	}
	emit(figure{"status_ms", n, percentile(st, 50)})

	if restart {
		d, err := f.restartAll(ctx)
		if err != nil {
			return err
		}
		emit(figure{"restart_s", n, d.Seconds()})
	}
	rss, err := peakRSSMB(pid)
	if err != nil {
		return err
	}
	emit(figure{"peak_rss_mb", n, rss})
	f.stopFleetwarden()

	if poll {
		log.Printf("n=%d: fleetwarden polling every 2 s, %d trials", n, trials)
		if err := f.refreshPIDs(ctx); err != nil {
			return err
		}
		if err := f.startFleetwarden(ctx, false, "2s"); err != nil {
			return err
		}
		pms, err := f.detect(ctx, trials)
		if err != nil {
			return err
		}
		p99 := percentile(pms, 99)
		emit(figure{"poll_detection_p99_ms", n, p99})
		if e := percentile(ms, 99); e > 0 {
			emit(figure{"poll_vs_event_p99_ratio", n, p99 / e})
		}
	}
	return nil
}

func (b *bench) runRestartOnly(ctx context.Context, n int, emit func(figure)) error {
	f, err := b.newFleet(ctx, n)
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.startFleetwarden(ctx, true, "10s"); err != nil {
		return err
	}
	d, err := f.restartAll(ctx)
	if err != nil {
		return err
	}
	emit(figure{"restart_s", n, d.Seconds()})
	return nil
}

// restartAll sends /restart all, confirms, and times until the report says
// every agent is back.
func (f *fleet) restartAll(ctx context.Context) (time.Duration, error) {
	log.Printf("n=%d: /restart all", f.n)
	f.drain()
	f.tg.SendUserMessage(admin, adminChat, "/restart all")
	var q fake.Message
	deadline := time.After(30 * time.Second)
	for q.MessageID == 0 {
		select {
		case m := <-f.sent:
			if strings.Contains(m.Plain, "Restart") && len(m.ReplyMarkup) > 0 {
				q = m
			}
		case <-deadline:
			return 0, fmt.Errorf("no confirmation question")
		}
	}
	start := time.Now()
	f.tg.PressButton(admin, adminChat, q.MessageID, q.ReplyMarkup[0][0].CallbackData)
	at, err := f.waitFor(ctx, "back in", 5*time.Minute)
	if err != nil {
		return 0, err
	}
	return at.Sub(start), f.refreshPIDs(ctx)
}

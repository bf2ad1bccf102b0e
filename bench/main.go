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
// watching N idle agents), tmux_idle_cpu_s_per_min (the tmux server during
// the same windows: what being watched costs the fleet), restart_s
// (/restart all until every agent is back), status_ms (/status received →
// reply sent).
//
// Idle CPU is measured only once fleetwarden has settled (ready, two scans
// done since, no chat message for 10 s), over -windows windows of -idle
// each; the figure is their median, with min and max.
//
// Usage: go run ./bench [-n 10,100,500] [-trials 20] [-restart 20,100] [-idle 60s]
// [-windows 3] [-json FILE] [-cpuprofile FILE]
//
//	go run ./bench -compare old.json new.json
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/tmux"
)

const token = "123456789:AAbenchbenchbenchbenchbenchbenchbenc"

var (
	admin     = telegramtest.User{ID: 111, Username: "admin", FirstName: "Ada"}
	adminChat = telegramtest.Chat{ID: 111, Type: "private"}
)

// figure is one measured value; Min, Max and Samples give its spread
// when it summarises several samples.
type figure struct {
	Figure  string  `json:"figure"`
	N       int     `json:"n"`
	Value   float64 `json:"value"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Samples int     `json:"samples"`
}

// spread summarises samples as value (their median or percentile p), min and max.
func spread(name string, n int, v []float64, p float64) figure {
	return figure{Figure: name, N: n, Value: percentile(v, p), Min: slices.Min(v), Max: slices.Max(v), Samples: len(v)}
}

// report is what -json writes: every figure of one run and where it ran.
type report struct {
	Command string   `json:"command"`
	Date    string   `json:"date"`
	Machine string   `json:"machine"`
	Figures []figure `json:"figures"`
}

func main() {
	ns := flag.String("n", "10,100,500", "fleet sizes")
	trials := flag.Int("trials", 20, "detection trials per fleet size")
	restartNs := flag.String("restart", "20,100", "fleet sizes whose restart is timed")
	idle := flag.Duration("idle", 60*time.Second, "length of one idle CPU window")
	windows := flag.Int("windows", 3, "idle CPU windows per fleet size (min/median/max)")
	poll := flag.Bool("poll", true, "also measure with control mode off (polling every 2 s)")
	jsonOut := flag.String("json", "", "also write every figure, with its spread, to this file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of fleetwarden during the first idle window of the largest -n to this file")
	compare := flag.Bool("compare", false, "compare two -json files: bench -compare old.json new.json")
	flag.Parse()
	if *compare {
		if flag.NArg() != 2 {
			log.Fatal("usage: bench -compare old.json new.json")
		}
		if err := compareFiles(os.Stdout, flag.Arg(0), flag.Arg(1)); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *windows < 1 {
		*windows = 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer b.cleanup()
	enc := json.NewEncoder(os.Stdout)
	rep := report{Command: strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " "),
		Date: time.Now().UTC().Format(time.RFC3339), Machine: machine()}
	emit := func(f figure) {
		if f.Samples == 0 { // one measurement: its own spread
			f.Min, f.Max, f.Samples = f.Value, f.Value, 1
		}
		f.Value, f.Min, f.Max = round1(f.Value), round1(f.Min), round1(f.Max)
		_ = enc.Encode(f)
		rep.Figures = append(rep.Figures, f)
		if *jsonOut != "" {
			// Written after every figure: an interrupted run keeps what it measured.
			b, _ := json.MarshalIndent(rep, "", "  ")
			if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
				log.Printf("-json: %v", err)
			}
		}
	}
	b.idle, b.windows = *idle, *windows
	if *cpuprofile != "" {
		b.profileN, b.profile = slices.Max(parseInts(*ns)), *cpuprofile
	}
	restartSet := map[int]bool{}
	for _, n := range parseInts(*restartNs) {
		restartSet[n] = true
	}
	for _, n := range parseInts(*ns) {
		if err := b.runSize(ctx, n, *trials, restartSet[n], *poll, emit); err != nil {
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

	idle     time.Duration
	windows  int
	profileN int    // the fleet size whose first idle window is profiled
	profile  string // where the profile goes
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// machine names the CPU, its cores and the load when the run started.
func machine() string {
	model := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	load, _ := os.ReadFile("/proc/loadavg")
	la := strings.Fields(string(load))
	if len(la) > 3 {
		la = la[:3]
	}
	return fmt.Sprintf("%s, %d cores, load average %s at start", model, runtime.NumCPU(), strings.Join(la, " "))
}

// freePort returns a loopback address nobody listens on (yet).
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
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
	tg     *telegramtest.Server
	tgT    *tb
	sent   chan telegramtest.Message
	proc   *exec.Cmd
	output *os.File
	dash   string // fleetwarden's dashboard address
	pprof  string // its FLEETWARDEN_PPROF address
	// lastSent is when the fake Telegram last accepted a message (unix ns).
	lastSent atomic.Int64
}

func (b *bench) newFleet(ctx context.Context, n int) (*fleet, error) {
	dir := filepath.Join(b.dir, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(filepath.Join(dir, "ctl"), 0o700); err != nil {
		return nil, err
	}
	f := &fleet{b: b, n: n, dir: dir, pids: map[string]int{}, sent: make(chan telegramtest.Message, 4096)}
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
	f.tg = telegramtest.New(f.tgT, token)
	f.tg.AddChat(adminChat)
	f.tg.OnSent(func(m telegramtest.Message) {
		f.lastSent.Store(time.Now().UnixNano())
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
	var err error
	if f.dash, err = freePort(); err != nil {
		return err
	}
	if f.pprof, err = freePort(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "[alerts]\ngroup_wait = \"0s\"\n\n[login]\nparallel = 16\n\n[dashboard]\nlisten = %q\n\n", f.dash)
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
	f.proc.Env = append(os.Environ(), "FLEETWARDEN_PPROF="+f.pprof)
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

// get fetches a page of fleetwarden's dashboard.
func (f *fleet) get(ctx context.Context, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.dash+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// scans reads how many scans fleetwarden has finished, from /metrics.
func (f *fleet) scans(ctx context.Context) (int, error) {
	_, body, err := f.get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, "fleetwarden_scan_duration_seconds_count "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("/metrics has no fleetwarden_scan_duration_seconds_count")
}

// settle waits until fleetwarden is in its steady state: /readyz says
// ready, two more scans finished (the first full scan and a periodic one
// are behind it), and no chat message (start notice, credential warnings)
// went out for 10 s.
func (f *fleet) settle(ctx context.Context) error {
	const quiet = 10 * time.Second
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	first := -1
	for {
		code, _, err := f.get(ctx, "/readyz")
		n, serr := f.scans(ctx)
		if err == nil && serr == nil && code == http.StatusOK {
			if first < 0 {
				first = n
			}
			if n >= first+2 && time.Since(time.Unix(0, f.lastSent.Load())) >= quiet {
				log.Printf("n=%d: settled after %s (%d scans)", f.n, time.Since(start).Round(time.Second), n)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleetwarden did not settle within 3 minutes (readyz %d %v, scans %d %v)", code, err, n, serr)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tmuxServerPID is the pid of the fleet's tmux server.
func (f *fleet) tmuxServerPID(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "tmux", "-L", f.tm.Socket(), "-f", "/dev/null", "display-message", "-p", "#{pid}").Output()
	if err != nil {
		return 0, fmt.Errorf("tmux server pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// idleWindows measures fleetwarden's CPU (with its children and control
// clients) and the tmux server's over b.windows windows of b.idle each.
// The first window of the profiled size is also a CPU profile.
func (f *fleet) idleWindows(ctx context.Context) (fw, tm []float64, err error) {
	pid := f.proc.Process.Pid
	tpid, err := f.tmuxServerPID(ctx)
	if err != nil {
		return nil, nil, err
	}
	for w := range f.b.windows {
		var prof chan error
		if w == 0 && f.b.profile != "" && f.n == f.b.profileN {
			prof = make(chan error, 1)
			go func() { prof <- f.cpuProfile(ctx, f.b.idle) }()
		}
		c0, err := cpuSeconds(pid)
		if err != nil {
			return nil, nil, err
		}
		t0, _, err := procCPU(fmt.Sprintf("/proc/%d/stat", tpid))
		if err != nil {
			return nil, nil, err
		}
		log.Printf("n=%d: idle window %d/%d of %s", f.n, w+1, f.b.windows, f.b.idle)
		select {
		case <-time.After(f.b.idle):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		c1, _ := cpuSeconds(pid)
		t1, _, _ := procCPU(fmt.Sprintf("/proc/%d/stat", tpid))
		fw = append(fw, (c1-c0)/f.b.idle.Minutes())
		tm = append(tm, (t1-t0)/100/f.b.idle.Minutes())
		if prof != nil {
			if err := <-prof; err != nil {
				log.Printf("cpu profile: %v", err)
			} else {
				log.Printf("n=%d: cpu profile of the idle daemon in %s", f.n, f.b.profile)
			}
		}
	}
	return fw, tm, nil
}

// cpuProfile writes a CPU profile of fleetwarden over d to b.profile.
func (f *fleet) cpuProfile(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", f.pprof, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	out, err := os.Create(f.b.profile)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// compareFiles prints, per figure in both -json files, old, new and new ÷ old.
func compareFiles(w io.Writer, oldPath, newPath string) error {
	load := func(p string) (report, error) {
		var r report
		b, err := os.ReadFile(p)
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return r, fmt.Errorf("%s: %w", p, err)
		}
		return r, nil
	}
	o, err := load(oldPath)
	if err != nil {
		return err
	}
	nw, err := load(newPath)
	if err != nil {
		return err
	}
	type key struct {
		fig string
		n   int
	}
	old := map[key]figure{}
	for _, f := range o.Figures {
		old[key{f.Figure, f.N}] = f
	}
	fmt.Fprintf(w, "old: %s (%s; %s)\nnew: %s (%s; %s)\n", o.Command, o.Date, o.Machine, nw.Command, nw.Date, nw.Machine)
	fmt.Fprintf(w, "%-28s %5s %18s %18s %8s\n", "figure", "n", "old [min–max]", "new [min–max]", "new/old")
	show := func(f figure) string {
		if f.Samples > 1 {
			return fmt.Sprintf("%g [%g–%g]", f.Value, f.Min, f.Max)
		}
		return fmt.Sprint(f.Value)
	}
	for _, f := range nw.Figures {
		of, ok := old[key{f.Figure, f.N}]
		if !ok {
			fmt.Fprintf(w, "%-28s %5d %18s %18s %8s\n", f.Figure, f.N, "-", show(f), "new")
			continue
		}
		ratio := "-"
		if of.Value != 0 {
			ratio = fmt.Sprintf("%.2f×", f.Value/of.Value)
		}
		fmt.Fprintf(w, "%-28s %5d %18s %18s %8s\n", f.Figure, f.N, show(of), show(f), ratio)
	}
	return nil
}

func (b *bench) runSize(ctx context.Context, n, trials int, restart, poll bool, emit func(figure)) error {
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
	// Idle cost: nothing happens, once fleetwarden has settled.
	if err := f.settle(ctx); err != nil {
		return err
	}
	fw, tm, err := f.idleWindows(ctx)
	if err != nil {
		return err
	}
	emit(spread("idle_cpu_s_per_min", n, fw, 50))
	emit(spread("tmux_idle_cpu_s_per_min", n, tm, 50))

	log.Printf("n=%d: %d detection trials", n, trials)
	ms, err := f.detect(ctx, trials)
	if err != nil {
		return err
	}
	emit(spread("detection_p50_ms", n, ms, 50))
	emit(spread("detection_p99_ms", n, ms, 99))

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
	emit(spread("status_ms", n, st, 50))

	if restart {
		d, err := f.restartAll(ctx)
		if err != nil {
			return err
		}
		emit(figure{Figure: "restart_s", N: n, Value: d.Seconds()})
	}
	rss, err := peakRSSMB(pid)
	if err != nil {
		return err
	}
	emit(figure{Figure: "peak_rss_mb", N: n, Value: rss})
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
		emit(spread("poll_detection_p99_ms", n, pms, 99))
		if e := percentile(ms, 99); e > 0 {
			emit(figure{Figure: "poll_vs_event_p99_ratio", N: n, Value: p99 / e})
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
	emit(figure{Figure: "restart_s", N: n, Value: d.Seconds()})
	return nil
}

// restartAll sends /restart all, confirms, and times until the report says
// every agent is back.
func (f *fleet) restartAll(ctx context.Context) (time.Duration, error) {
	log.Printf("n=%d: /restart all", f.n)
	f.drain()
	f.tg.SendUserMessage(admin, adminChat, "/restart all")
	var q telegramtest.Message
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

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
// With -ssh the agents are reached over a real OpenSSH sshd on loopback
// instead (the bench starts it with generated keys): the same figures named
// ssh_*, where ssh_idle_cpu_s_per_min counts fleetwarden and the sshd side
// (sessions, shells, tmux commands, control clients), ssh_sshd_idle_cpu_s_per_min
// the sshd side alone. Then -ssh-hosts hosts × N agents, each host its own
// sshd and tmux server, one sshd paused with SIGSTOP:
// ssh_stalled_others_detection_p50_ms and _p99_ms are the detection of the
// other hosts' agents meanwhile (n is the whole fleet).
//
// -cpuprofile profiles the first idle window of the largest -n,
// -detectprofile its detection trials; the log shows fleetwarden's scans by
// duration after the trials (a detection waits for the scan before it).
//
// Usage: go run ./bench [-n 10,100,500] [-trials 20] [-restart 20,100] [-idle 60s]
// [-windows 3] [-json FILE] [-cpuprofile FILE] [-detectprofile FILE] [-ssh] [-ssh-hosts 5]
//
// The README's Performance section has the command for each figure.
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
	// One exit point: run returns, its deferred cleanup (sshd, tmux
	// servers, fleetwarden, the temp dir) has run, then the process exits.
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// options are the command line's.
type options struct {
	ns, restartNs, jsonOut, cpuprofile, detectprofile, logLevel string
	trials, windows, sshHosts                                   int
	idle                                                        time.Duration
	poll, compare, overSSH                                      bool
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.ns, "n", "10,100,500", "fleet sizes")
	flag.IntVar(&o.trials, "trials", 20, "detection trials per fleet size")
	flag.StringVar(&o.restartNs, "restart", "20,100", "fleet sizes whose restart is timed")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "length of one idle CPU window")
	flag.IntVar(&o.windows, "windows", 3, "idle CPU windows per fleet size (min/median/max)")
	flag.BoolVar(&o.poll, "poll", true, "also measure with control mode off (polling every 2 s)")
	flag.StringVar(&o.jsonOut, "json", "", "also write every figure, with its spread, to this file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of fleetwarden during the first idle window of the largest -n to this file")
	flag.StringVar(&o.detectprofile, "detectprofile", "", "write a CPU profile of fleetwarden during the detection trials of the largest -n to this file")
	flag.BoolVar(&o.compare, "compare", false, "compare two -json files: bench -compare old.json new.json")
	flag.StringVar(&o.logLevel, "loglevel", "warn", "fleetwarden's log level (its log stays in the temp dir while the run lasts)")
	flag.BoolVar(&o.overSSH, "ssh", false, "reach the agents over a real OpenSSH sshd on loopback (figures ssh_*)")
	flag.IntVar(&o.sshHosts, "ssh-hosts", 5, "with -ssh: also this many hosts × N agents, one sshd paused (0: skip)")
	flag.Parse()
	o.windows = max(o.windows, 1)
	return o
}

func run() error {
	o := parseFlags()
	if o.compare {
		if flag.NArg() != 2 {
			return errors.New("usage: bench -compare old.json new.json")
		}
		return compareFiles(os.Stdout, flag.Arg(0), flag.Arg(1))
	}
	if o.overSSH {
		if _, err := findSSHD(); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	b, err := newBench(ctx)
	if err != nil {
		return err
	}
	b.fail, b.logLevel = fail, o.logLevel
	defer b.cleanup()
	b.idle, b.windows = o.idle, o.windows
	b.profileN, b.profile, b.detectProfile = slices.Max(parseInts(o.ns)), o.cpuprofile, o.detectprofile
	err = b.runAll(ctx, o, newReporter(o.jsonOut).emit)
	// An error (or the fake Telegram's Fatalf) ends the run; the cause says why.
	if c := context.Cause(ctx); err != nil && c != nil && !errors.Is(c, context.Canceled) {
		return fmt.Errorf("%w (%w)", err, c)
	}
	return err
}

// reporter prints each figure as a JSON line and, with -json, keeps the
// file up to date with every figure so far.
type reporter struct {
	enc  *json.Encoder
	file string
	rep  report
}

func newReporter(file string) *reporter {
	return &reporter{enc: json.NewEncoder(os.Stdout), file: file,
		rep: report{Command: strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " "),
			Date: time.Now().UTC().Format(time.RFC3339), Machine: machine()}}
}

func (r *reporter) emit(f figure) {
	if f.Samples == 0 { // one measurement: its own spread
		f.Min, f.Max, f.Samples = f.Value, f.Value, 1
	}
	f.Value, f.Min, f.Max = round1(f.Value), round1(f.Min), round1(f.Max)
	_ = r.enc.Encode(f)
	r.rep.Figures = append(r.rep.Figures, f)
	if r.file != "" {
		// Written after every figure: an interrupted run keeps what it measured.
		b, _ := json.MarshalIndent(r.rep, "", "  ")
		if err := os.WriteFile(r.file, append(b, '\n'), 0o644); err != nil {
			log.Printf("-json: %v", err)
		}
	}
}

// runAll measures every fleet size of -n, then restarts of sizes not among
// them.
func (b *bench) runAll(ctx context.Context, o options, emit func(figure)) error {
	restartSet := map[int]bool{}
	for _, n := range parseInts(o.restartNs) {
		restartSet[n] = true
	}
	for _, n := range parseInts(o.ns) {
		if o.overSSH {
			if err := b.runSSH(ctx, n, o.trials, restartSet[n], emit); err != nil {
				return fmt.Errorf("ssh n=%d: %w", n, err)
			}
			if o.sshHosts > 1 {
				if err := b.runStalledHost(ctx, o.sshHosts, n, o.trials, emit); err != nil {
					return fmt.Errorf("ssh %d×%d: %w", o.sshHosts, n, err)
				}
			}
			continue
		}
		if err := b.runSize(ctx, n, o.trials, restartSet[n], o.poll, emit); err != nil {
			return fmt.Errorf("n=%d: %w", n, err)
		}
	}
	// Restart sizes not among -n get their own fleet.
	for n := range restartSet {
		if !slices.Contains(parseInts(o.ns), n) {
			if err := b.runRestartOnly(ctx, n, o.overSSH, emit); err != nil {
				return fmt.Errorf("restart n=%d: %w", n, err)
			}
		}
	}
	return nil
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
	profileN int    // the fleet size whose first idle window (and detection) is profiled
	profile  string // where the idle profile goes
	// detectProfile is where the profile of the detection trials goes.
	detectProfile string

	logLevel string // fleetwarden's [log] level

	fail func(error)  // ends the run (the fake Telegram's Fatalf)
	mu   sync.Mutex   // guards sshds
	sshd []*sshServer // every sshd started, stopped by cleanup
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

// cleanup stops every sshd still running and removes the temp dir. The
// fleets (fleetwarden, tmux servers) are closed by their own defers first.
func (b *bench) cleanup() {
	b.mu.Lock()
	sshds := b.sshd
	b.sshd = nil
	b.mu.Unlock()
	for _, s := range sshds {
		s.stop()
	}
	os.RemoveAll(b.dir)
}

// startSSHD starts an sshd that cleanup stops.
func (b *bench) startSSHD(ctx context.Context, name string) (*sshServer, error) {
	b.mu.Lock()
	dir := filepath.Join(b.dir, fmt.Sprintf("sshd%d", len(b.sshd)))
	b.mu.Unlock()
	s, err := startSSHD(ctx, dir, name)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.sshd = append(b.sshd, s)
	b.mu.Unlock()
	return s, nil
}

// tb lets the fake Telegram server run outside a test.
type tb struct {
	mu       sync.Mutex
	cleanups []func()
	fail     func(error)
}

func (*tb) Helper()                           {}
func (*tb) Errorf(format string, args ...any) { log.Printf("fake telegram: "+format, args...) }

// Fatalf ends the run, as a test's Fatalf ends the test: it cancels the
// bench's context and stops the calling goroutine, so cleanup still runs.
func (t *tb) Fatalf(format string, args ...any) {
	err := fmt.Errorf("fake telegram: "+format, args...)
	log.Print(err)
	if t.fail != nil {
		t.fail(err)
	}
	runtime.Goexit()
}
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

// server is one tmux server of a fleet: this machine's, or a "host"
// reached over SSH (on loopback, so the bench still sees its panes).
type server struct {
	host   string     // the [[host]] name; "" = local
	sshd   *sshServer // nil when local
	tm     *tmux.Client
	names  []string
	target map[string]string // agent → session:window
}

// fleet is one fleet of N fake agents per tmux server.
type fleet struct {
	b       *bench
	n       int    // agents in all
	label   string // for the log: "n=100", "ssh n=100"
	dir     string
	servers []*server
	names   []string
	server  map[string]*server // by agent
	pids    map[string]int
	tg      *telegramtest.Server
	tgT     *tb
	sent    chan telegramtest.Message
	proc    *exec.Cmd
	output  *os.File
	dash    string // fleetwarden's dashboard address
	pprof   string // its FLEETWARDEN_PPROF address
	// eventP99 is the control-mode detection p99, for the poll ratio.
	eventP99 float64
	// lastSent is when the fake Telegram last accepted a message (unix ns).
	lastSent atomic.Int64
}

// newFleet starts n agents on a local tmux server, or n on each host's
// (its own tmux server, reached through its sshd) when hosts are given.
// The caller closes it, also when newFleet fails.
func (b *bench) newFleet(ctx context.Context, label string, n int, hosts []*sshServer) (*fleet, error) {
	dir := filepath.Join(b.dir, strings.NewReplacer(" ", "-", "=", "", "×", "x").Replace(label))
	f := &fleet{b: b, label: label, dir: dir, server: map[string]*server{}, pids: map[string]int{}, sent: make(chan telegramtest.Message, 4096)}
	if err := os.MkdirAll(filepath.Join(dir, "ctl"), 0o700); err != nil {
		return f, err
	}
	servers := []*server{{}}
	if len(hosts) > 0 {
		servers = nil
		for _, h := range hosts {
			servers = append(servers, &server{host: h.name, sshd: h})
		}
	}
	for k, srv := range servers {
		srv.target = map[string]string{}
		srv.tm = tmux.New(fmt.Sprintf("fwbench-%d-%s-%d", os.Getpid(), filepath.Base(dir), k), nil).WithConfigFile("/dev/null")
		f.servers = append(f.servers, srv)
		log.Printf("%s: starting %d agent panes%s", label, n, map[bool]string{true: " on " + srv.host}[srv.host != ""])
		for i := range n {
			name := fmt.Sprintf("%sa%03d", srv.host, i)
			session := fmt.Sprintf("fleet%d", i/50)
			o := tmux.SpawnOptions{Dir: dir, Command: b.claude, Env: map[string]string{
				"FAKECLAUDE_SCREENS": b.screens, "FAKECLAUDE_SCREEN": "15-busy.txt",
				"FAKECLAUDE_CONTROL": filepath.Join(dir, "ctl", name)}}
			var err error
			if i%50 == 0 {
				_, err = srv.tm.NewSession(ctx, session, name, o)
			} else {
				_, err = srv.tm.NewWindow(ctx, session, name, o)
			}
			if err != nil {
				return f, err
			}
			srv.names = append(srv.names, name)
			srv.target[name] = session + ":" + name
			f.names = append(f.names, name)
			f.server[name] = srv
		}
	}
	f.n = len(f.names)
	if err := f.refreshPIDs(ctx); err != nil {
		return f, err
	}
	f.tgT = &tb{fail: b.fail}
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
	for _, srv := range f.servers {
		panes, err := srv.tm.ListPanes(ctx)
		if err != nil {
			return err
		}
		for _, p := range panes {
			f.pids[p.WindowName] = p.PID
		}
	}
	return nil
}

// close stops fleetwarden, the fake Telegram server and the tmux servers.
func (f *fleet) close() {
	f.stopFleetwarden()
	if f.tg != nil {
		f.tgT.close()
	}
	for _, srv := range f.servers {
		pid, _ := tmuxServerPID(context.Background(), srv.tm)
		if err := srv.tm.KillServer(context.Background()); err != nil {
			log.Printf("%s: tmux kill-server: %v", f.label, err)
		}
		// A server that waits on a client that no longer reads (a control
		// client whose sshd went first) does not exit on kill-server.
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// tmux 3.3a leaves the socket file behind after kill-server.
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), srv.tm.Socket()))
	}
}

// startFleetwarden runs the fleetwarden binary on this fleet.
func (f *fleet) startFleetwarden(ctx context.Context, controlMode bool, interval string) error {
	var b strings.Builder
	local := f.servers[0].tm.Socket()
	if f.servers[0].host != "" {
		// No local agents: the [tmux] server is one that does not run.
		local = fmt.Sprintf("fwbench-%d-none", os.Getpid())
	}
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n\n", local)
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
	fmt.Fprintf(&b, "[state]\ndir = %q\n\n[log]\nlevel = %q\n\n", filepath.Join(f.dir, fmt.Sprintf("state-%v", controlMode)), f.b.logLevel)
	for _, srv := range f.servers {
		if s := srv.sshd; s != nil {
			fmt.Fprintf(&b, "[[host]]\nname = %q\naddress = %q\nuser = %q\nkey_file = %q\nknown_hosts = %q\nsocket = %q\n\n",
				s.name, s.addr, s.user, s.keyFile, s.knownHosts, srv.tm.Socket())
		}
	}
	for _, name := range f.names {
		srv := f.server[name]
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = %q\ncommand = %q\nworkdir = %q\n", name, srv.target[name], f.b.claude, f.dir)
		if srv.host != "" {
			fmt.Fprintf(&b, "host = %q\n", srv.host)
		}
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
	var other []string // what came instead, for the error
	for {
		select {
		case m := <-f.sent:
			if strings.Contains(m.Plain, want) {
				return time.Now(), nil
			}
			other = append(other, m.Plain)
		case <-t.C:
			if len(other) > 3 {
				other = other[len(other)-3:]
			}
			return time.Time{}, fmt.Errorf("no message containing %q within %s (last messages: %q)", want, timeout, other)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// rest counts the messages that come until none has for quiet: the rest
// of a reply sent in several.
func (f *fleet) rest(ctx context.Context, quiet time.Duration) int {
	n := 0
	for {
		select {
		case <-f.sent:
			n++
		case <-time.After(quiet):
			return n
		case <-ctx.Done():
			return n
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

// detect measures failure screen → alert accepted, trials times, on
// agents picked from names.
func (f *fleet) detect(ctx context.Context, trials int, names []string) ([]float64, error) {
	var ms []float64
	for k := range trials {
		if err := pace(ctx); err != nil {
			return nil, err
		}
		name := names[(k*7919)%len(names)]
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
				log.Printf("%s: settled after %s (%d scans)", f.label, time.Since(start).Round(time.Second), n)
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

// tmuxServerPID is the pid of a tmux server.
func tmuxServerPID(ctx context.Context, tm *tmux.Client) (int, error) {
	out, err := exec.CommandContext(ctx, "tmux", "-L", tm.Socket(), "-f", "/dev/null", "display-message", "-p", "#{pid}").Output()
	if err != nil {
		return 0, fmt.Errorf("tmux server pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// idleCPU is one idle window's CPU, in seconds per minute.
type idleCPU struct {
	fw   float64 // fleetwarden, the tmux commands it ran, its control clients
	sshd float64 // the sshd side: connections, sessions, shells, tmux commands, control clients
	tmux float64 // the tmux servers
}

// idleWindows measures fleetwarden's CPU (with its children and control
// clients), the sshds' (with everything under them) and the tmux servers'
// over b.windows windows of b.idle each. The first window of the profiled
// size is also a CPU profile.
func (f *fleet) idleWindows(ctx context.Context) ([]idleCPU, error) {
	pid := f.proc.Process.Pid
	var tpids, spids []int
	for _, srv := range f.servers {
		tpid, err := tmuxServerPID(ctx, srv.tm)
		if err != nil {
			return nil, err
		}
		tpids = append(tpids, tpid)
		if srv.sshd != nil {
			spids = append(spids, srv.sshd.pid())
		}
	}
	sample := func() idleCPU {
		c := idleCPU{fw: treeCPU(pid)}
		for _, p := range spids {
			c.sshd += treeCPU(p)
		}
		for _, p := range tpids {
			t, _, _ := procCPU(fmt.Sprintf("/proc/%d/stat", p))
			c.tmux += t / 100
		}
		return c
	}
	var out []idleCPU
	for w := range f.b.windows {
		var prof chan error
		if w == 0 && f.b.profile != "" && f.n == f.b.profileN {
			prof = make(chan error, 1)
			go func() { prof <- f.cpuProfile(ctx, f.b.profile, f.b.idle) }()
		}
		c0 := sample()
		log.Printf("%s: idle window %d/%d of %s", f.label, w+1, f.b.windows, f.b.idle)
		select {
		case <-time.After(f.b.idle):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c1 := sample()
		m := f.b.idle.Minutes()
		out = append(out, idleCPU{fw: (c1.fw - c0.fw) / m, sshd: (c1.sshd - c0.sshd) / m, tmux: (c1.tmux - c0.tmux) / m})
		if prof != nil {
			if err := <-prof; err != nil {
				log.Printf("cpu profile: %v", err)
			} else {
				log.Printf("%s: cpu profile of the idle daemon in %s", f.label, f.b.profile)
			}
		}
	}
	return out, nil
}

// logScans logs how long fleetwarden's scans took so far (from /metrics):
// a detection waits for the scan before it.
func (f *fleet) logScans(ctx context.Context) {
	_, body, err := f.get(ctx, "/metrics")
	if err != nil {
		return
	}
	var b strings.Builder
	prev := 0
	for _, l := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(l, "fleetwarden_scan_duration_seconds_bucket{le=\"")
		if !ok {
			continue
		}
		le, count, _ := strings.Cut(rest, "\"} ")
		n, _ := strconv.Atoi(strings.TrimSpace(count))
		if n > prev {
			fmt.Fprintf(&b, " ≤%ss:%d", le, n-prev)
		}
		prev = n
	}
	log.Printf("%s: scans by duration:%s", f.label, b.String())
}

// cpuProfile writes a CPU profile of fleetwarden over d to path.
func (f *fleet) cpuProfile(ctx context.Context, path string, d time.Duration) error {
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
	out, err := os.Create(path)
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
	f, err := b.newFleet(ctx, fmt.Sprintf("n=%d", n), n, nil)
	defer f.close()
	if err != nil {
		return err
	}
	log.Printf("%s: fleetwarden with control mode", f.label)
	if err := f.measure(ctx, "", trials, restart, emit); err != nil {
		return err
	}
	f.stopFleetwarden()

	if poll {
		log.Printf("%s: fleetwarden polling every 2 s, %d trials", f.label, trials)
		if err := f.refreshPIDs(ctx); err != nil {
			return err
		}
		if err := f.startFleetwarden(ctx, false, "2s"); err != nil {
			return err
		}
		pms, err := f.detect(ctx, trials, f.names)
		if err != nil {
			return err
		}
		emit(spread("poll_detection_p99_ms", n, pms, 99))
		if e := f.eventP99; e > 0 {
			emit(figure{Figure: "poll_vs_event_p99_ratio", N: n, Value: percentile(pms, 99) / e})
		}
	}
	return nil
}

// measure starts fleetwarden with control mode and measures, once it has
// settled, idle CPU, detection, /status, optionally /restart all, and
// peak RSS. Figure names start with prefix ("" or "ssh_").
func (f *fleet) measure(ctx context.Context, prefix string, trials int, restart bool, emit func(figure)) error {
	if err := f.startFleetwarden(ctx, true, "10s"); err != nil {
		return err
	}
	pid := f.proc.Process.Pid
	// Idle cost: nothing happens, once fleetwarden has settled.
	if err := f.settle(ctx); err != nil {
		return err
	}
	if err := f.measureIdle(ctx, prefix, emit); err != nil {
		return err
	}
	if err := f.measureDetection(ctx, prefix, trials, emit); err != nil {
		return err
	}
	if err := f.measureStatus(ctx, prefix, emit); err != nil {
		return err
	}
	if restart {
		d, err := f.restartAll(ctx)
		if err != nil {
			return err
		}
		emit(figure{Figure: prefix + "restart_s", N: f.n, Value: d.Seconds()})
	}
	rss, err := peakRSSMB(pid)
	if err != nil {
		return err
	}
	emit(figure{Figure: prefix + "peak_rss_mb", N: f.n, Value: rss})
	return nil
}

// measureIdle: fleetwarden's (and over SSH the sshd side's) and the tmux
// server's CPU over the idle windows.
func (f *fleet) measureIdle(ctx context.Context, prefix string, emit func(figure)) error {
	ws, err := f.idleWindows(ctx)
	if err != nil {
		return err
	}
	pick := func(get func(idleCPU) float64) []float64 {
		var v []float64
		for _, w := range ws {
			v = append(v, get(w))
		}
		return v
	}
	if prefix == "" {
		emit(spread("idle_cpu_s_per_min", f.n, pick(func(c idleCPU) float64 { return c.fw }), 50))
	} else {
		emit(spread(prefix+"idle_cpu_s_per_min", f.n, pick(func(c idleCPU) float64 { return c.fw + c.sshd }), 50))
		emit(spread(prefix+"sshd_idle_cpu_s_per_min", f.n, pick(func(c idleCPU) float64 { return c.sshd }), 50))
	}
	emit(spread(prefix+"tmux_idle_cpu_s_per_min", f.n, pick(func(c idleCPU) float64 { return c.tmux }), 50))
	return nil
}

// measureDetection runs the detection trials (profiled, with
// -detectprofile, at the largest -n).
func (f *fleet) measureDetection(ctx context.Context, prefix string, trials int, emit func(figure)) error {
	log.Printf("%s: %d detection trials", f.label, trials)
	var prof chan error
	if f.b.detectProfile != "" && f.n == f.b.profileN {
		// As long as the trials take: about 2.5 s each.
		prof = make(chan error, 1)
		go func() { prof <- f.cpuProfile(ctx, f.b.detectProfile, time.Duration(trials)*2500*time.Millisecond) }()
	}
	ms, err := f.detect(ctx, trials, f.names)
	if err != nil {
		return err
	}
	if prof != nil {
		if err := <-prof; err != nil {
			log.Printf("cpu profile: %v", err)
		} else {
			log.Printf("%s: cpu profile of the detection trials in %s", f.label, f.b.detectProfile)
		}
	}
	f.logScans(ctx)
	f.eventP99 = percentile(ms, 99)
	emit(spread(prefix+"detection_p50_ms", f.n, ms, 50))
	emit(spread(prefix+"detection_p99_ms", f.n, ms, 99))
	return nil
}

// measureStatus times ten /status requests.
func (f *fleet) measureStatus(ctx context.Context, prefix string, emit func(figure)) error {
	var st []float64
	replies := 1 // messages in the last /status reply
	for range 10 {
		// A /status of hundreds of agents is several messages: let the
		// chat's budget refill for all of them, or the next reply waits
		// for Telegram's per-chat limit (1.8 s at 500) and that is measured.
		for range replies {
			if err := pace(ctx); err != nil {
				return err
			}
		}
		d, err := f.command(ctx, "/status", fmt.Sprintf("%d agents", f.n), 30*time.Second)
		if err != nil {
			return err
		}
		st = append(st, float64(d.Microseconds())/1000)
		if d > 100*time.Millisecond {
			log.Printf("%s: /status took %s (fleetwarden's log: %s)", f.label, d.Round(time.Millisecond), f.output.Name())
		}
		replies = 1 + f.rest(ctx, 1500*time.Millisecond)
	}
	emit(spread(prefix+"status_ms", f.n, st, 50))
	return nil
}

// runSSH measures n agents on one host reached over a real sshd.
func (b *bench) runSSH(ctx context.Context, n, trials int, restart bool, emit func(figure)) error {
	h, err := b.startSSHD(ctx, "h0")
	if err != nil {
		return err
	}
	defer h.stop()
	f, err := b.newFleet(ctx, fmt.Sprintf("ssh n=%d", n), n, []*sshServer{h})
	defer f.close()
	if err != nil {
		return err
	}
	log.Printf("%s: fleetwarden with control mode over SSH (%s)", f.label, h.addr)
	return f.measure(ctx, "ssh_", trials, restart, emit)
}

// runStalledHost runs hosts × n agents, each host its own sshd, pauses the
// first host's sshd and measures detection on the other hosts meanwhile:
// a host that hangs must not hold up the watch of the others.
func (b *bench) runStalledHost(ctx context.Context, hosts, n, trials int, emit func(figure)) error {
	var hs []*sshServer
	for i := range hosts {
		h, err := b.startSSHD(ctx, fmt.Sprintf("h%d", i))
		if err != nil {
			return err
		}
		defer h.stop()
		hs = append(hs, h)
	}
	f, err := b.newFleet(ctx, fmt.Sprintf("ssh %d×%d", hosts, n), n, hs)
	defer f.close()
	if err != nil {
		return err
	}
	log.Printf("%s: fleetwarden with control mode over SSH", f.label)
	if err := f.startFleetwarden(ctx, true, "10s"); err != nil {
		return err
	}
	if err := f.settle(ctx); err != nil {
		return err
	}
	if err := hs[0].pause(); err != nil {
		return err
	}
	defer hs[0].resume()
	var others []string
	for _, srv := range f.servers[1:] {
		others = append(others, srv.names...)
	}
	// The trials run while fleetwarden's connection to the paused host
	// hangs, its keepalive gives up on it (30 s + 30 s) and new dials
	// time out (10 s each): -trials 20 is about a minute of it.
	log.Printf("%s: %d detection trials on the other hosts while %s is paused", f.label, trials, hs[0].name)
	ms, err := f.detect(ctx, trials, others)
	if err != nil {
		return err
	}
	emit(spread("ssh_stalled_others_detection_p50_ms", f.n, ms, 50))
	emit(spread("ssh_stalled_others_detection_p99_ms", f.n, ms, 99))
	return nil
}

func (b *bench) runRestartOnly(ctx context.Context, n int, overSSH bool, emit func(figure)) error {
	label, prefix := fmt.Sprintf("n=%d", n), ""
	var hosts []*sshServer
	if overSSH {
		h, err := b.startSSHD(ctx, "h0")
		if err != nil {
			return err
		}
		defer h.stop()
		hosts, label, prefix = []*sshServer{h}, "ssh "+label, "ssh_"
	}
	f, err := b.newFleet(ctx, label, n, hosts)
	defer f.close()
	if err != nil {
		return err
	}
	if err := f.startFleetwarden(ctx, true, "10s"); err != nil {
		return err
	}
	d, err := f.restartAll(ctx)
	if err != nil {
		return err
	}
	emit(figure{Figure: prefix + "restart_s", N: n, Value: d.Seconds()})
	return nil
}

// restartAll sends /restart all, confirms, and times until the report says
// every agent is back.
func (f *fleet) restartAll(ctx context.Context) (time.Duration, error) {
	log.Printf("%s: /restart all", f.label)
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

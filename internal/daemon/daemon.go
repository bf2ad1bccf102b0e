// Package daemon is fleetwarden running: the watchdog over the tmux panes,
// the alert manager and its routes, the chat transports, the scheduled
// jobs, the dashboard and the journal, wired from one config. The binary's
// `run` is New and Run; tests run the same daemon in-process.
//
// A reload ends one generation (everything built from a config) and starts
// the next; the process's uptime, metrics and console carry over.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fleetwarden/fleetwarden/bot/console"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/dashboard"
)

// Options are what the daemon takes from the process around it; tests
// set them instead of flags, signals and the terminal.
type Options struct {
	// Log is where the daemon logs; nil: a logger from the config's [log]
	// section on Stderr (NewLogger).
	Log *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Stdin and Stdout are the console's terminal; Stderr gets what a
	// start that fails says. nil: nothing is read, nothing written.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Version labels the journal, the dashboard and fleetwarden_build_info.
	Version string
	// Safe is --safe: only the tmux watch, the console, the dashboard and
	// the alert routes that pass their check.
	Safe bool
	// Notes say why the config given is not the file asked for (Load fell
	// back on the last good config); they head /status and the dashboard.
	Notes []string
	// GoodAfter is how long a config runs before it is kept as the last
	// good one; 0: a minute.
	GoodAfter time.Duration
	// CaptureCrashes has the Go runtime write a fatal panic to state.dir,
	// for the next start to count (process-wide: the binary only).
	CaptureCrashes bool
	// Hup receives SIGHUP; nil: Run listens for it.
	Hup <-chan os.Signal
	// Environ is the environment fleetwarden runs in, KEY=VALUE: what it
	// starts (tmux, the login, the CLI) gets it without fleetwarden's
	// secrets. nil: this process's.
	Environ []string
}

// Daemon is fleetwarden running: one generation of watchdog, alerts,
// transports and journal after another, a new one on each reload.
type Daemon struct {
	o   Options
	b   *boot
	log *slog.Logger

	mu  sync.Mutex
	cur *daemon // the running generation; nil between two
}

// boot is what one generation of the daemon starts with.
type boot struct {
	cfg *config.Config
	// notes say how this generation runs, when not as configured: the file
	// did not load, or safe mode. They head /status and the dashboard.
	notes []string
	// safe is why this generation runs in safe mode; "" = it does not.
	safe string
	// reload is the reload that started this generation: its text (the
	// changes) and who applied it. nil for a start of the process.
	reload *reloadDone
	// started and metrics are the process's: uptime and counters go on
	// across reloads.
	started time.Time
	metrics *dashboard.Metrics
}

// reloadDone is a reload being applied.
type reloadDone struct {
	by      string
	changes config.Changes
	failed  string // the new config did not start, and why: the old one runs again
}

// New prepares the daemon on cfg: it counts a crash the previous run left
// behind and decides on safe mode. Nothing runs until Run.
func New(cfg *config.Config, o Options) (*Daemon, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	log := o.Log
	if log == nil {
		log = NewLogger(cfg, o.Stderr)
	}
	if cfg.Path == "" {
		log.Info("no config file found; running the embedded default")
	} else {
		log.Info("config loaded", "file", cfg.Path)
	}
	b := &boot{cfg: cfg, notes: o.Notes, started: o.Now(), metrics: dashboard.NewMetrics(o.Version)}
	collectCrashOutput(cfg.State.Dir)
	switch why := repeatedCrash(cfg.State.Dir, o.Now()); {
	case o.Safe:
		b.safe = "started with --safe"
	case why != "":
		b.safe = why
		// Safe mode answers this series of crashes: a restart after it
		// starts everything again.
		clearCrashes(cfg.State.Dir)
	}
	return &Daemon{o: o, b: b, log: log}, nil
}

// Addr is the address the dashboard of the running generation listens on;
// "" when it is off or not listening yet.
func (dm *Daemon) Addr() string {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if dm.cur == nil || dm.cur.dash == nil {
		return ""
	}
	return dm.cur.dash.Addr()
}

// Run runs the daemon, again on each reload, until ctx ends. An error is
// a generation that could not start (and was not a reload, which falls
// back on the config before it).
func (dm *Daemon) Run(ctx context.Context) error {
	if dm.o.CaptureCrashes {
		// A panic in any goroutine is a crash the next start must know of.
		if f, err := captureCrashes(dm.b.cfg.State.Dir); err != nil {
			dm.log.Warn("crashes will not be remembered", "err", err)
		} else {
			defer f.Close()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := dm.o.Hup
	if hup == nil {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		defer signal.Stop(c)
		hup = c
	}
	t := dm.newTerminal()
	defer t.wg.Wait()
	return dm.generations(ctx, cancel, hup, t)
}

// generations runs one generation after another: the first on the config
// New was given, then each reload's. A reloaded config that cannot start
// gives way to the one before it.
func (dm *Daemon) generations(ctx context.Context, cancel context.CancelFunc, hup <-chan os.Signal, t *terminal) error {
	b := dm.b
	var prev *boot // the generation before, to go back to
	for {
		d, err := newDaemon(newWiring(b.cfg, dm.log, dm.o.Environ), b, dm.o, t.attach)
		if err != nil && b.reload != nil && prev != nil {
			// A reloaded config that cannot start must not end the watch:
			// back to the config that ran, saying why.
			dm.log.Error("the reloaded config did not start; back on the previous one", "err", err)
			back := *prev
			back.reload = &reloadDone{by: b.reload.by, failed: err.Error()}
			b, prev = &back, nil
			continue
		}
		if err != nil {
			recordCrash(b.cfg.State.Dir, "start: "+err.Error(), dm.o.Now())
			return err
		}
		d.hup = hup
		t.start(ctx, cancel, dm.log)
		next, err := dm.runGeneration(ctx, d)
		if err != nil || next == nil {
			return err
		}
		dm.log.Info("config reloaded", "file", next.cfg.Path, "safe_mode", next.safe != "")
		next.started, next.metrics = b.started, b.metrics
		b, prev = next, b
	}
}

// runGeneration runs d, the current generation Addr reports on.
func (dm *Daemon) runGeneration(ctx context.Context, d *daemon) (*boot, error) {
	dm.mu.Lock()
	dm.cur = d
	dm.mu.Unlock()
	defer func() {
		dm.mu.Lock()
		dm.cur = nil
		dm.mu.Unlock()
	}()
	return d.run(ctx)
}

// terminal is the console: it outlives reloads (it reads the terminal,
// which a new one could not share), handing each request to the current
// generation's handler.
type terminal struct {
	cons    *console.Console // nil: no console
	sw      *handlerSwitch
	started bool
	wg      sync.WaitGroup
}

func (dm *Daemon) newTerminal() *terminal {
	t := &terminal{sw: &handlerSwitch{}}
	if dm.b.cfg.Console.On(isTerminal(dm.o.Stdin)) {
		t.cons = console.New(dm.o.Stdin, dm.o.Stdout, t.sw)
	}
	return t
}

// attach gives the console a new generation's handler.
func (t *terminal) attach(h *commands.Handler) *console.Console {
	t.sw.set(h)
	return t.cons
}

// start starts the console once; when the terminal closes (Ctrl-D) the
// person wants out, and cancel ends the daemon.
func (t *terminal) start(ctx context.Context, cancel context.CancelFunc, log *slog.Logger) {
	if t.cons == nil || t.started {
		return
	}
	t.started = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.cons.Run(ctx); err != nil {
			log.Error("console", "err", err)
		}
		cancel()
	}()
}

// Load loads the config file at path (found as config.Find does when
// path is ""; the embedded default when there is none). When the file
// does not load it falls back on the last good config and returns a note
// saying why; when there is none either, the error says both.
func Load(path string) (cfg *config.Config, notes []string, err error) {
	if path == "" {
		found, err := config.Find()
		if err != nil {
			return nil, nil, err
		}
		path = found
	}
	if path == "" {
		return config.Default(), nil, nil
	}
	cfg, err = config.Load(path)
	if err == nil {
		return cfg, nil, nil
	}
	lg, note, lerr := fallBack(path, err)
	if lerr != nil {
		return nil, nil, &LoadError{Config: err, LastGood: lerr}
	}
	return lg, []string{note}, nil
}

// LoadError is a config file that does not load, with no last good config
// to run on instead.
type LoadError struct {
	Config   error // why the file does not load (config.Errors, often)
	LastGood error // why the last good config cannot stand in
}

func (e *LoadError) Error() string { return e.Config.Error() + "; " + e.LastGood.Error() }
func (e *LoadError) Unwrap() error { return e.Config }

// fallBack loads the last good config for a file that did not load, and
// says what went wrong and what runs instead.
func fallBack(path string, loadErr error) (*config.Config, string, error) {
	dir := config.StateDirHint(path)
	if dir == "" {
		return nil, "", errors.New("no state directory to find a last good config in")
	}
	cfg, meta, err := loadLastGood(dir)
	if err != nil {
		return nil, "", err
	}
	return cfg, fmt.Sprintf("%s — running on the last good config from %s; fix the file and /reload",
		configErrors(loadErr, "; "), meta.at.In(Location(cfg.Schedule.Timezone)).Format("Mon 15:04")), nil
}

// configErrors joins every problem of a config that did not load.
func configErrors(err error, sep string) string {
	var errs config.Errors
	if errors.As(err, &errs) {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return strings.Join(msgs, sep)
	}
	return err.Error()
}

// handlerSwitch forwards the console's requests to the current daemon's
// handler: the console stays across reloads, the handler does not.
type handlerSwitch struct {
	mu sync.Mutex
	h  *commands.Handler
}

func (s *handlerSwitch) set(h *commands.Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

func (s *handlerSwitch) Handle(ctx context.Context, req commands.Request, out commands.Responder) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	if h == nil {
		_ = out.Reply(ctx, commands.Reply{Text: "fleetwarden is restarting; try again in a moment."})
		return
	}
	h.Handle(ctx, req, out)
}

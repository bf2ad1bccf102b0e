package main

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

// runOptions are `run`'s flags and what tests shorten.
type runOptions struct {
	config string // --config; "" = find one, else the embedded default
	safe   bool   // --safe
	// goodAfter is how long a config runs before it is kept as the last
	// good one.
	goodAfter time.Duration
	// captureCrashes has the runtime write a fatal panic to state.dir, for
	// the next start to count (process-wide: the binary only, not tests).
	captureCrashes bool
	// hup receives SIGHUP; nil = listen for it.
	hup    <-chan os.Signal
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
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

// runDaemon is `run`: it loads the config (or the last good one), decides
// on safe mode, and runs the daemon, again on each reload, until ctx ends.
func runDaemon(ctx context.Context, o runOptions) (code int) {
	b, log, code := firstBoot(o)
	if b == nil {
		return code
	}
	if o.captureCrashes {
		// A panic in any goroutine is a crash the next start must know of.
		if f, err := captureCrashes(b.cfg.State.Dir); err != nil {
			log.Warn("crashes will not be remembered", "err", err)
		} else {
			defer f.Close()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := o.hup
	if hup == nil {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		defer signal.Stop(c)
		hup = c
	}
	// The console outlives reloads: it reads the terminal, which a new one
	// could not share.
	sw := &handlerSwitch{}
	var cons *console.Console
	if b.cfg.Console.On(isTerminal(o.stdin)) {
		cons = console.New(o.stdin, o.stdout, sw)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	consoleStarted := false
	var prev *boot // the generation before, to go back to
	for {
		rt := newRuntime(b.cfg, log)
		d, err := newDaemon(rt, b, func(h *commands.Handler) *console.Console {
			sw.set(h)
			return cons
		})
		if err != nil && b.reload != nil && prev != nil {
			// A reloaded config that cannot start must not end the watch:
			// back to the config that ran, saying why.
			log.Error("the reloaded config did not start; back on the previous one", "err", err)
			back := *prev
			back.reload = &reloadDone{by: b.reload.by, failed: err.Error()}
			b, prev = &back, nil
			continue
		}
		if err != nil {
			fmt.Fprintf(o.stderr, "fleetwarden: %v\n", err)
			recordCrash(b.cfg.State.Dir, "start: "+err.Error(), time.Now())
			return exitFailure
		}
		d.goodAfter = o.goodAfter
		d.hup = hup
		if cons != nil && !consoleStarted {
			consoleStarted = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cons.Run(ctx); err != nil {
					log.Error("console", "err", err)
				}
				// The terminal closed (Ctrl-D): the person wants out.
				cancel()
			}()
		}
		next, err := d.run(ctx)
		if err != nil {
			fmt.Fprintf(o.stderr, "fleetwarden: %v\n", err)
			return exitFailure
		}
		if next == nil {
			return exitOK
		}
		log.Info("config reloaded", "file", next.cfg.Path, "safe_mode", next.safe != "")
		next.started, next.metrics = b.started, b.metrics
		b, prev = next, b
	}
}

// firstBoot loads the config; when it does not load it falls back on the
// last good config (saying why), and it decides on safe mode.
func firstBoot(o runOptions) (*boot, *slog.Logger, int) {
	path := o.config
	if path == "" {
		found, err := config.Find()
		if err != nil {
			printConfigError(o.stderr, err)
			return nil, nil, exitFailure
		}
		path = found
	}
	var cfg *config.Config
	var notes []string
	if path == "" {
		cfg = config.Default()
	} else {
		var err error
		cfg, err = config.Load(path)
		if err != nil {
			lg, note, lerr := fallBack(path, err)
			if lerr != nil {
				printConfigError(o.stderr, err)
				fmt.Fprintf(o.stderr, "fleetwarden: %v\n", lerr)
				return nil, nil, exitFailure
			}
			cfg, notes = lg, []string{note}
			fmt.Fprintln(o.stderr, note)
		}
	}
	log := newLogger(cfg, o.stderr)
	if cfg.Path == "" {
		log.Info("no config file found; running the embedded default")
	} else {
		log.Info("config loaded", "file", cfg.Path)
	}
	b := &boot{cfg: cfg, notes: notes, started: time.Now(), metrics: dashboard.NewMetrics(versionString())}
	collectCrashOutput(cfg.State.Dir)
	switch why := repeatedCrash(cfg.State.Dir, time.Now()); {
	case o.safe:
		b.safe = "started with --safe"
	case why != "":
		b.safe = why
		// Safe mode answers this series of crashes: a restart after it
		// starts everything again.
		clearCrashes(cfg.State.Dir)
	}
	return b, log, exitOK
}

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
		configErrors(loadErr, "; "), meta.at.In(location(cfg.Schedule.Timezone)).Format("Mon 15:04")), nil
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

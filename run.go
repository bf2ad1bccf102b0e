package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/bot/console"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/fleet"
)

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	log := newLogger(cfg, stderr)
	if cfg.Path == "" {
		log.Info("no config file found; running the embedded default")
	} else {
		log.Info("config loaded", "file", cfg.Path)
	}
	rt := newRuntime(cfg, log)
	d, err := newDaemon(rt)
	if err != nil {
		fmt.Fprintf(stderr, "fleetwarden: %v\n", err)
		return 1
	}
	defer d.close()
	if cfg.Console.On(isTerminal(stdin)) {
		d.console = console.New(stdin, stdout, d.handler)
	}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "fleetwarden: %v\n", err)
		return 1
	}
	return 0
}

// daemon is fleetwarden running: the watchdog loop, the transports and the
// journal.
type daemon struct {
	rt      *runtime
	log     *slog.Logger
	journal *audit.Journal
	handler *commands.Handler
	console *console.Console
}

func newDaemon(rt *runtime) (*daemon, error) {
	j, err := audit.Open(rt.cfg.State.Dir, audit.Options{
		MaxBytes: int64(rt.cfg.State.JournalMaxMB) << 20,
		Keep:     rt.cfg.State.JournalKeep,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the journal: %w", err)
	}
	h := commands.NewHandler(commands.Options{ACL: rt.acl, Audit: j, Log: rt.log})
	commands.RegisterFleet(h, rt.fleet, rt.credentialStatuses)
	return &daemon{rt: rt, log: rt.log, journal: j, handler: h}, nil
}

func (d *daemon) close() {
	if err := d.journal.Close(); err != nil {
		d.log.Error("closing the journal", "err", err)
	}
}

func (d *daemon) run(ctx context.Context) error {
	_ = d.journal.Append(audit.Record{Kind: audit.KindStart, Actor: "fleetwarden", Message: "fleetwarden " + version + " started"})
	defer func() {
		_ = d.journal.Append(audit.Record{Kind: audit.KindStop, Actor: "fleetwarden", Message: "fleetwarden stopped"})
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if d.console != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.console.Run(ctx); err != nil {
				d.log.Error("console", "err", err)
			}
			// The terminal closed (Ctrl-D): the person wants out.
			cancel()
		}()
	}
	d.watch(ctx)
	wg.Wait()
	return nil
}

// watch scans every watchdog.interval and reports transitions.
func (d *daemon) watch(ctx context.Context) {
	interval := d.rt.cfg.Watchdog.Interval.Duration
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var prev []fleet.Status
	for {
		scanCtx, cancel := context.WithTimeout(ctx, interval+5*time.Second)
		next, err := d.rt.fleet.Scan(scanCtx)
		cancel()
		if err != nil {
			d.log.Error("scan", "err", err)
		} else {
			for _, tr := range fleet.Diff(prev, next) {
				d.transition(ctx, tr)
			}
			prev = next
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *daemon) transition(ctx context.Context, tr fleet.Transition) {
	d.log.Info("transition", "agent", tr.Agent, "from", tr.From.State, "to", tr.To.State,
		"reason", tr.To.Reason, "evidence", tr.To.Evidence)
	_ = d.journal.Append(audit.Record{Kind: audit.KindTransition, Agents: []string{tr.Agent},
		From: string(tr.From.State), To: string(tr.To.State), Reason: string(tr.To.Reason), Message: tr.To.Evidence})
	if d.console != nil && !tr.To.Healthy() {
		msg := fmt.Sprintf("%s %s: %s", commands.Icon(tr.To.State), tr.Agent, tr.To.State)
		if tr.To.Reason != "" {
			msg += " (" + string(tr.To.Reason) + ")"
		}
		if tr.To.Evidence != "" {
			msg += " — " + tr.To.Evidence
		}
		_ = d.console.Notify(ctx, msg)
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

package fleet

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// Condition kinds beyond the agent states: derived from time.
const (
	KindStuck  = "stuck"  // working, but the pane has not changed for StuckAfter
	KindSilent = "silent" // needs_input for longer than InputAfter
)

// Event says a condition of an agent began (Active) or ended.
type Event struct {
	Time         time.Time
	Agent        string
	Kind         string // auth_failed, api_error, exited, needs_input, stuck, silent
	Reason       string
	Evidence     string
	Active       bool
	ReloginFixes bool
	WasWorking   bool
}

// WatchOptions configure the watchdog.
type WatchOptions struct {
	Interval   time.Duration // periodic scan; default 10s
	StuckAfter time.Duration // default 20m
	InputAfter time.Duration // default 10m
	// OnScan sees every scan's result (dashboard, metrics).
	OnScan func(sts []Status, took time.Duration)
	// OnTransition sees every state change.
	OnTransition func(Transition)
	// OnEvent sees conditions beginning and ending (the alert feed).
	OnEvent func(Event)
	Log     *slog.Logger
}

// Watchdog scans the fleet periodically and whenever kicked, and turns
// state changes into events.
type Watchdog struct {
	f    *Fleet
	o    WatchOptions
	kick chan struct{}

	mu     sync.Mutex
	active map[string]Event // agent/kind → the active condition
	prev   []Status
}

// NewWatchdog returns a watchdog over f.
func NewWatchdog(f *Fleet, o WatchOptions) *Watchdog {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = 20 * time.Minute
	}
	if o.InputAfter <= 0 {
		o.InputAfter = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Watchdog{f: f, o: o, kick: make(chan struct{}, 1), active: map[string]Event{}}
}

// Kick asks for a scan as soon as possible (tmux activity, a command).
func (w *Watchdog) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run scans until ctx is done.
func (w *Watchdog) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		w.ScanOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// ScanOnce runs one scan and emits what changed.
func (w *Watchdog) ScanOnce(ctx context.Context) []Status {
	start := w.f.opt.Now()
	sctx, cancel := context.WithTimeout(ctx, w.o.Interval+10*time.Second)
	next, err := w.f.Scan(sctx)
	cancel()
	if ctx.Err() != nil {
		return nil // shutting down: a cut-short scan says nothing about the agents
	}
	if err != nil {
		w.o.Log.Error("scan", "err", err)
		return nil
	}
	now := w.f.opt.Now()
	took := now.Sub(start)
	w.mu.Lock()
	trs := Diff(w.prev, next)
	w.prev = next
	events := w.conditionsLocked(next, now)
	w.mu.Unlock()
	if w.o.OnScan != nil {
		w.o.OnScan(next, took)
	}
	for _, tr := range trs {
		if w.o.OnTransition != nil {
			w.o.OnTransition(tr)
		}
	}
	for _, ev := range events {
		if w.o.OnEvent != nil {
			w.o.OnEvent(ev)
		}
	}
	return next
}

// conditionsLocked compares the active conditions with the new scan.
func (w *Watchdog) conditionsLocked(sts []Status, now time.Time) []Event {
	cur := map[string]Event{}
	for _, s := range sts {
		for _, ev := range conditionsOf(s, now, w.o) {
			cur[s.Name+"/"+ev.Kind] = ev
		}
	}
	var out []Event
	for k, old := range w.active {
		ev, still := cur[k]
		if !still || ev.Reason != old.Reason {
			old.Active, old.Time = false, now
			out = append(out, old)
		}
	}
	for k, ev := range cur {
		old, was := w.active[k]
		if !was || old.Reason != ev.Reason {
			out = append(out, ev)
		}
	}
	w.active = cur
	// Ends before begins, then by agent: a stable order for the alert feed.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Active != out[j].Active {
			return !out[i].Active
		}
		return out[i].Agent < out[j].Agent
	})
	return out
}

func conditionsOf(s Status, now time.Time, o WatchOptions) []Event {
	ev := Event{Time: now, Agent: s.Name, Reason: string(s.Reason), Evidence: s.Evidence, Active: true, WasWorking: s.Working}
	switch s.State {
	case claude.AuthFailed, claude.APIError, claude.Exited, claude.NeedsInput:
		ev.Kind = string(s.State)
		ev.ReloginFixes = s.State == claude.AuthFailed && s.Reason.ReloginFixes()
		out := []Event{ev}
		if s.State == claude.NeedsInput && !s.Since.IsZero() && now.Sub(s.Since) >= o.InputAfter {
			silent := ev
			silent.Kind = KindSilent
			silent.Reason = ""
			out = append(out, silent)
		}
		return out
	case claude.Working:
		if !s.Changed.IsZero() && now.Sub(s.Changed) >= o.StuckAfter {
			ev.Kind = KindStuck
			ev.Reason = ""
			return []Event{ev}
		}
	}
	return nil
}

package fleet

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/backoff"
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
	// OnScan sees every scan's result (dashboard, metrics), after the
	// scan's transitions and events have been handed on.
	OnScan func(sts []Status, took time.Duration)
	// OnTransition sees every state change.
	OnTransition func(Transition)
	// OnEvent sees conditions beginning and ending (the alert feed).
	OnEvent func(Event)
	Log     *slog.Logger

	// Activity, when set, makes detection event-driven: a control-mode
	// client per tmux session reports every pane that writes, and those
	// panes are re-classified after Debounce. The periodic scan stays as a
	// safety net.
	Activity Activity
	// Remote is the Activity of other hosts' tmux servers, by host name
	// (control mode over SSH). An event scan lists only the hosts whose
	// panes wrote, so a hung host holds up no one else's.
	Remote   map[string]Activity
	Debounce time.Duration // default 75ms
}

// Activity reports pane output of one tmux session until ctx ends or the
// session goes away (tmux.Client.Watch).
type Activity interface {
	Watch(ctx context.Context, session string, onOutput func(paneID string)) error
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

	scanMu sync.Mutex // one scan at a time: transitions are computed in order

	dmu       sync.Mutex
	dirty     map[string]bool // PaneKeys of panes that wrote since the last event scan
	armed     bool
	dirtyCh   chan struct{}
	agentPane map[string]bool // PaneKeys of agents' panes, from the last scan
	sessions  map[string]context.CancelFunc
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
	if o.Debounce <= 0 {
		o.Debounce = 75 * time.Millisecond
	}
	return &Watchdog{f: f, o: o, kick: make(chan struct{}, 1), active: map[string]Event{},
		dirty: map[string]bool{}, dirtyCh: make(chan struct{}, 1), agentPane: map[string]bool{},
		sessions: map[string]context.CancelFunc{}}
}

// Kick asks for a scan as soon as possible (tmux activity, a command).
func (w *Watchdog) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run scans until ctx is done: every Interval, when kicked, and — with
// Activity — whenever an agent's pane writes.
func (w *Watchdog) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	defer w.stopSessions()
	w.ScanOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.o.Activity != nil {
				w.scan(ctx, map[string]bool{}, w.wrote) // safety net: only panes due a look
			} else {
				w.ScanOnce(ctx)
			}
		case <-w.kick:
			w.ScanOnce(ctx)
		case <-w.dirtyCh:
			w.dmu.Lock()
			dirty := w.dirty
			w.dirty = map[string]bool{}
			w.dmu.Unlock()
			if len(dirty) > 0 {
				w.scan(ctx, dirty, nil)
			}
		}
	}
}

// ScanOnce runs one full scan (every pane captured) and emits what changed.
func (w *Watchdog) ScanOnce(ctx context.Context) []Status { return w.scan(ctx, nil, nil) }

// scan runs one scan under scanMu. With yield, it is the safety scan,
// which gives way to panes that write (Fleet.ScanSafety): an event scan
// waits behind it for one capture, not for its whole batch.
func (w *Watchdog) scan(ctx context.Context, dirty map[string]bool, yield func() bool) []Status {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	start := w.f.opt.Now()
	sctx, cancel := context.WithTimeout(ctx, w.o.Interval+10*time.Second)
	var next []Status
	var err error
	if yield != nil {
		next, err = w.f.ScanSafety(sctx, yield)
	} else {
		next, err = w.f.ScanDirty(sctx, dirty)
	}
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
	if w.o.Activity != nil || len(w.o.Remote) > 0 {
		w.follow(ctx, next)
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
	if w.o.OnScan != nil {
		w.o.OnScan(next, took)
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
		// A login failure lasts until the agent works again: Claude Code
		// exiting, or its login screen, does not fix it (and the failure
		// explains the exit, which it mutes).
		key := s.Name + "/" + string(claude.AuthFailed)
		if old, ok := w.active[key]; ok && !s.Healthy() && s.State != claude.AuthFailed && s.State != claude.APIError {
			if _, set := cur[key]; !set {
				cur[key] = old
			}
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
	// Ends before begins, then by agent and kind: a stable order for the alert feed.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Active != out[j].Active {
			return !out[i].Active
		}
		if out[i].Agent != out[j].Agent {
			return out[i].Agent < out[j].Agent
		}
		return out[i].Kind < out[j].Kind
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

// follow keeps one control-mode client on every local session that holds an
// agent, and notes which panes are agents'.
func (w *Watchdog) follow(ctx context.Context, sts []Status) {
	panes := map[string]bool{}
	want := map[string]bool{}
	for _, s := range sts {
		if s.PaneID == "" || s.Session == "" || w.activity(s.Host) == nil {
			continue
		}
		panes[PaneKey(s.Host, s.PaneID)] = true
		want[s.Host+"\x00"+s.Session] = true
	}
	w.dmu.Lock()
	defer w.dmu.Unlock()
	w.agentPane = panes
	for sess, cancel := range w.sessions {
		if !want[sess] {
			cancel()
			delete(w.sessions, sess)
		}
	}
	for key := range want {
		if _, ok := w.sessions[key]; ok {
			continue
		}
		host, sess, _ := strings.Cut(key, "\x00")
		sctx, cancel := context.WithCancel(ctx)
		w.sessions[key] = cancel
		go w.watchSession(sctx, w.activity(host), host, sess)
	}
}

func (w *Watchdog) activity(host string) Activity {
	if host == "" {
		return w.o.Activity
	}
	return w.o.Remote[host]
}

// watchSession runs the control client of one session, reconnecting with
// backoff when it dies, until ctx ends.
func (w *Watchdog) watchSession(ctx context.Context, act Activity, host, session string) {
	bo := backoff.New(100*time.Millisecond, 30*time.Second)
	onOutput := func(paneID string) { w.output(PaneKey(host, paneID)) }
	for ctx.Err() == nil {
		start := time.Now()
		err := act.Watch(ctx, session, onOutput)
		if ctx.Err() != nil {
			return
		}
		w.o.Log.Debug("control client ended", "session", session, "err", err)
		// Something changed (session gone, server restarted): look again now.
		w.Kick()
		if time.Since(start) > 10*time.Second {
			bo.Reset() // it ran a while: a new failure starts small again
		}
		if !bo.Wait(ctx) {
			return
		}
	}
}

// wrote says an agent's pane wrote since the last event scan.
func (w *Watchdog) wrote() bool {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	return len(w.dirty) > 0
}

// output marks an agent's pane (by PaneKey) dirty and schedules an event scan.
func (w *Watchdog) output(key string) {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if !w.agentPane[key] {
		return
	}
	w.dirty[key] = true
	if w.armed {
		return
	}
	w.armed = true
	time.AfterFunc(w.o.Debounce, func() {
		w.dmu.Lock()
		w.armed = false
		w.dmu.Unlock()
		select {
		case w.dirtyCh <- struct{}{}:
		default:
		}
	})
}

func (w *Watchdog) stopSessions() {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	for sess, cancel := range w.sessions {
		cancel()
		delete(w.sessions, sess)
	}
}

package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// Journal records what the manager did. It must be safe for concurrent use
// (audit.Journal is).
type Journal interface {
	Append(audit.Record) error
}

// Route delivers a notification somewhere. Deliver must honour ctx.
type Route interface {
	Name() string
	Deliver(ctx context.Context, n Notification) error
}

// Options configure a Manager. Zero durations pick the defaults.
type Options struct {
	GroupWait      time.Duration // default 10s
	RepeatInterval time.Duration // default 1h; negative: never repeat
	FallbackAfter  time.Duration // default 30s
	Primary        []Route       // chat transports, all tried
	Fallback       []Route       // tried in order when no primary route delivered (error or not within FallbackAfter)
	// Mirrors see every notification as it is sent (the terminal), once,
	// without queue or retry. They tell nobody away from the machine, so
	// they never count as delivered: the fallbacks are tried all the same.
	Mirrors  []Route
	QueueDir string // pending deliveries, one file per (notification, route), and the silences; survives restarts
	// Now is the clock. It must agree with the timers (time.Now, which
	// testing/synctest fakes); default time.Now.
	Now             func() time.Time
	Log             *slog.Logger
	Journal         Journal // may be nil
	OnUndeliverable func(n Notification, errs []error)
	RetryMin        time.Duration // backoff of queued retries, default 5s
	RetryMax        time.Duration // default 5m
	DeliveryTimeout time.Duration // one attempt on one route; default 1m
	ShutdownGrace   time.Duration // Run's flush after ctx is done; default 5s
}

// Stats counts what the manager did, for metrics.
type Stats struct {
	Fired, Repeated, Resolved int // notifications made (a firing update counts as fired)
	Undeliverable             int // notifications no route delivered in time
	Routes                    map[string]RouteStats
}

// RouteStats counts the delivery attempts of one route.
type RouteStats struct {
	Delivered, Failed int
	Queued            int // waiting now
}

// Manager runs the alert lifecycle. Its methods are safe for concurrent use.
type Manager struct {
	o     Options
	log   *slog.Logger
	q     *queue
	wake  chan struct{}
	prim  []*routeQ
	fall  []*routeQ
	byNme map[string]*routeQ

	dispatches sync.WaitGroup

	mu        sync.Mutex
	running   bool
	conds     map[condKey]*cond
	alerts    map[string]*alertState
	silences  []Silence
	silSeq    int
	seq       uint64 // order of queue entries, across restarts
	stats     Stats
	reached   map[string][]string  // notification ID → routes that delivered it
	delivered map[string]time.Time // dedupKey → when, so no route gets a notification twice

	synced      bool      // the observed conditions are complete (see Synced)
	settleBy    time.Time // restored alerts stop waiting for Synced then
	restoredAt  time.Time // when the firing alerts were restored
	savedFiring []byte    // what firing.json holds
}

// condKey names one condition: an agent's kind, or for fleet-level events
// (Agent "") kind and reason, so two transports can be down at once.
type condKey struct {
	agent  string
	kind   Kind
	reason string
}

type cond struct {
	reason       string
	evidence     string
	since        time.Time // the event's time
	seen         time.Time // manager clock when it was last refreshed
	reloginFixes bool
}

type alertState struct {
	key      string
	kind     Kind
	reason   string
	oneShot  bool // info: fire once, no repeat, no resolved
	restored bool // fired before a restart; waits for the first scan
	endSeen  bool // restored: an explicit end of its condition came in
	episode  string
	seq      int

	startsAt   time.Time
	groupUntil time.Time // until fired: when the group wait ends
	fired      bool
	nextRepeat time.Time
	updateAt   time.Time // newcomers wait until then

	audible      []string        // holding and not muted, as of the last evaluation
	notified     map[string]bool // named in a notification, still holding, not muted since
	announced    map[string]bool // named in a notification this episode and not muted since
	evidence     string
	evidenceSeen time.Time
	reloginFixes bool
	members      map[string]bool // oneShot: agents collected
	last         Notification
}

// New makes a manager and loads the queue and the silences from QueueDir.
func New(o Options) (*Manager, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		o:         o,
		log:       o.Log,
		wake:      make(chan struct{}, 1),
		byNme:     map[string]*routeQ{},
		conds:     map[condKey]*cond{},
		alerts:    map[string]*alertState{},
		reached:   map[string][]string{},
		delivered: map[string]time.Time{},
		stats:     Stats{Routes: map[string]RouteStats{}},
	}
	if err := m.addRoutes(o); err != nil {
		return nil, err
	}
	if err := m.load(o.QueueDir); err != nil {
		return nil, err
	}
	return m, nil
}

// withDefaults checks o and fills what was left zero.
func (o Options) withDefaults() (Options, error) {
	if o.QueueDir == "" {
		return o, errors.New("alert: no queue directory given (it keeps undelivered alerts across restarts)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"group wait", o.GroupWait}, {"fallback_after", o.FallbackAfter}, {"retry minimum", o.RetryMin},
		{"retry maximum", o.RetryMax}, {"delivery timeout", o.DeliveryTimeout}, {"shutdown grace", o.ShutdownGrace}} {
		if d.v < 0 {
			return o, fmt.Errorf("alert: %s must not be negative, got %v", d.name, d.v)
		}
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.GroupWait, 10*time.Second)
	def(&o.RepeatInterval, time.Hour)
	def(&o.FallbackAfter, 30*time.Second)
	def(&o.RetryMin, 5*time.Second)
	def(&o.RetryMax, 5*time.Minute)
	def(&o.DeliveryTimeout, time.Minute)
	def(&o.ShutdownGrace, 5*time.Second)
	if o.RetryMin > o.RetryMax {
		return o, fmt.Errorf("alert: retry minimum %v is above the maximum %v", o.RetryMin, o.RetryMax)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// addRoutes gives each primary and fallback route its queue, refusing
// nameless, nil and same-named routes.
func (m *Manager) addRoutes(o Options) error {
	add := func(r Route, fallback bool) error {
		if r == nil {
			return errors.New("alert: a route is nil")
		}
		name := r.Name()
		if name == "" {
			return errors.New("alert: a route has no name")
		}
		if m.byNme[name] != nil {
			return fmt.Errorf("alert: two routes are named %q", name)
		}
		rq := &routeQ{route: r, name: name, fallback: fallback, sem: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
		m.byNme[name] = rq
		m.stats.Routes[name] = RouteStats{}
		if fallback {
			m.fall = append(m.fall, rq)
		} else {
			m.prim = append(m.prim, rq)
		}
		return nil
	}
	for _, r := range o.Primary {
		if err := add(r, false); err != nil {
			return err
		}
	}
	for _, r := range o.Fallback {
		if err := add(r, true); err != nil {
			return err
		}
	}
	switch {
	case len(m.byNme) == 0 && len(o.Mirrors) > 0:
		m.log.Warn("alert: no chat transport and no alert route: alerts show only here")
	case len(m.byNme) == 0:
		m.log.Warn("alert: no routes: every alert will be undeliverable")
	}
	return nil
}

// load reads back what a previous run left: the queue, the silences and
// the alerts that were firing.
func (m *Manager) load(dir string) error {
	q, err := openQueue(dir)
	if err != nil {
		return err
	}
	m.q = q
	if err := m.loadQueue(); err != nil {
		return err
	}
	if err := m.loadSilences(); err != nil {
		return err
	}
	return m.loadFiring()
}

func (m *Manager) now() time.Time { return m.o.Now() }

// poke wakes Run to re-evaluate.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) journal(r audit.Record) {
	if m.o.Journal == nil {
		return
	}
	if r.Actor == "" {
		r.Actor = "fleetwarden"
	}
	if err := m.o.Journal.Append(r); err != nil {
		m.log.Warn("alert: journal append failed", "kind", r.Kind, "action", r.Action, "err", err)
	}
}

// Observe takes one state change. It never blocks on delivery; Run acts on it.
func (m *Manager) Observe(ev Event) {
	now := m.now()
	if ev.Time.IsZero() {
		ev.Time = now
	}
	m.mu.Lock()
	if ev.Kind == KindInfo {
		m.observeInfo(ev, now)
	} else {
		m.observeCond(ev, now)
	}
	m.mu.Unlock()
	m.poke()
}

func (m *Manager) observeCond(ev Event, now time.Time) {
	key := condKey{agent: ev.Agent, kind: ev.Kind}
	if ev.Agent == "" {
		key.reason = ev.Reason
	}
	if !ev.Active {
		if ev.Agent == "" {
			m.endSeenLocked(ev.Kind, ev.Reason)
		}
		if ev.Agent == "" && ev.Reason == "" {
			for k := range m.conds {
				if k.agent == "" && k.kind == ev.Kind {
					delete(m.conds, k)
				}
			}
			return
		}
		// An end that names another reason is stale: the condition moved on.
		if c := m.conds[key]; c != nil && (ev.Reason == "" || ev.Reason == c.reason) {
			delete(m.conds, key)
		}
		return
	}
	c := m.conds[key]
	if c == nil || c.reason != ev.Reason {
		c = &cond{reason: ev.Reason, since: ev.Time}
		m.conds[key] = c
	}
	c.evidence = evidenceLine(ev.Evidence)
	c.seen = now
	c.reloginFixes = ev.ReloginFixes
}

func (m *Manager) observeInfo(ev Event, now time.Time) {
	if !ev.Active {
		return // a notice has nothing to clear
	}
	key := alertKey(KindInfo, ev.Reason)
	st := m.alerts[key]
	if st == nil {
		st = m.newAlert(key, KindInfo, ev.Reason, now, ev.Time)
		st.oneShot = true
		st.members = map[string]bool{}
		m.alerts[key] = st
	}
	st.members[ev.Agent] = true
	if e := evidenceLine(ev.Evidence); e != "" {
		st.evidence = e
	}
}

func alertKey(k Kind, reason string) string {
	if reason == "" {
		return string(k)
	}
	return string(k) + "/" + reason
}

func (m *Manager) newAlert(key string, k Kind, reason string, now, startsAt time.Time) *alertState {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &alertState{
		key: key, kind: k, reason: reason, episode: hex.EncodeToString(b[:]),
		startsAt: startsAt, groupUntil: now.Add(m.o.GroupWait),
		notified: map[string]bool{}, announced: map[string]bool{},
	}
}

// told notes that agents were named in a notification sent at now.
func (m *Manager) told(st *alertState, agents []string, now time.Time) {
	for _, a := range agents {
		st.notified[a] = true
		st.announced[a] = true
	}
	st.updateAt = time.Time{}
	st.nextRepeat = now.Add(m.o.RepeatInterval)
}

// note makes the next notification of an alert.
func (m *Manager) note(st *alertState, status string, agents, added []string, now time.Time) Notification {
	st.seq++
	names := named(agents)
	n := Notification{
		ID:       fmt.Sprintf("%s.%s.%d.%s", fileSafe(st.key), st.episode, st.seq, status),
		AlertKey: st.key,
		Status:   status,
		Severity: severityOf(st.kind),
		Kind:     st.kind,
		Reason:   st.reason,
		Agents:   names,
		Added:    named(added),
		Summary:  summary(st.kind, st.reason, status, names),
		Evidence: st.evidence,
		StartsAt: st.startsAt,
		Time:     now,
	}
	if status == StatusResolved {
		n.EndsAt = now
	} else {
		n.Remedy = remedy(st.kind, st.reason, st.evidence, names, st.reloginFixes)
	}
	st.last = n
	return n
}

// fileSafe keeps letters, digits, '.', '_' and '-'; anything else becomes '_'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// Run drives the timers (group wait, repeat, silences, retries) until ctx
// is done, then tries what is queued once more within ShutdownGrace and
// returns. What is still undelivered stays on disk for the next start.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("alert: Run is already running")
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	// Deliveries live a little longer than ctx: the shutdown grace.
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	m.resumeDispatches(life)
	var workers sync.WaitGroup
	for _, rq := range m.routes() {
		workers.Go(func() { m.work(life, rq) })
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		notes, next, ended := m.evaluate(m.now())
		if len(ended) > 0 {
			m.silencesEnded(ended)
		}
		for _, n := range notes {
			m.send(life, n)
		}
		// After send has queued them on disk: a crash in between must not
		// leave an alert marked announced that no route will ever carry.
		m.saveFiring()
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(next.Sub(m.now()), 0))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			grace, cancel := context.WithTimeout(life, m.o.ShutdownGrace)
			m.Flush(grace)
			done := make(chan struct{})
			go func() { m.dispatches.Wait(); close(done) }()
			select {
			case <-done:
			case <-grace.Done():
			}
			cancel()
			stop()
			workers.Wait()
			<-done
			return nil
		case <-m.wake:
			timer.Stop()
		case <-tc:
		}
	}
}

func (m *Manager) routes() []*routeQ {
	return append(append([]*routeQ(nil), m.prim...), m.fall...)
}

// Firing lists the alerts announced and holding now, with the agents that
// are not muted. Reached names the routes that delivered the latest
// notification of each.
func (m *Manager) Firing() []Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Notification
	for _, st := range m.alerts {
		if !st.fired || st.oneShot || len(st.audible) == 0 {
			continue
		}
		n := st.last
		n.Status = StatusFiring
		n.Agents = named(st.audible)
		n.Added = nil
		n.Summary = summary(st.kind, st.reason, StatusFiring, n.Agents)
		n.Remedy = remedy(st.kind, st.reason, st.evidence, n.Agents, st.reloginFixes)
		n.Evidence = st.evidence
		n.EndsAt = time.Time{}
		n.Reached = append([]string(nil), m.reached[st.last.ID]...)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].StartsAt.Equal(out[j].StartsAt) {
			return out[i].AlertKey < out[j].AlertKey
		}
		return out[i].StartsAt.Before(out[j].StartsAt)
	})
	return out
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Routes = make(map[string]RouteStats, len(m.stats.Routes))
	for name, rs := range m.stats.Routes {
		if rq := m.byNme[name]; rq != nil {
			rs.Queued = len(rq.entries)
		}
		s.Routes[name] = rs
	}
	return s
}

package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/internal/backoff"
	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// ErrNoAnswer marks a route that did not answer within FallbackAfter.
var ErrNoAnswer = errors.New("no answer in time")

// routeQ is one route and its queue of pending deliveries, oldest first.
// One round of attempts runs at a time (sem), so a route gets its
// notifications in order and never the same one twice.
type routeQ struct {
	route    Route
	name     string
	fallback bool
	sem      chan struct{} // held by the round in progress
	kick     chan struct{} // ask the worker for a round now

	// under Manager.mu
	entries []*entry
	fails   int // rounds in a row with a failure
	nextTry time.Time
}

// entry is one (notification, route) waiting to be delivered.
type entry struct {
	file   string
	rec    queued
	waiter chan<- result // the dispatch waiting for the first outcome, if any
}

// queued is what an entry keeps on disk.
type queued struct {
	Route        string       `json:"route"`
	Seq          uint64       `json:"seq"`
	Created      time.Time    `json:"created"`
	Attempts     int          `json:"attempts"`
	LastTry      time.Time    `json:"last_try,omitzero"`
	LastError    string       `json:"last_error,omitempty"`
	Notification Notification `json:"notification"`
	// Reached names the routes that delivered this notification already,
	// as of the last attempt: a restart does not send it there again.
	Reached []string `json:"reached,omitempty"`
}

type result struct {
	route string
	err   error // nil: delivered
}

func dedupKey(id, route string) string { return id + "\x00" + route }

func action(status string) string {
	switch status {
	case StatusRepeat:
		return "repeated"
	case StatusResolved:
		return "resolved"
	}
	return "fired"
}

// send records a notification, queues it on every primary route and
// follows it through the fallbacks in the background.
func (m *Manager) send(life context.Context, n Notification) {
	m.log.Info("alert", "status", n.Status, "alert", n.AlertKey, "agents", len(n.Agents), "summary", n.Summary)
	m.journal(audit.Record{Time: n.Time, Kind: audit.KindAlert, Agents: n.Agents, Action: action(n.Status),
		Reason: n.Reason, Message: n.Summary,
		Fields: map[string]string{"id": n.ID, "alert": n.AlertKey, "severity": string(n.Severity)}})
	for _, r := range m.o.Mirrors {
		m.dispatches.Add(1)
		go func() {
			defer m.dispatches.Done()
			ctx, cancel := context.WithTimeout(life, m.o.DeliveryTimeout)
			defer cancel()
			if err := r.Deliver(ctx, n); err != nil {
				m.log.Warn("alert: mirror", "route", r.Name(), "err", err)
			}
		}()
	}
	if len(m.prim)+len(m.fall) == 0 {
		return // nowhere to deliver it (New warned)
	}
	res := make(chan result, len(m.prim)+len(m.fall)+1)
	names := make([]string, 0, len(m.prim))
	for _, rq := range m.prim {
		m.enqueue(n, rq, res)
		names = append(names, rq.name)
	}
	m.dispatches.Add(1)
	go func() {
		defer m.dispatches.Done()
		m.dispatch(life, n, res, names)
	}()
}

// dispatch waits for the primary routes, then walks the fallbacks until one
// delivers; when none does, OnUndeliverable hears of it.
func (m *Manager) dispatch(ctx context.Context, n Notification, res chan result, primary []string) {
	ok, errs := m.await(ctx, res, primary)
	for _, rq := range m.fall {
		if ok || ctx.Err() != nil {
			break
		}
		m.enqueue(n, rq, res)
		var more []error
		ok, more = m.await(ctx, res, []string{rq.name})
		errs = append(errs, more...)
	}
	if ok || ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	m.stats.Undeliverable++
	m.mu.Unlock()
	m.log.Error("alert undeliverable on every route; queued for retry", "alert", n.AlertKey, "id", n.ID, "err", errors.Join(errs...))
	if m.o.OnUndeliverable != nil {
		m.o.OnUndeliverable(n, errs)
	}
}

// await waits for the first outcome of each named route, FallbackAfter at
// most. Any delivery counts, even a late one from an earlier stage.
func (m *Manager) await(ctx context.Context, res <-chan result, routes []string) (bool, []error) {
	if len(routes) == 0 {
		return false, nil
	}
	left := map[string]bool{}
	for _, r := range routes {
		left[r] = true
	}
	t := time.NewTimer(m.o.FallbackAfter)
	defer t.Stop()
	var errs []error
	for len(left) > 0 {
		select {
		case r := <-res:
			if r.err == nil {
				return true, errs
			}
			if left[r.route] {
				delete(left, r.route)
				errs = append(errs, r.err)
			}
		case <-t.C:
			for _, name := range routes {
				if left[name] {
					errs = append(errs, fmt.Errorf("%s: %w within %v", name, ErrNoAnswer, m.o.FallbackAfter))
				}
			}
			return false, errs
		case <-ctx.Done():
			return false, errs
		}
	}
	return false, errs
}

// enqueue writes (n, route) to disk, adds it to the route's queue and asks
// for a round now. w hears the first outcome.
func (m *Manager) enqueue(n Notification, rq *routeQ, w chan<- result) {
	k := dedupKey(n.ID, rq.name)
	m.mu.Lock()
	if _, done := m.delivered[k]; done {
		m.mu.Unlock()
		w <- result{route: rq.name}
		return
	}
	for _, e := range rq.entries {
		if e.rec.Notification.ID == n.ID {
			e.waiter = w
			m.mu.Unlock()
			m.kickRoute(rq)
			return
		}
	}
	m.seq++
	e := &entry{file: queueFile(n.ID, rq.name), waiter: w,
		rec: queued{Route: rq.name, Seq: m.seq, Created: m.now(), Notification: n}}
	m.mu.Unlock()
	// On disk before anyone may try it: a crash from here on loses nothing.
	if err := m.q.write(e.file, e.rec); err != nil {
		m.log.Error("alert: cannot queue on disk; delivering from memory only", "route", rq.name, "err", err)
	}
	m.mu.Lock()
	rq.entries = append(rq.entries, e)
	m.mu.Unlock()
	m.kickRoute(rq)
}

func (m *Manager) kickRoute(rq *routeQ) {
	select {
	case rq.kick <- struct{}{}:
	default:
	}
}

// work runs rounds for one route: when kicked, and when its backoff ends.
func (m *Manager) work(ctx context.Context, rq *routeQ) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for ctx.Err() == nil {
		m.mu.Lock()
		pending, next := len(rq.entries) > 0, rq.nextTry
		m.mu.Unlock()
		var tc <-chan time.Time
		if pending {
			t.Reset(max(next.Sub(m.now()), 0))
			tc = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-rq.kick:
		case <-tc:
		}
		t.Stop()
		m.round(ctx, rq)
	}
}

// round tries the route's queue in order. Two failures in a row mean the
// route is down: the rest wait for the next round, and their dispatches are
// told at once so they can fall back. A round with a failure backs off.
func (m *Manager) round(ctx context.Context, rq *routeQ) {
	select {
	case rq.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-rq.sem }()
	tried := map[*entry]bool{}
	failed, inRow := false, 0
	var lastErr error
	for ctx.Err() == nil {
		m.mu.Lock()
		var e *entry
		for _, x := range rq.entries {
			if !tried[x] {
				e = x
				break
			}
		}
		if e != nil && inRow >= 2 {
			var ws []chan<- result
			for _, x := range rq.entries {
				if !tried[x] && x.waiter != nil {
					ws = append(ws, x.waiter)
					x.waiter = nil
				}
			}
			m.mu.Unlock()
			for _, w := range ws {
				w <- result{route: rq.name, err: fmt.Errorf("%s: not tried, the route is failing: %w", rq.name, lastErr)}
			}
			break
		}
		m.mu.Unlock()
		if e == nil {
			break
		}
		tried[e] = true
		if err := m.attempt(ctx, rq, e); err != nil {
			failed, lastErr = true, err
			inRow++
		} else {
			inRow = 0
		}
	}
	m.mu.Lock()
	if failed {
		rq.fails++
		rq.nextTry = m.now().Add(m.backoff(rq.fails))
	} else {
		rq.fails = 0
		rq.nextTry = time.Time{}
	}
	m.mu.Unlock()
}

// backoff doubles from RetryMin up to RetryMax (fails counts from 1), ±20%
// (backoff.Around) so that routes and restarts do not retry in step.
func (m *Manager) backoff(fails int) time.Duration {
	return backoff.Around(backoff.Ceiling(m.o.RetryMin, m.o.RetryMax, max(fails-1, 0)))
}

// attempt delivers one entry once, records the outcome on disk, in the
// journal and to its waiter.
func (m *Manager) attempt(ctx context.Context, rq *routeQ, e *entry) error {
	n := e.rec.Notification
	k := dedupKey(n.ID, rq.name)
	m.mu.Lock()
	_, done := m.delivered[k]
	m.mu.Unlock()
	var err error
	if !done {
		err = m.deliver(ctx, rq, n)
	}
	now := m.now()
	m.mu.Lock()
	e.rec.Attempts++
	e.rec.LastTry = now
	w := e.waiter
	e.waiter = nil
	rs := m.stats.Routes[rq.name]
	if err == nil {
		for i, x := range rq.entries {
			if x == e {
				rq.entries = append(rq.entries[:i:i], rq.entries[i+1:]...)
				break
			}
		}
		m.delivered[k] = now
		if !done {
			m.reached[n.ID] = append(m.reached[n.ID], rq.name)
			rs.Delivered++
		}
		m.pruneLocked(now)
	} else {
		e.rec.LastError = err.Error()
		e.rec.Reached = slices.Clone(m.reached[n.ID])
		rs.Failed++
	}
	m.stats.Routes[rq.name] = rs
	rec := e.rec
	m.mu.Unlock()

	if err == nil {
		if rerr := m.q.remove(e.file); rerr != nil {
			m.log.Warn("alert: cannot remove a delivered entry from the queue", "route", rq.name, "err", rerr)
		}
	} else {
		m.log.Warn("alert delivery failed; queued for retry", "route", rq.name, "alert", n.AlertKey, "attempt", rec.Attempts, "err", err)
		if werr := m.q.write(e.file, rec); werr != nil {
			m.log.Warn("alert: cannot update the queue on disk", "route", rq.name, "err", werr)
		}
	}
	if !done {
		// Journal before telling the waiter: a fallback it starts comes after.
		ok := err == nil
		r := audit.Record{Time: now, Kind: audit.KindDelivery, Agents: n.Agents, Action: action(n.Status), Route: rq.name,
			OK: &ok, Message: n.Summary, Fields: map[string]string{"id": n.ID, "attempt": strconv.Itoa(rec.Attempts)}}
		if err != nil {
			r.Error = err.Error()
		}
		m.journal(r)
	}
	if w != nil {
		w <- result{route: rq.name, err: err}
	}
	return err
}

// deliver calls the route with DeliveryTimeout. A route that ignores its
// context is left behind after the timeout rather than stalling the queue.
func (m *Manager) deliver(ctx context.Context, rq *routeQ, n Notification) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.DeliveryTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("route panicked: %v", p)
			}
		}()
		done <- rq.route.Deliver(ctx, n)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v: %w", m.o.DeliveryTimeout, err)
		}
		// Name the route once (ours do it themselves) and keep the error
		// chain unless a token has to be cut out of it.
		msg := err.Error()
		prefix := rq.name + ": "
		if strings.HasPrefix(msg, prefix) {
			prefix = ""
		}
		if redact.String(msg) != msg {
			return errors.New(prefix + redact.String(msg))
		}
		if prefix == "" {
			return err
		}
		return fmt.Errorf("%s%w", prefix, err)
	}
	return nil
}

// pruneLocked forgets deliveries older than a day: their notifications
// were made by this process and are long done.
func (m *Manager) pruneLocked(now time.Time) {
	if len(m.delivered) < 1024 {
		return
	}
	for k, t := range m.delivered {
		if now.Sub(t) > 24*time.Hour {
			delete(m.delivered, k)
		}
	}
	for id := range m.reached {
		keep := false
		for _, st := range m.alerts {
			if st.last.ID == id {
				keep = true
			}
		}
		if !keep {
			delete(m.reached, id)
		}
	}
}

// Flush tries every queued delivery now, each route in order, until ctx
// is done. Run calls it on shutdown.
func (m *Manager) Flush(ctx context.Context) {
	done := make(chan struct{})
	n := 0
	for _, rq := range m.routes() {
		m.mu.Lock()
		pending := len(rq.entries) > 0
		m.mu.Unlock()
		if !pending {
			continue
		}
		n++
		go func() {
			m.round(ctx, rq)
			done <- struct{}{}
		}()
	}
	for range n {
		<-done
	}
}

// resumeDispatches follows the notifications a previous run left on the
// primary routes through the fallbacks again, as send does for new ones: a
// chat route that is still down must not keep them from every other route.
// Those already delivered somewhere are only retried where they wait.
func (m *Manager) resumeDispatches(life context.Context) {
	type pending struct {
		n      Notification
		routes []string
		res    chan result
	}
	var todo []*pending
	byID := map[string]*pending{}
	m.mu.Lock()
	for _, rq := range m.prim {
		for _, e := range rq.entries {
			if e.waiter != nil {
				continue
			}
			n := e.rec.Notification
			p := byID[n.ID]
			if p == nil {
				if m.deliveredAnywhereLocked(n.ID) {
					continue
				}
				p = &pending{n: n, res: make(chan result, len(m.prim)+len(m.fall)+1)}
				byID[n.ID] = p
				todo = append(todo, p)
			}
			e.waiter = p.res
			p.routes = append(p.routes, rq.name)
		}
	}
	m.mu.Unlock()
	for _, p := range todo {
		m.dispatches.Add(1)
		go func() {
			defer m.dispatches.Done()
			m.dispatch(life, p.n, p.res, p.routes)
		}()
	}
}

func (m *Manager) deliveredAnywhereLocked(id string) bool {
	for _, rq := range m.routes() {
		if _, ok := m.delivered[dedupKey(id, rq.name)]; ok {
			return true
		}
	}
	return false
}

// loadQueue puts the entries left on disk back in their routes' queues.
func (m *Manager) loadQueue() error {
	recs, files, err := m.q.load(m.log)
	if err != nil {
		return err
	}
	orphans := map[string]int{}
	for i, rec := range recs {
		rq := m.byNme[rec.Route]
		if rq == nil {
			orphans[rec.Route]++
			continue
		}
		rq.entries = append(rq.entries, &entry{file: files[i], rec: rec})
		m.seq = max(m.seq, rec.Seq)
		for _, r := range rec.Reached {
			if k := dedupKey(rec.Notification.ID, r); m.delivered[k].IsZero() {
				m.delivered[k] = rec.LastTry
				m.reached[rec.Notification.ID] = append(m.reached[rec.Notification.ID], r)
			}
		}
	}
	for _, rq := range m.byNme {
		sort.SliceStable(rq.entries, func(i, j int) bool {
			a, b := rq.entries[i].rec, rq.entries[j].rec
			if !a.Created.Equal(b.Created) {
				return a.Created.Before(b.Created)
			}
			return a.Seq < b.Seq
		})
	}
	for route, n := range orphans {
		m.log.Warn("alert: queued notifications for a route that is no longer configured stay on disk", "route", route, "count", n, "dir", m.o.QueueDir)
	}
	return nil
}

package alert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// fakeRoute stands in for a chat transport: it records what it receives
// and can be made to fail or to hang (until its context ends).
type fakeRoute struct {
	name string

	mu    sync.Mutex
	err   error
	hang  bool
	got   []Notification
	tries int
}

func newRoute(name string) *fakeRoute { return &fakeRoute{name: name} }

func (r *fakeRoute) Name() string { return r.name }

func (r *fakeRoute) Deliver(ctx context.Context, n Notification) error {
	r.mu.Lock()
	r.tries++
	err, hang := r.err, r.hang
	r.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
	return nil
}

// set makes the route fail with err (nil: work) or hang.
func (r *fakeRoute) set(err error, hang bool) {
	r.mu.Lock()
	r.err, r.hang = err, hang
	r.mu.Unlock()
}

func (r *fakeRoute) received() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notification(nil), r.got...)
}

func (r *fakeRoute) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

type memJournal struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (j *memJournal) Append(r audit.Record) error {
	j.mu.Lock()
	j.recs = append(j.recs, r)
	j.mu.Unlock()
	return nil
}

func (j *memJournal) of(kind audit.Kind) []audit.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []audit.Record
	for _, r := range j.recs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// env is a running manager inside a synctest bubble.
type env struct {
	m    *Manager
	j    *memJournal
	dir  string
	stop func()

	mu      sync.Mutex
	undeliv []Notification
	errs    [][]error
}

// start runs a manager; call inside synctest.Test and defer e.stop().
func start(t *testing.T, o Options) *env {
	t.Helper()
	e := &env{j: &memJournal{}}
	if o.QueueDir == "" {
		o.QueueDir = t.TempDir()
	}
	e.dir = o.QueueDir
	if o.Journal == nil {
		o.Journal = e.j
	}
	o.OnUndeliverable = func(n Notification, errs []error) {
		e.mu.Lock()
		e.undeliv = append(e.undeliv, n)
		e.errs = append(e.errs, errs)
		e.mu.Unlock()
	}
	m, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	synctest.Wait()
	return e
}

func (e *env) undeliverable() ([]Notification, [][]error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Notification(nil), e.undeliv...), append([][]error(nil), e.errs...)
}

// advance moves the bubble's fake clock by d and lets every goroutine
// settle. No real time passes.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// observe feeds an event and lets the manager act on it.
func observe(m *Manager, evs ...Event) {
	for _, ev := range evs {
		m.Observe(ev)
	}
	synctest.Wait()
}

func fail(agent string, k Kind, reason string) Event {
	return Event{Agent: agent, Kind: k, Reason: reason, Evidence: "evidence of " + agent, Active: true}
}

func cleared(agent string, k Kind) Event { return Event{Agent: agent, Kind: k, Active: false} }

func agentNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("a%02d", i))
	}
	return out
}

// brief shows notifications as "status key [agents]" for failure messages.
func brief(ns []Notification) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, fmt.Sprintf("%s %s %v", n.Status, n.AlertKey, n.Agents))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func statuses(ns []Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Status+" "+n.AlertKey)
	}
	return out
}

func ids(ns []Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func queueFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, queuePrefix+"*"+queueSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantNotes(t *testing.T, r *fakeRoute, want ...string) []Notification {
	t.Helper()
	got := r.received()
	if !slices.Equal(statuses(got), want) {
		t.Fatalf("%s received %v, want %v", r.name, brief(got), want)
	}
	return got
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Package scheduler runs periodic jobs on cron specs, over robfig/cron/v3.
// It runs what it is given (today the daemon's auth check, which sends the
// expiry warnings, and the morning report); the jobs live with their owners,
// and the heartbeat is not a cron job but its own ticker in the daemon.
//
// Every job runs behind cron.SkipIfStillRunning then cron.Recover: a slow run
// is never overlapped, and a panic is logged and the job fires again next
// time. (In the other order a panic skips giving back the running token and
// the job never runs again.)
//
// Daylight saving, as robfig/cron does it (see TestDST): a job keeps its local
// clock time ("CRON_TZ=Europe/Berlin 0 8 * * *" fires at 08:00 Berlin, 07:00
// or 06:00 UTC); a time that does not exist on the spring-forward day (02:30)
// is skipped that day, not moved; a time that happens twice on the fall-back
// day fires twice.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/fleetwarden/fleetwarden/internal/cronspec"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is a named piece of work on a cron spec (see Validate).
type Job struct {
	Name string
	Spec string
	// Run gets the context given to Start for scheduled runs, or the one
	// given to RunNow. It should return soon after the context is done.
	Run func(ctx context.Context)
}

// Entry describes a job for display. Next and Prev are in the scheduler's
// default zone; Next is zero before Start, Prev until the first scheduled run.
type Entry struct {
	Name, Spec string
	Next, Prev time.Time
}

var (
	// ErrUnknownJob is returned by RunNow for a name never added.
	ErrUnknownJob = errors.New("no such job")
	// ErrRunning is returned by RunNow when the job is already running.
	ErrRunning = errors.New("job is already running")
)

// Scheduler runs Jobs on their specs. Create it with New.
type Scheduler struct {
	log  *slog.Logger
	cron *cron.Cron

	mu      sync.Mutex
	jobs    map[string]*job
	byID    map[cron.EntryID]*job
	ctx     context.Context // given to scheduled runs; set by Start
	state   int             // idle, running or stopped
	stopped chan struct{}   // closed by Stop
}

const (
	idle = iota
	running
	stopped
)

// job is a Job with its chain. cron.Job.Run takes no arguments, so a run's
// context goes through slot: a caller puts its run in, enters the chain, and
// the innermost function takes it out. The slot holds one run, so while a
// caller is between those steps nobody else can enter; the run the innermost
// function takes is therefore always its own caller's. A run still in the slot
// after the chain returns was skipped.
type job struct {
	Job
	log     *slog.Logger
	id      cron.EntryID
	wrapped cron.Job
	slot    chan *run
}

type run struct {
	ctx      context.Context
	returned bool // false after the chain returns: Run panicked
}

// New returns a Scheduler that reads specs without a time zone prefix in loc
// (time.Local if nil) and logs to log.
func New(log *slog.Logger, loc *time.Location) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if loc == nil {
		loc = time.Local
	}
	return &Scheduler{
		log: log,
		// No cron.WithChain: each job gets its own chain in Add, with a
		// logger that names it.
		cron: cron.New(
			cron.WithLocation(loc),
			cron.WithLogger(cronLogger{log: log.With("component", "cron"), infoLevel: slog.LevelDebug}),
		),
		jobs:    make(map[string]*job),
		byID:    make(map[cron.EntryID]*job),
		stopped: make(chan struct{}),
	}
}

// Add validates j and schedules it. It may be called before or after Start.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" {
		return errors.New("job has no name")
	}
	if j.Run == nil {
		return fmt.Errorf("job %q has no Run func", j.Name)
	}
	sched, err := cronspec.ParseValid(j.Spec)
	if err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[j.Name]; dup {
		return fmt.Errorf("job %q added twice", j.Name)
	}
	jb := &job{Job: j, log: s.log.With("job", j.Name), slot: make(chan *run, 1)}
	l := cronLogger{log: jb.log, infoLevel: slog.LevelInfo}
	jb.wrapped = cron.NewChain(cron.SkipIfStillRunning(l), cron.Recover(l)).Then(cron.FuncJob(jb.inner))
	jb.id = s.cron.Schedule(sched, cron.FuncJob(func() { jb.invoke(s.runCtx()) }))
	s.jobs[j.Name] = jb
	s.byID[jb.id] = jb
	return nil
}

// Start starts running jobs in the background and returns. They stop when ctx
// is done or Stop is called; a stopped Scheduler does not start again.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	if s.state != idle {
		s.mu.Unlock()
		return
	}
	s.state = running
	s.ctx = ctx
	s.mu.Unlock()

	s.cron.Start()
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.stopped:
		}
	}()
}

// Stop stops scheduling and waits for scheduled runs in progress to return
// (runs started by RunNow belong to their callers). Calling it from inside a
// job deadlocks. Safe to call more than once.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	first := s.state != stopped
	s.state = stopped
	s.mu.Unlock()

	<-s.cron.Stop().Done()
	if first {
		close(s.stopped)
	}
}

// Entries lists the jobs, soonest Next first (zero Next last), then by name.
func (s *Scheduler) Entries() []Entry {
	ces := s.cron.Entries()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(ces))
	for _, ce := range ces {
		j, ok := s.byID[ce.ID]
		if !ok {
			continue
		}
		out = append(out, Entry{Name: j.Name, Spec: j.Spec, Next: ce.Next, Prev: ce.Prev})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		switch {
		case a.Next.IsZero() != b.Next.IsZero():
			if a.Next.IsZero() {
				return 1
			}
			return -1
		case !a.Next.Equal(b.Next):
			return a.Next.Compare(b.Next)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// RunNow runs the named job on the caller's goroutine and returns when it
// does, through the same chain as scheduled runs: it fails with ErrRunning
// rather than overlap a run in progress, and a panic is logged and returned
// as an error.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("run %q: %w", name, ErrUnknownJob)
	}
	started, returned := j.invoke(ctx)
	switch {
	case !started:
		return fmt.Errorf("run %q: %w", name, ErrRunning)
	case !returned:
		return fmt.Errorf("run %q: job panicked (stack in the log)", name)
	}
	return nil
}

func (s *Scheduler) runCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

// invoke runs the job through its chain with ctx. started is false if a run
// was already in progress; returned is false if Run panicked.
func (j *job) invoke(ctx context.Context) (started, returned bool) {
	r := &run{ctx: ctx}
	select {
	case j.slot <- r:
	default: // another caller is entering the chain right now
		j.log.Info(skippedMsg)
		return false, false
	}
	j.wrapped.Run()
	select {
	case <-j.slot: // still ours: SkipIfStillRunning did not call inner
		return false, false
	default:
	}
	return true, r.returned
}

// inner is the end of the chain.
func (j *job) inner() {
	var r *run
	select {
	case r = <-j.slot:
	default: // only invoke enters the chain, after filling the slot
		panic("scheduler: job entered without a run")
	}
	j.Run(r.ctx)
	r.returned = true
}

// Validate reports whether spec is a schedule Add accepts (see
// cronspec.Validate); it never panics.
func Validate(spec string) error { return cronspec.Validate(spec) }

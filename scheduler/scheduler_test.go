package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Inside a synctest bubble the clock is fake and starts at 2000-01-01 00:00
// UTC (a Saturday); time.Sleep advances it as soon as every goroutine in the
// bubble is blocked, so weeks of schedule take milliseconds.

var y2k = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// logSink collects JSON log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// find returns the records with message msg.
func (l *logSink) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(l.buf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// newScheduler returns a Scheduler (default zone loc) logging to a sink; it is
// stopped when the test ends.
func newScheduler(t *testing.T, loc *time.Location) (*Scheduler, *logSink) {
	sink := &logSink{}
	s := New(slog.New(slog.NewJSONHandler(sink, nil)), loc)
	t.Cleanup(s.Stop)
	return s, sink
}

// recorder records when a job ran.
type recorder struct {
	mu    sync.Mutex
	times []time.Time
}

func (r *recorder) run(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times = append(r.times, time.Now())
}

func (r *recorder) got() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.times)
}

func mustAdd(t *testing.T, s *Scheduler, j Job) {
	t.Helper()
	if err := s.Add(j); err != nil {
		t.Fatalf("Add(%q): %v", j.Name, err)
	}
}

// sleepUntil advances the fake clock to at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

func equalTimes(got, want []time.Time) bool {
	return slices.EqualFunc(got, want, time.Time.Equal)
}

func TestSimulatedWeek(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, time.UTC)
		var checks, reports recorder
		mustAdd(t, s, Job{Name: "auth_check", Spec: "*/15 * * * *", Run: checks.run})
		mustAdd(t, s, Job{Name: "morning_report", Spec: "CRON_TZ=UTC 0 8 * * *", Run: reports.run})

		// Start off the quarter hour so no run sits on the edge of the week.
		sleepUntil(y2k.Add(time.Minute))
		s.Start(t.Context())
		sleepUntil(y2k.Add(7*24*time.Hour + time.Minute))
		synctest.Wait()

		got := checks.got()
		if len(got) != 7*24*4 {
			t.Fatalf("auth_check ran %d times in a week, want %d", len(got), 7*24*4)
		}
		for i, at := range got {
			if want := y2k.Add(time.Duration(i+1) * 15 * time.Minute); !at.Equal(want) {
				t.Fatalf("auth_check run %d at %v, want %v", i, at, want)
			}
		}
		var want []time.Time
		for day := range 7 {
			want = append(want, time.Date(2000, 1, 1+day, 8, 0, 0, 0, time.UTC))
		}
		if got := reports.got(); !equalTimes(got, want) {
			t.Errorf("morning_report ran at %v, want %v", got, want)
		}
	})
}

// TestDST documents what cron does across Europe/Berlin's 2000 changes
// (Sunday 26 March 02:00 CET → 03:00 CEST, Sunday 29 October 03:00 CEST →
// 02:00 CET): a daily job keeps its local hour; a 02:30 job is skipped on the
// spring day (02:30 does not exist) and runs twice on the autumn day (02:30
// happens twice).
func TestDST(t *testing.T) {
	berlin := testenv.Location(t, "Europe/Berlin")
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, time.UTC)
		var morning, night recorder
		mustAdd(t, s, Job{Name: "morning", Spec: "CRON_TZ=Europe/Berlin 0 8 * * *", Run: morning.run})
		mustAdd(t, s, Job{Name: "night", Spec: "CRON_TZ=Europe/Berlin 30 2 * * *", Run: night.run})

		first := time.Date(2000, 3, 25, 0, 0, 0, 0, berlin)
		last := time.Date(2000, 10, 31, 0, 0, 0, 0, berlin)
		sleepUntil(first.Add(-time.Hour))
		s.Start(t.Context())
		sleepUntil(last.AddDate(0, 0, 1))
		synctest.Wait()

		var wantMorning []time.Time
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			wantMorning = append(wantMorning, time.Date(d.Year(), d.Month(), d.Day(), 8, 0, 0, 0, berlin))
		}
		gotMorning := morning.got()
		if !equalTimes(gotMorning, wantMorning) {
			t.Errorf("morning ran %d times (%v…), want %d: 08:00 Berlin each day", len(gotMorning), gotMorning[:min(3, len(gotMorning))], len(wantMorning))
		}
		// The same in UTC around the changes.
		for _, want := range []time.Time{
			time.Date(2000, 3, 25, 7, 0, 0, 0, time.UTC), // CET, UTC+1
			time.Date(2000, 3, 26, 6, 0, 0, 0, time.UTC), // CEST, UTC+2, from this day
			time.Date(2000, 3, 27, 6, 0, 0, 0, time.UTC),
			time.Date(2000, 10, 28, 6, 0, 0, 0, time.UTC),
			time.Date(2000, 10, 29, 7, 0, 0, 0, time.UTC), // CET again
			time.Date(2000, 10, 30, 7, 0, 0, 0, time.UTC),
		} {
			if !slices.ContainsFunc(gotMorning, want.Equal) {
				t.Errorf("morning did not run at %v", want)
			}
		}

		byDay := map[string][]time.Time{}
		for _, at := range night.got() {
			if local := at.In(berlin); local.Hour() != 2 || local.Minute() != 30 {
				t.Errorf("night ran at %v (%v Berlin), want 02:30 Berlin", at, local)
			}
			day := at.In(berlin).Format(time.DateOnly)
			byDay[day] = append(byDay[day], at.UTC())
		}
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			day := d.Format(time.DateOnly)
			want := []time.Time{time.Date(d.Year(), d.Month(), d.Day(), 2, 30, 0, 0, berlin)}
			switch day {
			case "2000-03-26":
				want = nil // skipped, not moved to 03:30
			case "2000-10-29":
				want = []time.Time{time.Date(2000, 10, 29, 0, 30, 0, 0, time.UTC), time.Date(2000, 10, 29, 1, 30, 0, 0, time.UTC)}
			}
			if got := byDay[day]; !equalTimes(got, want) {
				t.Errorf("night on %s ran at %v, want %v", day, got, want)
			}
		}
	})
}

func TestDefaultZone(t *testing.T) {
	berlin := testenv.Location(t, "Europe/Berlin")
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, berlin)
		var r recorder
		mustAdd(t, s, Job{Name: "report", Spec: "0 8 * * *", Run: r.run})
		s.Start(t.Context())
		sleepUntil(y2k.Add(24 * time.Hour))
		synctest.Wait()
		if got, want := r.got(), []time.Time{time.Date(2000, 1, 1, 7, 0, 0, 0, time.UTC)}; !equalTimes(got, want) {
			t.Errorf("\"0 8 * * *\" with default zone Berlin ran at %v, want %v", got, want)
		}
	})
}

func TestPanicIsLoggedAndJobRunsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, sink := newScheduler(t, time.UTC)
		var mu sync.Mutex
		runs := 0
		mustAdd(t, s, Job{Name: "flaky", Spec: "* * * * *", Run: func(context.Context) {
			mu.Lock()
			runs++
			n := runs
			mu.Unlock()
			if n == 1 {
				panic("boom")
			}
		}})
		s.Start(t.Context())
		sleepUntil(y2k.Add(5*time.Minute + 30*time.Second))
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if runs != 5 {
			t.Errorf("flaky ran %d times in 5 minutes after panicking on the first, want 5", runs)
		}
		recs := sink.find(t, "job panicked")
		if len(recs) != 1 {
			t.Fatalf("got %d \"job panicked\" log records, want 1", len(recs))
		}
		rec := recs[0]
		if rec["level"] != "ERROR" || rec["job"] != "flaky" || rec["err"] != "boom" {
			t.Errorf("panic logged as level=%v job=%v err=%v, want ERROR flaky boom", rec["level"], rec["job"], rec["err"])
		}
		if stack, _ := rec["stack"].(string); !strings.Contains(stack, "scheduler") {
			t.Errorf("panic log has no stack: %q", stack)
		}
	})
}

func TestSlowJobIsNotOverlapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, sink := newScheduler(t, time.UTC)
		var mu sync.Mutex
		var starts []time.Time
		inFlight, maxInFlight := 0, 0
		mustAdd(t, s, Job{Name: "slow", Spec: "* * * * *", Run: func(context.Context) {
			mu.Lock()
			starts = append(starts, time.Now())
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
			mu.Unlock()
			time.Sleep(150 * time.Second) // the work: 2½ schedule periods
			mu.Lock()
			inFlight--
			mu.Unlock()
		}})
		s.Start(t.Context())
		sleepUntil(y2k.Add(10*time.Minute + 30*time.Second))
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		// Starts at 1, 4, 7, 10; the minutes in between find it running.
		want := []time.Time{y2k.Add(time.Minute), y2k.Add(4 * time.Minute), y2k.Add(7 * time.Minute), y2k.Add(10 * time.Minute)}
		if !equalTimes(starts, want) {
			t.Errorf("slow started at %v, want %v", starts, want)
		}
		if maxInFlight != 1 {
			t.Errorf("up to %d runs of slow at once, want 1", maxInFlight)
		}
		skips := sink.find(t, skippedMsg)
		if len(skips) != 6 {
			t.Errorf("got %d skip log records, want 6", len(skips))
		}
		for _, rec := range skips {
			if rec["job"] != "slow" {
				t.Errorf("skip logged with job=%v, want slow", rec["job"])
			}
		}
	})
}

type ctxKey struct{}

func TestRunNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, time.UTC)
		release := make(chan struct{})
		var mu sync.Mutex
		var seen []string // the ctxKey value of each run's context
		mustAdd(t, s, Job{Name: "report", Spec: "0 8 * * *", Run: func(ctx context.Context) {
			v, _ := ctx.Value(ctxKey{}).(string)
			mu.Lock()
			seen = append(seen, v)
			mu.Unlock()
			if v == "scheduled" {
				<-release
			}
		}})
		mustAdd(t, s, Job{Name: "broken", Spec: "0 8 * * *", Run: func(context.Context) { panic("no data") }})
		seenNow := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(seen)
		}

		// Before Start, on the caller's goroutine, with the caller's context.
		if err := s.RunNow(context.WithValue(t.Context(), ctxKey{}, "now1"), "report"); err != nil {
			t.Fatalf("RunNow(report) before Start: %v", err)
		}
		if got, want := seenNow(), []string{"now1"}; !slices.Equal(got, want) {
			t.Fatalf("runs saw contexts %q, want %q", got, want)
		}

		if err := s.RunNow(t.Context(), "nope"); !errors.Is(err, ErrUnknownJob) {
			t.Errorf("RunNow(nope) = %v, want ErrUnknownJob", err)
		}

		// A panic comes back as an error, and the job can run again.
		for range 2 {
			if err := s.RunNow(t.Context(), "broken"); err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Errorf("RunNow(broken) = %v, want a panicked error", err)
			}
		}

		// While a scheduled run is in progress RunNow refuses to overlap it.
		s.Start(context.WithValue(t.Context(), ctxKey{}, "scheduled"))
		sleepUntil(time.Date(2000, 1, 1, 8, 0, 30, 0, time.UTC))
		synctest.Wait()
		if err := s.RunNow(context.WithValue(t.Context(), ctxKey{}, "now2"), "report"); !errors.Is(err, ErrRunning) {
			t.Errorf("RunNow(report) during a scheduled run = %v, want ErrRunning", err)
		}
		close(release)
		synctest.Wait()
		if err := s.RunNow(context.WithValue(t.Context(), ctxKey{}, "now3"), "report"); err != nil {
			t.Errorf("RunNow(report) after the scheduled run: %v", err)
		}
		if got, want := seenNow(), []string{"now1", "scheduled", "now3"}; !slices.Equal(got, want) {
			t.Errorf("runs saw contexts %q, want %q", got, want)
		}
	})
}

func TestEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, time.UTC)
		noop := func(context.Context) {}
		mustAdd(t, s, Job{Name: "auth_check", Spec: "*/15 * * * *", Run: noop})
		mustAdd(t, s, Job{Name: "report", Spec: "CRON_TZ=Asia/Seoul 0 8 * * *", Run: noop})
		mustAdd(t, s, Job{Name: "heartbeat", Spec: "@every 1m", Run: noop})

		at := func(h, m int) time.Time { return y2k.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
		var zero time.Time
		check := func(when string, want []Entry) {
			t.Helper()
			got := s.Entries()
			if len(got) != len(want) {
				t.Fatalf("%s: Entries() = %+v, want %+v", when, got, want)
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.Name != w.Name || g.Spec != w.Spec || !g.Next.Equal(w.Next) || !g.Prev.Equal(w.Prev) {
					t.Errorf("%s: entry %d = %+v, want %+v", when, i, g, w)
				}
			}
		}

		check("before Start", []Entry{
			{Name: "auth_check", Spec: "*/15 * * * *"},
			{Name: "heartbeat", Spec: "@every 1m"},
			{Name: "report", Spec: "CRON_TZ=Asia/Seoul 0 8 * * *"},
		})
		s.Start(t.Context())
		// 08:00 in Seoul is 23:00 UTC the day before; today's has passed.
		check("at Start", []Entry{
			{Name: "heartbeat", Spec: "@every 1m", Next: at(0, 1)},
			{Name: "auth_check", Spec: "*/15 * * * *", Next: at(0, 15)},
			{Name: "report", Spec: "CRON_TZ=Asia/Seoul 0 8 * * *", Next: at(23, 0)},
		})
		sleepUntil(at(0, 20).Add(30 * time.Second))
		check("at 00:20:30", []Entry{
			{Name: "heartbeat", Spec: "@every 1m", Prev: at(0, 20), Next: at(0, 21)},
			{Name: "auth_check", Spec: "*/15 * * * *", Prev: at(0, 15), Next: at(0, 30)},
			{Name: "report", Spec: "CRON_TZ=Asia/Seoul 0 8 * * *", Prev: zero, Next: at(23, 0)},
		})
		if loc := s.Entries()[0].Next.Location(); loc != time.UTC {
			t.Errorf("Entries' times are in %v, want the default zone UTC", loc)
		}
	})
}

func TestStopWaitsAndContextStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, time.UTC)
		ctx, cancel := context.WithCancel(t.Context())
		var mu sync.Mutex
		runs, finished := 0, 0
		mustAdd(t, s, Job{Name: "cleanup", Spec: "* * * * *", Run: func(ctx context.Context) {
			mu.Lock()
			runs++
			mu.Unlock()
			<-ctx.Done()                 // the scheduled run sees Start's context end
			time.Sleep(10 * time.Second) // and takes a while to wind down
			mu.Lock()
			finished++
			mu.Unlock()
		}})
		s.Start(ctx)
		sleepUntil(y2k.Add(90 * time.Second))
		cancel()
		stopAt := time.Now()
		s.Stop()
		if waited := time.Since(stopAt); waited != 10*time.Second {
			t.Errorf("Stop returned after %v, want 10s (when the running job returned)", waited)
		}
		mu.Lock()
		if runs != 1 || finished != 1 {
			t.Errorf("after Stop: %d runs, %d finished, want 1 and 1", runs, finished)
		}
		mu.Unlock()

		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if runs != 1 {
			t.Errorf("%d runs an hour after the context ended, want 1", runs)
		}
		s.Start(t.Context()) // a stopped Scheduler stays stopped
		time.Sleep(time.Hour)
		synctest.Wait()
		if runs != 1 {
			t.Errorf("%d runs after Start on a stopped Scheduler, want 1", runs)
		}
	})
}

func TestAddRejects(t *testing.T) {
	s, _ := newScheduler(t, time.UTC)
	noop := func(context.Context) {}
	mustAdd(t, s, Job{Name: "report", Spec: "@daily", Run: noop})
	tests := []struct {
		job     Job
		wantErr string
	}{
		{Job{Spec: "@daily", Run: noop}, "job has no name"},
		{Job{Name: "x", Spec: "@daily"}, `job "x" has no Run func`},
		{Job{Name: "x", Spec: "CRON_TZ=UTC", Run: noop}, `job "x": "CRON_TZ=UTC": missing the schedule after the time zone`},
		{Job{Name: "report", Spec: "@hourly", Run: noop}, `job "report" added twice`},
	}
	for _, tt := range tests {
		if err := s.Add(tt.job); err == nil || err.Error() != tt.wantErr {
			t.Errorf("Add(%+v) = %v, want %q", tt.job, err, tt.wantErr)
		}
	}
	if got := len(s.Entries()); got != 1 {
		t.Errorf("%d entries after rejected Adds, want 1", got)
	}
}

package alert

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// fireAndStop runs a manager until agents' login-expired alert has been
// announced, then stops it, as a restart of fleetwarden would.
func fireAndStop(t *testing.T, dir string, agents ...string) Notification {
	t.Helper()
	tg := newRoute("telegram")
	e := start(t, Options{Primary: []Route{tg}, QueueDir: dir})
	for _, a := range agents {
		observe(e.m, fail(a, KindAuthFailed, "expired"))
	}
	advance(10 * time.Second)
	got := wantNotes(t, tg, "firing auth_failed/expired")
	e.stop()
	return got[0]
}

func TestRestartKeepsFiringAlerts(t *testing.T) {
	tests := []struct {
		name    string
		after   []string // agents failing in the first scan after the restart
		sync    bool     // the caller says when the first scan is in
		wait    time.Duration
		want    []string // what the telegram route gets after the restart
		wantFor []string // agents of the last notification
	}{
		{"still failing: not announced again", []string{"a", "b"}, true, 59 * time.Minute, nil, nil},
		{"still failing: repeats on the old schedule", []string{"a", "b"}, true, time.Hour, []string{"repeat auth_failed/expired"}, []string{"a", "b"}},
		{"cleared while stopped: resolved after the first scan", nil, true, time.Second, []string{"resolved auth_failed/expired"}, []string{"a", "b"}},
		{"cleared while stopped, nobody says synced: resolved after a minute", nil, false, time.Minute, []string{"resolved auth_failed/expired"}, []string{"a", "b"}},
		{"one more agent failing: an update names it", []string{"a", "b", "c"}, true, 10 * time.Second, []string{"firing auth_failed/expired"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				first := fireAndStop(t, dir, "a", "b")

				tg := newRoute("telegram")
				e := start(t, Options{Primary: []Route{tg}, QueueDir: dir})
				defer e.stop()
				if !tt.sync {
					advance(59 * time.Second)
					wantNotes(t, tg) // still waiting for a scan
				}
				for _, a := range tt.after {
					observe(e.m, fail(a, KindAuthFailed, "expired"))
				}
				if tt.sync {
					e.m.Synced()
				}
				advance(tt.wait)
				got := wantNotes(t, tg, tt.want...)
				if len(got) == 0 {
					if f := e.m.Firing(); len(f) != 1 || !slices.Equal(f[0].Agents, []string{"a", "b"}) {
						t.Errorf("Firing() = %v, want the restored alert on a, b", brief(f))
					}
					return
				}
				last := got[len(got)-1]
				if !slices.Equal(last.Agents, tt.wantFor) {
					t.Errorf("%s names %v, want %v", last.Status, last.Agents, tt.wantFor)
				}
				if !last.StartsAt.Equal(first.StartsAt) {
					t.Errorf("starts at %v, want the first announcement's %v", last.StartsAt, first.StartsAt)
				}
				if last.ID == first.ID {
					t.Errorf("notification ID %q reused: a route would drop it as delivered", last.ID)
				}
			})
		})
	}
}

// Once resolved, the alert is gone from disk: the next restart says nothing.
func TestResolvedAlertIsNotRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		fireAndStop(t, dir, "a")

		tg := newRoute("telegram")
		e := start(t, Options{Primary: []Route{tg}, QueueDir: dir})
		e.m.Synced()
		advance(time.Second)
		wantNotes(t, tg, "resolved auth_failed/expired")
		e.stop()

		tg2 := newRoute("telegram")
		e2 := start(t, Options{Primary: []Route{tg2}, QueueDir: dir})
		defer e2.stop()
		e2.m.Synced()
		advance(2 * time.Hour)
		wantNotes(t, tg2)
	})
}

// A chat transport's alert restored after a restart is not judged by the
// first scan (which says nothing about chat): it waits for the transport to
// report. A poller that times out takes minutes to call itself down again.
func TestRestoredTransportAlertWaitsForThePoller(t *testing.T) {
	down := Event{Kind: KindTransport, Reason: "telegram", Evidence: "409 Conflict", Active: true}
	up := Event{Kind: KindTransport, Reason: "telegram", Active: false}
	tests := []struct {
		name   string
		after  time.Duration // when the poller reports
		report *Event
		want   []string // within a minute of the report
	}{
		{"down again after three minutes", 3 * time.Minute, &down, nil},
		{"up after twenty seconds", 20 * time.Second, &up, []string{"resolved transport/telegram"}},
		{"silent: resolved after ten minutes", 9*time.Minute + 30*time.Second, nil, []string{"resolved transport/telegram"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				mail := newRoute("email")
				e := start(t, Options{Fallback: []Route{mail}, QueueDir: dir})
				observe(e.m, down)
				advance(10 * time.Second)
				wantNotes(t, mail, "firing transport/telegram")
				e.stop()

				mail2 := newRoute("email")
				e2 := start(t, Options{Fallback: []Route{mail2}, QueueDir: dir})
				defer e2.stop()
				e2.m.Synced() // the first scan is in: no transport events in it
				advance(tt.after)
				wantNotes(t, mail2) // nothing before the transport says
				if tt.report != nil {
					observe(e2.m, *tt.report)
				}
				advance(time.Minute)
				wantNotes(t, mail2, tt.want...)
			})
		})
	}
}

// A damaged state file (a disk that filled up, a hand edit) must not keep
// fleetwarden from starting and alerting: it is moved aside, with a log
// line saying where, and the manager starts without it.
func TestDamagedStateFilesAreSetAside(t *testing.T) {
	for _, name := range []string{firingFile, silencesFile} {
		for _, content := range []string{`{"alerts": [`, `[1, 2]`, `{"alerts": 5, "silences": 5}`} {
			t.Run(name+" "+content, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					dir := t.TempDir()
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
					var logs bytes.Buffer
					tg := newRoute("telegram")
					e := start(t, Options{Primary: []Route{tg}, QueueDir: dir,
						Log: slog.New(slog.NewTextHandler(&logs, nil))})
					defer e.stop()
					if got := readFile(t, filepath.Join(dir, name+".damaged")); got != content {
						t.Errorf("moved aside: %q, want the damaged file %q", got, content)
					}
					if !strings.Contains(logs.String(), name+".damaged") {
						t.Errorf("log does not say where the damaged file went:\n%s", logs.String())
					}
					observe(e.m, fail("a", KindAuthFailed, "expired"))
					advance(10 * time.Second)
					wantNotes(t, tg, "firing auth_failed/expired")
				})
			})
		}
	}
}

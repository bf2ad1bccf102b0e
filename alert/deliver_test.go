package alert

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// deliveries lists the journal's delivery records as "route ok|error".
func deliveries(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Kind != audit.KindDelivery {
			continue
		}
		s := r.Route + " ok"
		if r.OK == nil || !*r.OK {
			s = r.Route + " failed: " + r.Error
		}
		out = append(out, s)
	}
	return out
}

func TestFallbackWhenThePrimaryFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jdir := t.TempDir()
		j, err := audit.Open(jdir, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		tg, hook := newRoute("telegram"), newRoute("webhook:ops")
		tg.set(errors.New("502 Bad Gateway"), false)
		e := start(t, Options{Primary: []Route{tg}, Fallback: []Route{hook}, RepeatInterval: -1, Journal: j})
		defer e.stop()

		observe(e.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		// At once: a failed primary does not wait for FallbackAfter.
		got := wantNotes(t, hook, "firing auth_failed/expired")
		wantNotes(t, tg)
		if n, _ := e.undeliverable(); len(n) != 0 {
			t.Errorf("undeliverable called for a notification the fallback delivered")
		}
		if files := queueFiles(t, e.dir); len(files) != 1 {
			t.Errorf("queue holds %d files, want 1 (telegram's copy)", len(files))
		}

		// Telegram comes back: its queued copy goes out once.
		tg.set(nil, false)
		advance(10 * time.Second)
		late := wantNotes(t, tg, "firing auth_failed/expired")
		if late[0].ID != got[0].ID {
			t.Errorf("telegram got %s, want the same notification %s", late[0].ID, got[0].ID)
		}
		advance(2 * time.Hour)
		wantNotes(t, tg, "firing auth_failed/expired")
		wantNotes(t, hook, "firing auth_failed/expired")
		if files := queueFiles(t, e.dir); len(files) != 0 {
			t.Errorf("queue still holds %v", files)
		}

		recs, err := audit.ReadAll(jdir, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"telegram failed: telegram: 502 Bad Gateway", "webhook:ops ok", "telegram ok"}
		if got := deliveries(recs); !slices.Equal(got, want) {
			t.Errorf("journal deliveries = %q, want %q", got, want)
		}
		if recs[0].Kind != audit.KindAlert || recs[0].Action != "fired" {
			t.Errorf("first record %+v, want the alert before its deliveries", recs[0])
		}
		if f := e.m.Firing(); len(f) != 1 || !slices.Equal(f[0].Reached, []string{"webhook:ops", "telegram"}) {
			t.Errorf("Firing() reached = %+v, want webhook:ops then telegram", f)
		}
		s := e.m.Stats()
		if s.Routes["telegram"].Delivered != 1 || s.Routes["telegram"].Failed != 1 || s.Routes["webhook:ops"].Delivered != 1 || s.Routes["telegram"].Queued != 0 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestFallbackWhenThePrimaryHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, hook := newRoute("telegram"), newRoute("webhook:ops")
		tg.set(nil, true)
		e := start(t, Options{Primary: []Route{tg}, Fallback: []Route{hook}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		advance(29 * time.Second)
		wantNotes(t, hook)
		// On disk while the attempt is in flight: a crash now loses nothing.
		if got := len(queueFiles(t, e.dir)); got != 1 {
			t.Errorf("queue holds %d files during the attempt, want 1", got)
		}
		advance(time.Second)
		wantNotes(t, hook, "firing exited")

		// The hung attempt times out (DeliveryTimeout, 1m) and is retried once
		// the route answers again: delivered exactly once.
		tg.set(nil, false)
		advance(5 * time.Minute)
		wantNotes(t, tg, "firing exited")
		if a := tg.attempts(); a != 2 {
			t.Errorf("telegram attempts = %d, want 2 (the hung one and the retry)", a)
		}
		if got := deliveries(e.j.of(audit.KindDelivery)); len(got) != 3 || !strings.Contains(got[1], "timed out after 1m0s") {
			t.Errorf("deliveries %q, want hook ok, telegram timed out, telegram ok", got)
		}
	})
}

func TestOtherPrimaryDeliversNoFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, dc, hook := newRoute("telegram"), newRoute("discord"), newRoute("webhook:ops")
		dc.set(errors.New("gateway down"), false)
		e := start(t, Options{Primary: []Route{tg, dc}, Fallback: []Route{hook}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		wantNotes(t, tg, "firing exited")
		advance(time.Minute)
		wantNotes(t, hook)
		dc.set(nil, false)
		advance(10 * time.Minute)
		wantNotes(t, dc, "firing exited")
		wantNotes(t, tg, "firing exited")
	})
}

func TestFallbacksAreTriedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, mail, hook, cmd := newRoute("telegram"), newRoute("email"), newRoute("webhook:ops"), newRoute("exec:page")
		tg.set(errors.New("down"), false)
		mail.set(errors.New("connection refused"), false)
		e := start(t, Options{Primary: []Route{tg}, Fallback: []Route{mail, hook, cmd}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		wantNotes(t, hook, "firing auth_failed/expired")
		wantNotes(t, cmd) // the chain stops at the first delivery
		want := []string{"telegram failed: telegram: down", "email failed: email: connection refused", "webhook:ops ok"}
		if got := deliveries(e.j.of(audit.KindDelivery)); !slices.Equal(got, want) {
			t.Errorf("deliveries %q, want %q", got, want)
		}
	})
}

func TestUndeliverableOnEveryRoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, mail, hook := newRoute("telegram"), newRoute("email"), newRoute("webhook:ops")
		tg.set(errors.New("down"), false)
		mail.set(nil, true) // hangs
		hook.set(errors.New("HTTP 500"), false)
		e := start(t, Options{Primary: []Route{tg}, Fallback: []Route{mail, hook}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		if n, _ := e.undeliverable(); len(n) != 0 {
			t.Fatal("undeliverable before the hung email had its FallbackAfter")
		}
		advance(30 * time.Second)
		notes, errs := e.undeliverable()
		if len(notes) != 1 || notes[0].AlertKey != "auth_failed/expired" {
			t.Fatalf("undeliverable = %v, want the auth alert once", brief(notes))
		}
		if len(errs[0]) != 3 || !errors.Is(errs[0][1], ErrNoAnswer) {
			t.Errorf("errors = %v, want telegram's, email's no-answer and the webhook's", errs[0])
		}
		if e.m.Stats().Undeliverable != 1 {
			t.Errorf("stats undeliverable = %d", e.m.Stats().Undeliverable)
		}

		// Nothing is lost: when telegram works again it gets its copy.
		tg.set(nil, false)
		advance(10 * time.Minute)
		wantNotes(t, tg, "firing auth_failed/expired")
		if n, _ := e.undeliverable(); len(n) != 1 {
			t.Errorf("undeliverable called %d times, want 1", len(n))
		}
	})
}

func TestQueuedDeliveriesKeepTheirOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		tg.set(errors.New("down"), false)
		e := start(t, Options{Primary: []Route{tg}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		observe(e.m, cleared("a", KindExited))
		observe(e.m, fail("b", KindStuck, ""))
		advance(10 * time.Second)
		if got := len(queueFiles(t, e.dir)); got != 3 {
			t.Fatalf("queue holds %d, want 3", got)
		}
		tg.set(nil, false)
		advance(10 * time.Minute)
		wantNotes(t, tg, "firing exited", "resolved exited", "firing stuck")
		if got := len(queueFiles(t, e.dir)); got != 0 {
			t.Errorf("queue holds %d after delivery", got)
		}
	})
}

func TestQueueSurvivesARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		down := newRoute("telegram")
		down.set(errors.New("network is unreachable"), false)
		e1 := start(t, Options{Primary: []Route{down}, QueueDir: dir, RepeatInterval: -1})
		observe(e1.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		observe(e1.m, cleared("a", KindAuthFailed))
		e1.stop() // the shutdown flush fails too: both stay on disk
		if got := len(queueFiles(t, dir)); got != 2 {
			t.Fatalf("after the first run the queue holds %d, want 2", got)
		}
		if down.attempts() < 2 {
			t.Fatalf("telegram tried %d times, want at least 2", down.attempts())
		}

		up := newRoute("telegram")
		e2 := start(t, Options{Primary: []Route{up}, QueueDir: dir, RepeatInterval: -1})
		got := wantNotes(t, up, "firing auth_failed/expired", "resolved auth_failed/expired")
		if got[0].Summary != "Login expired on a" {
			t.Errorf("restored summary %q", got[0].Summary)
		}
		advance(time.Hour)
		e2.stop()
		wantNotes(t, up, "firing auth_failed/expired", "resolved auth_failed/expired")
		if got := len(queueFiles(t, dir)); got != 0 {
			t.Errorf("queue holds %d after delivery", got)
		}

		again := newRoute("telegram")
		e3 := start(t, Options{Primary: []Route{again}, QueueDir: dir})
		advance(time.Hour)
		e3.stop()
		wantNotes(t, again)
	})
}

// A notification a restart left waiting on a chat route that is still down
// goes on to the fallback route, as a new one would, and once only.
func TestRestoredQueueFallsBack(t *testing.T) {
	tests := []struct {
		name      string
		firstRun  func(tg, mail *fakeRoute) // how far the first run got
		wantMail1 []string                  // what the fallback got then
	}{
		{"stopped before the fallback was tried", func(tg, mail *fakeRoute) { tg.set(nil, true) }, nil},
		{"fallback delivered before the stop", func(tg, mail *fakeRoute) { tg.set(errors.New("502 Bad Gateway"), false) },
			[]string{"firing auth_failed/expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				tg, mail := newRoute("telegram"), newRoute("email")
				tt.firstRun(tg, mail)
				e1 := start(t, Options{Primary: []Route{tg}, Fallback: []Route{mail}, QueueDir: dir, RepeatInterval: -1})
				observe(e1.m, fail("a", KindAuthFailed, "expired"))
				advance(20 * time.Second)
				e1.stop()
				wantNotes(t, mail, tt.wantMail1...)

				tg2, mail2 := newRoute("telegram"), newRoute("email")
				tg2.set(errors.New("network is unreachable"), false)
				e2 := start(t, Options{Primary: []Route{tg2}, Fallback: []Route{mail2}, QueueDir: dir, RepeatInterval: -1})
				defer e2.stop()
				observe(e2.m, fail("a", KindAuthFailed, "expired")) // still failing
				e2.m.Synced()
				advance(time.Minute)
				if tt.wantMail1 == nil {
					wantNotes(t, mail2, "firing auth_failed/expired")
				} else {
					wantNotes(t, mail2) // it has it already
				}
				tg2.set(nil, false)
				advance(10 * time.Minute)
				wantNotes(t, tg2, "firing auth_failed/expired")
				if n, _ := e2.undeliverable(); len(n) != 0 {
					t.Errorf("undeliverable reported for %v", brief(n))
				}
			})
		})
	}
}

// The terminal sees every alert, but a person at it is not a person away
// from the machine: it must not stop the fallback when the chat is down.
func TestMirrorDoesNotStopTheFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		console, tg, mail := newRoute("console"), newRoute("telegram"), newRoute("email")
		tg.set(errors.New("502 Bad Gateway"), false)
		e := start(t, Options{Mirrors: []Route{console}, Primary: []Route{tg}, Fallback: []Route{mail}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		wantNotes(t, console, "firing auth_failed/expired")
		wantNotes(t, mail, "firing auth_failed/expired")

		// With nothing but the terminal, alerts show there and nowhere
		// is "undeliverable".
		only := newRoute("console")
		e2 := start(t, Options{Mirrors: []Route{only}, RepeatInterval: -1})
		defer e2.stop()
		observe(e2.m, fail("b", KindAuthFailed, "expired"))
		advance(10 * time.Second)
		wantNotes(t, only, "firing auth_failed/expired")
		if n, _ := e2.undeliverable(); len(n) != 0 {
			t.Errorf("undeliverable reported with only a terminal: %v", brief(n))
		}
	})
}

func TestShutdownFlushesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		tg.set(errors.New("down"), false)
		e := start(t, Options{Primary: []Route{tg}, RepeatInterval: -1, RetryMin: time.Hour, RetryMax: time.Hour})
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		tg.set(nil, false)
		advance(time.Minute) // long before the next retry
		wantNotes(t, tg)
		e.stop()
		wantNotes(t, tg, "firing exited")
		if got := len(queueFiles(t, e.dir)); got != 0 {
			t.Errorf("queue holds %d after the flush", got)
		}
	})
}

func TestBackoffGrowsToTheMaximum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newRoute("telegram")
		tg.set(errors.New("down"), false)
		e := start(t, Options{Primary: []Route{tg}, RepeatInterval: -1})
		defer e.stop()
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		// 5s, 10s, 20s … 5m, ±20%: about 10 attempts in the first 20 minutes,
		// then about one every 5 minutes.
		advance(20 * time.Minute)
		first := tg.attempts()
		if first < 7 || first > 14 {
			t.Errorf("attempts in 20m = %d, want about 10", first)
		}
		advance(time.Hour)
		if n := tg.attempts() - first; n < 9 || n > 16 {
			t.Errorf("attempts in the next hour = %d, want about 12", n)
		}
	})
}

func TestRouteThatIgnoresItsContextDoesNotStallTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := &deafRoute{release: make(chan struct{})}
		hook := newRoute("webhook:ops")
		e := start(t, Options{Primary: []Route{stuck}, Fallback: []Route{hook}, RepeatInterval: -1})
		defer func() {
			close(stuck.release)
			e.stop()
		}()
		observe(e.m, fail("a", KindExited, ""))
		advance(10 * time.Second)
		advance(30 * time.Second)
		wantNotes(t, hook, "firing exited")
		advance(2 * time.Minute)
		if got := deliveries(e.j.of(audit.KindDelivery)); len(got) < 2 || !strings.Contains(got[1], "timed out") {
			t.Errorf("deliveries %q, want the deaf route timed out", got)
		}
	})
}

// deafRoute ignores its context until released.
type deafRoute struct{ release chan struct{} }

func (deafRoute) Name() string { return "deaf" }
func (d *deafRoute) Deliver(context.Context, Notification) error {
	<-d.release
	return nil
}

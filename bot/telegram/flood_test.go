package telegram

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
)

const alertText = "🔴 Claude Code exited on builder"

// flood sends n messages from one stranger and one each from n other
// strangers, with the admin's /status and an alert in the middle, and
// returns when the admin's reply and the alert were delivered.
type floodRun struct {
	adminReply, alert   time.Duration // from the moment each was asked
	refusalsSentAtReply int           // stranger refusals delivered when the admin's reply was
}

func runFlood(t testing.TB, e *env, sameUser, distinct int) floodRun {
	t.Helper()
	for i := range sameUser / 2 {
		e.srv.SendUserMessage(stranger, strDM, fmt.Sprintf("/restart all %d", i))
	}
	for i := range distinct {
		u := telegramtest.User{ID: int64(500000 + i), FirstName: "S"}
		e.srv.SendUserMessage(u, telegramtest.Chat{ID: u.ID, Type: "private"}, "/status")
	}
	asked := time.Now()
	e.srv.SendUserMessage(admin, adminDM, "/status")
	alertErr := make(chan error, 1)
	var alertTook time.Duration
	go func() {
		t0 := time.Now()
		err := e.bot.NotifyOnce(context.Background(), "exited-builder", alertText)
		alertTook = time.Since(t0)
		alertErr <- err
	}()
	for i := range sameUser - sameUser/2 {
		e.srv.SendUserMessage(stranger, strDM, fmt.Sprintf("/restart all %d", i))
	}
	var r floodRun
	reply := e.srv.WaitSent(t, 30*time.Second, func(m telegramtest.Message) bool {
		return m.ChatID == adminDM.ID && strings.HasPrefix(m.Text, "1 agents")
	})
	r.adminReply = time.Since(asked)
	for _, m := range e.srv.Sent() {
		if m.Text == commands.Refusal && m.ChatID != strDM.ID {
			r.refusalsSentAtReply++
		}
		if m.ChatID == reply.ChatID && m.MessageID == reply.MessageID {
			break
		}
	}
	if err := <-alertErr; err != nil {
		t.Fatalf("the alert was not delivered: %v", err)
	}
	r.alert = alertTook
	return r
}

// 10,000 messages from a stranger and one each from 2,000 more, while an
// admin asks /status and an alert fires: the admin's reply and the alert
// go ahead of the strangers' queued refusals, the stranger gets one
// answer, the journal a few lines, and no goroutine is started per message.
func TestStrangerFloodDoesNotHoldAdminsOrAlerts(t *testing.T) {
	e, journal := floodEnv(t)
	base := runtime.NumGoroutine()
	const sameUser, distinct = 10000, 2000
	r := runFlood(t, e, sameUser, distinct)
	// At 30 messages a second the strangers' refusals take over a minute:
	// the admin's reply did not wait for them.
	if r.refusalsSentAtReply > distinct/2 {
		t.Errorf("the admin's reply came after %d of %d strangers' refusals", r.refusalsSentAtReply, distinct)
	}
	tmuxWait(t, 30*time.Second, func() bool { return e.srv.Pending() == 0 })
	if n := len(sentIn(e.srv, strDM.ID)); n > 1 {
		t.Errorf("the flooding stranger got %d replies, want at most one", n)
	}
	if mine := strangerRecords(t, journal); mine != 1 {
		t.Errorf("the flooding stranger's %d messages made %d journal records, want 1 (and 1 count when the window ends)", sameUser, mine)
	}
	if n := runtime.NumGoroutine(); n > base+100 {
		t.Errorf("%d goroutines after the flood, %d before", n, base)
	}
}

// floodEnv is a bot at Telegram's own rate limits whose handler writes
// the real (fsync'd) journal in the returned directory.
func floodEnv(t testing.TB) (*env, string) {
	dir := t.TempDir()
	j, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() }) // after the bot stops: cleanups run last first
	e := start(t, func(o *Options) {
		o.Limits = Limits{}
		acl := commands.NewACL()
		acl.Grant(Platform, commands.RoleAdmin, "111")
		h := commands.NewHandler(commands.Options{ACL: acl, Audit: j})
		commands.RegisterFleet(h, paneFleet{}, nil)
		o.Handler = h
	})
	return e, dir
}

// strangerRecords counts the journal's records of the flooding stranger.
func strangerRecords(t testing.TB, dir string) int {
	t.Helper()
	recs, err := audit.ReadAll(dir, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Kind == audit.KindRefused && r.Actor == "telegram:999" {
			n++
		}
	}
	return n
}

func sentIn(srv *telegramtest.Server, chat int64) []telegramtest.Message {
	var out []telegramtest.Message
	for _, m := range srv.Sent() {
		if m.ChatID == chat {
			out = append(out, m)
		}
	}
	return out
}

// In one chat, an alert overtakes the normal messages queued before it.
func TestAlertGoesAheadOfQueuedMessages(t *testing.T) {
	e := start(t, func(o *Options) {
		o.Limits = Limits{PerChat: 20, PerChatBurst: 1, Global: 1000, GlobalBurst: 100}
	})
	const n = 40 // two seconds of messages at 20 a second
	for i := range n {
		if _, err := e.bot.out.enqueue(t.Context(), adminDM.ID, false, Normal, []string{"normal " + strconv.Itoa(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := len(sentWithPrefix(e.srv, "normal "))
	if err := e.bot.NotifyOnce(t.Context(), "a1", alertText); err != nil {
		t.Fatal(err)
	}
	var normalsFirst int
	for _, m := range sentIn(e.srv, adminDM.ID) {
		if m.Text == alertText {
			break
		}
		normalsFirst++
	}
	// One normal message may have been on its way when the alert came.
	if normalsFirst > before+1 {
		t.Errorf("%d normal messages went out before the alert, %d had when it was queued", normalsFirst, before)
	}
	tmuxWait(t, 30*time.Second, func() bool { return len(sentWithPrefix(e.srv, "normal ")) == n })
	if got := sentWithPrefix(e.srv, "normal "); got[0] != "normal 0" || got[n-1] != "normal "+strconv.Itoa(n-1) {
		t.Errorf("the normal messages lost their order: %v", got)
	}
}

// A chat whose queue is full refuses more at once; other chats go on.
func TestFullQueueRefusesWithoutWaiting(t *testing.T) {
	e := start(t, func(o *Options) {
		o.Limits = Limits{PerChat: 1000, PerChatBurst: 100, Group: rate.Every(time.Hour), GroupBurst: 1, Global: 1000, GlobalBurst: 100}
	})
	e.srv.AddChat(group)
	queue := func(i int) {
		t.Helper()
		if _, err := e.bot.out.enqueue(t.Context(), group.ID, true, Normal, []string{"g" + strconv.Itoa(i)}, nil); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	queue(0) // goes out; the rest wait an hour
	tmuxWait(t, 10*time.Second, func() bool { return len(sentIn(e.srv, group.ID)) == 1 })
	for i := range maxQueued {
		queue(i + 1)
	}
	done := make(chan error, 1)
	go func() { done <- e.bot.out.send(t.Context(), group.ID, true, Normal, []string{"one more"}, nil) }()
	select {
	case err := <-done:
		if !errors.Is(err, errQueueFull) {
			t.Errorf("a message to a full queue: %v, want errQueueFull", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sending to a full queue waited")
	}
	if err := e.bot.NotifyOnce(t.Context(), "a1", alertText); err != nil {
		t.Errorf("with one chat's queue full, an alert to another chat failed: %v", err)
	}
}

// BenchmarkStrangerFlood measures the target: 10,000 stranger
// messages while an admin asks /status and an alert fires, at Telegram's
// own rate limits. Run it alone (the RSS is the test process's peak):
//
//	go test -run '^$' -bench StrangerFlood -benchtime 1x ./bot/telegram/
func BenchmarkStrangerFlood(b *testing.B) {
	var reply, alert, drained time.Duration
	var records int
	for range b.N {
		e, journal := floodEnv(b)
		t0 := time.Now()
		r := runFlood(b, e, 10000, 0)
		for e.srv.Pending() > 0 {
			time.Sleep(time.Millisecond) // a measurement, not a test condition
		}
		reply, alert, drained = max(reply, r.adminReply), max(alert, r.alert), max(drained, time.Since(t0))
		records = max(records, strangerRecords(b, journal))
		e.stop()
	}
	b.ReportMetric(reply.Seconds(), "admin-reply-s")
	b.ReportMetric(alert.Seconds(), "alert-s")
	b.ReportMetric(drained.Seconds(), "flood-handled-s")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
	b.ReportMetric(float64(records), "journal-records")
}

// peakRSS is the process's peak resident set (VmHWM), in MB.
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

package daemon

import (
	"fmt"
	"github.com/fleetwarden/fleetwarden/claude"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

func count(msgs []string, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func (c *chatFleet) telegramTexts() []string {
	var out []string
	for _, m := range c.tg.Sent() {
		if m.ChatID == adminChat.ID {
			out = append(out, m.Plain)
		}
	}
	return out
}

func TestAlertsFallBackWhenTelegramIsDownAndNothingIsLost(t *testing.T) {
	hook := testenv.NewWebhook(t)
	mail := testenv.NewSMTPSink(t)
	routes := fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n\n[[alerts.route]]\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = %d\nfrom = \"fleetwarden@localhost\"\nto = [\"ops@localhost\"]\nstarttls = false\n",
		hook.URL, mail.Port)
	c := newChatFleet(t, chatOpts{fallbackAfter: "1s", extra: routes,
		agents: map[string]string{"alpha": "15-busy.txt", "beta": "15-busy.txt", "gamma": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "3 agents: 3 idle")

	// Telegram answers 500: the alert goes to the first fallback, the webhook.
	c.tg.Fail("sendMessage", 1000, telegramtest.Failure{Status: 500, Description: "Internal Server Error"})
	c.show("alpha", "19-tui-401.txt")
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		s := hook.Summaries()
		return count(s, "Login expired on alpha") == 1, fmt.Sprintf("webhook got %q", s)
	})

	// Telegram refuses connections and the webhook fails too: email carries it.
	c.tg.Down()
	hook.Failing.Store(true)
	c.show("beta", "54-tui-403org.txt")
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		for _, m := range mail.Messages() {
			if strings.Contains(m.Data, "beta") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no mail about beta; %d mails", len(mail.Messages()))
	})

	// Everything comes back: the queued copies arrive once each.
	c.tg.Up()
	c.tg.ClearFailures()
	hook.Failing.Store(false)
	tmuxtest.WaitFor(t, 60*time.Second, func() (bool, string) {
		tg := c.telegramTexts()
		ok := count(tg, "Login expired on alpha") == 1 && count(tg, "beta") >= 1 && count(hook.Summaries(), "beta") == 1
		return ok, fmt.Sprintf("telegram %q, webhook %q", tg, hook.Summaries())
	})
	// Nothing twice.
	for _, s := range []string{"Login expired on alpha"} {
		if n := count(c.telegramTexts(), s); n != 1 {
			t.Errorf("telegram got %q %d times", s, n)
		}
		if n := count(hook.Summaries(), s); n != 1 {
			t.Errorf("webhook got %q %d times", s, n)
		}
	}
}

// The dead man's switch hears from fleetwarden every heartbeat.interval
// while it watches, and /fail when an alert reached no route at all.
func TestHeartbeatPingsAndFails(t *testing.T) {
	var mu sync.Mutex
	var got []string
	sw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	t.Cleanup(sw.Close)
	seen := func(what string) int {
		mu.Lock()
		defer mu.Unlock()
		return count(got, what)
	}
	requests := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("the switch got %q", got)
	}
	extra := fmt.Sprintf("[heartbeat]\nurl = %q\ninterval = \"1s\"\n", sw.URL+"/5f0c2a4e-key")
	c := newChatFleet(t, chatOpts{fallbackAfter: "1s", extra: extra, agents: map[string]string{"alpha": "15-busy.txt"}})
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return seen("GET /5f0c2a4e-key") >= 2, requests()
	})
	// Telegram is the only route, and it is down: the alert is undeliverable.
	c.tg.Down()
	c.show("alpha", "19-tui-401.txt")
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		return seen("POST /5f0c2a4e-key/fail") >= 1, requests()
	})
	c.tg.Up()
	if strings.Contains(c.stderr.String(), "5f0c2a4e-key") {
		t.Errorf("the switch's key is in the log")
	}
}

// An agent that fails, recovers and fails the same way again within the
// minute gets a second alert, word for word the same as the first.
func TestSameFailureAgainIsAlertedAgain(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	for round := 1; round <= 2; round++ {
		n := len(c.tg.Sent())
		c.show("alpha", "19-tui-401.txt")
		c.waitReply(adminChat, n, "Login expired on alpha")
		c.show("alpha", "15-busy.txt")
		c.waitReply(adminChat, n, "Login works again on alpha")
	}
	if got := count(c.telegramTexts(), "Login expired on alpha"); got != 2 {
		t.Errorf("%d alerts for two failures, want 2", got)
	}
}

// The scheduled morning report reaches the alert chat, with its times in
// the configured zone.
func TestMorningReportArrivesInTheZone(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt"},
		extra: "[schedule]\nmorning_report = \"CRON_TZ=Asia/Tokyo @every 1s\"\ntimezone = \"Asia/Tokyo\"\n"})
	r := c.waitReply(adminChat, 0, "fleetwarden report")
	if !strings.Contains(r.Plain, "JST") || !strings.Contains(r.Plain, "1 idle") {
		t.Errorf("report %q: want Tokyo time (JST) and the fleet (1 idle)", r.Plain)
	}
}

// A start is when chat is most likely still down (the machine rebooted):
// the start notice, with how long nothing was watched, takes the fallback.
func TestStartNoticeFallsBackWhenChatIsDown(t *testing.T) {
	hook := testenv.NewWebhook(t)
	routes := fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", hook.URL)
	c := newChatFleet(t, chatOpts{fallbackAfter: "1s", extra: routes, agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	c.stop()
	c.tg.Down()
	c.start()
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return count(hook.Summaries(), "started") == 1, fmt.Sprintf("webhook got %q", hook.Summaries())
	})
	c.tg.Up() // a quick shutdown: its flush finds Telegram again
}

// A login about to run out is warned of once, at the tightest threshold it
// is within, and a restart does not warn again.
func TestExpiryWarningOnceAcrossRestarts(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	c.waitAuthChecked() // it found no login: the one written now is the next start's
	ms := func(d time.Duration) int64 { return time.Now().Add(d).UnixMilli() }
	creds := fmt.Sprintf(`{"claudeAiOauth": {"accessToken": "sk-ant-oat01-%s", "refreshToken": "sk-ant-ort01-%s",
		"expiresAt": %d, "refreshTokenExpiresAt": %d, "scopes": ["user:inference"], "subscriptionType": "max"}}`,
		strings.Repeat("a", 40), strings.Repeat("b", 40), ms(8*time.Hour), ms(40*time.Minute))
	if err := os.MkdirAll(c.claudeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(claude.CredentialsPath(c.claudeDir), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	c.stop()
	n := len(c.tg.Sent())
	c.start() // the auth check at start finds the refresh token 40 minutes from its end
	c.waitReply(adminChat, n, "The refresh token of credential default runs out in")
	c.stop()
	n = len(c.tg.Sent())
	c.start()
	c.waitReply(adminChat, n, "stopped at") // the start notice of the second restart
	c.stop()                                // its auth check at start is over, journaled
	journal, err := os.ReadFile(filepath.Join(c.dir, "state", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(journal), `"expiry_warning"`); got != 1 {
		t.Errorf("%d expiry warnings journaled, want one across the restarts", got)
	}
	if got := count(c.telegramTexts(), "runs out in"); got != 1 || count(c.telegramTexts(), "runs out in 23h") != 0 {
		t.Errorf("got %d expiry warnings, want one (the 1 h one, not the 24 h one too): %q", got, c.telegramTexts())
	}
}

// A restart of fleetwarden while an alert fires announces nothing again;
// the resolved notice still comes when the cause clears.
func TestRestartWhileFiringAnnouncesNothingTwice(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt", "beta": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "2 agents: 2 idle")
	c.show("alpha", "19-tui-401.txt")
	c.show("beta", "19-tui-401.txt")
	c.waitReply(adminChat, 0, "Login expired on 2 agents: alpha, beta")

	c.stop()
	n := len(c.tg.Sent())
	c.start()
	c.waitReply(adminChat, n, "stopped at")
	// /status answers from a scan: the restored alert has seen it.
	c.say(tgAdmin, adminChat, "/status", "2 agents: 2 auth_failed")
	c.show("alpha", "15-busy.txt")
	c.show("beta", "15-busy.txt")
	c.waitReply(adminChat, n, "✅ Login works again on 2 agents: alpha, beta")
	if got := count(c.telegramTexts(), "Login expired on 2 agents"); got != 1 {
		t.Errorf("the alert was announced %d times, want once across the restart: %q", got, c.telegramTexts())
	}
}

// The expiry warning is decided by the daemon's clock (Options.Now), not
// the machine's: a refresh token 30 hours from its end is not yet within
// the 24 h warning, but it is seven hours later, and the warning says so.
func TestExpiryWarningByTheDaemonsClock(t *testing.T) {
	later := 7 * time.Hour
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt"},
		now: func() time.Time { return time.Now().Add(later) }})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	c.waitAuthChecked() // it found no login: the one written now is the next start's
	ms := func(d time.Duration) int64 { return time.Now().Add(d).UnixMilli() }
	creds := fmt.Sprintf(`{"claudeAiOauth": {"accessToken": "sk-ant-oat01-%s", "refreshToken": "sk-ant-ort01-%s",
		"expiresAt": %d, "refreshTokenExpiresAt": %d, "scopes": ["user:inference"], "subscriptionType": "max"}}`,
		strings.Repeat("a", 40), strings.Repeat("b", 40), ms(48*time.Hour), ms(30*time.Hour))
	if err := os.MkdirAll(c.claudeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(claude.CredentialsPath(c.claudeDir), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	c.stop()
	n := len(c.tg.Sent())
	c.start() // the auth check at start: 23 hours left by the daemon's clock
	m := c.waitReply(adminChat, n, "The refresh token of credential default runs out in")
	if !strings.Contains(m.Plain, "runs out in 22h") && !strings.Contains(m.Plain, "runs out in 23h") {
		t.Errorf("the warning does not count from the daemon's clock (30 h - 7 h): %q", m.Plain)
	}
}

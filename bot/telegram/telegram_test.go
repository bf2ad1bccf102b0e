package telegram

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
)

const token = "123456789:AAtesttokentesttokentesttokentestto"

var (
	admin    = telegramtest.User{ID: 111, Username: "admin", FirstName: "Ada"}
	stranger = telegramtest.User{ID: 999, Username: "mallory", FirstName: "Mal"}
	adminDM  = telegramtest.Chat{ID: 111, Type: "private"}
	strDM    = telegramtest.Chat{ID: 999, Type: "private"}
	group    = telegramtest.Chat{ID: -100123, Type: "supergroup"}
)

type paneFleet struct{ pane string }

func (f paneFleet) Snapshot() []fleet.Status {
	return []fleet.Status{{Name: "builder", Target: "fleet:builder", State: claude.Idle, Since: time.Now()}}
}

func (f paneFleet) Peek(_ context.Context, _ string, lines int) (string, error) {
	ls := strings.Split(f.pane, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n"), nil
}

type env struct {
	srv     *telegramtest.Server
	bot     *Bot
	h       *commands.Handler
	journal *memJournal
	opts    Options
	stop    func() // stops the running bot (once)

	mu     sync.Mutex
	health []Health
}

func start(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	srv := telegramtest.New(t, token)
	srv.AddChat(adminDM) // the admin has talked to the bot before: alerts can reach them
	acl := commands.NewACL()
	acl.Grant(Platform, commands.RoleAdmin, "111")
	journal := &memJournal{}
	h := commands.NewHandler(commands.Options{ACL: acl, Audit: journal})
	var lines []string
	for i := 1; i <= 5000; i++ {
		lines = append(lines, fmt.Sprintf("line %04d <tag> & stuff", i))
	}
	commands.RegisterFleet(h, paneFleet{pane: strings.Join(lines, "\n")}, nil)
	e := &env{srv: srv, h: h, journal: journal}
	o := Options{
		Token: token, APIURL: srv.URL(), AlertChats: []int64{111}, Handler: h, Commands: h.Commands,
		PollTimeout: time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Limits: Limits{PerChat: 1000, PerChatBurst: 100, Group: 1000, GroupBurst: 100, Global: 1000, GlobalBurst: 100},
		OnHealth: func(h Health) {
			e.mu.Lock()
			e.health = append(e.health, h)
			e.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&o)
	}
	e.opts = o
	e.launch(t)
	t.Cleanup(func() { e.stop() })
	return e
}

// launch runs a new Bot with the env's options.
func (e *env) launch(t testing.TB) {
	t.Helper()
	b, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.bot = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = b.Run(ctx)
		close(done)
	}()
	e.stop = func() {
		cancel()
		<-done
		e.stop = func() {}
	}
}

// memJournal is an audit journal in memory.
type memJournal struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (j *memJournal) Append(r audit.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs = append(j.recs, r)
	return nil
}

func (j *memJournal) records() []audit.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]audit.Record(nil), j.recs...)
}

func (e *env) lastHealth() Health {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.health) == 0 {
		return Health{}
	}
	return e.health[len(e.health)-1]
}

func TestAdminGetsAnswersStrangerGetsRefusal(t *testing.T) {
	e := start(t, nil)
	e.srv.SendUserMessage(admin, adminDM, "/status")
	got := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == adminDM.ID })
	if !strings.Contains(got.Text, "1 agents: 1 idle") || got.ParseMode != "HTML" {
		t.Errorf("status reply = %+v", got)
	}
	e.srv.SendUserMessage(stranger, strDM, "/status")
	ref := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == strDM.ID })
	if ref.Text != commands.Refusal {
		t.Errorf("stranger got %q, want only the refusal", ref.Text)
	}
	// A stranger in a group gets nothing; the admin in a group gets answers.
	e.srv.SendUserMessage(stranger, group, "/status")
	e.srv.SendUserMessage(admin, group, "/help")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == group.ID && strings.Contains(m.Text, "/status") })
	for _, m := range e.srv.Sent() {
		if m.ChatID == strDM.ID && m.Text != commands.Refusal {
			t.Errorf("stranger learned something: %q", m.Text)
		}
		if m.ChatID == group.ID && strings.Contains(m.Text, "Sorry") {
			t.Errorf("the group got a refusal for a stranger: %q", m.Text)
		}
	}
}

// Each configured user's private chat gets the commands of their role,
// groups what viewers may run (never /login or /code), and everyone else
// no menu; /start says what the bot is and what the user may run.
func TestMenusPerScopeAndStart(t *testing.T) {
	e := start(t, func(o *Options) {
		o.AlertChats = []int64{111, group.ID}
		o.Roles = map[int64]commands.Role{111: commands.RoleAdmin, 222: commands.RoleOperator, 333: commands.RoleViewer}
		h := o.Handler.(*commands.Handler)
		commands.RegisterRecovery(h, commands.Recovery{})
		o.Commands = h.Commands
	})
	names := func(scope string) string {
		var out []string
		for _, c := range e.srv.CommandsIn(scope) {
			out = append(out, c.Command)
		}
		return strings.Join(out, " ")
	}
	want := map[string]string{
		"chat chat=111":                     "auth code help login peek restart status",
		"chat chat=222":                     "auth help peek restart status",
		"chat chat=333":                     "auth help status",
		"chat_member chat=-100123 user=111": "auth help peek restart status",
		"chat_member chat=-100123 user=333": "auth help status",
		"all_group_chats":                   "auth help status",
		"default":                           "",
	}
	deadline := time.Now().Add(10 * time.Second)
	for scope, w := range want {
		for names(scope) != w && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := names(scope); got != w {
			t.Errorf("menu of %s = %q, want %q", scope, got, w)
		}
	}
	e.srv.SendUserMessage(admin, adminDM, "/start")
	got := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == adminDM.ID })
	for _, w := range []string{"fleetwarden watches", "You are admin here", "/login", "/peek"} {
		if !strings.Contains(got.Plain, w) {
			t.Errorf("/start = %q, want %q", got.Plain, w)
		}
	}
	if strings.Contains(got.Plain, "Unknown command") {
		t.Errorf("/start = %q", got.Plain)
	}
}

func TestLongPeekArrivesInOrderedChunks(t *testing.T) {
	e := start(t, nil)
	e.srv.SendUserMessage(admin, adminDM, "/peek builder 5000")
	e.srv.WaitSent(t, 20*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "line 5000") })
	var all strings.Builder
	n := 0
	for _, m := range e.srv.Sent() {
		if m.ChatID != adminDM.ID {
			continue
		}
		n++
		if u := len([]rune(m.Text)); u > MaxMessage {
			t.Errorf("chunk %d has %d characters", n, u)
		}
		all.WriteString(m.Plain)
		all.WriteString("\n")
	}
	if n < 10 {
		t.Errorf("got %d messages, want the 5000 lines split into many", n)
	}
	// Every line once, in order.
	text := all.String()
	last := -1
	for i := 1; i <= 5000; i++ {
		needle := fmt.Sprintf("line %04d <tag> & stuff", i)
		j := strings.Index(text, needle)
		if j < 0 || j < last {
			t.Fatalf("line %d missing or out of order", i)
		}
		last = j
	}
}

func TestRateLimitDelaysButLosesNothing(t *testing.T) {
	e := start(t, nil)
	e.srv.Fail("sendMessage", 3, telegramtest.Failure{Status: 429, RetryAfter: 1})
	for i := 0; i < 5; i++ {
		if err := e.bot.Notify(t.Context(), fmt.Sprintf("alert %d", i)); err != nil {
			t.Fatalf("notify %d: %v", i, err)
		}
	}
	got := sentWithPrefix(e.srv, "alert ")
	if want := "alert 0,alert 1,alert 2,alert 3,alert 4"; strings.Join(got, ",") != want {
		t.Errorf("delivered %v, want %s", got, want)
	}
	if n := e.srv.EarlyRetries(); n != 0 {
		t.Errorf("%d messages sent before their retry_after had passed", n)
	}
}

// A burst beyond Telegram's limit for a chat (about one message a second),
// with the bot's default limits: Telegram's 429s slow it, the sender waits
// each retry_after out, and every alert arrives, in order.
func TestBurstOverTelegramsLimitArrivesInOrder(t *testing.T) {
	e := start(t, func(o *Options) { o.Limits = Limits{} }) // the defaults
	e.srv.SetRateLimit(1)
	for i := range 4 {
		if err := e.bot.Notify(t.Context(), fmt.Sprintf("burst %d", i)); err != nil {
			t.Fatalf("notify %d: %v", i, err)
		}
	}
	got := sentWithPrefix(e.srv, "burst ")
	if want := "burst 0,burst 1,burst 2,burst 3"; strings.Join(got, ",") != want {
		t.Errorf("delivered %v, want %s", got, want)
	}
	if n := e.srv.EarlyRetries(); n != 0 {
		t.Errorf("%d messages sent before their retry_after had passed", n)
	}
}

// countingTransport records when each getUpdates attempt was made.
type countingTransport struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/getUpdates") {
		c.mu.Lock()
		c.times = append(c.times, time.Now())
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) since(i int) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i > len(c.times) {
		return nil
	}
	return append([]time.Time(nil), c.times[i:]...)
}

func TestDeadServerBacksOff(t *testing.T) {
	ct := &countingTransport{}
	e := start(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: ct} })
	tmuxWait(t, 10*time.Second, func() bool { return len(ct.since(0)) > 0 })
	e.srv.Down()
	from := len(ct.since(0))
	// Wait for seven attempts against the dead server: a spinning poller makes
	// them in a millisecond; ours waits min·2^k (jittered to half) between them.
	tmuxWait(t, 20*time.Second, func() bool { return len(ct.since(from)) >= 7 })
	ts := ct.since(from)
	if spread := ts[6].Sub(ts[1]); spread < 150*time.Millisecond {
		t.Errorf("7 attempts within %s: no backoff", spread)
	}
	tmuxWait(t, 10*time.Second, func() bool { return e.bot.Health().State == "down" })
	e.srv.Up()
	tmuxWait(t, 10*time.Second, func() bool { return e.bot.Health().State == "up" })
	e.srv.SendUserMessage(admin, adminDM, "/status")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "agents") })
}

// Every way the Bot API fails a poll is reported (down, with why), backed
// off rather than hammered, and left behind when the API works again.
func TestPollerSurvivesEachFailure(t *testing.T) {
	tests := []struct {
		name    string
		f       telegramtest.Failure
		explain string
	}{
		{"409 another instance", telegramtest.Failure{Status: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}, "another instance"},
		{"401 bad token", telegramtest.Failure{Status: 401, Description: "Unauthorized"}, "401"},
		{"500 server error", telegramtest.Failure{Status: 500, Description: "Internal Server Error"}, "500"},
		{"502 bad gateway", telegramtest.Failure{Status: 502, Description: "Bad Gateway"}, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := &countingTransport{}
			e := start(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: ct} })
			tmuxWait(t, 10*time.Second, func() bool { return e.lastHealth().State == "up" })
			e.srv.Fail("getUpdates", 1000, tt.f)
			from := len(ct.since(0))
			tmuxWait(t, 10*time.Second, func() bool { return e.lastHealth().State == "down" })
			if h := e.lastHealth(); !strings.Contains(h.LastError, tt.explain) {
				t.Errorf("health error %q does not say %q", h.LastError, tt.explain)
			}
			tmuxWait(t, 20*time.Second, func() bool { return len(ct.since(from)) >= 7 })
			ts := ct.since(from)
			if spread := ts[6].Sub(ts[1]); spread < 150*time.Millisecond {
				t.Errorf("7 getUpdates against a %d within %s: the poller is spinning", tt.f.Status, spread)
			}
			e.srv.ClearFailures()
			tmuxWait(t, 10*time.Second, func() bool { return e.lastHealth().State == "up" })
			// And it answers again.
			e.srv.SendUserMessage(admin, adminDM, "/help")
			e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "/status") })
		})
	}
}

func TestConfirmationButtonsAreAnswered(t *testing.T) {
	e := start(t, nil)
	done := make(chan struct{}, 1)
	e.h.Register(commands.Command{Name: "restart", Role: commands.RoleOperator, Help: "restart",
		Run: func(ctx context.Context, c *commands.Call) error {
			return c.Confirm(ctx, "Restart 2 agents?", func(ctx context.Context, c *commands.Call) error {
				done <- struct{}{}
				return c.Reply(ctx, "restarted")
			})
		}})
	e.srv.SendUserMessage(admin, adminDM, "/restart")
	q := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "Restart 2 agents?") })
	if len(q.ReplyMarkup) == 0 || len(q.ReplyMarkup[0]) != 2 {
		t.Fatalf("question has buttons %+v, want Yes and Cancel", q.ReplyMarkup)
	}
	id := e.srv.PressButton(admin, adminDM, q.MessageID, q.ReplyMarkup[0][0].CallbackData)
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.Text == "restarted" })
	tmuxWait(t, 5*time.Second, func() bool { return e.srv.Answered(id) })
	select {
	case <-done:
	default:
		t.Error("the action did not run")
	}
}

func TestSecretsStayPrivateAndCodesAreDeleted(t *testing.T) {
	e := start(t, nil)
	e.h.Register(commands.Command{Name: "code", Role: commands.RoleAdmin, Help: "code",
		Run: func(ctx context.Context, c *commands.Call) error {
			_ = c.Send(ctx, commands.Reply{DeleteRequest: true})
			return c.Send(ctx, commands.Reply{Text: "got it", Secret: true})
		}})
	id := e.srv.SendUserMessage(admin, adminDM, "/code abc#def")
	_ = id
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.Text == "got it" })
	if n := e.srv.Requests("deleteMessage"); n != 1 {
		t.Errorf("deleteMessage called %d times, want the message holding the code deleted once", n)
	}
	for _, m := range e.srv.Sent() {
		if strings.Contains(m.Text, "abc#def") {
			t.Errorf("the code was echoed back: %q", m.Text)
		}
	}
	r := &responder{b: e.bot, chat: nil, private: false}
	if err := r.Reply(t.Context(), commands.Reply{Text: "https://login", Secret: true}); err == nil {
		t.Error("a secret reply to a group chat was not refused")
	}
}

func TestTooManyCommandsRefusedBeforeCallingTelegram(t *testing.T) {
	var cmds []commands.Command
	for i := 0; i < 101; i++ {
		cmds = append(cmds, commands.Command{Name: fmt.Sprintf("c%d", i), Help: "x"})
	}
	b, err := New(Options{Token: token, APIURL: "http://127.0.0.1:1", Commands: func() []commands.Command { return cmds }})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("got %v, want a refusal naming the limit", err)
	}
}

func TestProbe(t *testing.T) {
	srv := telegramtest.New(t, token)
	name, err := Probe(t.Context(), nil, srv.URL(), token)
	if err != nil || name == "" {
		t.Errorf("probe with the right token: %q, %v", name, err)
	}
	_, err = Probe(t.Context(), nil, srv.URL(), "42:wrong")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("probe with a wrong token: %v, want a 401 explanation", err)
	}
	// Someone set a webhook on the bot: polling would get 409 Conflict.
	srv.SetWebhook("https://hooks.example/bot")
	_, err = Probe(t.Context(), nil, srv.URL(), token)
	if err == nil || !strings.Contains(err.Error(), "webhook") || !strings.Contains(err.Error(), "409") {
		t.Errorf("probe with a webhook set: %v, want the 409 it causes explained", err)
	}
}

func TestWebhookConflictIsExplained(t *testing.T) {
	e := start(t, nil)
	e.srv.SetWebhook("https://hooks.example/bot")
	tmuxWait(t, 10*time.Second, func() bool { return e.lastHealth().State == "down" })
	if h := e.lastHealth(); !strings.Contains(h.LastError, "webhook") || !strings.Contains(h.LastError, "deleteWebhook") {
		t.Errorf("health error %q, want it to say a webhook blocks polling", h.LastError)
	}
}

func TestFormatSplitsAndEscapes(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name string
		r    commands.Reply
	}{
		{"long line", commands.Reply{Text: long}},
		{"entities", commands.Reply{Text: strings.Repeat("a&b<c>\n", 1200)}},
		{"pre", commands.Reply{Text: "head", Pre: strings.Repeat("pane line with <html>\n", 500)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := Format(tc.r)
			for i, c := range chunks {
				if units(c) > MaxMessage {
					t.Errorf("chunk %d has %d units", i, units(c))
				}
				if strings.Count(c, "<pre>") != strings.Count(c, "</pre>") {
					t.Errorf("chunk %d has unbalanced <pre>", i)
				}
				if strings.Contains(c, "<html>") {
					t.Errorf("chunk %d is not escaped", i)
				}
			}
		})
	}
}

// tmuxWait polls cond until it holds or the deadline passes.
func tmuxWait(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		<-tick.C
	}
}

// With several alert chats, one that fails does not make the others get
// the alert twice when the manager retries the route.
func TestAlertRetryGoesOnlyToTheChatsThatMissedIt(t *testing.T) {
	ops := telegramtest.Chat{ID: -1001, Type: "supergroup"}
	e := start(t, func(o *Options) { o.AlertChats = []int64{111, ops.ID} })
	// The ops group does not exist yet (the bot was not added): 400 chat not found.
	if err := e.bot.NotifyOnce(t.Context(), "n1", "🔴 Login expired on builder"); err == nil {
		t.Fatal("one chat failed, Notify said all is well")
	}
	e.srv.AddChat(ops)
	if err := e.bot.NotifyOnce(t.Context(), "n1", "🔴 Login expired on builder"); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	got := map[int64]int{}
	for _, m := range e.srv.Sent() {
		if strings.Contains(m.Text, "Login expired on builder") {
			got[m.ChatID]++
		}
	}
	if got[111] != 1 || got[ops.ID] != 1 {
		t.Errorf("deliveries by chat %v, want one each", got)
	}
	// The same words later are a new alert (another ID): everyone gets it.
	if err := e.bot.NotifyOnce(t.Context(), "n2", "🔴 Login expired on builder"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range e.srv.Sent() {
		if strings.Contains(m.Text, "Login expired on builder") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d deliveries after a new alert with the same words, want 4", n)
	}
}

// In a group with several bots, "/help@otherbot" is another bot's; ours
// answers only its own name, or none.
func TestCommandsForAnotherBotAreIgnored(t *testing.T) {
	e := start(t, nil)
	group := telegramtest.Chat{ID: -2002, Type: "group"}
	e.srv.AddChat(group)
	e.srv.SendUserMessage(admin, group, "/help@otherbot")
	e.srv.SendUserMessage(admin, group, "/help@"+e.srv.Bot().Username)
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == group.ID && strings.Contains(m.Text, "/status") })
	e.srv.SendUserMessage(admin, group, "/status")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == group.ID && strings.Contains(m.Text, "agent") })
	n := 0
	for _, m := range e.srv.Sent() {
		if m.ChatID == group.ID && strings.Contains(m.Text, "Commands you may run") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("/help answered %d times in the group, want once (not the one for @otherbot)", n)
	}
}

// sentWithPrefix lists, in order, the texts sent that start with prefix.
func sentWithPrefix(srv *telegramtest.Server, prefix string) []string {
	var got []string
	for _, m := range srv.Sent() {
		if strings.HasPrefix(m.Text, prefix) {
			got = append(got, m.Text)
		}
	}
	return got
}

package discord

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/discordtest"
)

const (
	token   = "MTAw.fake.bot-token"
	appID   = "100000000000000001"
	guild   = "200000000000000002"
	channel = "300000000000000003"
	alertA  = "300000000000000010"
	alertB  = "300000000000000011"
	wait    = 10 * time.Second
)

var (
	admin    = discordtest.User{ID: "400000000000000004", Username: "ada"}
	viewer   = discordtest.User{ID: "400000000000000005", Username: "vic"}
	stranger = discordtest.User{ID: "400000000000000006", Username: "mallory"}
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

// recorder keeps the requests the transport built, then lets the real
// command handler answer them.
type recorder struct {
	h    Handler
	mu   sync.Mutex
	reqs []commands.Request
}

func (r *recorder) Handle(ctx context.Context, req commands.Request, out commands.Responder) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	r.h.Handle(ctx, req, out)
}

// Complete passes suggestions on, as commands.Handler gives them.
func (r *recorder) Complete(ctx context.Context, req commands.Request, cmd, opt, partial string, given map[string]string) []commands.Suggestion {
	if c, ok := r.h.(Completer); ok {
		return c.Complete(ctx, req, cmd, opt, partial, given)
	}
	return nil
}

// RoleOf passes the handler's roles on, as commands.Handler does for the bot.
func (r *recorder) RoleOf(req commands.Request) commands.Role {
	if ro, ok := r.h.(Roler); ok {
		return ro.RoleOf(req)
	}
	return commands.RoleAdmin
}

func (r *recorder) last() commands.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return commands.Request{}
	}
	return r.reqs[len(r.reqs)-1]
}

type env struct {
	srv *discordtest.Server
	bot *Bot
	h   *commands.Handler
	rec *recorder

	mu     sync.Mutex
	health []Health
}

// start runs a bot against a fresh fake. register adds commands to the
// handler before they are registered with Discord; mod changes the options.
func start(t *testing.T, register func(*commands.Handler), mod func(*Options, *discordtest.Server), fopts ...discordtest.Option) *env {
	t.Helper()
	srv := discordtest.New(t, token, appID, fopts...)
	acl := commands.NewACL()
	acl.Grant(Platform, commands.RoleAdmin, admin.ID)
	acl.Grant(Platform, commands.RoleViewer, viewer.ID)
	h := commands.NewHandler(commands.Options{ACL: acl})
	var lines []string
	for i := 1; i <= 5000; i++ {
		lines = append(lines, fmt.Sprintf("line %04d <tag> & `stuff` *x*", i))
	}
	commands.RegisterFleet(h, paneFleet{pane: strings.Join(lines, "\n")}, nil)
	if register != nil {
		register(h)
	}
	e := &env{srv: srv, h: h, rec: &recorder{h: h}}
	o := Options{
		Token: token, HTTPClient: srv.HTTPClient(), AlertChannels: []string{alertA, alertB},
		Handler: e.rec, Commands: h.Commands,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		OnHealth: func(h Health) {
			e.mu.Lock()
			e.health = append(e.health, h)
			e.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&o, srv)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.bot = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	// Registered after fake.New: runs first, so the bot closes before the fake stops.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

// states returns the health states OnHealth reported, in order.
func (e *env) states() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, h := range e.health {
		out = append(out, h.State)
	}
	return out
}

func (e *env) healthLog() []Health {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.health)
}

// replies returns the messages answering interaction id, without the empty
// deferred placeholder, in order.
func (e *env) replies(id string) []discordtest.Message {
	var out []discordtest.Message
	for _, m := range e.srv.Messages() {
		if m.InteractionID == id && (m.Kind == discordtest.KindEdit || m.Kind == discordtest.KindFollowup) && m.Content != "" {
			out = append(out, m)
		}
	}
	return out
}

// reply waits for the first message answering interaction id.
func (e *env) reply(t *testing.T, id string, pred func(discordtest.Message) bool) discordtest.Message {
	t.Helper()
	return e.srv.WaitMessage(t, wait, func(m discordtest.Message) bool {
		return m.InteractionID == id && (m.Kind == discordtest.KindEdit || m.Kind == discordtest.KindFollowup) && m.Content != "" &&
			(pred == nil || pred(m))
	})
}

func TestGuildCommandsRegisteredAndAnswered(t *testing.T) {
	t.Parallel()
	e := start(t, nil, func(o *Options, _ *discordtest.Server) { o.GuildID = guild })
	e.srv.WaitCommands(t, wait, guild, "status", "peek", "help", "auth")
	// Only private commands are global too: DMs offer nothing else.
	for _, g := range e.srv.Commands("") {
		t.Errorf("global command %q, want none (no private command in this handler)", g.Name)
	}
	byName := map[string]discordtest.Command{}
	for _, c := range e.srv.Commands(guild) {
		byName[c.Name] = c
	}
	if got := byName["status"]; got.Description != "state of every agent" || len(got.Options) != 0 {
		t.Errorf("status registered as %+v, want its help and no options", got)
	}
	// Typed options: the agent a string completed from the fleet, lines an
	// integer with its range.
	peek := byName["peek"]
	if len(peek.Options) != 2 || peek.Options[0].Name != "agent" || peek.Options[0].Type != 3 || !peek.Options[0].Autocomplete ||
		peek.Options[1].Name != "lines" || peek.Options[1].Type != 4 || peek.Options[1].Min == nil || *peek.Options[1].Min != 1 ||
		*peek.Options[1].Max != commands.MaxPeekLines {
		t.Errorf("peek options %+v, want an agent that autocompletes and an integer number of lines", peek.Options)
	}

	id := e.srv.SlashCommand(admin, channel, guild, "status", nil)
	m := e.reply(t, id, nil)
	if !strings.Contains(m.Content, "1 agents: 1 idle") || !m.Ephemeral || m.GuildID != guild {
		t.Errorf("status reply %+v, want the fleet summary, ephemeral in the guild", m)
	}
	if first := e.srv.Messages(); !slices.ContainsFunc(first, func(m discordtest.Message) bool {
		return m.InteractionID == id && m.Kind == discordtest.KindDeferred && m.Ephemeral
	}) {
		t.Error("the interaction was not deferred (ephemeral) first")
	}
	want := commands.Request{Platform: Platform, UserID: admin.ID, UserName: admin.Username, ChatID: channel, Text: "/status"}
	if got := e.rec.last(); got != want {
		t.Errorf("request = %+v, want %+v", got, want)
	}

	id = e.srv.SlashCommand(admin, channel, guild, "peek", map[string]string{"agent": "builder", "lines": "3"})
	m = e.reply(t, id, nil)
	if got := e.rec.last().Text; got != "/peek builder 3" {
		t.Errorf("peek text = %q, want %q", got, "/peek builder 3")
	}
	if !strings.Contains(m.Content, "builder, last 3 lines:") || !strings.Contains(m.Content, "```\nline 4998") {
		t.Errorf("peek reply %q, want the header and a code block", m.Content)
	}

	// A stranger in a guild channel learns nothing; the command layer does not
	// answer there, and the deferred "thinking…" is closed.
	id = e.srv.SlashCommand(stranger, channel, guild, "status", nil)
	m = e.reply(t, id, nil)
	if m.Content != noReply || !m.Ephemeral {
		t.Errorf("stranger in a guild got %+v, want only %q, ephemeral", m, noReply)
	}
}

func TestStrangerRefusedAndHelpFiltered(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "status", "help", "peek")

	dm := e.srv.DMChannel(stranger.ID)
	id := e.srv.SlashCommand(stranger, dm, "", "status", nil)
	e.reply(t, id, nil)
	var got []string
	for _, m := range e.replies(id) {
		got = append(got, m.Content)
	}
	if want := []string{commands.Refusal}; !slices.Equal(got, want) {
		t.Errorf("stranger got %q, want only %q", got, want)
	}
	if r := e.rec.last(); !r.Private || r.ChatID != dm || r.UserID != stranger.ID {
		t.Errorf("DM request = %+v, want private from the stranger in %s", r, dm)
	}

	tests := []struct {
		user    discordtest.User
		want    []string
		notWant []string
	}{
		{viewer, []string{"/status", "/help", "/auth"}, []string{"/peek"}},
		{admin, []string{"/status", "/help", "/peek"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.user.Username, func(t *testing.T) {
			id := e.srv.SlashCommand(tc.user, e.srv.DMChannel(tc.user.ID), "", "help", nil)
			m := e.reply(t, id, nil)
			if m.Ephemeral {
				t.Errorf("a DM reply is ephemeral: %+v", m)
			}
			for _, w := range tc.want {
				if !strings.Contains(m.Content, w) {
					t.Errorf("help %q lacks %s", m.Content, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(m.Content, w) {
					t.Errorf("help %q lists %s, which %s may not run", m.Content, w, tc.user.Username)
				}
			}
		})
	}
}

func TestLongPeekArrivesInOrderedChunks(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "peek")
	id := e.srv.SlashCommand(admin, e.srv.DMChannel(admin.ID), "", "peek", map[string]string{"agent": "builder", "lines": "5000"})
	e.reply(t, id, func(m discordtest.Message) bool { return strings.Contains(m.Content, "line 5000") })
	msgs := e.replies(id)
	if len(msgs) < 10 {
		t.Fatalf("got %d messages, want the 5000 lines split into many", len(msgs))
	}
	if msgs[0].Kind != discordtest.KindEdit {
		t.Errorf("first part is a %s, want the edit of the deferred response", msgs[0].Kind)
	}
	var all strings.Builder
	for i, m := range msgs {
		if n := units(m.Content); n > MaxMessage {
			t.Errorf("part %d has %d characters", i, n)
		}
		if strings.Count(m.Content, "```")%2 != 0 {
			t.Errorf("part %d has an unclosed code block", i)
		}
		all.WriteString(strings.ReplaceAll(m.Content, zwsp, ""))
		all.WriteString("\n")
	}
	text := all.String()
	last := -1
	for i := 1; i <= 5000; i++ {
		needle := fmt.Sprintf("line %04d <tag> & `stuff` *x*\n", i)
		j := strings.Index(text, needle)
		if j < 0 || j < last {
			t.Fatalf("line %d missing or out of order", i)
		}
		last = j
	}
}

func TestConfirmationButtons(t *testing.T) {
	t.Parallel()
	done := make(chan struct{}, 1)
	e := start(t, func(h *commands.Handler) {
		h.Register(commands.Command{Name: "restart", Role: commands.RoleOperator, Help: "restart the fleet",
			Run: func(ctx context.Context, c *commands.Call) error {
				return c.Confirm(ctx, "Restart 2 agents?", func(ctx context.Context, c *commands.Call) error {
					done <- struct{}{}
					return c.Reply(ctx, "restarted")
				})
			}})
	}, nil)
	e.srv.WaitCommands(t, wait, "", "restart")
	id := e.srv.SlashCommand(admin, channel, guild, "restart", nil)
	q := e.reply(t, id, func(m discordtest.Message) bool { return len(m.Components) > 0 })
	if !strings.Contains(q.Content, "Restart 2 agents?") || len(q.Components) != 2 {
		t.Fatalf("question %+v, want the question with two buttons", q)
	}
	yes := q.Components[0]
	if yes.Label != "Yes, do it" || !strings.HasPrefix(yes.CustomID, "y:") || yes.Style == 5 {
		t.Errorf("first button %+v, want \"Yes, do it\" carrying the confirmation", yes)
	}
	press := e.srv.PressButton(admin, channel, guild, q.ID, yes.CustomID)
	r := e.reply(t, press, func(m discordtest.Message) bool { return m.Kind == discordtest.KindFollowup })
	if r.Content != "restarted" || r.Kind != discordtest.KindFollowup || !r.Ephemeral {
		t.Errorf("after Yes got %+v, want an ephemeral followup \"restarted\"", r)
	}
	select {
	case <-done:
	default:
		t.Error("the action did not run")
	}
	// The fake refuses a callback after 3 s: a recorded acknowledgement was in time.
	if !slices.ContainsFunc(e.srv.Messages(), func(m discordtest.Message) bool {
		return m.InteractionID == press && m.Kind == discordtest.KindDeferredUpdate
	}) {
		t.Error("the button press was not acknowledged")
	}
	if cur, _ := e.srv.MessageState(q.ID); len(cur.Components) != 0 || cur.Content != q.Content {
		t.Errorf("question now %+v, want its text kept and the spent buttons removed", cur)
	}
}

func TestSecretsOnlyInDMs(t *testing.T) {
	t.Parallel()
	const loginURL = "https://claude.ai/oauth/authorize?code=true&client_id=abc_def"
	errs := make(chan error, 4)
	e := start(t, func(h *commands.Handler) {
		h.Register(commands.Command{Name: "login", Role: commands.RoleAdmin, Help: "log in",
			Run: func(ctx context.Context, c *commands.Call) error {
				if err := c.Send(ctx, commands.Reply{DeleteRequest: true}); err != nil {
					return err
				}
				err := c.Send(ctx, commands.Reply{Text: "Open " + loginURL, Secret: true,
					Buttons: []commands.Button{{Text: "Log in", URL: loginURL}}})
				errs <- err
				return err
			}})
	}, nil)
	e.srv.WaitCommands(t, wait, "", "login")

	id := e.srv.SlashCommand(admin, channel, guild, "login", nil)
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("secret in a guild channel: %v, want a refusal", err)
	}
	e.reply(t, id, nil) // the command layer's "✗ …"
	for _, m := range e.srv.Messages() {
		if m.GuildID == guild && (strings.Contains(m.Content, "claude.ai") || len(m.Components) > 0) {
			t.Errorf("the secret reached the guild: %+v", m)
		}
	}

	id = e.srv.SlashCommand(admin, e.srv.DMChannel(admin.ID), "", "login", nil)
	if err := <-errs; err != nil {
		t.Fatalf("secret in a DM: %v", err)
	}
	m := e.reply(t, id, nil)
	if m.Content != "Open "+loginURL {
		t.Errorf("DM got %q, want the login URL unescaped", m.Content)
	}
	if len(m.Components) != 1 || m.Components[0].Style != 5 || m.Components[0].URL != loginURL {
		t.Errorf("components %+v, want one link button to the login URL", m.Components)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	// No test client: the api_url rewrite alone must bring every REST call to the fake.
	e := start(t, nil, func(o *Options, srv *discordtest.Server) {
		o.HTTPClient = nil
		o.APIURL = srv.URL() + "/api/v9"
	})
	e.srv.WaitCommands(t, wait, "", "status")
	waitFor(t, func() bool { return e.bot.Health().State == "up" })

	long := strings.Repeat("agent builder: login expired @everyone\n", 120)
	if err := e.bot.Notify(t.Context(), long); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	for _, ch := range []string{alertA, alertB} {
		var got strings.Builder
		for _, m := range e.srv.Messages() {
			if m.ChannelID == ch && m.Kind == discordtest.KindChannel {
				if units(m.Content) > MaxMessage {
					t.Errorf("channel %s: a part has %d characters", ch, units(m.Content))
				}
				got.WriteString(m.Content + "\n")
			}
		}
		if n := strings.Count(got.String(), "agent builder: login expired @everyone"); n != 120 {
			t.Errorf("channel %s got %d alert lines, want 120", ch, n)
		}
	}

	mark := len(e.healthLog())
	e.srv.Fail("POST", "/channels/"+alertB, 1, http.StatusInternalServerError)
	err := e.bot.NotifyOnce(t.Context(), "n1", "agent web: API error")
	if err == nil || !strings.Contains(err.Error(), alertB) || !strings.Contains(err.Error(), "500") {
		t.Errorf("Notify with a 500 = %v, want an error naming channel %s and the 500", err, alertB)
	}
	if !slices.ContainsFunc(e.srv.Messages(), func(m discordtest.Message) bool {
		return m.ChannelID == alertA && m.Content == "agent web: API error"
	}) {
		t.Error("the working channel did not get the alert")
	}
	// The manager retries the route: only the channel that missed it gets it.
	if err := e.bot.NotifyOnce(t.Context(), "n1", "agent web: API error"); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	for _, ch := range []string{alertA, alertB} {
		n := 0
		for _, m := range e.srv.Messages() {
			if m.ChannelID == ch && m.Content == "agent web: API error" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("channel %s got the alert %d times across the retry, want once", ch, n)
		}
	}

	// The 500 degraded the transport (the retry's success may have brought
	// it up again since: look through what it went through).
	var degraded Health
	waitFor(t, func() bool {
		for _, h := range e.healthLog()[mark:] {
			if h.State == "degraded" {
				degraded = h
				return true
			}
		}
		return false
	})
	if !strings.Contains(degraded.LastError, "500") {
		t.Errorf("degraded with %q, want the 500", degraded.LastError)
	}
	last := func() Health { l := e.healthLog(); return l[len(l)-1] }
	// The next delivered alert brings the transport back up.
	if err := e.bot.Notify(t.Context(), "agent web: recovered"); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	waitFor(t, func() bool { return last().State == "up" })

	// A 429 is waited out by discordgo: delivered, health degraded then up.
	from := len(e.states())
	e.srv.Fail("POST", "/channels/"+alertA, 1, http.StatusTooManyRequests)
	if err := e.bot.Notify(t.Context(), "agent db: idle"); err != nil {
		t.Fatalf("Notify through a 429: %v", err)
	}
	waitFor(t, func() bool {
		s := e.states()
		return len(s) >= from+2 && slices.Equal(s[from:from+2], []string{"degraded", "up"})
	})

	for _, r := range e.srv.Requests() {
		if r.Host == "discord.com" {
			t.Errorf("request %s %s went to discord.com, not the api_url", r.Method, r.Path)
		}
	}
}

func TestReconnectAfterGatewayDrop(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "status")
	waitFor(t, func() bool { return e.bot.Health().State == "up" })
	before := e.srv.Identifies() + e.srv.Resumes()
	from := len(e.states())

	e.srv.DropConnections()
	waitFor(t, func() bool { return slices.Contains(e.states()[from:], "down") })
	waitFor(t, func() bool { return e.srv.Identifies()+e.srv.Resumes() > before })
	waitFor(t, func() bool { s := e.states(); return s[len(s)-1] == "up" })
	var down Health
	for _, h := range e.healthLog()[from:] {
		if h.State == "down" {
			down = h
		}
	}
	if !strings.Contains(down.LastError, "gateway") {
		t.Errorf("down with error %q, want it to name the gateway", down.LastError)
	}
	e.srv.WaitReady(t, wait)

	id := e.srv.SlashCommand(admin, e.srv.DMChannel(admin.ID), "", "status", nil)
	if m := e.reply(t, id, nil); !strings.Contains(m.Content, "1 agents") {
		t.Errorf("after the reconnect /status got %q", m.Content)
	}
}

func TestGatewayTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mod      func(*Options, *discordtest.Server)
		wantErr  string
		recovers bool
	}{
		{"gateway unreachable, then back", func(_ *Options, srv *discordtest.Server) {
			srv.Fail("GET", "/gateway", 3, http.StatusInternalServerError)
		}, "500", true},
		{"wrong token", func(o *Options, _ *discordtest.Server) { o.Token = "MTAw.wrong.token" }, "token was rejected", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, nil, tc.mod)
			waitFor(t, func() bool { return slices.Contains(e.states(), "down") })
			var down Health
			for _, h := range e.healthLog() {
				if h.State == "down" {
					down = h
				}
			}
			if !strings.Contains(down.LastError, tc.wantErr) {
				t.Errorf("down with %q, want %q", down.LastError, tc.wantErr)
			}
			if strings.Contains(down.LastError, "wrong.token") {
				t.Errorf("the token leaked into the health: %q", down.LastError)
			}
			if !tc.recovers {
				return
			}
			e.srv.WaitCommands(t, wait, "", "status")
			waitFor(t, func() bool { return e.bot.Health().State == "up" })
			id := e.srv.SlashCommand(admin, e.srv.DMChannel(admin.ID), "", "status", nil)
			e.reply(t, id, nil)
		})
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	srv := discordtest.New(t, token, appID)
	tests := []struct {
		name    string
		client  *http.Client
		apiURL  string
		token   string
		want    string
		wantErr string
	}{
		{"good token", srv.HTTPClient(), "", token, "@fleetwarden-fake", ""},
		{"good token via api_url", nil, srv.URL() + "/api/v9", "Bot " + token, "@fleetwarden-fake", ""},
		{"bad token", srv.HTTPClient(), "", "MTAw.bad.token", "", "token was rejected (401"},
		{"nothing listening", nil, "http://127.0.0.1:1/api/v9", token, "", "cannot reach"},
		{"not a URL", nil, "discord.com", token, "", "not an http(s) URL"},
		{"no token", nil, "", " ", "", "no bot token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Probe(t.Context(), tc.client, tc.apiURL, tc.token)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
}

// A command list Discord would refuse is refused when Run reads it,
// before anything is sent.
func TestRunRefusesBadCommands(t *testing.T) {
	t.Parallel()
	many := make([]commands.Command, 101)
	for i := range many {
		many[i] = commands.Command{Name: fmt.Sprintf("c%d", i), Help: "x"}
	}
	h := commands.NewHandler(commands.Options{})
	for _, tc := range []struct {
		name    string
		cmds    []commands.Command
		wantErr string
	}{
		{"101 commands", many, "at most 100"},
		{"bad command name", []commands.Command{{Name: "Peek Agent"}}, "not a valid slash command name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(Options{Token: token, Handler: h, APIURL: "http://127.0.0.1:1", Commands: func() []commands.Command { return tc.cmds }})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Run(t.Context()); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	h := commands.NewHandler(commands.Options{})
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"alert channel by name", Options{Token: token, Handler: h, AlertChannels: []string{"#alerts"}}, "not a channel ID"},
		{"guild not a snowflake", Options{Token: token, Handler: h, GuildID: "my-guild"}, "guild_id"},
		{"bad api_url", Options{Token: token, Handler: h, APIURL: "ftp://proxy"}, "api_url"},
		{"no token", Options{Handler: h}, "no bot token"},
		{"no handler", Options{Token: token}, "no command handler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", wait)
		}
		<-tick.C
	}
}

func TestPrivateCommandsAlsoGlobalWithGuild(t *testing.T) {
	t.Parallel()
	e := start(t, nil, func(o *Options, _ *discordtest.Server) {
		o.GuildID = guild
		list := o.Commands
		o.Commands = func() []commands.Command {
			return append(list(), commands.Command{Name: "login", Help: "log in", Role: commands.RoleAdmin, Private: true})
		}
	})
	e.srv.WaitCommands(t, wait, guild, "status", "login")
	e.srv.WaitCommands(t, wait, "", "login")
	if g := e.srv.Commands(""); len(g) != 1 {
		t.Errorf("global commands %v, want only login", g)
	}
}

// While a user types an agent, Discord asks for suggestions: the fleet's
// agents that match, for users who may run the command; nothing for others.
func TestAgentAutocomplete(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "peek")
	dm := e.srv.DMChannel(admin.ID)
	id := e.srv.Autocomplete(admin, dm, "", "peek", nil, "agent", "bu")
	if got, ok := e.srv.Suggestions(id, wait); !ok || !slices.Equal(got, []string{"builder"}) {
		t.Errorf("admin typing bu: suggestions %v (answered %v), want [builder]", got, ok)
	}
	id = e.srv.Autocomplete(admin, dm, "", "peek", map[string]string{"lines": "5"}, "agent", "zz")
	if got, ok := e.srv.Suggestions(id, wait); !ok || len(got) != 0 {
		t.Errorf("no match: suggestions %v (answered %v), want none", got, ok)
	}
	// /peek is an operator's: a viewer and a stranger learn no names.
	for _, u := range []discordtest.User{viewer, stranger} {
		id = e.srv.Autocomplete(u, e.srv.DMChannel(u.ID), "", "peek", nil, "agent", "")
		if got, ok := e.srv.Suggestions(id, wait); !ok || len(got) != 0 {
			t.Errorf("%s: suggestions %v (answered %v), want none", u.Username, got, ok)
		}
	}
}

// An alert can carry buttons (a dialog's options): they go under the alert
// in every alert channel, and a press there reaches the command layer,
// which checks the presser's role.
func TestNotifyWithButtons(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "status")
	waitFor(t, func() bool { return e.bot.Health().State == "up" })
	b, err := e.h.Offer("peek", "builder", []string{"builder"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bot.NotifyWithButtons(t.Context(), "n1", "Waiting for an answer on builder", []commands.Button{b}); err != nil {
		t.Fatal(err)
	}
	alert := e.srv.WaitMessage(t, wait, func(m discordtest.Message) bool {
		return m.ChannelID == alertA && m.Kind == discordtest.KindChannel && len(m.Components) == 1
	})
	if c := alert.Components[0]; c.Label != "builder" || c.CustomID != b.Data {
		t.Fatalf("alert button = %+v, want builder carrying %q", c, b.Data)
	}
	id := e.srv.PressButton(viewer, alertA, guild, alert.ID, b.Data)
	e.srv.WaitMessage(t, wait, func(m discordtest.Message) bool {
		return m.InteractionID == id && strings.Contains(m.Content, "/peek needs the operator role; you are viewer.")
	})
	id = e.srv.PressButton(admin, alertA, guild, alert.ID, b.Data)
	e.srv.WaitMessage(t, wait, func(m discordtest.Message) bool {
		return m.InteractionID == id && strings.Contains(m.Content, "builder, last 20 lines")
	})
}

// /start is Telegram's greeting, not a slash command.
func TestHiddenCommandsAreNotRegistered(t *testing.T) {
	t.Parallel()
	e := start(t, nil, nil)
	e.srv.WaitCommands(t, wait, "", "status", "help")
	for _, c := range e.srv.Commands("") {
		if c.Name == "start" {
			t.Errorf("/start registered as a slash command")
		}
	}
}

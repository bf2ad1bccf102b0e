package discordtest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

const (
	testToken = "MTAw.fake.bot-token"
	testApp   = "100000000000000001"
	testGuild = "200000000000000002"
	testChan  = "300000000000000003"
	wait      = 10 * time.Second
)

var (
	alice = User{ID: "400000000000000004", Username: "alice", Roles: []string{"500000000000000005"}}
	bob   = User{ID: "400000000000000006", Username: "bob"}
)

// newSession returns a discordgo session wired to srv, not yet opened.
func newSession(t *testing.T, srv *Server, token string) *discordgo.Session {
	t.Helper()
	dg, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatalf("discordgo.New: %v", err)
	}
	dg.Client = srv.HTTPClient()
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsDirectMessages
	return dg
}

// openBot opens a session with an InteractionCreate handler; it is closed
// in Cleanup before the fake stops.
func openBot(t *testing.T, srv *Server, h func(*discordgo.Session, *discordgo.InteractionCreate)) *discordgo.Session {
	t.Helper()
	dg := newSession(t, srv, testToken)
	if h != nil {
		dg.AddHandler(h)
	}
	if err := dg.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dg.Close() })
	srv.WaitReady(t, wait)
	return dg
}

func registerCommands(t *testing.T, dg *discordgo.Session, guild string, cmds ...*discordgo.ApplicationCommand) []*discordgo.ApplicationCommand {
	t.Helper()
	got, err := dg.ApplicationCommandBulkOverwrite(testApp, guild, cmds)
	if err != nil {
		t.Fatalf("ApplicationCommandBulkOverwrite: %v", err)
	}
	return got
}

var pingCmd = &discordgo.ApplicationCommand{
	Name: "ping", Description: "Ping an agent",
	Options: []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionString, Name: "target", Description: "agent", Required: true},
		{Type: discordgo.ApplicationCommandOptionInteger, Name: "count", Description: "how many"},
	},
}

func restErr(t *testing.T, err error) *discordgo.RESTError {
	t.Helper()
	var re *discordgo.RESTError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want a *discordgo.RESTError", err, err)
	}
	if re.Message == nil {
		t.Fatalf("REST error without a JSON message: %s", re.ResponseBody)
	}
	return re
}

func wantREST(t *testing.T, err error, status, code int) {
	t.Helper()
	re := restErr(t, err)
	if re.Response.StatusCode != status || re.Message.Code != code {
		t.Fatalf("got HTTP %d code %d (%s), want HTTP %d code %d", re.Response.StatusCode, re.Message.Code, re.ResponseBody, status, code)
	}
}

func respond(s *discordgo.Session, i *discordgo.Interaction, typ discordgo.InteractionResponseType, data *discordgo.InteractionResponseData) error {
	return s.InteractionRespond(i, &discordgo.InteractionResponse{Type: typ, Data: data})
}

func TestOpenReadyAndHeartbeats(t *testing.T) {
	t.Parallel()
	// discordgo gives up after 5 intervals without an ack; 500 ms leaves
	// room for a loaded 2-core machine under -race.
	srv := New(t, testToken, testApp, WithHeartbeatInterval(500*time.Millisecond))
	dg := newSession(t, srv, testToken)
	ready := make(chan *discordgo.Ready, 1)
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) { ready <- r })
	if err := dg.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dg.Close() })
	select {
	case r := <-ready:
		if r.User == nil || r.User.ID != testApp || !r.User.Bot {
			t.Errorf("READY user = %+v, want bot %s", r.User, testApp)
		}
		if r.Application == nil || r.Application.ID != testApp {
			t.Errorf("READY application = %+v, want id %s", r.Application, testApp)
		}
		if r.SessionID == "" || r.Version != 9 {
			t.Errorf("READY session %q v%d, want a session id and v9", r.SessionID, r.Version)
		}
	case <-time.After(wait):
		t.Fatal("no READY event")
	}
	srv.WaitReady(t, wait)
	reqs := srv.Requests()
	if len(reqs) == 0 || reqs[0].Host != "discord.com" || reqs[0].Path != "/api/v9/gateway" {
		t.Errorf("first request = %+v, want GET discord.com /api/v9/gateway", reqs)
	}
	// Acked heartbeats keep the one session alive: no reconnect.
	if !srv.waitFor(wait, func() bool { return srv.heartbeats >= 3 }) {
		t.Fatalf("got %d heartbeats, want 3", srv.Heartbeats())
	}
	if got, res := srv.Identifies(), srv.Resumes(); got != 1 || res != 0 {
		t.Errorf("identifies=%d resumes=%d, want 1 and 0", got, res)
	}
}

func TestOpenRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		intents discordgo.Intent
		opts    []Option
		wantErr string
	}{
		{"wrong token", "not-the-token", discordgo.IntentsGuilds, nil, "4004"},
		{"privileged intents not enabled", testToken, discordgo.IntentsAll, nil, "4014"},
		{"privileged intents enabled", testToken, discordgo.IntentsAll, []Option{WithPrivilegedIntents(int(discordgo.IntentsAll))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := New(t, testToken, testApp, tc.opts...)
			dg := newSession(t, srv, tc.token)
			dg.Identify.Intents = tc.intents
			err := dg.Open()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(func() { dg.Close() })
				srv.WaitReady(t, wait)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open error = %v, want close code %s", err, tc.wantErr)
			}
			if n := srv.Identifies(); n != 0 {
				t.Errorf("identifies = %d, want 0", n)
			}
		})
	}
}

func TestUsersMe(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	tests := []struct {
		name   string
		token  string
		wantID string
	}{
		{"right token", testToken, testApp},
		{"wrong token", "wrong", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dg := newSession(t, srv, tc.token)
			u, err := dg.User("@me")
			if tc.wantID != "" {
				if err != nil || u.ID != tc.wantID || !u.Bot {
					t.Fatalf("User(@me) = %+v, %v; want bot %s", u, err, tc.wantID)
				}
				return
			}
			wantREST(t, err, http.StatusUnauthorized, 0)
			if msg := restErr(t, err).Message.Message; msg != "401: Unauthorized" {
				t.Errorf("got message %q, want %q", msg, "401: Unauthorized")
			}
		})
	}
}

func TestBulkOverwrite(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	dg := newSession(t, srv, testToken)
	cmds := []*discordgo.ApplicationCommand{
		pingCmd,
		{Name: "status", Description: "Fleet status"},
		{Name: "restart", Description: "Restart an agent", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionString, Name: "agent", Description: "which", Required: true,
				Choices: []*discordgo.ApplicationCommandOptionChoice{{Name: "web", Value: "web-1"}, {Name: "db", Value: "db-1"}}},
		}},
	}
	got := registerCommands(t, dg, testGuild, cmds...)
	if len(got) != 3 || got[0].ID == "" || got[0].ApplicationID != testApp || got[0].GuildID != testGuild {
		t.Fatalf("overwrite returned %+v, want 3 commands with IDs", got)
	}
	reg := srv.Commands(testGuild)
	var names []string
	for _, c := range reg {
		names = append(names, c.Name)
	}
	if want := []string{"ping", "status", "restart"}; !slices.Equal(names, want) {
		t.Fatalf("guild commands = %v, want %v", names, want)
	}
	if o := reg[2].Options[0]; o.Name != "agent" || !o.Required || !slices.Equal(o.Choices, []string{"web-1", "db-1"}) {
		t.Errorf("restart option = %+v, want required agent with choices", o)
	}
	if g := srv.Commands(""); len(g) != 0 {
		t.Errorf("global commands = %v, want none", g)
	}
	pingID := got[0].ID

	// A second overwrite replaces the set; a kept name keeps its ID.
	again := registerCommands(t, dg, testGuild, pingCmd, &discordgo.ApplicationCommand{Name: "help", Description: "Help"})
	if again[0].ID != pingID {
		t.Errorf("ping ID changed from %s to %s", pingID, again[0].ID)
	}
	if reg := srv.Commands(testGuild); len(reg) != 2 || reg[1].Name != "help" {
		t.Errorf("after overwrite: %+v, want ping and help", reg)
	}
	listed, err := dg.ApplicationCommands(testApp, testGuild)
	if err != nil || len(listed) != 2 {
		t.Errorf("ApplicationCommands = %d, %v; want 2", len(listed), err)
	}

	many := make([]*discordgo.ApplicationCommand, 101)
	for i := range many {
		many[i] = &discordgo.ApplicationCommand{Name: fmt.Sprintf("c%d", i), Description: "d"}
	}
	bad := []struct {
		name   string
		app    string
		cmds   []*discordgo.ApplicationCommand
		status int
		code   int
	}{
		{"upper-case name", testApp, []*discordgo.ApplicationCommand{{Name: "Status", Description: "d"}}, 400, 50035},
		{"space in name", testApp, []*discordgo.ApplicationCommand{{Name: "fleet status", Description: "d"}}, 400, 50035},
		{"33-char name", testApp, []*discordgo.ApplicationCommand{{Name: strings.Repeat("a", 33), Description: "d"}}, 400, 50035},
		{"empty description", testApp, []*discordgo.ApplicationCommand{{Name: "status"}}, 400, 50035},
		{"101-char description", testApp, []*discordgo.ApplicationCommand{{Name: "status", Description: strings.Repeat("d", 101)}}, 400, 50035},
		{"101 commands", testApp, many, 400, 50035},
		{"duplicate names", testApp, []*discordgo.ApplicationCommand{{Name: "a", Description: "d"}, {Name: "a", Description: "d"}}, 400, 50035},
		{"required after optional", testApp, []*discordgo.ApplicationCommand{{Name: "a", Description: "d", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionString, Name: "x", Description: "x"},
			{Type: discordgo.ApplicationCommandOptionString, Name: "y", Description: "y", Required: true},
		}}}, 400, 50035},
		{"another application", "100000000000000099", []*discordgo.ApplicationCommand{{Name: "a", Description: "d"}}, 403, 50001},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dg.ApplicationCommandBulkOverwrite(tc.app, testGuild, tc.cmds)
			wantREST(t, err, tc.status, tc.code)
			if n := len(srv.Commands(testGuild)); n != 2 {
				t.Errorf("a rejected overwrite changed the commands: %d, want 2", n)
			}
		})
	}
}

func TestSlashCommandResponseAndButton(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	seen := make(chan *discordgo.Interaction, 4)
	errs := make(chan error, 4)
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		seen <- ic.Interaction
		switch ic.Type {
		case discordgo.InteractionApplicationCommand:
			d := ic.ApplicationCommandData()
			content := fmt.Sprintf("pong %s x%d", d.Options[0].StringValue(), d.Options[1].IntValue())
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource, &discordgo.InteractionResponseData{
				Content: content,
				Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
					discordgo.Button{Label: "Again", Style: discordgo.PrimaryButton, CustomID: "again"},
					discordgo.Button{Label: "Login", Style: discordgo.LinkButton, URL: "https://claude.ai/oauth/authorize?x=1"},
				}}},
			})
		case discordgo.InteractionMessageComponent:
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseUpdateMessage, &discordgo.InteractionResponseData{
				Content: "pressed " + ic.MessageComponentData().CustomID,
			})
		}
	})
	registerCommands(t, dg, testGuild, pingCmd)

	id := srv.SlashCommand(alice, testChan, testGuild, "ping", map[string]string{"target": "web-1", "count": "3"})
	in := <-seen
	if in.ID != id || in.GuildID != testGuild || in.ChannelID != testChan || in.Member == nil || in.Member.User.ID != alice.ID {
		t.Fatalf("bot saw interaction %+v, want %s from alice in guild channel", in, id)
	}
	if !slices.Equal(in.Member.Roles, alice.Roles) {
		t.Errorf("member roles = %v, want %v", in.Member.Roles, alice.Roles)
	}
	if err := <-errs; err != nil {
		t.Fatalf("InteractionRespond: %v", err)
	}
	msg := srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == id })
	if msg.Kind != KindResponse || msg.Content != "pong web-1 x3" || msg.ChannelID != testChan || msg.GuildID != testGuild {
		t.Fatalf("recorded %+v, want response \"pong web-1 x3\" in the channel", msg)
	}
	if b, ok := msg.Button("again"); !ok || b.Label != "Again" {
		t.Errorf("components = %+v, want button again", msg.Components)
	}
	if len(msg.Components) != 2 || msg.Components[1].URL != "https://claude.ai/oauth/authorize?x=1" {
		t.Errorf("components = %+v, want a link button second", msg.Components)
	}

	pid := srv.PressButton(bob, testChan, testGuild, msg.ID, "again")
	in = <-seen
	if in.Message == nil || in.Message.ID != msg.ID || in.Member.User.ID != bob.ID {
		t.Fatalf("component interaction = %+v, want bob on message %s", in, msg.ID)
	}
	if err := <-errs; err != nil {
		t.Fatalf("update: %v", err)
	}
	upd := srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == pid })
	if upd.Kind != KindUpdate || upd.ID != msg.ID || upd.Content != "pressed again" {
		t.Errorf("recorded %+v, want update of %s to \"pressed again\"", upd, msg.ID)
	}
	if cur, _ := srv.MessageState(msg.ID); cur.Content != "pressed again" || len(cur.Components) != 2 {
		t.Errorf("message now %+v, want new content and the buttons kept", cur)
	}
}

func TestDeferredThenFollowupInDM(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	type result struct {
		in       *discordgo.Interaction
		err      error
		followup *discordgo.Message
	}
	done := make(chan result, 1)
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		r := result{in: ic.Interaction}
		defer func() { done <- r }()
		if r.err = respond(s, ic.Interaction, discordgo.InteractionResponseDeferredChannelMessageWithSource,
			&discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}); r.err != nil {
			return
		}
		text := "checking 12 agents…"
		if _, r.err = s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: &text}); r.err != nil {
			return
		}
		r.followup, r.err = s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "all 12 working"})
	})
	registerCommands(t, dg, "", &discordgo.ApplicationCommand{Name: "status", Description: "Fleet status"})

	dm := srv.DMChannel(alice.ID)
	id := srv.SlashCommand(alice, dm, "", "status", nil)
	r := <-done
	if r.err != nil {
		t.Fatalf("handler: %v", r.err)
	}
	if r.in.User == nil || r.in.User.ID != alice.ID || r.in.Member != nil || r.in.GuildID != "" {
		t.Errorf("DM interaction user=%+v member=%+v guild=%q, want user alice only", r.in.User, r.in.Member, r.in.GuildID)
	}
	if r.followup == nil || r.followup.ID == "" || r.followup.Content != "all 12 working" {
		t.Errorf("followup returned %+v, want the created message", r.followup)
	}
	srv.WaitMessage(t, wait, func(m Message) bool { return m.Kind == KindFollowup })
	var got []string
	for _, m := range srv.Messages() {
		if m.InteractionID == id {
			got = append(got, fmt.Sprintf("%s:%q:%v:%v", m.Kind, m.Content, m.Ephemeral, m.ChannelID == dm))
		}
	}
	want := []string{`deferred:"":true:true`, `edit:"checking 12 agents…":true:true`, `followup:"all 12 working":false:true`}
	if !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

func TestContentLimits(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	errs := make(chan error, 4)
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		n := int(ic.ApplicationCommandData().Options[0].IntValue())
		err := respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource,
			&discordgo.InteractionResponseData{Content: strings.Repeat("x", n)})
		errs <- err
		if err != nil { // a rejected callback does not acknowledge: a short answer still works
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource,
				&discordgo.InteractionResponseData{Content: "too long, see file"})
		}
	})
	registerCommands(t, dg, testGuild, &discordgo.ApplicationCommand{Name: "say", Description: "say", Options: []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionInteger, Name: "len", Description: "length", Required: true},
	}})

	if err := func() error {
		srv.SlashCommand(alice, testChan, testGuild, "say", map[string]string{"len": "2000"})
		return <-errs
	}(); err != nil {
		t.Errorf("2000 characters: %v", err)
	}
	srv.SlashCommand(alice, testChan, testGuild, "say", map[string]string{"len": "2001"})
	err := <-errs
	wantREST(t, err, http.StatusBadRequest, 50035)
	if body := string(restErr(t, err).ResponseBody); !strings.Contains(body, `"content"`) || !strings.Contains(body, "BASE_TYPE_MAX_LENGTH") {
		t.Errorf("error body %s does not point at data.content", body)
	}
	if err := <-errs; err != nil {
		t.Errorf("short answer after a rejected one: %v", err)
	}

	tests := []struct {
		name    string
		content string
		code    int
	}{
		{"2000 é", strings.Repeat("é", 2000), 0},
		{"2001", strings.Repeat("x", 2001), 50035},
		{"empty", "", 50006},
	}
	for _, tc := range tests {
		t.Run("channel "+tc.name, func(t *testing.T) {
			_, err := dg.ChannelMessageSend(testChan, tc.content)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("ChannelMessageSend: %v", err)
				}
				return
			}
			wantREST(t, err, http.StatusBadRequest, tc.code)
		})
	}
}

func TestComponentValidation(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	dg := newSession(t, srv, testToken)
	row := func(c ...discordgo.MessageComponent) discordgo.MessageComponent {
		return discordgo.ActionsRow{Components: c}
	}
	btn := func(id string) discordgo.MessageComponent {
		return discordgo.Button{Label: "b", Style: discordgo.SecondaryButton, CustomID: id}
	}
	tests := []struct {
		name  string
		comps []discordgo.MessageComponent
		ok    bool
	}{
		{"button and link", []discordgo.MessageComponent{row(btn("ack:1"), discordgo.Button{Label: "Open", Style: discordgo.LinkButton, URL: "https://example.com/x"})}, true},
		{"custom_id 100", []discordgo.MessageComponent{row(btn(strings.Repeat("i", 100)))}, true},
		{"custom_id 101", []discordgo.MessageComponent{row(btn(strings.Repeat("i", 101)))}, false},
		{"duplicate custom_id", []discordgo.MessageComponent{row(btn("a"), btn("a"))}, false},
		{"link with custom_id", []discordgo.MessageComponent{row(discordgo.Button{Label: "x", Style: discordgo.LinkButton, URL: "https://e.com", CustomID: "x"})}, false},
		{"button without custom_id", []discordgo.MessageComponent{row(discordgo.Button{Label: "x", Style: discordgo.PrimaryButton})}, false},
		{"6 in a row", []discordgo.MessageComponent{row(btn("1"), btn("2"), btn("3"), btn("4"), btn("5"), btn("6"))}, false},
		{"6 rows", []discordgo.MessageComponent{row(btn("1")), row(btn("2")), row(btn("3")), row(btn("4")), row(btn("5")), row(btn("6"))}, false},
		{"button outside a row", []discordgo.MessageComponent{btn("1")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Messages())
			_, err := dg.ChannelMessageSendComplex(testChan, &discordgo.MessageSend{Content: "alert", Components: tc.comps})
			if tc.ok {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				return
			}
			wantREST(t, err, http.StatusBadRequest, 50035)
			if len(srv.Messages()) != before {
				t.Errorf("a rejected message was recorded")
			}
		})
	}
}

func TestInteractionTimingRules(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := New(t, testToken, testApp, WithClock(clock))
	gate := make(chan struct{})
	errs := make(chan error, 8)
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		msg := &discordgo.InteractionResponseData{Content: "ok"}
		switch ic.ApplicationCommandData().Name {
		case "slow":
			<-gate
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource, msg)
		case "twice":
			_, err := s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "early"})
			errs <- err
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource, msg)
			errs <- respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource, msg)
			<-gate
			_, err = s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "late"})
			errs <- err
		}
	})
	registerCommands(t, dg, testGuild,
		&discordgo.ApplicationCommand{Name: "slow", Description: "slow"},
		&discordgo.ApplicationCommand{Name: "twice", Description: "twice"})

	srv.SlashCommand(alice, testChan, testGuild, "twice", nil)
	wantREST(t, <-errs, http.StatusNotFound, 10015) // followup before the callback
	if err := <-errs; err != nil {
		t.Fatalf("first callback: %v", err)
	}
	wantREST(t, <-errs, http.StatusBadRequest, 40060) // already acknowledged

	srv.SlashCommand(alice, testChan, testGuild, "slow", nil)
	offset.Add(int64(3100 * time.Millisecond)) // the handler answers 3.1 s late
	offset.Add(int64(15 * time.Minute))        // and the token of "twice" is past 15 min
	close(gate)
	got := []error{<-errs, <-errs}
	var codes []int
	for _, err := range got {
		codes = append(codes, restErr(t, err).Message.Code)
	}
	slices.Sort(codes)
	if want := []int{10062, 50027}; !slices.Equal(codes, want) {
		t.Errorf("late callback and late followup gave codes %v, want %v", codes, want)
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	t.Parallel()
	// The replayed interaction reaches the bot after discordgo's 1 s reconnect
	// pause; a roomy deadline keeps the test about replay, not speed.
	srv := New(t, testToken, testApp, WithInteractionDeadline(time.Minute))
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource,
			&discordgo.InteractionResponseData{Content: "up"})
	})
	registerCommands(t, dg, testGuild, &discordgo.ApplicationCommand{Name: "status", Description: "status"})

	srv.DropConnections()
	// Sent while the socket is down: Discord keeps it for the Resume.
	during := srv.SlashCommand(alice, testChan, testGuild, "status", nil)
	srv.WaitReady(t, wait)
	srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == during })
	if id, res := srv.Identifies(), srv.Resumes(); id != 1 || res != 1 {
		t.Errorf("identifies=%d resumes=%d, want discordgo to resume (1, 1)", id, res)
	}
	after := srv.SlashCommand(bob, testChan, testGuild, "status", nil)
	if m := srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == after }); m.Content != "up" {
		t.Errorf("after reconnect got %q, want up", m.Content)
	}

	// A clean Close (1000) ends the session: the next Open must identify anew.
	if err := dg.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := dg.Open(); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	srv.WaitReady(t, wait)
	if !srv.waitFor(wait, func() bool { return srv.identifies == 2 }) {
		t.Errorf("identifies=%d after Close+Open, want 2", srv.Identifies())
	}
	last := srv.SlashCommand(alice, testChan, testGuild, "status", nil)
	srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == last })
}

func TestRateLimitAndFailures(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	dg := newSession(t, srv, testToken)
	limited := make(chan time.Duration, 8) // discordgo runs handlers on goroutines
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.RateLimit) { limited <- r.RetryAfter })
	statuses := func(prefix string) []int {
		var out []int
		for _, r := range srv.Requests() {
			if strings.HasPrefix(r.Path, prefix) {
				out = append(out, r.Status)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		channel string
		status  int
		n       int
		want    []int
		wantErr bool
	}{
		{"429 retried by discordgo", "300000000000000010", 429, 2, []int{429, 429, 200}, false},
		{"502 retried by discordgo", "300000000000000011", 502, 1, []int{502, 200}, false},
		{"500 reaches the caller", "300000000000000012", 500, 1, []int{500}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/channels/" + tc.channel
			srv.Fail("POST", path, tc.n, tc.status)
			_, err := dg.ChannelMessageSend(tc.channel, "hello")
			if (err != nil) != tc.wantErr {
				t.Fatalf("ChannelMessageSend error = %v, want error %v", err, tc.wantErr)
			}
			if got := statuses("/api/v9" + path); !slices.Equal(got, tc.want) {
				t.Errorf("statuses = %v, want %v", got, tc.want)
			}
		})
	}
	for range 2 {
		select {
		case d := <-limited:
			if d != 50*time.Millisecond {
				t.Errorf("discordgo waited %v, want retry_after 50ms", d)
			}
		case <-time.After(wait):
			t.Fatal("discordgo reported fewer than 2 rate limits")
		}
	}
}

func TestUnknownEndpointAndDMs(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	dg := newSession(t, srv, testToken)

	_, err := dg.Guild(testGuild)
	wantREST(t, err, http.StatusNotFound, 0)
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/api/v9/guilds/"+testGuild || last.Status != 404 {
		t.Errorf("last request = %+v, want the 404 recorded", last)
	}

	ch, err := dg.UserChannelCreate(alice.ID)
	if err != nil || ch.ID != srv.DMChannel(alice.ID) || ch.Type != discordgo.ChannelTypeDM {
		t.Fatalf("UserChannelCreate = %+v, %v; want DM %s", ch, err, srv.DMChannel(alice.ID))
	}
	again, _ := dg.UserChannelCreate(alice.ID)
	if again.ID != ch.ID {
		t.Errorf("second DM channel %s, want the same %s", again.ID, ch.ID)
	}
	sent, err := dg.ChannelMessageSend(ch.ID, "agent web-1: login expired")
	if err != nil || sent.ID == "" || sent.Author == nil || sent.Author.ID != testApp {
		t.Fatalf("ChannelMessageSend = %+v, %v", sent, err)
	}
	m := srv.WaitMessage(t, wait, func(m Message) bool { return m.ID == sent.ID })
	if m.Kind != KindChannel || m.ChannelID != ch.ID || m.GuildID != "" {
		t.Errorf("recorded %+v, want a channel message in the DM", m)
	}

	srv.RefuseDMs(bob.ID)
	bobDM, err := dg.UserChannelCreate(bob.ID)
	if err != nil {
		t.Fatalf("UserChannelCreate(bob): %v", err)
	}
	_, err = dg.ChannelMessageSend(bobDM.ID, "hi")
	wantREST(t, err, http.StatusForbidden, 50007)

	_, err = dg.ChannelMessageSend("general", "hi")
	wantREST(t, err, http.StatusBadRequest, 50035)
}

func TestDialerReachesFakeForAnyHost(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp, WithHeartbeatInterval(1234*time.Millisecond))
	tests := []struct {
		url       string
		wantHello bool
	}{
		{"wss://gateway.discord.gg/?v=9&encoding=json", true},
		{"ws://gateway.discord.gg/?v=10&encoding=json", true},
		{"wss://gateway.discord.gg/?v=6&encoding=json", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			c, _, err := srv.Dialer().Dial(tc.url, nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			var hello struct {
				Op int `json:"op"`
				D  struct {
					HeartbeatInterval int `json:"heartbeat_interval"`
				} `json:"d"`
			}
			err = c.ReadJSON(&hello)
			if !tc.wantHello {
				if !websocket.IsCloseError(err, closeInvalidAPIVersion) {
					t.Fatalf("got %v, want close 4012", err)
				}
				return
			}
			if err != nil || hello.Op != 10 || hello.D.HeartbeatInterval != 1234 {
				t.Fatalf("hello = %+v, %v; want op 10 with 1234 ms", hello, err)
			}
		})
	}
}

// recTB records Errorf so tests can check that the fake refuses what a
// Discord client could not do.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Helper() {}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recTB) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.errs
	r.errs = nil
	return out
}

func TestRefusesImpossibleUserActions(t *testing.T) {
	t.Parallel()
	rec := &recTB{TB: t}
	srv := New(rec, testToken, testApp)
	if id := srv.SlashCommand(alice, testChan, testGuild, "ping", nil); id != "" {
		t.Errorf("dispatch before any session returned %q", id)
	}
	if errs := rec.take(); len(errs) != 1 || !strings.Contains(errs[0], "WaitReady") {
		t.Errorf("errors = %q, want one about no session", errs)
	}
	dg := openBot(t, srv, func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		respond(s, ic.Interaction, discordgo.InteractionResponseChannelMessageWithSource, &discordgo.InteractionResponseData{
			Content: "secret", Flags: discordgo.MessageFlagsEphemeral,
			Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
				discordgo.Button{Label: "Go", Style: discordgo.PrimaryButton, CustomID: "go"},
				discordgo.Button{Label: "Off", Style: discordgo.SecondaryButton, CustomID: "off", Disabled: true},
			}}},
		})
	})
	registerCommands(t, dg, testGuild, pingCmd)
	id := srv.SlashCommand(alice, testChan, testGuild, "ping", map[string]string{"target": "a"})
	msg := srv.WaitMessage(t, wait, func(m Message) bool { return m.InteractionID == id })
	if errs := rec.take(); len(errs) != 0 {
		t.Fatalf("valid use reported %q", errs)
	}

	tests := []struct {
		name string
		do   func() string
		want string
	}{
		{"unregistered command", func() string { return srv.SlashCommand(alice, testChan, testGuild, "nope", nil) }, "no command /nope"},
		{"guild command in a DM", func() string {
			return srv.SlashCommand(alice, srv.DMChannel(alice.ID), "", "ping", map[string]string{"target": "a"})
		}, "no command /ping"},
		{"missing required option", func() string { return srv.SlashCommand(alice, testChan, testGuild, "ping", nil) }, "required option"},
		{"unknown option", func() string {
			return srv.SlashCommand(alice, testChan, testGuild, "ping", map[string]string{"target": "a", "x": "1"})
		}, `no option "x"`},
		{"integer that is not", func() string {
			return srv.SlashCommand(alice, testChan, testGuild, "ping", map[string]string{"target": "a", "count": "many"})
		}, "does not fit type 4"},
		{"button that does not exist", func() string { return srv.PressButton(alice, testChan, testGuild, msg.ID, "nope") }, "no such button"},
		{"disabled button", func() string { return srv.PressButton(alice, testChan, testGuild, msg.ID, "off") }, "disabled"},
		{"someone else's ephemeral", func() string { return srv.PressButton(bob, testChan, testGuild, msg.ID, "go") }, "ephemeral"},
		{"wrong channel", func() string { return srv.PressButton(alice, "300000000000000099", testGuild, msg.ID, "go") }, "not 300000000000000099"},
		{"non-snowflake user", func() string { return srv.SlashCommand(User{ID: "alice"}, testChan, testGuild, "ping", nil) }, "not a snowflake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if id := tc.do(); id != "" {
				t.Errorf("returned interaction %q, want none", id)
			}
			errs := rec.take()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Errorf("errors = %q, want one containing %q", errs, tc.want)
			}
		})
	}
}

// Options are validated as Discord does: autocomplete only on string and
// number options and never with choices, ranges only on numbers, choices
// of the option's type.
func TestOptionValidation(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	dg := newSession(t, srv, testToken)
	one, ten := 1.0, 10.0
	str := discordgo.ApplicationCommandOptionString
	tests := []struct {
		name string
		opt  discordgo.ApplicationCommandOption
		ok   bool
	}{
		{"autocomplete string", discordgo.ApplicationCommandOption{Type: str, Name: "agent", Description: "d", Autocomplete: true}, true},
		{"integer range", discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: "n", Description: "d", MinValue: &one, MaxValue: ten}, true},
		{"autocomplete with choices", discordgo.ApplicationCommandOption{Type: str, Name: "agent", Description: "d", Autocomplete: true,
			Choices: []*discordgo.ApplicationCommandOptionChoice{{Name: "a", Value: "a"}}}, false},
		{"autocomplete boolean", discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean, Name: "b", Description: "d", Autocomplete: true}, false},
		{"range on a string", discordgo.ApplicationCommandOption{Type: str, Name: "s", Description: "d", MinValue: &one}, false},
		{"integer choice on a string", discordgo.ApplicationCommandOption{Type: str, Name: "s", Description: "d",
			Choices: []*discordgo.ApplicationCommandOptionChoice{{Name: "a", Value: 3}}}, false},
	}
	for _, tt := range tests {
		opt := tt.opt
		_, err := dg.ApplicationCommandBulkOverwrite(testApp, testGuild, []*discordgo.ApplicationCommand{{Name: "cmd", Description: "d",
			Options: []*discordgo.ApplicationCommandOption{&opt}}})
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok {
			if err == nil {
				t.Errorf("%s: accepted", tt.name)
				continue
			}
			wantREST(t, err, http.StatusBadRequest, 50035)
		}
	}
}

// An autocomplete interaction carries the focused option as typed so far;
// it takes only an autocomplete answer (type 8), once, with valid choices.
func TestAutocompleteInteraction(t *testing.T) {
	t.Parallel()
	srv := New(t, testToken, testApp)
	got := make(chan *discordgo.Interaction, 4)
	dg := openBot(t, srv, func(_ *discordgo.Session, ic *discordgo.InteractionCreate) { got <- ic.Interaction })
	registerCommands(t, dg, testGuild, &discordgo.ApplicationCommand{Name: "peek", Description: "d", Options: []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionString, Name: "agent", Description: "d", Autocomplete: true, Required: true},
		{Type: discordgo.ApplicationCommandOptionInteger, Name: "lines", Description: "d"},
	}})
	user := User{ID: "500000000000000001"}
	id := srv.Autocomplete(user, "600000000000000001", testGuild, "peek", map[string]string{"lines": "5"}, "agent", "bu")
	in := <-got
	if in.Type != discordgo.InteractionApplicationCommandAutocomplete || in.ID != id {
		t.Fatalf("interaction %+v, want autocomplete %s", in, id)
	}
	var focused *discordgo.ApplicationCommandInteractionDataOption
	for _, o := range in.ApplicationCommandData().Options {
		if o.Focused {
			focused = o
		}
	}
	if focused == nil || focused.Name != "agent" || focused.StringValue() != "bu" {
		t.Fatalf("focused option %+v, want agent = bu", focused)
	}
	// A message is not an answer to an autocomplete.
	err := dg.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: "hi"}})
	wantREST(t, err, http.StatusBadRequest, 50035)
	// 26 choices are too many.
	var many []*discordgo.ApplicationCommandOptionChoice
	for i := range 26 {
		many = append(many, &discordgo.ApplicationCommandOptionChoice{Name: fmt.Sprint(i), Value: fmt.Sprint(i)})
	}
	err = dg.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: many}})
	wantREST(t, err, http.StatusBadRequest, 50035)
	if err := dg.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{{Name: "builder", Value: "builder"}}}}); err != nil {
		t.Fatal(err)
	}
	if values, ok := srv.Suggestions(id, wait); !ok || !slices.Equal(values, []string{"builder"}) {
		t.Errorf("suggestions = %v, %v; want [builder]", values, ok)
	}
	err = dg.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}})
	wantREST(t, err, http.StatusBadRequest, 40060)
}

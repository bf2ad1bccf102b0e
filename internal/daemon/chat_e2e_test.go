package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

const botToken = "123456789:AAe2etokene2etokene2etokene2etokene2"

var (
	tgAdmin    = telegramtest.User{ID: 111, Username: "admin", FirstName: "Ada"}
	tgOperator = telegramtest.User{ID: 222, Username: "op", FirstName: "Otto"}
	tgStranger = telegramtest.User{ID: 999, Username: "mallory", FirstName: "Mal"}
	adminChat  = telegramtest.Chat{ID: 111, Type: "private"}
	opChat     = telegramtest.Chat{ID: 222, Type: "private"}
	strChat    = telegramtest.Chat{ID: 999, Type: "private"}
	groupChat  = telegramtest.Chat{ID: -100200, Type: "supergroup", Title: "ops"}
)

// chatFleet is a private tmux server with fake Claude agents, the fake
// Telegram server, and the daemon between them, in this process (New and
// Run, as `fleetwarden run` calls them).
type chatFleet struct {
	*fleetEnv
	tg         *telegramtest.Server
	stateFile  string // where the fake login writes its OAuth state
	claudeDir  string
	stderr     *syncBuffer
	cfg        string
	env        []string
	now        func() time.Time
	processEnv bool               // env is the test process's (t.Setenv), not only the daemon's
	cancel     context.CancelFunc // while the daemon runs
	done       chan int           // its exit code
	daemon     atomic.Pointer[Daemon]
}

// dashAddr is where the running daemon's dashboard listens: with
// dashboard "127.0.0.1:0" the port is the system's pick, so that no other
// test can take it first (as one can a port found free and closed).
func (c *chatFleet) dashAddr() string {
	c.t.Helper()
	var addr string
	tmuxtest.WaitFor(c.t, 20*time.Second, func() (bool, string) {
		if d := c.daemon.Load(); d != nil {
			addr = d.Addr()
		}
		return addr != "", "the dashboard does not listen yet"
	})
	return addr
}

// start runs fleetwarden on the config.
func (c *chatFleet) start() {
	c.t.Helper()
	// What the daemon starts (logins, tmux, the CLI) gets its environment,
	// as the binary's children get the binary's.
	env := append([]string{"FAKECLAUDE_STATE_FILE=" + c.stateFile, "FAKECLAUDE_SCREENS=" + testenv.ScreensDir()}, c.env...)
	o := Options{Stdin: strings.NewReader(""), Stdout: c.stderr, Stderr: c.stderr, Hup: make(chan os.Signal), Now: c.now,
		Environ: append(os.Environ(), env...)}
	if c.processEnv {
		// The config reads these (env:NAME): they are the process's.
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			c.t.Setenv(k, v)
		}
		o.Environ = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan int, 1)
	go func() { c.done <- runFileWith(ctx, c.cfg, o, func(d *Daemon) { c.daemon.Store(d) }) }()
}

// stop stops fleetwarden as SIGTERM does (the context `run` gets from it
// ends) and waits for it.
func (c *chatFleet) stop() {
	c.t.Helper()
	if err := c.halt(30 * time.Second); err != nil {
		c.t.Fatalf("fleetwarden after SIGTERM: %v\n%s", err, c.stderr)
	}
}

// errNoStop is a fleetwarden that did not stop when told to.
var errNoStop = errors.New("did not stop in time")

// halt stops fleetwarden, if it runs, within wait.
func (c *chatFleet) halt(wait time.Duration) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	c.cancel = nil
	select {
	case code := <-c.done:
		if code != 0 {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	case <-time.After(wait):
		return errNoStop
	}
}

// waitAuthChecked waits until the auth check at start has journaled the
// credentials it found, so that what a test writes next is the next
// check's to find.
func (c *chatFleet) waitAuthChecked() {
	c.t.Helper()
	journal := filepath.Join(c.dir, "state", "journal.jsonl")
	tmuxtest.WaitFor(c.t, 30*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(journal)
		return strings.Contains(string(b), `"action":"checked"`), "no credential check journaled yet"
	})
}

// show switches an agent's fake CLI to another captured screen.
func (c *chatFleet) show(agent, screen string) {
	c.t.Helper()
	if err := c.tm.SendLine(c.t.Context(), agent+":main", ":screen "+screen, 0); err != nil {
		c.t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type chatOpts struct {
	// processEnv makes env the test process's own (t.Setenv), for a config
	// that reads it (env:NAME); else it is only the daemon's (Options.Environ).
	processEnv    bool
	now           func() time.Time  // the daemon's clock (Options.Now); nil: time.Now
	agents        map[string]string // agent name → the screen its fake CLI shows
	loginTimeout  string
	fallbackAfter string
	extra         string // appended to the config ([[alerts.route]]s, …)
	claudeKeys    string // more keys of [claude]
	agentKeys     string // more keys of every [[agent]]
	dashboard     string // dashboard.listen; "" = off
	tmuxBin       string // tmux.bin; "" = tmux
	tmuxSocket    string // tmux.socket; "" = the test's tmux server
	env           []string
	restartScreen string                 // the screen a restarted agent comes up on; "" = 15-busy.txt (idle)
	agentEnv      map[string]string      // more environment of every agent's fake CLI, from the start
	restartEnv    map[string]string      // more [agent.env]: the environment of a restarted agent
	telegramKeys  string                 // more keys of [telegram]
	extraFn       func(*fleetEnv) string // more config, knowing the tmux server
	telegramToken string                 // telegram.token as written; "" = the bot token itself
}

func newChatFleet(t *testing.T, o chatOpts) *chatFleet {
	t.Helper()
	e := newFleetEnv(t)
	c := &chatFleet{env: o.env, now: o.now, processEnv: o.processEnv, fleetEnv: e, tg: telegramtest.New(t, botToken), stateFile: filepath.Join(e.dir, "oauth-state"),
		claudeDir: filepath.Join(e.dir, "claude"), stderr: &syncBuffer{}}
	c.tg.AddChat(adminChat)
	var b strings.Builder
	socket := e.tm.Socket()
	if o.tmuxSocket != "" {
		socket = o.tmuxSocket
	}
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n", socket)
	if o.tmuxBin != "" {
		fmt.Fprintf(&b, "bin = %q\n", o.tmuxBin)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "[claude]\nbin = %q\nconfig_dir = %q\n", e.claude, c.claudeDir)
	if o.loginTimeout != "" {
		fmt.Fprintf(&b, "login_timeout = %q\n", o.loginTimeout)
	}
	b.WriteString(o.claudeKeys)
	b.WriteString("\n")
	token := o.telegramToken
	if token == "" {
		token = botToken
	}
	fmt.Fprintf(&b, "[telegram]\ntoken = %q\napi_url = %q\nadmins = [111]\noperators = [222]\nalert_chats = [111]\n%s\n", token, c.tg.URL(), o.telegramKeys)
	listen := o.dashboard
	if listen == "" {
		listen = "off"
	}
	fmt.Fprintf(&b, "[state]\ndir = %q\n\n[watchdog]\ninterval = \"300ms\"\n\n[dashboard]\nlisten = %q\n\n", filepath.Join(e.dir, "state"), listen)
	fmt.Fprintf(&b, "[alerts]\ngroup_wait = \"300ms\"\n")
	if o.fallbackAfter != "" {
		fmt.Fprintf(&b, "fallback_after = %q\n", o.fallbackAfter)
	}
	b.WriteString("\n" + o.extra + "\n")
	if o.extraFn != nil {
		b.WriteString(o.extraFn(e) + "\n")
	}
	restartScreen := o.restartScreen
	if restartScreen == "" {
		restartScreen = "15-busy.txt"
	}
	for name, screen := range o.agents {
		e.agentWith(name, screen, o.agentEnv)
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = \"%s:main\"\ncommand = %q\nworkdir = %q\n%s", name, name, e.claude, e.dir, o.agentKeys)
		fmt.Fprintf(&b, "[agent.env]\nFAKECLAUDE_SCREENS = %q\nFAKECLAUDE_SCREEN = %q\n", testenv.ScreensDir(), restartScreen)
		for _, k := range slices.Sorted(maps.Keys(o.restartEnv)) {
			fmt.Fprintf(&b, "%s = %q\n", k, o.restartEnv[k])
		}
		b.WriteString("\n")
	}
	c.cfg = testenv.WriteFile(t, e.dir, "config.toml", b.String())
	c.start()
	t.Cleanup(func() {
		if err := c.halt(20 * time.Second); errors.Is(err, errNoStop) {
			t.Errorf("fleetwarden did not stop within 20s of SIGTERM")
		}
		out := c.stderr.String()
		if strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
			t.Errorf("fleetwarden raced or panicked")
		}
		if t.Failed() || os.Getenv("FW_SHOWLOG") != "" {
			t.Logf("fleetwarden output:\n%s", out)
		}
	})
	return c
}

// say sends a message as a user and waits for a reply to that chat that
// contains want.
func (c *chatFleet) say(from telegramtest.User, chat telegramtest.Chat, text, want string) telegramtest.Message {
	c.t.Helper()
	n := len(c.tg.Sent())
	c.tg.SendUserMessage(from, chat, text)
	return c.waitReply(chat, n, want)
}

// waitReply waits for a message to chat containing want, sent after the
// first after messages.
func (c *chatFleet) waitReply(chat telegramtest.Chat, after int, want string) telegramtest.Message {
	c.t.Helper()
	return c.waitSent(chat, after, want)
}

// waitSent waits for a message to chat containing every one of want, sent
// after the first after messages.
func (c *chatFleet) waitSent(chat telegramtest.Chat, after int, want ...string) telegramtest.Message {
	c.t.Helper()
	return c.tg.WaitText(c.t, 30*time.Second, chat.ID, after, want...)
}

func TestRunAnswersStatusOverTelegram(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "15-busy.txt", "docs": "19-tui-401.txt"}})
	c.say(tgAdmin, adminChat, "/status", "2 agents")
	reply := c.say(tgAdmin, adminChat, "/status", "docs — auth_failed (expired)")
	if !strings.Contains(reply.Plain, "builder — idle") {
		t.Errorf("status reply = %q, want builder idle too", reply.Plain)
	}
	ref := c.say(tgStranger, strChat, "/status", "not allowed")
	if strings.Contains(ref.Plain, "builder") {
		t.Errorf("stranger saw the fleet: %q", ref.Plain)
	}
	// The alert for the failed login arrives by itself, with the remedy.
	c.waitReply(adminChat, 0, "/login")
	// The menu is registered (the transport does it once it runs).
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		return len(c.tg.Commands()) >= 8, fmt.Sprintf("menu has %d commands: %+v", len(c.tg.Commands()), c.tg.Commands())
	})
}

// loginProcesses lists running fake-CLI login processes of this test: of
// bin, with this test's login state file.
func loginProcesses(t *testing.T, bin, stateFile string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if !strings.HasPrefix(cmd, bin+" auth login") && !strings.HasPrefix(cmd, bin+" setup-token") {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && !slices.Contains(strings.Split(string(env), "\x00"), "FAKECLAUDE_STATE_FILE="+stateFile) {
			continue // another test's
		}
		out = append(out, e.Name()+": "+cmd)
	}
	return out
}

func (c *chatFleet) noLoginLeft() {
	c.t.Helper()
	tmuxtest.WaitFor(c.t, 10*time.Second, func() (bool, string) {
		ps := loginProcesses(c.t, c.claude, c.stateFile)
		return len(ps) == 0, fmt.Sprintf("login processes left: %v", ps)
	})
}

// TestLoginRelaysEitherLinkForm: the sign-in link goes to the phone as the
// CLI printed it, the short one of 2.1.330+ (no fields to read) and the full
// one of older CLIs and CLAUDE_CODE_FULL_SIGN_IN_LINK=1 alike.
func TestLoginRelaysEitherLinkForm(t *testing.T) {
	for _, tt := range []struct {
		name, prefix string
		env          []string
	}{
		{"short", "https://claude.ai/oauth/authorize?eOl6i3EaoBtXW_s3dS4MKG427T6iapYdXj3rKCWGTgWU", nil},
		{"full", "https://claude.com/cai/oauth/authorize?code=true&client_id=", []string{"CLAUDE_CODE_FULL_SIGN_IN_LINK=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"}, env: tt.env})
			login := c.say(tgAdmin, adminChat, "/login", "Open the login page")
			btn, ok := login.Button("Open login page")
			if !ok || !strings.HasPrefix(btn.URL, tt.prefix) || !strings.Contains(login.Plain, btn.URL) {
				t.Fatalf("login message %q with buttons %+v, want the link %s… as text and button", login.Plain, login.ReplyMarkup, tt.prefix)
			}
			state, err := os.ReadFile(c.stateFile)
			if err != nil {
				t.Fatal(err)
			}
			n := len(c.tg.Sent())
			if tt.env != nil {
				// A code from another login: the CLI refuses it and waits for
				// the right one; the phone is told what that means.
				c.tg.SendUserMessage(tgAdmin, adminChat, "/code good#not-this-login")
				c.waitReply(adminChat, n, "That code belongs to another login link")
				n = len(c.tg.Sent())
			}
			c.tg.SendUserMessage(tgAdmin, adminChat, "/code good#"+string(state))
			c.waitReply(adminChat, n, "Login verified")
		})
	}
}

func TestLoginRelayAndRestartOverTelegram(t *testing.T) {
	agents := map[string]string{"builder": "19-tui-401.txt", "tester": "50-tui-401-refreshfail.txt", "docs": "19-tui-401.txt", "ok": "15-busy.txt"}
	c := newChatFleet(t, chatOpts{agents: agents})
	c.say(tgAdmin, adminChat, "/status", "3 auth_failed")

	// /login: the link arrives as a URL button and as text, with the instructions.
	login := c.say(tgAdmin, adminChat, "/login", "Open the login page")
	btn, ok := login.Button("Open login page")
	// The fake CLI prints the short sign-in link of Claude Code 2.1.330+.
	if !ok || !strings.HasPrefix(btn.URL, "https://claude.ai/oauth/authorize?") {
		t.Fatalf("login message %q has buttons %+v, want an 'Open login page' URL button", login.Plain, login.ReplyMarkup)
	}
	if !strings.Contains(login.Plain, "/code") {
		t.Errorf("login message lacks the instructions: %q", login.Plain)
	}
	// A second /login says one is in progress and offers to cancel.
	c.say(tgAdmin, adminChat, "/login", "already in progress")

	state, err := os.ReadFile(c.stateFile)
	if err != nil {
		t.Fatal(err)
	}
	n := len(c.tg.Sent())
	c.tg.SendUserMessage(tgAdmin, adminChat, "/code good#"+string(state))
	c.waitReply(adminChat, n, "Login verified")
	report := c.waitReply(adminChat, n, "back in")
	for _, a := range []string{"builder", "tester", "docs"} {
		if !strings.Contains(report.Plain, "✓ "+a) {
			t.Errorf("restart report lacks %s: %q", a, report.Plain)
		}
	}
	if strings.Contains(report.Plain, "ok —") {
		t.Errorf("the healthy agent was restarted: %q", report.Plain)
	}
	// The code never comes back in any message, and its message was deleted.
	for _, m := range c.tg.Sent() {
		if strings.Contains(m.Plain, "good#") {
			t.Errorf("the code was echoed: %q", m.Plain)
		}
	}
	if c.tg.Requests("deleteMessage") == 0 {
		t.Error("the message holding the code was not deleted")
	}
	cr, err := claude.ReadCredentials(claude.CredentialsPath(c.claudeDir))
	if err != nil || !cr.HasRefresh {
		t.Errorf("credentials after login: %+v, %v", cr, err)
	}
	c.noLoginLeft()
	c.say(tgAdmin, adminChat, "/status", "4 agents: 4 idle")
	// /timeline tells it from what the daemon journaled, in order, with
	// nothing routine in between.
	tl := c.say(tgAdmin, adminChat, "/timeline", "Outage:")
	wantLines := []string{"fleetwarden started", ": login expired", "/login by admin telegram:111",
		"code submitted by admin telegram:111", "login verified", "3 agents restarted (all back in", "Outage:"}
	told := strings.Split(tl.Plain, "\n")[1:]
	next := 0
	for _, l := range told {
		if next < len(wantLines) && strings.Contains(l, wantLines[next]) {
			if next == 1 && !(strings.Contains(l, "builder") && strings.Contains(l, "tester") && strings.Contains(l, "docs")) {
				t.Errorf("%q does not name the three agents", l)
			}
			next++
		}
		for _, noise := range []string{"back, idle", "alert\n", "transport", "checked"} {
			if strings.Contains(l+"\n", noise) {
				t.Errorf("timeline line %q is noise", l)
			}
		}
	}
	if next < len(wantLines) || len(told) > 12 {
		t.Errorf("timeline lacks %q (in this order: %q), or is longer than 12 lines:\n%s", wantLines[min(next, len(wantLines)-1)], wantLines, tl.Plain)
	}
	if os.Getenv("FW_TRANSCRIPT") != "" {
		for _, m := range c.telegramTexts() {
			t.Logf("bot › %s", m)
		}
	}
	// The journal holds the story, never the code.
	journal, _ := os.ReadFile(filepath.Join(c.dir, "state", "journal.jsonl"))
	if bytes.Contains(journal, []byte("good#")) || !bytes.Contains(journal, []byte("code_submitted")) {
		t.Errorf("journal must record that a code was submitted, never the code:\n%s", journal)
	}
}

// An agent the login restarts comes up on the CLI's first-run onboarding:
// the restart report says so at once, with the dialog's line, instead of
// "back" or silence until restart_timeout; the journal has the outcome.
func TestRestartOntoOnboardingIsReportedAtOnce(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"}, restartScreen: "01-first-run.txt",
		extra: "[login]\nrestart_timeout = \"3m\"\n"})
	c.say(tgAdmin, adminChat, "/status", "1 auth_failed")
	c.say(tgAdmin, adminChat, "/login", "Open the login page")
	state, err := os.ReadFile(c.stateFile)
	if err != nil {
		t.Fatal(err)
	}
	n := len(c.tg.Sent())
	start := time.Now()
	c.tg.SendUserMessage(tgAdmin, adminChat, "/code good#"+string(state))
	c.waitReply(adminChat, n, "Restarting 1 agent(s)")
	report := c.waitReply(adminChat, n, "✗ builder — stuck on the first-run dialog: Choose the text style")
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the report came %v after the code, want seconds (restart_timeout is 3m)", took)
	}
	if !strings.Contains(report.Plain, "0 of 1") && !strings.Contains(report.Plain, "1 failed") {
		t.Errorf("the report does not say the restart failed: %q", report.Plain)
	}
	journal, _ := os.ReadFile(filepath.Join(c.dir, "state", "journal.jsonl"))
	if !bytes.Contains(journal, []byte("stuck on the first-run dialog")) {
		t.Errorf("the journal lacks the restart's outcome:\n%s", journal)
	}
}

// Stopping fleetwarden while a login waits for its code leaves no login
// process (nor the setup-token window) behind.
func TestStopCancelsTheLogin(t *testing.T) {
	for _, method := range []string{"auth-login", "setup-token"} {
		t.Run(method, func(t *testing.T) {
			c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"},
				claudeKeys: fmt.Sprintf("login_method = %q\n", method)})
			c.say(tgAdmin, adminChat, "/login", "Open the login page")
			if method == "setup-token" && !c.hasSession("fleetwarden-login") {
				t.Fatal("no setup-token window while the login waits")
			}
			c.stop()
			c.noLoginLeft()
			if c.hasSession("fleetwarden-login") {
				t.Error("the setup-token window outlived fleetwarden")
			}
		})
	}
}

// hasSession reports whether the fleet's tmux server has session name.
func (c *chatFleet) hasSession(name string) bool {
	c.t.Helper()
	panes, err := c.tm.ListPanes(c.t.Context())
	if err != nil {
		return false
	}
	for _, p := range panes {
		if p.Session == name {
			return true
		}
	}
	return false
}

// A login CLI that dies while it waits for the code says why.
func TestLoginProcessDiesWithItsReason(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"},
		env: []string{"FAKECLAUDE_LOGIN_CRASH=Error: getaddrinfo EAI_AGAIN platform.claude.com"}})
	c.say(tgAdmin, adminChat, "/login", "Open the login page")
	msg := c.waitReply(adminChat, 0, "The login process ended before a code came")
	if !strings.Contains(msg.Plain, "getaddrinfo EAI_AGAIN platform.claude.com") || strings.Contains(msg.Plain, "oauth/authorize") {
		t.Errorf("end message %q: want the CLI's reason and no login link", msg.Plain)
	}
	// and what it means, in plain words
	if !strings.Contains(msg.Plain, "The host could not reach Anthropic. Check its network") {
		t.Errorf("end message %q: want the reason in plain words", msg.Plain)
	}
	c.noLoginLeft()
}

func TestLoginBadInputs(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"}})
	// Not an admin; in a group; a stranger.
	c.say(tgOperator, opChat, "/login", "needs the admin role")
	c.tg.AddChat(groupChat)
	c.say(tgAdmin, groupChat, "/login", "private chat")
	// A code sent to the group is refused. A bot that is not a group admin
	// cannot delete it, and says so; as an admin with "Delete messages" it
	// takes it off the chat.
	const code = "/code abcdefghijklmnop#qrstuvwxyz012345"
	n := len(c.tg.Sent())
	up := c.tg.SendUserMessage(tgAdmin, groupChat, code)
	c.waitReply(groupChat, n, `make it a group admin with the "Delete messages" right`)
	if _, visible := c.tg.UserMessage(groupChat.ID, c.tg.MessageIDOf(up)); !visible {
		t.Error("the fake let a bot that is not a group admin delete a user's message")
	}
	c.tg.SetBotAdmin(groupChat, true)
	n = len(c.tg.Sent())
	up = c.tg.SendUserMessage(tgAdmin, groupChat, code)
	c.waitReply(groupChat, n, "Your message with the code was deleted")
	if _, visible := c.tg.UserMessage(groupChat.ID, c.tg.MessageIDOf(up)); visible {
		t.Error("the group message holding a code is still there")
	}
	c.noLoginLeft()
	// /code without a login.
	c.say(tgAdmin, adminChat, "/code abc#def", "No login is in progress")

	c.say(tgAdmin, adminChat, "/login", "Open the login page")
	c.say(tgAdmin, adminChat, "/code nohash", "two parts joined by #")
	c.say(tgAdmin, adminChat, "/code", "usage: /code")
	// A wrong code: the CLI's refusal becomes advice, and the login ends.
	c.say(tgAdmin, adminChat, "/code wrong#state", "Send /login again")
	c.noLoginLeft()
	c.say(tgAdmin, adminChat, "/code abc#def", "No login is in progress")
}

func TestLoginTimesOut(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"}, loginTimeout: "2s"})
	c.say(tgAdmin, adminChat, "/login", "Open the login page")
	c.waitReply(adminChat, 0, "ended without a code")
	c.noLoginLeft()
	c.say(tgAdmin, adminChat, "/code abc#def", "No login is in progress")
}

func TestSetupTokenLoginOverTelegram(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "oauth-token")
	c := newChatFleet(t, chatOpts{agents: map[string]string{"builder": "19-tui-401.txt"},
		claudeKeys: fmt.Sprintf("login_method = \"setup-token\"\ntoken_file = %q\n", tokenFile)})
	// setup-token runs in a tmux window: the fake CLI there learns where to
	// write its OAuth state from the tmux server's environment.
	if out, err := exec.Command("tmux", "-L", c.tm.Socket(), "set-environment", "-g", "FAKECLAUDE_STATE_FILE", c.stateFile).CombinedOutput(); err != nil {
		t.Fatalf("set-environment: %v %s", err, out)
	}
	login := c.say(tgAdmin, adminChat, "/login", "Open the login page")
	// setup-token's short link: its head "I" is the user:inference scope alone.
	if btn, ok := login.Button("Open login page"); !ok || !strings.HasPrefix(btn.URL, "https://claude.ai/oauth/authorize?IOl6i3") {
		t.Fatalf("login message %q: want the setup-token URL as a button", login.Plain)
	}
	state, err := os.ReadFile(c.stateFile)
	if err != nil {
		t.Fatal(err)
	}
	n := len(c.tg.Sent())
	c.tg.SendUserMessage(tgAdmin, adminChat, "/code good#"+string(state))
	c.waitReply(adminChat, n, "Login verified: long-lived token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	tok, _ := os.ReadFile(tokenFile)
	secret := strings.TrimSpace(string(tok))
	if !strings.HasPrefix(secret, "sk-ant-oat01-") {
		t.Fatalf("token file holds %q, want the long-lived token", secret)
	}
	for _, m := range c.tg.Sent() {
		if strings.Contains(m.Plain, secret) || strings.Contains(m.Plain, "sk-ant-oat01-") {
			t.Errorf("the token reached the chat: %q", m.Plain)
		}
	}
	journal, _ := os.ReadFile(filepath.Join(c.dir, "state", "journal.jsonl"))
	if strings.Contains(string(journal), secret) {
		t.Error("the token reached the journal")
	}
	// The window that showed the token is gone.
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		panes, _ := c.tm.ListPanes(t.Context())
		for _, p := range panes {
			if p.Session == "fleetwarden-login" {
				return false, "the setup-token window is still open"
			}
		}
		return true, ""
	})
	c.noLoginLeft()
}

// Claude Code's footer says "Your login expires in 1 day" when the login's
// refresh token has a day left: one expiry warning per login goes out, naming
// the agents that show it, though they keep showing it scan after scan.
func TestLoginExpiryFromTheFooter(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "16-login-expires-footer.txt", "beta": "16-login-expires-footer.txt", "gamma": "15-busy.txt"}})
	msg := c.waitReply(adminChat, 0, "runs out within 1 day")
	if !strings.Contains(msg.Plain, "The login of default runs out within 1 day") || !strings.Contains(msg.Plain, "/login") {
		t.Errorf("warning %q: want the login, the time left and the remedy", msg.Plain)
	}
	c.say(tgAdmin, adminChat, "/status", "3 idle") // more scans have run since
	n := 0
	for _, m := range c.tg.Sent() {
		if strings.Contains(m.Plain, "runs out within 1 day") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d expiry warnings from the footer, want 1", n)
	}
}

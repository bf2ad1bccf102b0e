package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/fakes/discordtest"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

var (
	tgViewer   = telegramtest.User{ID: 333, Username: "viewer", FirstName: "Vera"}
	viewerChat = telegramtest.Chat{ID: 333, Type: "private"}
)

// liveFleet is fleetwarden's daemon running in this process (runDaemon, as
// `run` calls it) on a private tmux server with fake agents and the fake
// Telegram server: faster than the binary, and restartable.
type liveFleet struct {
	*chatFleet
	agents map[string]string
	dash   string // dashboard.listen; "" = off
	state  string // state.dir; "" = state in the test's directory
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan int
	hup    chan os.Signal
}

func newLiveFleet(t *testing.T, agents map[string]string) *liveFleet {
	t.Helper()
	e := newFleetEnv(t)
	c := &chatFleet{fleetEnv: e, tg: telegramtest.New(t, botToken), stderr: &syncBuffer{}}
	c.tg.AddChat(adminChat)
	c.tg.AddChat(groupChat)
	for name, screen := range agents {
		e.agent(name, screen)
	}
	l := &liveFleet{chatFleet: c, agents: agents, out: c.stderr}
	l.cfg = filepath.Join(e.dir, "config.toml")
	l.write("")
	t.Cleanup(func() {
		l.stop()
		if t.Failed() || os.Getenv("FW_SHOWLOG") != "" {
			t.Logf("fleetwarden output:\n%s", l.out)
		}
	})
	return l
}

// write writes the config with the fleet's agents, then more.
func (l *liveFleet) write(more string) {
	l.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n\n[claude]\nbin = %q\n\n", l.tm.Socket(), l.claude)
	fmt.Fprintf(&b, "[telegram]\ntoken = %q\napi_url = %q\nadmins = [111]\nviewers = [333]\nalert_chats = [111]\n\n", botToken, l.tg.URL())
	dash := l.dash
	if dash == "" {
		dash = "off"
	}
	state := l.state
	if state == "" {
		state = filepath.Join(l.dir, "state")
	}
	fmt.Fprintf(&b, "[state]\ndir = %q\n\n[watchdog]\ninterval = \"300ms\"\n\n[dashboard]\nlisten = %q\n\n", state, dash)
	b.WriteString("[alerts]\ngroup_wait = \"300ms\"\n\n")
	for _, name := range slices.Sorted(maps.Keys(l.agents)) {
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = \"%s:main\"\n\n", name, name)
	}
	b.WriteString(more)
	testenv.WriteFile(l.t, l.dir, "config.toml", b.String())
}

// run starts the daemon; it must not be running.
func (l *liveFleet) run(o Options) {
	l.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done, l.hup = cancel, make(chan int, 1), make(chan os.Signal, 1)
	o.Stdin, o.Stdout, o.Stderr, o.Hup = strings.NewReader(""), l.out, l.out, l.hup
	go func() { l.done <- runFile(ctx, l.cfg, o) }()
}

// stop stops the daemon as SIGTERM does and returns its exit code.
func (l *liveFleet) stop() int {
	l.t.Helper()
	if l.cancel == nil {
		return -1
	}
	l.cancel()
	l.cancel = nil
	select {
	case code := <-l.done:
		return code
	case <-time.After(30 * time.Second):
		l.t.Fatalf("fleetwarden did not stop within 30s")
	}
	return -1
}

// exited waits for a daemon that ends by itself and returns its code.
func (l *liveFleet) exited() int {
	l.t.Helper()
	select {
	case code := <-l.done:
		l.cancel()
		l.cancel = nil
		return code
	case <-time.After(30 * time.Second):
		l.t.Fatalf("fleetwarden did not exit")
	}
	return -1
}

func (l *liveFleet) ask(from telegramtest.User, chat telegramtest.Chat, text string, want ...string) telegramtest.Message {
	l.t.Helper()
	n := len(l.tg.Sent())
	l.tg.SendUserMessage(from, chat, text)
	return l.waitSent(chat, n, want...)
}

func (l *liveFleet) press(from telegramtest.User, chat telegramtest.Chat, m telegramtest.Message, label string, want ...string) telegramtest.Message {
	l.t.Helper()
	b, ok := m.Button(label)
	if !ok {
		l.t.Fatalf("no %q button on %q", label, m.Plain)
	}
	n := len(l.tg.Sent())
	l.tg.PressButton(from, chat, m.MessageID, b.CallbackData)
	return l.waitSent(chat, n, want...)
}

func TestTypoAfterRestartRunsOnTheLastGoodConfig(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt", "docs": "19-tui-401.txt"})
	hook := testenv.NewWebhook(t)
	l.write(fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", hook.URL))
	l.run(Options{GoodAfter: time.Millisecond})
	l.waitSent(adminChat, 0, "fleetwarden started")
	lastGood := filepath.Join(l.dir, "state", "config.last-good.toml")
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		_, err := os.Stat(lastGood)
		return err == nil, "no last good config kept"
	})
	if fi, _ := os.Stat(lastGood); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", lastGood, fi.Mode().Perm())
	}
	if data := string(mustRead(t, lastGood)); !strings.Contains(data, "# source: "+l.cfg) || !strings.Contains(data, "# good since: ") {
		t.Errorf("the last good config does not say where and when it came from:\n%s", data)
	}
	if code := l.stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}

	// check compares a file with the last good config.
	good := string(mustRead(t, l.cfg))
	testenv.WriteFile(t, l.dir, "config.toml", strings.Replace(good, "interval = \"300ms\"", "interval = \"1s\"", 1))
	if out, _, _ := checkOffline(t, l.cfg); !strings.Contains(out, "differs from the last good config") ||
		!strings.Contains(out, "~ watchdog.interval: 300ms → 1s") {
		t.Errorf("check does not show the difference from the last good config:\n%s", out)
	}

	// 3 a.m.: a typo, then a restart.
	cfgText := strings.Replace(good, "interval = \"300ms\"", "intervall = \"300ms\"", 1)
	testenv.WriteFile(t, l.dir, "config.toml", cfgText)
	_, errOut, code := checkOffline(t, l.cfg)
	if code == 0 || !strings.Contains(errOut, `config.toml:`) || !strings.Contains(errOut, "watchdog.intervall") ||
		!strings.Contains(errOut, "fleetwarden run would start on the last good config from") {
		t.Fatalf("check of the typo: exit %d, %s", code, errOut)
	}
	n := len(l.tg.Sent())
	l.run(Options{})
	m := l.waitSent(adminChat, n, "watchdog.intervall", "running on the last good config from", "fix the file and /reload")
	if !strings.Contains(m.Plain, "config.toml:") {
		t.Errorf("the notice does not name the file and line: %q", m.Plain)
	}
	// The other routes are told too.
	hook.WaitEvidence(t, "The config file does not load", "watchdog.intervall")
	// The fleet is still watched, and /status says why it runs as it does.
	st := l.ask(tgAdmin, adminChat, "/status", "running on the last good config", "docs")
	if !strings.Contains(st.Plain, "auth_failed") {
		t.Errorf("/status does not show the failing agent: %q", st.Plain)
	}
	// Fixed and reloaded: the file runs again.
	l.write("")
	l.ask(tgAdmin, adminChat, "/reload", "the last good config steps down", "Applying now")
	l.waitSent(adminChat, n, "Config reloaded")
	st = l.ask(tgAdmin, adminChat, "/status", "docs")
	if strings.Contains(st.Plain, "last good") {
		t.Errorf("/status after the fix still says it runs on the last good config: %q", st.Plain)
	}
	tl := l.ask(tgAdmin, adminChat, "/timeline", "config reloaded")
	if !strings.Contains(tl.Plain, "running on the last good config") {
		t.Errorf("/timeline does not tell the fallback:\n%s", tl.Plain)
	}
}

func TestNoLastGoodConfigExitsAsBefore(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	testenv.WriteFile(t, l.dir, "config.toml", strings.Replace(string(mustRead(t, l.cfg)), "interval", "intervall", 1))
	l.run(Options{})
	if code := l.exited(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out := l.out.String(); !strings.Contains(out, "watchdog.intervall") || !strings.Contains(out, "no last good config") {
		t.Errorf("output does not say what is wrong:\n%s", out)
	}
}

func TestReloadRemovingAnAgentWaitsForTheAdminsButton(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt", "docs": "15-busy.txt"})
	l.tg.AddChat(viewerChat)
	l.dash = freeAddr(t)
	l.write("")
	l.run(Options{})
	l.waitSent(adminChat, 0, "fleetwarden started")
	startedAt := func() string {
		var got string
		tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
			code, body := dashGet(l.dash, "/api/status")
			var st struct {
				StartedAt string `json:"started_at"`
			}
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.StartedAt == "" {
				return false, fmt.Sprintf("/api/status: %d %s", code, body)
			}
			got = st.StartedAt
			return true, ""
		})
		return got
	}
	before := startedAt()
	l.ask(tgAdmin, adminChat, "/status", "builder", "docs")

	// /reload is in the admin's menu and /help, not in a viewer's.
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		for _, c := range l.tg.CommandsIn("chat chat=111") {
			if c.Command == "reload" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no /reload in the admin's Telegram menu: %v", l.tg.CommandsIn("chat chat=111"))
	})
	l.ask(tgAdmin, adminChat, "/help", "/reload — read the config file again")
	if h := l.ask(tgViewer, viewerChat, "/help", "/status"); strings.Contains(h.Plain, "/reload") {
		t.Errorf("a viewer's /help lists /reload: %q", h.Plain)
	}

	delete(l.agents, "docs")
	l.write("")
	// A viewer may not reload.
	l.ask(tgViewer, viewerChat, "/reload", "/reload needs the admin role")
	q := l.ask(tgAdmin, groupChat, "/reload", "Needs an admin's confirmation", "- agent docs removed", "Apply these changes?")
	// The viewer's press does nothing.
	l.press(tgViewer, groupChat, q, "Yes, do it", "Only the person who asked can confirm this")
	if st := l.ask(tgAdmin, adminChat, "/status", "builder"); !strings.Contains(st.Plain, "docs") {
		t.Fatalf("docs went before the admin confirmed: %q", st.Plain)
	}
	n := len(l.tg.Sent())
	l.press(tgAdmin, groupChat, q, "Yes, do it", "Applying the new config")
	l.waitSent(adminChat, n, "Config reloaded", "- agent docs removed")
	if st := l.ask(tgAdmin, adminChat, "/status", "builder"); strings.Contains(st.Plain, "docs") {
		t.Errorf("docs is still watched after the reload: %q", st.Plain)
	}
	// The dashboard is back on the new config, and uptime goes on.
	if after := startedAt(); after != before {
		t.Errorf("dashboard started_at went from %s to %s across a reload", before, after)
	}
	tl := l.ask(tgAdmin, adminChat, "/timeline", "config reloaded")
	for _, want := range []string{"config reload waits for an admin", "refused", "agent docs removed"} {
		if !strings.Contains(tl.Plain, want) {
			t.Errorf("/timeline lacks %q:\n%s", want, tl.Plain)
		}
	}
}

func TestReloadAddingAnAlertChatAsksFirst(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	l.run(Options{})
	l.waitSent(adminChat, 0, "fleetwarden started")

	l.write("")
	cfgText := strings.Replace(string(mustRead(t, l.cfg)), "alert_chats = [111]", fmt.Sprintf("alert_chats = [111, %d]", groupChat.ID), 1)
	testenv.WriteFile(t, l.dir, "config.toml", cfgText)

	// SIGHUP: nothing applies; the admins are told what waits.
	n := len(l.tg.Sent())
	l.hup <- syscall.SIGHUP
	l.waitSent(adminChat, n, fmt.Sprintf("+ telegram alert chat %d added", groupChat.ID), "send /reload")
	// The command line without --yes: the same.
	out, errOut, code := reloadCLI(t, l.cfg, false)
	if code != 0 || !strings.Contains(out, "Nothing applied") || !strings.Contains(out, "Needs an admin's confirmation") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	for _, m := range l.tg.Sent() {
		if m.ChatID == groupChat.ID {
			t.Fatalf("the new alert chat got a message before anyone confirmed: %q", m.Plain)
		}
	}
	// With --yes it applies, and the new chat hears of it.
	out, errOut, code = reloadCLI(t, l.cfg, true)
	if code != 0 || !strings.Contains(out, "Applying now") {
		t.Fatalf("reload --yes: exit %d\n%s%s", code, out, errOut)
	}
	l.waitSent(groupChat, 0, "Config reloaded", "applied by command line")

	// A file that does not load: every error, and it keeps running.
	testenv.WriteFile(t, l.dir, "config.toml", cfgText+"\n[bogus]\n[[agent]]\nname = \"x\"\n")
	_, errOut, code = reloadCLI(t, l.cfg, false)
	if code != 1 || !strings.Contains(errOut, "config.toml:") || !strings.Contains(errOut, "bogus") || !strings.Contains(errOut, "agent[1].target") {
		t.Errorf("reload of a broken file: exit %d\n%s", code, errOut)
	}
	l.ask(tgAdmin, adminChat, "/status", "builder")
}

func TestRepeatedCrashLandsInSafeMode(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	// A valid config cannot fail to start (what could is checked when it
	// loads), so the crashes are panics: each run leaves the runtime's
	// report in state.dir, as the binary has it written (captureCrashes).
	const panicked = "panic: runtime error: invalid memory address or nil pointer dereference"
	crash := func() {
		testenv.WriteFile(t, filepath.Join(l.dir, "state"), crashOutFile, panicked+"\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 [running]:\n")
	}
	n := 0
	for i := range 2 {
		crash()
		l.run(Options{})
		l.waitSent(adminChat, n, "fleetwarden started")
		if strings.Contains(l.tg.Sent()[len(l.tg.Sent())-1].Plain, "Safe mode") {
			t.Fatalf("safe mode after %d crashes", i+1)
		}
		l.stop()
		n = len(l.tg.Sent())
	}
	crash()
	l.run(Options{})
	m := l.waitSent(adminChat, n, "Safe mode", "the same crash 3 times in 10 minutes", panicked)
	if strings.Contains(m.Plain, "Left out") {
		t.Errorf("safe mode left something out of a config that passes its checks: %q", m.Plain)
	}
	l.ask(tgAdmin, adminChat, "/status", "Safe mode", "builder")

	// Fixed and reloaded: safe mode ends.
	l.write("")
	l.ask(tgAdmin, adminChat, "/reload", "safe mode ends")
	l.waitSent(adminChat, n, "Config reloaded")
	if st := l.ask(tgAdmin, adminChat, "/status", "builder"); strings.Contains(st.Plain, "Safe mode") {
		t.Errorf("still in safe mode after /reload: %q", st.Plain)
	}
}

func TestRunSafeLeavesOutAChatThatFailsItsCheck(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	hook := testenv.NewWebhook(t)
	l.write(fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", hook.URL))
	l.tg.Down()
	l.run(Options{Safe: true})
	hook.WaitEvidence(t, "Safe mode", "Safe mode: started with --safe. Left out: telegram (")
}

func TestReloadThatCannotStartKeepsThePreviousConfig(t *testing.T) {
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	l.run(Options{})
	l.waitSent(adminChat, 0, "fleetwarden started")
	// Valid, but its state.dir cannot be made: the journal does not open.
	file := testenv.WriteFile(t, l.dir, "not-a-dir", "")
	l.state = filepath.Join(file, "state")
	l.write("")
	l.ask(tgAdmin, adminChat, "/reload", "The reloaded config did not start", "not a directory", "Running on the previous config again")
	l.ask(tgAdmin, adminChat, "/status", "builder")
	l.ask(tgAdmin, adminChat, "/timeline", "the reloaded config did not start")
}

func TestReloadBringsDiscordBackUp(t *testing.T) {
	const (
		dcToken   = "MTAw.fake.bot-token"
		dcApp     = "100000000000000001"
		dcChannel = "300000000000000010"
	)
	dc := discordtest.New(t, dcToken, dcApp)
	l := newLiveFleet(t, map[string]string{"builder": "15-busy.txt"})
	section := fmt.Sprintf("[discord]\ntoken = %q\napi_url = %q\nadmins = [\"200000000000000001\"]\nalert_channels = [%q]\n\n",
		dcToken, dc.URL()+"/api/v9", dcChannel)
	l.write(section)
	l.run(Options{})
	dc.WaitMessage(t, 30*time.Second, func(m discordtest.Message) bool {
		return m.ChannelID == dcChannel && strings.Contains(m.Content, "fleetwarden started")
	})
	dc.WaitCommands(t, 30*time.Second, "", "reload") // the slash command
	// An agent added applies at once; the new Discord connection tells it.
	l.agent("extra", "15-busy.txt")
	l.agents["extra"] = "15-busy.txt"
	l.write(section)
	l.ask(tgAdmin, adminChat, "/reload", "+ agent extra added", "Applying now")
	dc.WaitMessage(t, 30*time.Second, func(m discordtest.Message) bool {
		return m.ChannelID == dcChannel && strings.Contains(m.Content, "Config reloaded") && strings.Contains(m.Content, "+ agent extra added")
	})
	// The new generation's gateway connection (REST carried the notice).
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		n := dc.Identifies()
		return n == 2, fmt.Sprintf("Discord identified %d times, want 2 (one per generation)", n)
	})
}

package main

// The binary's smoke tests: what only a process shows — SIGTERM, a kill
// -9, SIGHUP, systemd's notify socket — and `check` beside a running
// fleetwarden. The daemon's behaviour is tested in process, in
// internal/daemon; TestConsoleInATerminal (main_test.go) is the console in
// a real terminal.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/daemon"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

func TestQueuedAlertSurvivesKill9(t *testing.T) {
	hook := testenv.NewWebhook(t)
	routes := fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", hook.URL)
	c := newChatFleet(t, chatOpts{binary: true, fallbackAfter: "1s", extra: routes, agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")

	c.tg.Down()
	c.show("alpha", "61-permission.txt")
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return count(hook.Summaries(), "alpha") == 1, fmt.Sprintf("webhook got %q", hook.Summaries())
	})
	// The Telegram copy is queued on disk. Kill fleetwarden without warning,
	// let the agent recover meanwhile, bring Telegram back and start again.
	c.kill()
	c.show("alpha", "15-busy.txt")
	c.tg.Up()
	c.start()
	// The queued alert is delivered, and — since alpha recovered while
	// fleetwarden was down — its resolved notice follows, each once.
	tmuxtest.WaitFor(t, 60*time.Second, func() (bool, string) {
		tg := c.telegramTexts()
		return count(tg, "on alpha") == 2 && count(tg, "✅ Prompt answered on alpha") == 1, fmt.Sprintf("telegram got %q", tg)
	})
	c.waitReply(adminChat, 0, "it ended without stopping (crash, kill or power loss)")
}

// SIGTERM (systemd stopping fleetwarden) flushes the alert queue: an alert
// waiting out its retry backoff goes out before the process ends.
func TestSigtermFlushesTheAlertQueue(t *testing.T) {
	c := newChatFleet(t, chatOpts{binary: true, agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	c.tg.Down()
	c.show("alpha", "19-tui-401.txt")
	// The alert's first delivery failed: it waits in the queue (backoff
	// of several seconds) when Telegram comes back and the stop arrives.
	journal := filepath.Join(c.dir, "state", "journal.jsonl")
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(journal)
		return strings.Contains(string(b), `"kind":"delivery"`) && strings.Contains(string(b), `"ok":false`),
			"no failed delivery in the journal yet"
	})
	c.tg.Up()
	c.stop()
	if got := count(c.telegramTexts(), "Login expired on alpha"); got != 1 {
		t.Errorf("after SIGTERM Telegram has the alert %d times, want once (flushed on the way out)", got)
	}
}

// A second instance polling the same bot token gets the running one 409s;
// `check` cannot poll without causing that itself, so it reports what the
// running fleetwarden journaled. A webhook on the bot it sees directly.
func TestCheckReportsTelegramConflicts(t *testing.T) {
	c := newChatFleet(t, chatOpts{agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	// (The fleet has no Claude login yet: check fails on the credential
	// whatever happens here, so the lines are what counts.)
	out, errOut, _ := c.check()
	if !strings.Contains(out, "✓ telegram (in the running fleetwarden): up since") {
		t.Fatalf("check with all well:\n%s%s", out, errOut)
	}

	// Another instance starts polling the same bot token: each of its
	// getUpdates cuts the running bot's long poll short with 409, as
	// Telegram does.
	other := make(chan struct{})
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		for {
			select {
			case <-other:
				return
			default:
			}
			resp, err := http.Get(c.tg.URL() + "/bot" + botToken + "/getUpdates?timeout=1")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	var once sync.Once
	stopOther := func() { once.Do(func() { close(other); <-otherDone }) }
	t.Cleanup(stopOther)
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		out, errOut, _ = c.check()
		return strings.Contains(errOut, "✗ telegram (in the running fleetwarden): down since"), out + errOut
	})
	if !strings.Contains(errOut, "another instance is polling this bot token (409 Conflict)") {
		t.Errorf("check does not explain the conflict:\n%s", errOut)
	}
	if !strings.Contains(out, "✓ telegram: bot @") {
		t.Errorf("the token itself works, check should say so:\n%s", out)
	}

	stopOther()
	c.tg.SetWebhook("https://hooks.example/bot")
	_, errOut, _ = c.check()
	if !strings.Contains(errOut, "✗ telegram: a webhook is set on this bot") {
		t.Errorf("check with a webhook set:\n%s", errOut)
	}

	c.tg.SetWebhook("")
	c.stop()
	out, errOut, _ = c.check()
	if !strings.Contains(out, "✓ telegram: bot @") || strings.Contains(out+errOut, "in the running fleetwarden") {
		t.Errorf("check with fleetwarden stopped: want the bot fine and no running-instance lines\n%s%s", out, errOut)
	}
}

// check runs `fleetwarden check` on the fleet's config, beside the daemon.
func (c *chatFleet) check() (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(testenv.Fleetwarden(c.t), "check", "--config", c.cfg)
	cmd.Env = append(os.Environ(), c.env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestSystemdNotify runs fleetwarden as systemd would, with NOTIFY_SOCKET
// and a watchdog, and reads what it says: READY=1 after the first scan,
// WATCHDOG=1 while it scans, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	// A tmux that hangs on list-panes once told to: the scan loop hangs.
	dir := t.TempDir()
	hang := filepath.Join(dir, "hang")
	tmuxBin := testenv.WriteFile(t, dir, "tmux", fmt.Sprintf(
		"#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = list-panes ] && [ -e %q ] && exec sleep 60; done\nexec tmux \"$@\"\n", hang))
	if err := os.Chmod(tmuxBin, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newChatFleet(t, chatOpts{binary: true, agents: map[string]string{"builder": "15-busy.txt"}, tmuxBin: tmuxBin,
		env: []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=600000"}})
	want := func(msg string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m := <-got:
				if strings.Contains(m, msg) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s from fleetwarden", msg)
			}
		}
	}
	want("READY=1")
	want("WATCHDOG=1")
	want("WATCHDOG=1")

	// The loop hangs: the pings stop, so systemd would restart it.
	if err := os.WriteFile(hang, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	quiet := 0
	deadline := time.After(20 * time.Second)
	for quiet < 4 { // four watchdog periods (150 ms each) without a ping
		select {
		case m := <-got:
			if strings.Contains(m, "WATCHDOG=1") {
				quiet = 0
			}
		case <-time.After(150 * time.Millisecond):
			quiet++
		case <-deadline:
			t.Fatal("WATCHDOG=1 kept coming while the scan loop hung")
		}
	}
	if err := os.Remove(hang); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	want("STOPPING=1")
}

func TestSighupReloadsTheRunningBinary(t *testing.T) {
	c := newChatFleet(t, chatOpts{binary: true, agents: map[string]string{"builder": "15-busy.txt"}})
	c.waitReply(adminChat, 0, "fleetwarden started")
	c.agent("extra", "15-busy.txt")
	cfg := string(mustRead(t, c.cfg)) + "\n[[agent]]\nname = \"extra\"\ntarget = \"extra:main\"\n"
	testenv.WriteFile(t, c.dir, "config.toml", cfg)
	n := len(c.tg.Sent())
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m := c.waitReply(adminChat, n, "Config reloaded")
	if !strings.Contains(m.Plain, "+ agent extra added") || !strings.Contains(m.Plain, "applied by SIGHUP") {
		t.Errorf("reload notice = %q", m.Plain)
	}
	if st := c.say(tgAdmin, adminChat, "/status", "extra"); !strings.Contains(st.Plain, "builder") {
		t.Errorf("/status after the reload = %q, want builder and extra", st.Plain)
	}
}

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
// Telegram server, and fleetwarden between them: the daemon in this
// process (daemon.New, as `run` calls it), or the binary for the tests of
// what only a process shows (signals, a kill, systemd).
type chatFleet struct {
	*fleetEnv
	tg        *telegramtest.Server
	stateFile string // where the fake login writes its OAuth state
	claudeDir string
	stderr    *syncBuffer
	cfg       string
	env       []string
	binary    bool
	cmd       *exec.Cmd          // the binary, when binary
	cancel    context.CancelFunc // the daemon in this process, while it runs
	done      chan int           // its exit code
}

// start runs fleetwarden on the config.
func (c *chatFleet) start() {
	c.t.Helper()
	env := append([]string{"FAKECLAUDE_STATE_FILE=" + c.stateFile, "FAKECLAUDE_SCREENS=" + testenv.ScreensDir()}, c.env...)
	if c.binary {
		c.cmd = exec.Command(testenv.Fleetwarden(c.t), "run", "--config", c.cfg)
		c.cmd.Env = append(os.Environ(), env...)
		c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
		if err := c.cmd.Start(); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	// What the daemon starts (logins, tmux, the CLI) gets this process's
	// environment, as the binary's children get the binary's.
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		c.t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan int, 1)
	go func() {
		cfg, notes, code := loadDaemonConfig(c.cfg, c.stderr)
		if cfg == nil {
			c.done <- code
			return
		}
		c.done <- runDaemon(ctx, cfg, daemon.Options{Stdin: strings.NewReader(""), Stdout: c.stderr, Stderr: c.stderr,
			Notes: notes, Hup: make(chan os.Signal)})
	}()
}

// kill stops fleetwarden the hard way: no flush, no goodbye.
func (c *chatFleet) kill() {
	c.t.Helper()
	if !c.binary {
		c.t.Fatal("kill needs the binary (chatOpts.binary)")
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// stop stops fleetwarden as systemd does (SIGTERM; in this process, the
// context `run` gets from it ends) and waits for it.
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
	if c.binary {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(wait):
			_ = c.cmd.Process.Kill()
			return errNoStop
		}
	}
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

// chatOpts are what the smoke tests vary; the behaviour tests, in
// internal/daemon, have the full harness.
type chatOpts struct {
	binary        bool              // run the fleetwarden binary, not the daemon in this process
	agents        map[string]string // agent name → the screen its fake CLI shows
	fallbackAfter string
	extra         string // appended to the config ([[alerts.route]]s, …)
	tmuxBin       string // tmux.bin; "" = tmux
	env           []string
}

func newChatFleet(t *testing.T, o chatOpts) *chatFleet {
	t.Helper()
	e := newFleetEnv(t)
	c := &chatFleet{env: o.env, binary: o.binary, fleetEnv: e, tg: telegramtest.New(t, botToken), stateFile: filepath.Join(e.dir, "oauth-state"),
		claudeDir: filepath.Join(e.dir, "claude"), stderr: &syncBuffer{}}
	c.tg.AddChat(adminChat)
	var b strings.Builder
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n", e.tm.Socket())
	if o.tmuxBin != "" {
		fmt.Fprintf(&b, "bin = %q\n", o.tmuxBin)
	}
	fmt.Fprintf(&b, "\n[claude]\nbin = %q\nconfig_dir = %q\n\n", e.claude, c.claudeDir)
	fmt.Fprintf(&b, "[telegram]\ntoken = %q\napi_url = %q\nadmins = [111]\noperators = [222]\nalert_chats = [111]\n\n", botToken, c.tg.URL())
	fmt.Fprintf(&b, "[state]\ndir = %q\n\n[watchdog]\ninterval = \"300ms\"\n\n[dashboard]\nlisten = \"off\"\n\n", filepath.Join(e.dir, "state"))
	fmt.Fprintf(&b, "[alerts]\ngroup_wait = \"300ms\"\n")
	if o.fallbackAfter != "" {
		fmt.Fprintf(&b, "fallback_after = %q\n", o.fallbackAfter)
	}
	b.WriteString("\n" + o.extra + "\n")
	for name, screen := range o.agents {
		e.agentWith(name, screen, nil)
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = \"%s:main\"\ncommand = %q\nworkdir = %q\n", name, name, e.claude, e.dir)
		fmt.Fprintf(&b, "[agent.env]\nFAKECLAUDE_SCREENS = %q\nFAKECLAUDE_SCREEN = \"15-busy.txt\"\n\n", testenv.ScreensDir())
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

//go:build claude_e2e

package conformance

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

const botToken = "123456789:AAe2eClaudeConformanceTokenAAAAAAAAA"

var (
	admin     = telegramtest.User{ID: 111, Username: "admin", FirstName: "Ada"}
	adminChat = telegramtest.Chat{ID: 111, Type: "private"}
)

var daemon struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// fleetwardenBin builds the daemon from the repository root, once.
func fleetwardenBin(t *testing.T) string {
	t.Helper()
	daemon.once.Do(func() {
		dir, err := os.MkdirTemp("", "fw-e2e-bin-")
		if err != nil {
			daemon.err = err
			return
		}
		daemon.path = filepath.Join(dir, "fleetwarden")
		cmd := exec.Command("go", "build", "-o", daemon.path, ".")
		cmd.Dir = testenv.Root()
		daemon.out, daemon.err = cmd.CombinedOutput()
	})
	if daemon.err != nil {
		t.Fatalf("building fleetwarden: %v\n%s", daemon.err, daemon.out)
	}
	return daemon.path
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runDaemon starts `fleetwarden run` watching the named agents, talking to
// the fake Telegram server, with the fake Anthropic servers in its
// environment (for the `claude auth login` it runs).
func (e *env) runDaemon(bot *telegramtest.Server, names ...string) *lockedBuffer {
	e.t.Helper()
	bin := fleetwardenBin(e.t)
	dir := e.t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "[tmux]\nsocket = %q\n\n", e.tm.Socket())
	fmt.Fprintf(&b, "[claude]\nbin = %q\nlogin_timeout = \"2m\"\n%s\n", e.bin, e.claudeKeys)
	switch {
	case e.configDirKey == nil:
		fmt.Fprintf(&b, "config_dir = %q\n", e.configDir)
	case *e.configDirKey != "":
		fmt.Fprintf(&b, "config_dir = %q\n", *e.configDirKey)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "[telegram]\ntoken = %q\napi_url = %q\nadmins = [%d]\nalert_chats = [%d]\n\n", botToken, bot.URL(), admin.ID, adminChat.ID)
	fmt.Fprintf(&b, "[console]\nenabled = false\n\n[state]\ndir = %q\n\n", filepath.Join(dir, "state"))
	b.WriteString("[watchdog]\ninterval = \"500ms\"\n\n[alerts]\ngroup_wait = \"500ms\"\n\n[dashboard]\nlisten = \"off\"\n\n")
	fmt.Fprintf(&b, "[login]\nrestart_timeout = %q\n\n", startTimeout.String())
	for _, n := range names {
		fmt.Fprintf(&b, "[[agent]]\nname = %q\ntarget = %q\ncommand = %q\nworkdir = %q\n",
			n, n, "exec "+shellQuote(e.bin)+" --continue", e.workdir)
		b.WriteString("[agent.env]\n")
		for k, v := range e.vars() {
			fmt.Fprintf(&b, "%s = %q\n", k, v)
		}
		b.WriteString("\n")
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), e.environ()...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start fleetwarden: %v", err)
	}
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			e.t.Errorf("fleetwarden did not stop within 20s of SIGTERM")
		}
		if e.t.Failed() || os.Getenv("E2E_REPORT") != "" {
			e.t.Logf("fleetwarden output:\n%s", claude.Redact(out.String()))
		}
	})
	return out
}

// chatLogin logs the fleet in from the admin chat: /login, the login page
// from the relayed button opened on the fake, /code with its code. It
// returns the "Login verified" reply (waited for up to verifyWithin), how
// many messages the chat held before /code, and the code.
func chatLogin(t *testing.T, e *env, bot *telegramtest.Server, verifyWithin time.Duration) (verified telegramtest.Message, n int, code string) {
	t.Helper()
	n = len(bot.Sent())
	bot.SendUserMessage(admin, adminChat, "/login")
	login := waitChat(t, bot, n, time.Minute, "Open the login page")
	btn, ok := login.Button("Open login page")
	if !ok {
		t.Fatalf("login message %q has no 'Open login page' button: %+v", login.Plain, login.ReplyMarkup)
	}
	code, err := e.api.Authorize(btn.URL)
	if err != nil {
		t.Fatalf("the login URL relayed to the chat does not work: %v", err)
	}
	n = len(bot.Sent())
	bot.SendUserMessage(admin, adminChat, "/code "+code)
	return waitChat(t, bot, n, verifyWithin, "Login verified"), n, code
}

// waitChat waits for a message to the admin, among those sent after the
// first `after`, whose text contains want.
func waitChat(t *testing.T, bot *telegramtest.Server, after int, timeout time.Duration, want string) telegramtest.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		sent := bot.Sent()
		for _, m := range sent[min(after, len(sent)):] {
			if m.ChatID == adminChat.ID && strings.Contains(m.Plain, want) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range sent {
				got = append(got, m.Plain)
			}
			t.Fatalf("no message containing %q within %v; the bot sent %q", want, timeout, got)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}

// statusShows asks /status until the reply contains want, logging each
// reply that differs from the last.
func statusShows(t *testing.T, bot *telegramtest.Server, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		n := len(bot.Sent())
		bot.SendUserMessage(admin, adminChat, "/status")
		reply := waitChat(t, bot, n, 30*time.Second, "agents")
		if reply.Plain != last {
			t.Logf("status: %q", reply.Plain)
			last = reply.Plain
		}
		if strings.Contains(reply.Plain, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status never showed %q; last: %q", want, reply.Plain)
		}
		// Space the questions: a reply must not be mistaken for the next one's.
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(time.Second):
		}
	}
}

// The same recovery, driven the way an operator does it: the real agents'
// login dies, fleetwarden alerts on Telegram, /login relays the real CLI's
// URL, /code types the code into the real `claude auth login`, and the
// daemon restarts the agents, which answer again.
func TestChatLoginRecoversFleet(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		old := e.login()
		bot := telegramtest.New(t, botToken)
		bot.AddChat(adminChat)
		names := []string{"alpha", "beta"}
		panes := map[string]string{}
		for _, n := range names {
			panes[n] = e.startAgent(n)
		}
		for _, n := range names {
			e.waitReady(panes[n])
		}
		out := e.runDaemon(bot, names...)

		e.api.ExpireAccess()
		e.api.ScriptToken(anthropictest.GrantRefreshToken, anthropictest.TokenInvalidGrant)
		for _, n := range names {
			e.prompt(panes[n], "job for "+n)
			e.waitState(panes[n], claude.AuthFailed, claude.ReasonExpired, turnTimeout)
		}
		alert := waitChat(t, bot, 0, time.Minute, "Login expired on 2 agents: alpha, beta")
		t.Logf("alert: %q", alert.Plain)
		if !strings.Contains(alert.Plain, "/login") {
			t.Errorf("the alert does not say what to do (/login): %q", alert.Plain)
		}

		// Both failures must be known before the login, so the restart after
		// it covers both agents.
		statusShows(t, bot, "2 agents: 2 auth_failed")

		verified, n, code := chatLogin(t, e, bot, time.Minute)
		t.Logf("login: %q", verified.Plain)
		// The real CLI exchanged the code with the fake OAuth server and
		// wrote the new login where the agents read it.
		cr, err := claude.ReadCredentials(claude.CredentialsPath(e.configDir))
		if err != nil || !cr.HasRefresh || !cr.AccessExpires.After(time.Now()) {
			t.Errorf("credentials after the chat login: %+v, %v; want a fresh access token and a refresh token", cr, err)
		}
		if got := e.api.Issued(); len(got) < 2 || !slices.ContainsFunc(e.api.Requests(), func(r anthropictest.Request) bool {
			return r.Grant == anthropictest.GrantAuthorizationCode && r.Status == 200
		}) {
			t.Errorf("the fake OAuth server issued %d logins and saw no successful code exchange", len(got))
		}
		report := waitChat(t, bot, n, 2*time.Minute, "back in")
		t.Logf("restart report: %q", report.Plain)
		for _, a := range names {
			if !strings.Contains(report.Plain, a) {
				t.Errorf("restart report does not name %s: %q", a, report.Plain)
			}
		}
		for _, m := range bot.Sent() {
			if strings.Contains(m.Plain, code) {
				t.Errorf("the code came back in a message: %q", m.Plain)
			}
		}

		// Back, and seen so: under the classic renderer the resumed
		// conversations show the old error again, which is history now.
		statusShows(t, bot, "2 agents: 2 idle")
		for _, a := range names {
			e.prompt(panes[a], "after the login, job for "+a)
			e.waitFor(panes[a], turnTimeout, a+" answered", func(r claude.Result, s string) bool {
				return r.State == claude.Idle &&
					strings.LastIndex(s, "● "+anthropictest.DefaultAnswer) > strings.LastIndex(s, "after the login, job for "+a)
			})
			if req, ok := lastPrompt(e.api, "after the login, job for "+a); !ok || req.Token == anthropictest.Fingerprint(old.Access) {
				t.Errorf("%s: after the login the prompt went out with %q (old token %s)", a, req.Token, anthropictest.Fingerprint(old.Access))
			}
		}
		statusShows(t, bot, "2 agents: 2 idle")
		if s := out.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
			t.Errorf("fleetwarden raced or panicked")
		}
	})
}

// /login with claude.login_method = "setup-token", through chat, against
// the real `claude setup-token`: fleetwarden runs it in a tmux window,
// relays its URL, types the code, reads the long-lived token off the
// screen, stores it in claude.token_file (0600), and never shows it.
func TestChatSetupTokenLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "oauth-token")
	e.claudeKeys = fmt.Sprintf("login_method = \"setup-token\"\ntoken_file = %q\n", tokenFile)
	bot := telegramtest.New(t, botToken)
	bot.AddChat(adminChat)
	out := e.runDaemon(bot)

	verified, _, _ := chatLogin(t, e, bot, 2*time.Minute)
	t.Logf("login: %q", verified.Plain)

	issued := e.api.Issued()
	if len(issued) != 1 {
		t.Fatalf("the fake issued %d logins, want 1", len(issued))
	}
	tok := issued[0].Access
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(tokenFile); strings.TrimSpace(string(b)) != tok {
		t.Errorf("token file holds %s, want the issued token %s", anthropictest.Fingerprint(strings.TrimSpace(string(b))), anthropictest.Fingerprint(tok))
	}
	for _, m := range bot.Sent() {
		if strings.Contains(m.Plain, tok) {
			t.Errorf("the token came back in a message: %q", claude.Redact(m.Plain))
		}
	}
	if strings.Contains(out.String(), tok) {
		t.Error("the token is in fleetwarden's log")
	}
	// The window that showed the token is gone.
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		panes, err := e.tm.ListPanes(t.Context())
		if err != nil {
			return true, "" // no server left: no window either
		}
		for _, p := range panes {
			if p.Session == "fleetwarden-login" {
				return false, "the setup-token window is still open after the login"
			}
		}
		return true, ""
	})
}

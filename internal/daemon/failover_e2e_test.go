package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// scanCount is how many scans the daemon has finished, from its /metrics.
func scanCount(t *testing.T, addr string) int {
	t.Helper()
	code, body := dashGet(addr, "/metrics")
	if code != 200 {
		return -1
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, "fleetwarden_scan_duration_seconds_count "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// failoverFleet has agent alpha on credential primary (a dead login) with
// backup, an API key whose file holds backupToken; dashboard, if given, is
// where its dashboard listens.
func failoverFleet(t *testing.T, backupToken string, dashboard ...string) *chatFleet {
	t.Helper()
	dir := t.TempDir()
	primary := filepath.Join(dir, "primary")
	// A login whose refresh failed: the CLI rewrote it with empty tokens.
	testenv.WriteFile(t, primary, ".credentials.json", `{"claudeAiOauth":{"accessToken":"","refreshToken":"","expiresAt":0,"subscriptionType":"max"}}`)
	keyFile := testenv.WriteFile(t, dir, "api-key", backupToken)
	extra := fmt.Sprintf("[[credential]]\nname = \"primary\"\nkind = \"oauth-file\"\nconfig_dir = %q\n\n[[credential]]\nname = \"backup\"\nkind = \"api-key\"\ntoken = \"file:%s\"\n", primary, keyFile)
	return newChatFleet(t, chatOpts{
		agents:     map[string]string{"alpha": "54-tui-403org.txt"},
		claudeKeys: "failover = \"auto\"\n",
		agentKeys:  "credential = \"primary\"\nbackup = \"backup\"\n",
		extra:      extra,
		dashboard:  strings.Join(dashboard, ""),
	})
}

func panePID(t *testing.T, c *chatFleet, target string) int {
	t.Helper()
	panes, err := c.tm.ListPanes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panes {
		if p.Session+":"+p.WindowName == target {
			return p.PID
		}
	}
	t.Fatalf("no pane %s", target)
	return 0
}

func environ(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\x00", "\n")
}

func TestFailoverToHealthyBackupAndBack(t *testing.T) {
	const key = "sk-ant-api03-backupbackupbackupbackup"
	c := failoverFleet(t, key)
	before := panePID(t, c, "alpha:main")
	// The subscription is refused; re-login cannot fix it; the backup is
	// healthy: alpha is restarted on the API key by itself.
	c.waitReply(adminChat, 0, "alpha now runs on backup credential backup")
	after := panePID(t, c, "alpha:main")
	if after == before {
		t.Fatal("alpha was not restarted")
	}
	env := environ(t, after)
	if !strings.Contains(env, "ANTHROPIC_API_KEY="+key) {
		t.Errorf("the restarted agent does not run on the backup key; environment:\n%s", env)
	}
	for _, m := range c.telegramTexts() {
		if strings.Contains(m, key) {
			t.Errorf("the key leaked into chat: %q", m)
		}
	}
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")

	// The human switches back.
	c.say(tgAdmin, adminChat, "/auth use alpha primary", "Switched 1 agent(s) to primary")
	env = environ(t, panePID(t, c, "alpha:main"))
	if strings.Contains(env, "ANTHROPIC_API_KEY="+key) || !strings.Contains(env, "CLAUDE_CONFIG_DIR=") {
		t.Errorf("after /auth use primary the agent still has the backup key:\n%s", env)
	}
}

func TestFailoverBackupAlsoBadAlertsWithoutLooping(t *testing.T) {
	// The "API key" file holds an OAuth token: the backup is unusable too.
	c := failoverFleet(t, "sk-ant-oat01-notanapikeynotanapikey", "127.0.0.1:0")
	addr := c.dashAddr()
	before := panePID(t, c, "alpha:main")
	c.waitReply(adminChat, 0, "backup")
	// Several scans later (the daemon's own count): no restart happened,
	// and the notice came once.
	scans := scanCount(t, addr)
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		n := scanCount(t, addr)
		return n >= scans+5, fmt.Sprintf("%d scans since the notice, want 5", n-scans)
	})
	c.say(tgAdmin, adminChat, "/status", "auth_failed")
	if panePID(t, c, "alpha:main") != before {
		t.Error("alpha was restarted although its backup is bad")
	}
	n := 0
	for _, m := range c.telegramTexts() {
		if strings.Contains(m, "Failover on alpha") {
			n++
		}
	}
	t.Logf("chat: %q", c.telegramTexts())
	if n != 1 {
		t.Errorf("got %d failover notices, want 1: %q", n, c.telegramTexts())
	}
}

// The pane looks fine, but the primary credential's check fails (a dead
// login the agent has not hit yet): with failover = "auto" the agent moves
// to its backup. When the primary checks healthy again, the humans are
// told how to switch back, and /auth shows who runs where.
func TestFailoverWhenTheCheckFails(t *testing.T) {
	const key = "sk-ant-api03-backupbackupbackupbackup"
	dir := t.TempDir()
	primary := filepath.Join(dir, "primary")
	testenv.WriteFile(t, primary, ".credentials.json", `{"claudeAiOauth":{"accessToken":"","refreshToken":"","expiresAt":0,"subscriptionType":"max"}}`)
	keyFile := testenv.WriteFile(t, dir, "api-key", key)
	extra := fmt.Sprintf("[[credential]]\nname = \"primary\"\nkind = \"oauth-file\"\nconfig_dir = %q\n\n[[credential]]\nname = \"backup\"\nkind = \"api-key\"\ntoken = \"file:%s\"\n\n[schedule]\nauth_check = \"@every 1s\"\n", primary, keyFile)
	c := newChatFleet(t, chatOpts{
		agents:     map[string]string{"alpha": "15-busy.txt"},
		claudeKeys: "failover = \"auto\"\n",
		agentKeys:  "credential = \"primary\"\nbackup = \"backup\"\n",
		extra:      extra,
	})
	c.waitReply(adminChat, 0, "alpha now runs on backup credential backup")
	c.say(tgAdmin, adminChat, "/auth", "↪ alpha runs on backup instead")

	// Someone logs the primary in again.
	ms := func(d time.Duration) int64 { return time.Now().Add(d).UnixMilli() }
	testenv.WriteFile(t, primary, ".credentials.json", fmt.Sprintf(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-%s","refreshToken":"sk-ant-ort01-%s","expiresAt":%d,"subscriptionType":"max"}}`,
		strings.Repeat("a", 40), strings.Repeat("b", 40), ms(8*time.Hour)))
	n := len(c.tg.Sent())
	c.waitReply(adminChat, n, "Switch back with /auth use alpha primary")
	c.say(tgAdmin, adminChat, "/auth", "back with /auth use alpha primary")
	c.say(tgAdmin, adminChat, "/auth use alpha primary", "Switched 1 agent(s) to primary")
	if got := c.say(tgAdmin, adminChat, "/auth", "Credentials:"); strings.Contains(got.Plain, "↪") {
		t.Errorf("/auth after switching back still shows a stand-in:\n%s", got.Plain)
	}
}

package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

const limitKey = "sk-ant-api03-limitfailoverlimitfailover"

// limitFailoverConfig: alpha on its subscription (credential "pro", a live
// login), and an API key "api" that [limits] failover names.

func limitFailoverConfig(t *testing.T, dir string) string {
	t.Helper()
	pro := filepath.Join(dir, "pro")
	ms := time.Now().Add(8 * time.Hour).UnixMilli()
	testenv.WriteFile(t, pro, ".credentials.json", fmt.Sprintf(`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-%s","refreshToken":"sk-ant-ort01-%s","expiresAt":%d,"subscriptionType":"max"}}`,
		strings.Repeat("a", 40), strings.Repeat("b", 40), ms))
	key := testenv.WriteFile(t, dir, "api-key", limitKey)
	return fmt.Sprintf("[[credential]]\nname = \"pro\"\nkind = \"oauth-file\"\nconfig_dir = %q\n\n"+
		"[[credential]]\nname = \"api\"\nkind = \"api-key\"\ntoken = \"file:%s\"\n\n"+
		"[limits]\nfailover = \"api\"\nfailover_after = \"0s\"\ngrace = \"0s\"\n", pro, key)
}

// An agent waiting out a usage limit whose reset is hours away moves to
// the failover credential: it is restarted on the API key, the resume
// prompt is typed so the task goes on, chat is told once, and the journal
// and /timeline have it.
func TestUsageLimitFailover(t *testing.T) {
	screens := t.TempDir()
	// The CLI, relaunched during its wait, shows the limit and a reset two
	// hours ahead (UTC, as the CLI names it).
	reset := time.Now().UTC().Add(2 * time.Hour)
	b, err := os.ReadFile(filepath.Join(testenv.ScreensDir(), "97-limit-relaunched.txt"))
	if err != nil {
		t.Fatal(err)
	}
	limited := strings.ReplaceAll(string(b), "11:32am", strings.ToLower(reset.Format("3:04PM")))
	testenv.WriteFile(t, screens, "limited.txt", limited)
	typed := filepath.Join(t.TempDir(), "typed")
	c := newChatFleet(t, chatOpts{
		agents:    map[string]string{"alpha": "limited.txt"},
		agentEnv:  map[string]string{"FAKECLAUDE_SCREENS": screens},
		agentKeys: "credential = \"pro\"\n",
		// The restarted CLI records what is typed into it, and works on it.
		restartEnv: map[string]string{"FAKECLAUDE_DIALOG": "esc=15-busy.txt", "FAKECLAUDE_TYPED": typed, "FAKECLAUDE_ON_LINE": "17-busy-7s.txt"},
		extraFn:    func(e *fleetEnv) string { return limitFailoverConfig(t, e.dir) },
	})
	before := panePID(t, c, "alpha:main")
	c.waitReply(adminChat, 0, "moved alpha to credential api until the reset")
	after := panePID(t, c, "alpha:main")
	if after == before {
		t.Fatal("alpha was not restarted")
	}
	if env := environ(t, after); !strings.Contains(env, "ANTHROPIC_API_KEY="+limitKey) {
		t.Errorf("alpha does not run on the failover key; environment:\n%s", env)
	}
	tmuxtest.WaitFor(t, 15*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(typed)
		return strings.Contains(string(b), "line continue"), fmt.Sprintf("typed into alpha: %q", b)
	})
	for _, m := range c.telegramTexts() {
		if strings.Contains(m, limitKey) {
			t.Errorf("the key leaked into chat: %q", m)
		}
	}
	c.say(tgAdmin, adminChat, "/auth", "alpha runs on api")
	c.say(tgAdmin, adminChat, "/timeline", "moved to credential api while the usage limit waits")
	// The move is kept for the way back, across a restart of fleetwarden.
	var moved map[string]struct {
		From     string    `json:"from"`
		ResetsAt time.Time `json:"resets_at"`
	}
	b, err = os.ReadFile(filepath.Join(c.dir, "state", limitMovesFile))
	if err == nil {
		err = json.Unmarshal(b, &moved)
	}
	if err != nil || moved["alpha"].From != "pro" || moved["alpha"].ResetsAt.Sub(reset).Abs() > time.Minute {
		t.Errorf("%s: got %+v (%v), want alpha from pro until %s", limitMovesFile, moved, err, reset)
	}
}

// After the reset an agent that was moved goes back to the credential it
// came from, between turns, told and journaled — also when fleetwarden
// was restarted in between (the move is restored from the state dir).
func TestUsageLimitFailback(t *testing.T) {
	reset := time.Now().Add(-10 * time.Minute).UTC()
	c := newChatFleet(t, chatOpts{
		agents:    map[string]string{"alpha": "15-busy.txt"},
		agentKeys: "credential = \"pro\"\n",
		extraFn: func(e *fleetEnv) string {
			state := filepath.Join(e.dir, "state")
			testenv.WriteFile(t, state, "failover.json", `{"version":1,"agents":{"alpha":"api"}}`)
			testenv.WriteFile(t, state, limitMovesFile, fmt.Sprintf(`{"alpha":{"reason":"usage_limit","since":%q,"resets_at":%q,"from":"pro"}}`,
				reset.Add(-3*time.Hour).Format(time.RFC3339), reset.Format(time.RFC3339)))
			return limitFailoverConfig(t, e.dir)
		},
	})
	c.waitReply(adminChat, 0, "The usage limit has reset: alpha back on their own credential")
	env := environ(t, panePID(t, c, "alpha:main"))
	if strings.Contains(env, limitKey) || !strings.Contains(env, "CLAUDE_CONFIG_DIR="+filepath.Join(c.dir, "pro")) {
		t.Errorf("alpha is not back on pro; environment:\n%s", env)
	}
	if got := c.say(tgAdmin, adminChat, "/auth", "Credentials:"); strings.Contains(got.Plain, "alpha runs on api") {
		t.Errorf("/auth still shows alpha on api:\n%s", got.Plain)
	}
	c.say(tgAdmin, adminChat, "/timeline", "moved back to credential pro after the usage limit reset")
	b, _ := os.ReadFile(filepath.Join(c.dir, "state", limitMovesFile))
	if strings.Contains(string(b), "alpha") {
		t.Errorf("%s still holds alpha after the move back: %s", limitMovesFile, b)
	}
}

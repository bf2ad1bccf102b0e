package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// What fleetwarden starts gets the user's environment without fleetwarden's
// secrets, and an agent's credential reaches it without a command line: the
// agents' tmux server dies, /restart starts a new one, and neither its
// global environment, nor the agent's, nor any command line seen while the
// restart ran holds the bot token; the API key the agent runs on is in its
// environment only.
func TestNothingFleetwardenStartsSeesItsSecrets(t *testing.T) {
	const apiKey = "sk-ant-api03-plantedplantedplantedplantedplanted-AAAA"
	c := newChatFleet(t, chatOpts{
		agents:        map[string]string{"builder": "15-busy.txt"},
		telegramToken: "env:FW_TEST_TG_TOKEN",
		agentKeys:     "credential = \"key\"\n",
		extra:         "[[credential]]\nname = \"key\"\nkind = \"api-key\"\ntoken = \"env:FW_TEST_API_KEY\"\n",
		processEnv:    true,
		env:           []string{"FW_TEST_TG_TOKEN=" + botToken, "FW_TEST_API_KEY=" + apiKey, "FW_TEST_PLAIN=the user's own"},
	})
	c.say(tgAdmin, adminChat, "/status", "1 agents")
	if err := c.tm.KillServer(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Every command line on the machine, while the restart runs.
	stop := make(chan struct{})
	var mu sync.Mutex
	leaked := map[string]bool{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, args := range commandLines() {
				if strings.Contains(args, apiKey) || strings.Contains(args, botToken) {
					mu.Lock()
					leaked[args] = true
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	c.restartFromChat("builder")
	t.Logf("restart from chat took %v", time.Since(start))
	close(stop)
	wg.Wait()
	for l := range leaked {
		t.Errorf("a secret on a command line during the restart: %q", l)
	}

	out, err := exec.Command("tmux", "-L", c.tm.Socket(), "show-environment", "-g").CombinedOutput()
	if err != nil {
		t.Fatalf("show-environment: %v: %s", err, out)
	}
	if g := string(out); strings.Contains(g, botToken) || strings.Contains(g, "FW_TEST_TG_TOKEN") || strings.Contains(g, apiKey) {
		t.Errorf("the new tmux server's global environment holds a secret:\n%s", g)
	}
	if !strings.Contains(string(out), "FW_TEST_PLAIN=") {
		t.Errorf("the user's own variables did not reach the new tmux server:\n%s", out)
	}

	panes, err := c.tm.ListPanes(t.Context())
	if err != nil || len(panes) != 1 {
		t.Fatalf("panes after the restart: %+v, %v", panes, err)
	}
	var env string
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", panes[0].PID))
		env = strings.ReplaceAll(string(b), "\x00", "\n")
		return err == nil && strings.Contains(env, "FAKECLAUDE_SCREEN="), "the agent's environment"
	})
	if strings.Contains(env, botToken) || strings.Contains(env, "FW_TEST_TG_TOKEN") {
		t.Errorf("the agent's environment holds the bot token:\n%s", env)
	}
	if !strings.Contains(env, "ANTHROPIC_API_KEY="+apiKey+"\n") {
		t.Errorf("the agent does not run on its credential's key")
	}
	if !strings.Contains(env, "FW_TEST_PLAIN=the user's own\n") {
		t.Errorf("the agent lacks the user's own variables:\n%s", env)
	}
	// The environment buffer is gone once the pane read it.
	if out, _ := exec.Command("tmux", "-L", c.tm.Socket(), "list-buffers").CombinedOutput(); strings.Contains(string(out), apiKey) || strings.Contains(string(out), "fleetwarden-env") {
		t.Errorf("the environment buffer outlived the restart: %s", out)
	}
}

// commandLines reads every process's command line from /proc.
func commandLines() []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

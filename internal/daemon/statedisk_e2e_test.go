package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// TestFullStateDirIsToldOnce: the journal sits on a full disk (/dev/full
// answers every write with ENOSPC) and the alive file cannot be written.
// fleetwarden keeps running and watching, and says "state.dir full: …" once,
// on Telegram and on the webhook route (before, the alive loop stopped for
// good and the journal's failures went unsaid).
func TestFullStateDirIsToldOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	hook := testenv.NewWebhook(t)
	routes := fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", hook.URL)
	c := newChatFleet(t, chatOpts{extra: routes, agents: map[string]string{"alpha": "15-busy.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 idle")
	c.stop()

	state := filepath.Join(c.dir, "state")
	journal := filepath.Join(state, "journal.jsonl")
	if err := os.Remove(journal); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", journal); err != nil {
		t.Fatal(err)
	}
	alive := filepath.Join(state, "alive")
	os.Remove(alive)
	if err := os.Mkdir(alive, 0o700); err != nil { // the alive file cannot be replaced
		t.Fatal(err)
	}
	n := len(c.tg.Sent())
	c.start()
	msg := c.waitReply(adminChat, n, "state.dir full: ")
	if !strings.Contains(msg.Plain, "no space left on device") || !strings.Contains(msg.Plain, "journal") {
		t.Errorf("notice = %q, want the reason and what failed", msg.Plain)
	}
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		return count(hook.Summaries(), "state.dir full") == 1, fmt.Sprintf("webhook got %q", hook.Summaries())
	})

	// It still watches and answers, and more failed writes say nothing more.
	c.show("alpha", "61-permission.txt")
	c.waitReply(adminChat, n, "on alpha")
	c.say(tgAdmin, adminChat, "/status", "needs_input")
	if got := count(c.telegramTexts(), "state.dir"); got != 1 {
		t.Errorf("state.dir notices on Telegram: %d, want 1: %q", got, c.telegramTexts())
	}
	if got := count(hook.Summaries(), "state.dir"); got != 1 {
		t.Errorf("state.dir notices on the webhook: %d, want 1: %q", got, hook.Summaries())
	}
}

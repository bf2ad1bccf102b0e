package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// A 108-character OAuth access token and a login code (code#state) as the
// login page gives it.
const (
	wrappedToken = "sk-ant-oat01-" + "Zq8vN2rT5xW1yB4dF7hJ0kL3mP6sU9aC2eG5iK8nQ1tX4zA7cE0gI3lO6rV9wY2bD5fH8jM1pS4uY7xB0dG3Q1234567-AA"
	pastedCode   = "Xy9fKq2LmN3pR7sT1uVwXy9fKq2LmN3pR7sT1uVw#st4te0fth3l0ginpagest4te0fth3"
)

// tokenPiece returns a piece of the token's secret part or of the login code
// (12 characters or more) readable in s, lines joined; "" when none is.
func tokenPiece(s string) string {
	flat := strings.Join(strings.Fields(s), "")
	flat = strings.ReplaceAll(flat, "│", "")
	for _, secret := range []string{wrappedToken[len("sk-ant-oat01-"):], pastedCode} {
		for i := 0; i+12 <= len(secret); i++ {
			if w := secret[i : i+12]; strings.Contains(flat, w) {
				return w
			}
		}
	}
	return ""
}

// TestWrappedTokenReachesNoOutput: panes 50, 80 and 120 columns wide show a
// credentials file (`cat ~/.claude/.credentials.json`), wrapped, its last
// line the token's tail; another pane shows a pasted login code. Neither
// the token nor the code is readable in `status --json`, /status, /peek, a
// failed restart's excerpt, the dashboard's /api/status or the journal.
func TestWrappedTokenReachesNoOutput(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"claudeAiOauth":{"accessToken":"`+wrappedToken+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	show := fmt.Sprintf("cat %s; exec sleep 100000", creds)
	code := fmt.Sprintf("printf 'Paste code here if prompted > %s\\n'; exec sleep 100000", pastedCode)
	var extra strings.Builder
	extra.WriteString("[login]\nrestart_timeout = \"2s\"\n\n")
	for _, a := range []struct{ name, cmd string }{{"w50", show}, {"w80", show}, {"w120", show}, {"code", code}} {
		fmt.Fprintf(&extra, "[[agent]]\nname = %q\ntarget = \"%s:main\"\ncommand = %q\n\n", a.name, a.name, a.cmd)
	}
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", extra: extra.String()})
	addr := c.dashAddr()
	for _, p := range []struct {
		name, cmd string
		width     int
	}{{"w50", show, 50}, {"w80", show, 80}, {"w120", show, 120}, {"code", code, 80}} {
		if _, err := c.tm.NewSession(t.Context(), p.name, "main", tmux.SpawnOptions{Dir: dir, Command: p.cmd, Width: p.width, Height: 20}); err != nil {
			t.Fatal(err)
		}
	}
	// The panes show what the test is about: the token's tail alone on the
	// last line, the code whole.
	for _, name := range []string{"w50", "w80", "w120"} {
		tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
			text, _ := c.tm.Capture(t.Context(), name+":main", 0)
			last := text[strings.LastIndexByte(text, '\n')+1:]
			return strings.HasSuffix(text, `-AA"}}`) && !strings.Contains(last, "sk-ant-"), "pane " + name + " shows " + text
		})
	}

	// status --json: the evidence is the last line, the token's tail.
	tmuxtest.WaitFor(t, 15*time.Second, func() (bool, string) {
		rows := statusJSON(t, c.cfg)
		for _, name := range []string{"w50", "w80", "w120", "code"} {
			if rows[name].Evidence == "" {
				return false, "no evidence yet for " + name
			}
			if p := tokenPiece(rows[name].Evidence); p != "" {
				t.Fatalf("status --json, %s: %q readable in %q", name, p, rows[name].Evidence)
			}
		}
		return true, ""
	})

	st := c.say(tgAdmin, adminChat, "/status", "agents")
	if p := tokenPiece(st.Plain); p != "" {
		t.Errorf("/status: %q readable in:\n%s", p, st.Plain)
	}
	for _, name := range []string{"w50", "w80", "w120", "code"} {
		for _, n := range []int{1, 2, 3, 5} {
			m := c.say(tgAdmin, adminChat, fmt.Sprintf("/peek %s %d", name, n), name+", last")
			if p := tokenPiece(m.Plain); p != "" {
				t.Errorf("/peek %s %d: %q readable in:\n%s", name, n, p, m.Plain)
			}
		}
	}

	// A restart that fails reports the pane's last lines.
	q := c.say(tgAdmin, adminChat, "/restart w80", "Restart 1 agent")
	yes, ok := q.Button("Yes, do it")
	if !ok {
		t.Fatalf("no confirmation button on %q", q.Plain)
	}
	n := len(c.tg.Sent())
	c.tg.PressButton(tgAdmin, adminChat, q.MessageID, yes.CallbackData)
	failed := c.waitReply(adminChat, n, "✗ w80")
	if !strings.Contains(failed.Plain, "│") {
		t.Errorf("the failed restart shows no pane lines:\n%s", failed.Plain)
	}
	if p := tokenPiece(failed.Plain); p != "" {
		t.Errorf("restart excerpt: %q readable in:\n%s", p, failed.Plain)
	}

	code200, body := dashGet(addr, "/api/status")
	if code200 != 200 || !strings.Contains(body, `"w120"`) {
		t.Fatalf("/api/status: %d %s", code200, body)
	}
	if p := tokenPiece(body); p != "" {
		t.Errorf("/api/status: %q readable in:\n%s", p, body)
	}
	journal, err := os.ReadFile(filepath.Join(c.dir, "state", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(journal), `"w50"`) {
		t.Errorf("the journal has nothing on w50:\n%s", journal)
	}
	if p := tokenPiece(string(journal)); p != "" {
		t.Errorf("journal: %q readable in:\n%s", p, journal)
	}
}

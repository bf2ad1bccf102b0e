package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/discordtest"
	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// dialogOpts starts agents whose fake CLIs answer their dialogs like the
// real one: 1-3 go on working, 4 and Esc back to the prompt; a typed line
// starts a turn. Everything the CLIs got lands in the returned file.
func dialogOpts(t *testing.T, agents map[string]string) (chatOpts, string) {
	typed := filepath.Join(t.TempDir(), "typed")
	return chatOpts{agents: agents, telegramKeys: "viewers = [333]\n", agentEnv: map[string]string{
		"FAKECLAUDE_DIALOG":  "1=17-busy-7s.txt,2=17-busy-7s.txt,3=17-busy-7s.txt,4=14-main-tui.txt,esc=14-main-tui.txt",
		"FAKECLAUDE_TYPED":   typed,
		"FAKECLAUDE_ON_LINE": "17-busy-7s.txt",
	}}, typed
}

func (c *chatFleet) waitTyped(path, want string) {
	c.t.Helper()
	tmuxtest.WaitFor(c.t, 20*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want), "the CLIs got " + strings.TrimSpace(string(b))
	})
}

// paneState classifies an agent's pane as it is now.
func (c *chatFleet) paneState(agent string) (claude.State, string) {
	c.t.Helper()
	text, err := c.tm.Capture(c.t.Context(), agent+":main", 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return claude.Classify(text).State, text
}

func (c *chatFleet) waitPane(agent string, want claude.State) {
	c.t.Helper()
	tmuxtest.WaitFor(c.t, 20*time.Second, func() (bool, string) {
		st, text := c.paneState(agent)
		return st == want, string(st) + ":\n" + text
	})
}

// press presses the button labelled (a prefix of) label on m as user and
// waits for a reply containing want.
func (c *chatFleet) press(user telegramtest.User, chat telegramtest.Chat, m telegramtest.Message, label, want string) telegramtest.Message {
	c.t.Helper()
	for _, row := range m.ReplyMarkup {
		for _, b := range row {
			if strings.HasPrefix(b.Text, label) {
				n := len(c.tg.Sent())
				c.tg.PressButton(user, chat, m.MessageID, b.CallbackData)
				return c.waitReply(chat, n, want)
			}
		}
	}
	c.t.Fatalf("no button %q on %s", label, m)
	return telegramtest.Message{}
}

// A permission prompt answered from a Telegram button: a viewer's press is
// refused (and journaled), the operator's types the option, the dialog is
// gone and the agent works; an option that widens permissions asks again.
func TestDialogAnsweredFromTelegram(t *testing.T) {
	o, typed := dialogOpts(t, map[string]string{"builder": "61-permission.txt"})
	c := newChatFleet(t, o)
	c.tg.AddChat(groupChat)
	c.waitPane("builder", claude.NeedsInput)
	peek := c.say(tgOperator, groupChat, "/peek builder", "builder, last 20 lines")
	if _, ok := peek.Button("Esc"); !ok {
		t.Fatalf("/peek of the dialog has no Esc button: %s", peek)
	}
	c.press(tgViewer, groupChat, peek, "1. Yes", "/answer needs the operator role; you are viewer.")
	if b, _ := os.ReadFile(typed); len(b) != 0 {
		t.Fatalf("a viewer's press typed %q", b)
	}
	if st, _ := c.paneState("builder"); st != claude.NeedsInput {
		t.Fatalf("after the viewer's press the agent is %s", st)
	}
	c.press(tgOperator, groupChat, peek, "1. Yes", "builder: answered “1. Yes”. It is working now.")
	c.waitTyped(typed, "answer 1")
	if _, text := c.paneState("builder"); strings.Contains(text, "Do you want to proceed?") {
		t.Errorf("the dialog is still on the pane:\n%s", text)
	}
	c.waitPane("builder", claude.Working)

	// The next prompt: "don't ask again" asks once more before it is typed.
	c.show("builder", "61-permission.txt")
	c.waitPane("builder", claude.NeedsInput)
	q := c.say(tgOperator, opChat, "/answer builder", "Do you want to proceed?")
	ask := c.press(tgOperator, opChat, q, "⚠ 2. Yes, and don't ask again", "will not ask again")
	if b, _ := os.ReadFile(typed); strings.Contains(string(b), "answer 2") {
		t.Fatal("a widening option was typed before the second confirmation")
	}
	c.press(tgOperator, opChat, ask, "Yes, do it", "answered “2. Yes, and don't ask again")
	c.waitTyped(typed, "answer 2")
	c.waitPane("builder", claude.Working)

	tl := c.say(tgAdmin, adminChat, "/timeline", "/answer builder 1")
	for _, want := range []string{"/answer builder 2", "refused /answer from telegram:333"} {
		if !strings.Contains(tl.Plain, want) {
			t.Errorf("timeline = %q, want %q", tl.Plain, want)
		}
	}
}

// /send types into an idle agent, asks first while one works, and refuses
// on a dialog; /send all reaches every idle agent after a confirmation.
func TestSendFromTelegram(t *testing.T) {
	o, typed := dialogOpts(t, map[string]string{"idle": "14-main-tui.txt", "busy": "17-busy-7s.txt", "asker": "61-permission.txt"})
	c := newChatFleet(t, o)
	c.waitPane("asker", claude.NeedsInput)
	c.say(tgOperator, opChat, "/send idle run the tests please", "✓ Typed into idle.")
	c.waitTyped(typed, "line run the tests please")
	c.waitPane("idle", claude.Working)

	q := c.say(tgOperator, opChat, "/send busy and then lint", "busy is working. Claude Code queues your line")
	if b, _ := os.ReadFile(typed); strings.Contains(string(b), "and then lint") {
		t.Fatal("typed into a working agent before the confirmation")
	}
	c.press(tgOperator, opChat, q, "Yes, do it", "✓ Typed into busy.")
	c.waitTyped(typed, "line and then lint")

	c.say(tgOperator, opChat, "/send asker yes", "Not sent: asker is waiting on a dialog")
	c.say(tgViewer, viewerChat, "/send idle hi", "/send needs the operator role")
	if b, _ := os.ReadFile(typed); strings.Contains(string(b), "line yes") || strings.Contains(string(b), "line hi") {
		t.Errorf("refused lines were typed: %q", b)
	}
	if st, _ := c.paneState("asker"); st != claude.NeedsInput {
		t.Errorf("the refused /send moved the dialog: %s", st)
	}
}

const dcToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4.e2e-token.e2etokene2etokene2etokene2e"

var (
	dcOperator = discordtest.User{ID: "400000000000000222", Username: "otto"}
	dcViewer   = discordtest.User{ID: "400000000000000333", Username: "vera"}
)

// A permission prompt answered from Discord: typed slash-command options,
// the agent completed from the fleet, a button per option; the viewer may
// not answer.
func TestDialogAnsweredFromDiscord(t *testing.T) {
	dc := discordtest.New(t, dcToken, "300000000000000777")
	o, typed := dialogOpts(t, map[string]string{"builder": "61-permission.txt"})
	o.extra = fmt.Sprintf("[discord]\ntoken = %q\napi_url = %q\noperators = [%q]\nviewers = [%q]\n", dcToken, dc.URL()+"/api/v9", dcOperator.ID, dcViewer.ID)
	c := newChatFleet(t, o)
	dc.WaitCommands(t, 30*time.Second, "", "peek", "answer", "send")
	c.waitPane("builder", claude.NeedsInput)
	dm := dc.DMChannel(dcOperator.ID)

	sug, ok := dc.Suggestions(dc.Autocomplete(dcOperator, dm, "", "answer", nil, "agent", "bui"), 20*time.Second)
	if !ok || len(sug) != 1 || sug[0] != "builder" {
		t.Errorf("autocomplete of bui = %v (answered %v), want [builder]", sug, ok)
	}

	// The option completes from the dialog open on the agent named.
	opts, ok := dc.Suggestions(dc.Autocomplete(dcOperator, dm, "", "answer", map[string]string{"agent": "builder"}, "option", ""), 20*time.Second)
	if want := []string{"1", "2", "3", "4", "esc"}; !ok || strings.Join(opts, ",") != strings.Join(want, ",") {
		t.Errorf("options suggested = %v (answered %v), want %v", opts, ok, want)
	}
	if opts, _ := dc.Suggestions(dc.Autocomplete(dcViewer, dc.DMChannel(dcViewer.ID), "", "answer", map[string]string{"agent": "builder"}, "option", ""), 20*time.Second); len(opts) != 0 {
		t.Errorf("a viewer was offered the dialog's options: %v", opts)
	}

	vdm := dc.DMChannel(dcViewer.ID)
	id := dc.SlashCommand(dcViewer, vdm, "", "answer", map[string]string{"agent": "builder", "option": "1"})
	dc.WaitMessage(t, 20*time.Second, func(m discordtest.Message) bool {
		return m.InteractionID == id && strings.Contains(m.Content, "/answer needs the operator role")
	})

	id = dc.SlashCommand(dcOperator, dm, "", "peek", map[string]string{"agent": "builder", "lines": "30"})
	peek := dc.WaitMessage(t, 20*time.Second, func(m discordtest.Message) bool {
		return m.InteractionID == id && len(m.Components) > 0
	})
	var yes string
	for _, b := range peek.Components {
		if strings.HasPrefix(b.Label, "1. Yes") {
			yes = b.CustomID
		}
	}
	if yes == "" {
		t.Fatalf("/peek of the dialog has no \"1. Yes\" button: %+v", peek.Components)
	}
	press := dc.PressButton(dcOperator, dm, "", peek.ID, yes)
	dc.WaitMessage(t, 20*time.Second, func(m discordtest.Message) bool {
		return m.InteractionID == press && strings.Contains(m.Content, "builder: answered “1. Yes”. It is working now.")
	})
	c.waitTyped(typed, "answer 1")
	c.waitPane("builder", claude.Working)
	if b, _ := os.ReadFile(typed); strings.Count(string(b), "answer") != 1 {
		t.Errorf("the CLI got %q, want the operator's answer only", b)
	}
}

// The needs_input alert carries the dialog's options: one tap answers it.
func TestNeedsInputAlertAnswersTheDialog(t *testing.T) {
	o, typed := dialogOpts(t, map[string]string{"builder": "61-permission.txt"})
	c := newChatFleet(t, o)
	var alert telegramtest.Message
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		for _, m := range c.tg.Sent() {
			if _, ok := m.Button("Esc"); ok && m.ChatID == adminChat.ID && strings.Contains(m.Plain, "builder") {
				alert = m
				return true, ""
			}
		}
		return false, fmt.Sprintf("no alert with the dialog's buttons; sent %v", c.tg.Sent())
	})
	var labels []string
	for _, row := range alert.ReplyMarkup {
		for _, b := range row {
			labels = append(labels, b.Text)
		}
	}
	want := []string{"1. Yes", "⚠ 2. Yes, and don't ask again for curl -s http://example.com/…", "⚠ 3. Yes, and switch to auto mode · auto mode handles these p…", "4. No", "Esc"}
	if strings.Join(labels, "|") != strings.Join(want, "|") || len(alert.ReplyMarkup) != len(want) {
		t.Errorf("alert buttons = %q (%d rows), want %q one per row", labels, len(alert.ReplyMarkup), want)
	}
	c.press(tgAdmin, adminChat, alert, "4. No", "builder: answered “4. No”. It is idle now.")
	c.waitTyped(typed, "answer 4")
	c.waitPane("builder", claude.Idle)
}

// An agent on another host is answered and typed into over SSH, through
// the same tmux commands.
func TestDialogAnsweredOnAnotherHost(t *testing.T) {
	o, typed := dialogOpts(t, map[string]string{"builder": "61-permission.txt"})
	sshd := sshdtest.New(t)
	// The fake sshd runs tmux here; the agents' server is the test's.
	o.agentKeys = "host = \"gpu-box\"\n"
	o.extraFn = func(e *fleetEnv) string {
		return hostTOML("gpu-box", sshd, e.tm.Socket())
	}
	c := newChatFleet(t, o)
	c.waitPane("builder", claude.NeedsInput)
	c.say(tgOperator, opChat, "/answer builder 1", "builder: answered “1. Yes”. It is working now.")
	c.waitTyped(typed, "answer 1")
	c.say(tgOperator, opChat, "/send builder now the docs", "builder is working. Claude Code queues your line")
	if sshd.SendKeys() == 0 {
		t.Error("the answer was not typed over SSH")
	}
}

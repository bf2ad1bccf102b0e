package telegram

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
)

// /code pasted in a group: gone when the bot may delete it, and said so;
// still there when Telegram refuses, and said so with the way out.
func TestCodeInAGroupIsDeletedOrSaidToBeVisible(t *testing.T) {
	for _, tc := range []struct {
		name      string
		botAdmin  bool
		want      []string
		wantGone  bool
		forbidden string
	}{
		{"bot is not a group admin", false, []string{"still visible", `"Delete messages"`, "private chat"}, false, "was deleted"},
		{"bot is a group admin", true, []string{"Your message with the code was deleted"}, true, "still visible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			e.h.Register(commands.Command{Name: "code", Role: commands.RoleAdmin, Private: true, Help: "code",
				Run: func(context.Context, *commands.Call) error { return nil }})
			e.srv.AddChat(group)
			e.srv.SetBotAdmin(group, tc.botAdmin)
			up := e.srv.SendUserMessage(admin, group, "/code abcdefgh#ijklmnop")
			got := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.ChatID == group.ID })
			for _, w := range tc.want {
				if !strings.Contains(got.Plain, w) {
					t.Errorf("reply %q lacks %q", got.Plain, w)
				}
			}
			if strings.Contains(got.Plain, tc.forbidden) {
				t.Errorf("reply %q claims %q", got.Plain, tc.forbidden)
			}
			text, visible := e.srv.UserMessage(group.ID, e.srv.MessageIDOf(up))
			if visible == tc.wantGone || !strings.Contains(text, "abcdefgh") {
				t.Errorf("the message with the code: visible=%v, want %v", visible, !tc.wantGone)
			}
		})
	}
}

// A forwarded "/status" is someone else's words, not a command.
func TestForwardedMessagesAreNotCommands(t *testing.T) {
	for _, original := range []telegramtest.User{stranger, {FirstName: "Hidden Account"}} {
		e := start(t, nil)
		e.srv.ForwardUserMessage(admin, adminDM, "/status", original)
		e.srv.SendUserMessage(admin, adminDM, "/status")
		e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "1 agents") })
		e.srv.SendUserMessage(admin, adminDM, "/help")
		e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "Commands you may run") })
		if n := len(sentWithPrefix(e.srv, "1 agents")); n != 1 {
			t.Errorf("forwarded from %+v: /status answered %d times, want once (the admin's own)", original, n)
		}
		for _, r := range e.journal.records() {
			if r.Kind == audit.KindCommand && r.Action == "/status" && r.Actor != "telegram:111" {
				t.Errorf("a forwarded command ran: %+v", r)
			}
		}
	}
}

// Anyone in a group can press an admin's confirmation button; only the
// admin's press takes the buttons away.
func TestStrangerCannotStripAnAdminsButtons(t *testing.T) {
	e := start(t, nil)
	e.h.Register(commands.Command{Name: "restart", Role: commands.RoleOperator, Help: "restart",
		Run: func(ctx context.Context, c *commands.Call) error {
			return c.Confirm(ctx, "Restart 2 agents?", func(ctx context.Context, c *commands.Call) error {
				return c.Reply(ctx, "restarted")
			})
		}})
	e.srv.AddChat(group)
	e.srv.SendUserMessage(admin, group, "/restart")
	q := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.Contains(m.Text, "Restart 2 agents?") })
	id := e.srv.PressButton(stranger, group, q.MessageID, q.ReplyMarkup[0][0].CallbackData)
	// The stranger's press is handled once it is journaled as refused.
	tmuxWait(t, 10*time.Second, func() bool {
		for _, r := range e.journal.records() {
			if r.Kind == audit.KindRefused && r.Actor == "telegram:999" {
				return true
			}
		}
		return false
	})
	if !e.srv.Answered(id) {
		t.Error("the stranger's press was not answered (the button would spin)")
	}
	if n := e.srv.Requests("editMessageReplyMarkup"); n != 0 {
		t.Fatalf("a stranger's press removed the admin's buttons (%d edits)", n)
	}
	e.srv.PressButton(admin, group, q.MessageID, q.ReplyMarkup[0][0].CallbackData)
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return m.Text == "restarted" })
	edit := e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool {
		return m.Method == "editMessageReplyMarkup" && m.MessageID == q.MessageID
	})
	if len(edit.ReplyMarkup) != 0 {
		t.Errorf("after the admin's press the question still has buttons %+v", edit.ReplyMarkup)
	}
}

package telegramtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tele "gopkg.in/telebot.v3"
)

const token = "123456:TEST-not-a-real-token"

var (
	alice   = User{ID: 1001, Username: "alice", FirstName: "Alice"}
	aliceDM = Chat{ID: 1001, Type: "private"}
	ops     = Chat{ID: -100200300, Type: "supergroup", Title: "ops"}
)

// newBot builds a real telebot bot against s. With poll it also starts it
// (long polling with a 1 s timeout) and stops it in t.Cleanup.
func newBot(t *testing.T, s *Server, poll bool, setup func(b *tele.Bot)) *tele.Bot {
	t.Helper()
	var stopping atomic.Bool
	b, err := tele.NewBot(tele.Settings{
		URL:    s.URL(),
		Token:  token,
		Poller: &tele.LongPoller{Timeout: time.Second},
		OnError: func(err error, _ tele.Context) {
			// Stop cancels calls in flight; only errors before it count.
			if !stopping.Load() {
				t.Errorf("bot handler: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatalf("NewBot: %v", err)
	}
	if setup != nil {
		setup(b)
	}
	if poll {
		started := make(chan struct{})
		go func() { close(started); b.Start() }()
		<-started
		t.Cleanup(func() {
			stopping.Store(true)
			b.Stop()
		})
	}
	return b
}

// waitState waits until cond (evaluated under s.mu) holds.
func waitState(t *testing.T, s *Server, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, wake := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitPolling(t *testing.T, s *Server) {
	t.Helper()
	waitState(t, s, "a waiting getUpdates", func() bool { return s.poll != nil })
}

type pollResult struct {
	updates []tele.Update
	err     error
}

// getUpdates calls getUpdates through telebot's Raw, as a custom poller would.
func getUpdates(b *tele.Bot, offset, timeout, limit int) pollResult {
	p := map[string]any{"offset": offset, "timeout": timeout}
	if limit > 0 {
		p["limit"] = limit
	}
	data, err := b.Raw("getUpdates", p)
	if err != nil {
		return pollResult{err: err}
	}
	var resp struct{ Result []tele.Update }
	if err := json.Unmarshal(data, &resp); err != nil {
		return pollResult{err: err}
	}
	return pollResult{updates: resp.Result}
}

func TestBotAnswersUserMessage(t *testing.T) {
	s := New(t, token)
	newBot(t, s, true, func(b *tele.Bot) {
		b.Handle("/status", func(c tele.Context) error {
			return c.Send("<b>3 agents</b> working &amp; happy, asked: "+c.Message().Payload, tele.ModeHTML)
		})
	})

	id := s.SendUserMessage(alice, aliceDM, "/status builder")
	if id == 0 {
		t.Fatalf("SendUserMessage returned update id 0")
	}
	got := s.WaitSent(t, 5*time.Second, func(m Message) bool { return strings.Contains(m.Text, "agents") })

	want := Message{
		Method: "sendMessage", ChatID: aliceDM.ID, MessageID: 2,
		Text:      "<b>3 agents</b> working &amp; happy, asked: builder",
		Plain:     "3 agents working & happy, asked: builder",
		ParseMode: "HTML",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sent %+v, want %+v", got, want)
	}
	// The poller confirms the update with its next offset.
	waitState(t, s, "the update to be confirmed", func() bool { return len(s.updates) == 0 })
}

func TestGroupCommandAddressedToBot(t *testing.T) {
	s := New(t, token)
	newBot(t, s, true, func(b *tele.Bot) {
		b.Handle("/help", func(c tele.Context) error { return c.Reply("commands: /status") })
	})
	s.SendUserMessage(alice, ops, "/help@"+s.Bot().Username)
	got := s.WaitSent(t, 5*time.Second, func(m Message) bool { return m.ChatID == ops.ID })
	if got.Text != "commands: /status" || got.ReplyTo != 1 {
		t.Errorf("got %+v, want a reply to message 1 saying %q", got, "commands: /status")
	}
}

func TestGetMe(t *testing.T) {
	s := New(t, token)
	b := newBot(t, s, false, nil)
	if b.Me.ID != 123456 || !b.Me.IsBot || b.Me.Username != s.Bot().Username {
		t.Errorf("Me = %+v, want bot 123456 @%s", b.Me, s.Bot().Username)
	}
}

func TestSendMessageValidation(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	tests := []struct {
		name    string
		text    string
		mode    tele.ParseMode
		wantErr string // "" = accepted
		is      error
	}{
		{"plain", "hello", "", "", nil},
		{"4096 chars", strings.Repeat("a", 4096), "", "", nil},
		{"4097 chars", strings.Repeat("a", 4097), "", "message is too long", tele.ErrTooLongMessage},
		{"emoji count twice", strings.Repeat("😀", 2049), "", "message is too long", tele.ErrTooLongMessage},
		{"markup not counted", "<b>" + strings.Repeat("a", 4096) + "</b>", tele.ModeHTML, "", nil},
		{"empty", "", "", "message text is empty", nil},
		{"only tags", "<b> </b>", tele.ModeHTML, "message text is empty", nil},
		{"escaped ok", "<pre>a &lt; b &amp;&amp; c</pre> <a href=\"https://claude.ai/x?a=1&amp;b=2\">login</a>", tele.ModeHTML, "", nil},
		{"bare less-than", "load a < b", tele.ModeHTML, `can't parse entities: Unsupported start tag "" at byte offset 7`, nil},
		{"unknown tag", "see <br> here", tele.ModeHTML, `can't parse entities: Unsupported start tag "br" at byte offset 4`, nil},
		{"unclosed", "<b>bold", tele.ModeHTML, `can't parse entities: Can't find end tag corresponding to start tag "b"`, nil},
		{"crossed", "<b><i>x</b></i>", tele.ModeHTML, `can't parse entities: Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`, nil},
		{"stray end", "x</b>", tele.ModeHTML, "can't parse entities: Unexpected end tag at byte offset 1", nil},
		{"tag never ends", "x <b", tele.ModeHTML, "can't parse entities: Unclosed start tag at byte offset 2", nil},
		{"markdown not emulated", "*x*", tele.ModeMarkdownV2, "not emulated", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.Sent())
			_, err := b.Send(tele.ChatID(aliceDM.ID), tt.text, tt.mode)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: got error %v, want none", err)
				}
				if n := len(s.Sent()); n != before+1 {
					t.Fatalf("sent log grew to %d, want %d", n, before+1)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send: got error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
			if n := len(s.Sent()); n != before {
				t.Errorf("a rejected message was recorded as sent")
			}
		})
	}
}

func TestSendToUnknownChat(t *testing.T) {
	s := New(t, token)
	b := newBot(t, s, false, nil)
	_, err := b.Send(tele.ChatID(424242), "hi")
	if !errors.Is(err, tele.ErrChatNotFound) {
		t.Errorf("got %v, want %v", err, tele.ErrChatNotFound)
	}
}

func TestButtonPressAnsweredAndEdited(t *testing.T) {
	s := New(t, token)
	newBot(t, s, true, func(b *tele.Bot) {
		menu := &tele.ReplyMarkup{}
		restart := menu.Data("Restart builder", "restart", "builder")
		login := menu.URL("Log in", "https://claude.ai/oauth/authorize?code=true")
		menu.Inline(menu.Row(restart, login))
		b.Handle("/menu", func(c tele.Context) error { return c.Send("What now?", menu) })
		b.Handle(&restart, func(c tele.Context) error {
			if err := c.Respond(&tele.CallbackResponse{Text: "restarting " + c.Data()}); err != nil {
				return err
			}
			return c.Edit("Restarting " + c.Data() + "…")
		})
	})

	s.SendUserMessage(alice, aliceDM, "/menu")
	menu := s.WaitSent(t, 5*time.Second, func(m Message) bool { return m.Text == "What now?" })
	btn, ok := menu.Button("Restart builder")
	if !ok {
		t.Fatalf("menu has no Restart button: %+v", menu.ReplyMarkup)
	}
	if link, _ := menu.Button("Log in"); link.URL != "https://claude.ai/oauth/authorize?code=true" {
		t.Errorf("login button URL = %q", link.URL)
	}

	cb := s.PressButton(alice, aliceDM, menu.MessageID, btn.CallbackData)
	edit := s.WaitSent(t, 5*time.Second, func(m Message) bool { return m.Method == "editMessageText" })
	if edit.MessageID != menu.MessageID || edit.Text != "Restarting builder…" {
		t.Errorf("edit = %+v, want message %d to say %q", edit, menu.MessageID, "Restarting builder…")
	}
	if edit.ReplyMarkup != nil {
		t.Errorf("an editMessageText without reply_markup kept the keyboard: %+v", edit.ReplyMarkup)
	}
	ans, ok := s.Answer(cb)
	if !ok || ans.Text != "restarting builder" || !s.Answered(cb) {
		t.Errorf("answer = %+v, %v; want text %q", ans, ok, "restarting builder")
	}

	// A second answer to the same query is refused, as on Telegram.
	b2 := newBot(t, s, false, nil)
	if err := b2.Respond(&tele.Callback{ID: cb}); !errors.Is(err, tele.ErrQueryTooOld) {
		t.Errorf("second answer: got %v, want %v", err, tele.ErrQueryTooOld)
	}
	if err := b2.Respond(&tele.Callback{ID: "nope"}); !errors.Is(err, tele.ErrQueryTooOld) {
		t.Errorf("unknown query: got %v, want %v", err, tele.ErrQueryTooOld)
	}
}

func TestInlineKeyboardValidation(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	tests := []struct {
		name    string
		button  tele.InlineButton
		wantErr error
	}{
		{"data fits", tele.InlineButton{Unique: "u", Data: strings.Repeat("d", 61)}, nil},                       // "\fu|" + 61 = 64 bytes
		{"data too long", tele.InlineButton{Unique: "u", Data: strings.Repeat("d", 62)}, tele.ErrBadButtonData}, // 65 bytes
		{"url", tele.InlineButton{URL: "https://claude.ai/login"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.button.Text = "press"
			_, err := b.Send(tele.ChatID(aliceDM.ID), "x", &tele.ReplyMarkup{InlineKeyboard: [][]tele.InlineButton{{tt.button}}})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	_, err := b.Send(tele.ChatID(aliceDM.ID), "x", &tele.ReplyMarkup{InlineKeyboard: [][]tele.InlineButton{{{Text: "bad", URL: "not a url"}}}})
	if err == nil || !strings.Contains(err.Error(), "Wrong HTTP URL") {
		t.Errorf("bad URL button: got %v, want a Wrong HTTP URL error", err)
	}
}

func TestEditAndDelete(t *testing.T) {
	s := New(t, token)
	s.AddChat(ops)
	b := newBot(t, s, false, nil)
	msg, err := b.Send(tele.ChatID(ops.ID), "agent builder: auth_failed")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := b.Edit(msg, "agent builder: auth_failed"); !errors.Is(err, tele.ErrSameMessageContent) {
		t.Errorf("same-content edit: got %v, want %v", err, tele.ErrSameMessageContent)
	}
	// A fresh markup each time: telebot's EditReplyMarkup rewrites the
	// buttons' callback data in place, so a reused one gets "\fack|\fack".
	ackMenu := func() *tele.ReplyMarkup {
		m := &tele.ReplyMarkup{}
		m.Inline(m.Row(m.Data("Ack", "ack")))
		return m
	}
	if _, err := b.EditReplyMarkup(msg, ackMenu()); err != nil {
		t.Fatalf("EditReplyMarkup: %v", err)
	}
	if _, err := b.EditReplyMarkup(msg, ackMenu()); !errors.Is(err, tele.ErrSameMessageContent) {
		t.Errorf("same-markup edit: got %v, want %v", err, tele.ErrSameMessageContent)
	}
	edited, err := b.Edit(msg, "agent builder: <i>working</i>", tele.ModeHTML)
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	if edited.Text != "agent builder: working" || len(edited.Entities) != 1 || edited.Entities[0].Type != tele.EntityItalic {
		t.Errorf("edited message = %q %+v, want plain text with one italic entity", edited.Text, edited.Entities)
	}
	if err := b.Delete(msg); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Delete(msg); !errors.Is(err, tele.ErrNotFoundToDelete) {
		t.Errorf("second delete: got %v, want %v", err, tele.ErrNotFoundToDelete)
	}
	if _, err := b.Edit(msg, "gone"); err == nil || !strings.Contains(err.Error(), "message to edit not found") {
		t.Errorf("edit after delete: got %v, want message to edit not found", err)
	}

	var methods []string
	for _, m := range s.Sent() {
		if !m.Deleted {
			t.Errorf("entry %v not marked deleted", m)
		}
		methods = append(methods, m.Method)
	}
	want := []string{"sendMessage", "editMessageReplyMarkup", "editMessageText"}
	if !reflect.DeepEqual(methods, want) {
		t.Errorf("sent log methods = %v, want %v", methods, want)
	}
}

func TestCommands(t *testing.T) {
	s := New(t, token)
	b := newBot(t, s, false, nil)
	many := make([]tele.Command, 101)
	for i := range many {
		many[i] = tele.Command{Text: fmt.Sprintf("cmd%d", i), Description: "does a thing"}
	}
	tests := []struct {
		name    string
		cmds    []tele.Command
		wantErr string
	}{
		{"101 commands", many, "BOT_COMMANDS_TOO_MUCH"},
		{"upper case", []tele.Command{{Text: "Status", Description: "x"}}, "BOT_COMMAND_INVALID"},
		{"slash", []tele.Command{{Text: "/status", Description: "x"}}, "BOT_COMMAND_INVALID"},
		{"33 chars", []tele.Command{{Text: strings.Repeat("a", 33), Description: "x"}}, "BOT_COMMAND_INVALID"},
		{"no description", []tele.Command{{Text: "status"}}, "BOT_COMMAND_DESCRIPTION_INVALID"},
		{"100 commands", many[:100], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.SetCommands(tt.cmds)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("SetCommands: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want %s", err, tt.wantErr)
			}
		})
	}

	if got := s.Commands(); len(got) != 100 || got[99].Command != "cmd99" {
		t.Fatalf("Commands() has %d, want the 100 set", len(got))
	}
	got, err := b.Commands()
	if err != nil || len(got) != 100 || got[0].Text != "cmd0" {
		t.Errorf("getMyCommands = %d commands, %v; want 100", len(got), err)
	}
	if err := b.DeleteCommands(); err != nil {
		t.Fatalf("DeleteCommands: %v", err)
	}
	if got := s.Commands(); got != nil {
		t.Errorf("after delete Commands() = %v, want none", got)
	}
}

func TestScriptedFailures(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	to := tele.ChatID(aliceDM.ID)

	t.Run("429 is a FloodError", func(t *testing.T) {
		s.Fail("sendMessage", 1, Failure{Status: 429, RetryAfter: 7})
		_, err := b.Send(to, "alert")
		var flood tele.FloodError
		if !errors.As(err, &flood) || flood.RetryAfter != 7 {
			t.Fatalf("got %v, want FloodError with RetryAfter 7", err)
		}
		// Sent again before retry_after: refused again, and counted.
		if _, err := b.Send(to, "alert"); !errors.As(err, &flood) || s.EarlyRetries() != 1 {
			t.Errorf("an early retry: %v, %d counted; want a FloodError and 1", err, s.EarlyRetries())
		}
		s.ClearFailures()
		if _, err := b.Send(to, "alert"); err != nil {
			t.Errorf("the failure outlived its count: %v", err)
		}
	})
	t.Run("500", func(t *testing.T) {
		s.Fail("", 1, Failure{Status: 500})
		if _, err := b.Send(to, "x"); !errors.Is(err, tele.ErrInternal) {
			t.Errorf("got %v, want %v", err, tele.ErrInternal)
		}
	})
	t.Run("502 HTML page", func(t *testing.T) {
		before := len(s.Sent())
		s.Fail("sendMessage", 1, Failure{Status: 502})
		if _, err := b.Send(to, "x"); err == nil {
			t.Errorf("a 502 HTML answer gave no error")
		}
		if len(s.Sent()) != before {
			t.Errorf("a failed call was recorded as sent")
		}
	})
	t.Run("409 conflict", func(t *testing.T) {
		s.Fail("getUpdates", 1, Failure{Status: 409})
		r := getUpdates(b, 0, 0, 0)
		if r.err == nil || !strings.Contains(r.err.Error(), "Conflict: terminated by other getUpdates request") || !strings.Contains(r.err.Error(), "(409)") {
			t.Errorf("got %v, want the 409 conflict error", r.err)
		}
	})
	t.Run("401 at start", func(t *testing.T) {
		s.Fail("getMe", 1, Failure{Status: 401})
		_, err := tele.NewBot(tele.Settings{URL: s.URL(), Token: token, Offline: false})
		if !errors.Is(err, tele.ErrUnauthorized) {
			t.Errorf("got %v, want %v", err, tele.ErrUnauthorized)
		}
	})
	t.Run("method rules before wildcard", func(t *testing.T) {
		s.Fail("", 1, Failure{Status: 500})
		s.Fail("sendChatAction", 1, Failure{Status: 403})
		if err := b.Notify(to, tele.Typing); !errors.Is(err, tele.ErrBlockedByUser) {
			t.Errorf("got %v, want %v", err, tele.ErrBlockedByUser)
		}
		if err := b.Notify(to, tele.Typing); !errors.Is(err, tele.ErrInternal) {
			t.Errorf("got %v, want the wildcard 500", err)
		}
		if err := b.Notify(to, tele.Typing); err != nil {
			t.Errorf("got %v, want no more failures", err)
		}
	})
	if got := s.Requests("sendMessage"); got != 5 {
		t.Errorf("Requests(sendMessage) = %d, want 5 (failed calls count)", got)
	}
}

func TestWrongTokenAndUnknownMethod(t *testing.T) {
	s := New(t, token)
	_, err := tele.NewBot(tele.Settings{URL: s.URL(), Token: "654321:other"})
	if !errors.Is(err, tele.ErrUnauthorized) {
		t.Errorf("wrong token: got %v, want %v", err, tele.ErrUnauthorized)
	}
	b := newBot(t, s, false, nil)
	_, err = b.Raw("sendTelepathy", map[string]string{"chat_id": "1"})
	if err == nil || !strings.Contains(err.Error(), "Not Found: method not found (404)") {
		t.Errorf("unknown method: got %v, want 404 method not found", err)
	}
	if got := s.Requests("sendTelepathy"); got != 1 {
		t.Errorf("Requests(sendTelepathy) = %d, want 1", got)
	}
}

func TestChatActions(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	if err := b.Notify(tele.ChatID(aliceDM.ID), tele.Typing); err != nil {
		t.Errorf("typing: %v", err)
	}
	if err := b.Notify(tele.ChatID(aliceDM.ID), "dancing"); err == nil {
		t.Errorf("an unknown chat action was accepted")
	}
}

func TestRateLimit(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	s.AddChat(ops)
	s.SetRateLimit(2)
	b := newBot(t, s, false, nil)
	for i := range 2 {
		if _, err := b.Send(tele.ChatID(ops.ID), "alert "+strconv.Itoa(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	_, err := b.Send(tele.ChatID(ops.ID), "alert 3")
	var flood tele.FloodError
	if !errors.As(err, &flood) || flood.RetryAfter != 1 {
		t.Errorf("third send in a second: got %v, want FloodError retry after 1", err)
	}
	if _, err := b.Send(tele.ChatID(aliceDM.ID), "other chat"); err != nil {
		t.Errorf("another chat was limited too: %v", err)
	}
	s.SetRateLimit(0)
	if _, err := b.Send(tele.ChatID(ops.ID), "alert 4"); err != nil {
		t.Errorf("limit off: %v", err)
	}
}

func TestDownAndUp(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	to := tele.ChatID(aliceDM.ID)
	url := s.URL()

	// A long poll in flight when the service goes away fails at once.
	polled := make(chan pollResult, 1)
	go func() { polled <- getUpdates(b, 0, 30, 0) }()
	waitPolling(t, s)
	s.Down()
	select {
	case r := <-polled:
		if r.err == nil {
			t.Errorf("the in-flight long poll succeeded after Down")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the in-flight long poll was not cut by Down")
	}

	// New calls are refused. The first may instead fail on a pooled
	// connection the client has not yet seen closed.
	refused := false
	for i := 0; i < 3 && !refused; i++ {
		_, err := b.Send(to, "while down")
		if err == nil {
			t.Fatalf("Send succeeded while down")
		}
		refused = errors.Is(err, syscall.ECONNREFUSED)
	}
	if !refused {
		t.Errorf("calls while down never failed with connection refused")
	}

	s.Up()
	if s.URL() != url {
		t.Errorf("URL changed from %s to %s", url, s.URL())
	}
	if _, err := b.Send(to, "back"); err != nil {
		t.Errorf("Send after Up: %v", err)
	}
	if got := s.Sent(); len(got) != 1 || got[0].Text != "back" {
		t.Errorf("sent = %v, want only the message after Up", got)
	}
}

func TestLongPolling(t *testing.T) {
	s := New(t, token)
	b := newBot(t, s, false, nil)

	t.Run("times out empty", func(t *testing.T) {
		start := time.Now()
		r := getUpdates(b, 0, 1, 0)
		elapsed := time.Since(start)
		if r.err != nil || len(r.updates) != 0 {
			t.Fatalf("got %v, %v; want no updates", r.updates, r.err)
		}
		if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("an empty long poll with timeout 1 s took %v", elapsed)
		}
	})

	t.Run("wakes on a new update", func(t *testing.T) {
		polled := make(chan pollResult, 1)
		start := time.Now()
		go func() { polled <- getUpdates(b, 0, 30, 0) }()
		waitPolling(t, s)
		id := s.SendUserMessage(alice, aliceDM, "hello")
		select {
		case r := <-polled:
			if r.err != nil || len(r.updates) != 1 || r.updates[0].ID != id || r.updates[0].Message.Text != "hello" {
				t.Fatalf("got %+v, %v; want update %d", r.updates, r.err, id)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("woke after %v", elapsed)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the long poll did not return when an update arrived")
		}
	})

	t.Run("offset confirms and limit caps", func(t *testing.T) {
		r := getUpdates(b, 0, 0, 0)
		if len(r.updates) != 1 {
			t.Fatalf("unconfirmed update not redelivered: %+v %v", r.updates, r.err)
		}
		first := r.updates[0].ID
		second := s.SendUserMessage(alice, aliceDM, "two")
		third := s.SendUserMessage(alice, aliceDM, "three")
		r = getUpdates(b, first+1, 0, 1)
		if r.err != nil || len(r.updates) != 1 || r.updates[0].ID != second {
			t.Fatalf("offset %d limit 1: got %+v %v, want update %d", first+1, r.updates, r.err, second)
		}
		r = getUpdates(b, -1, 0, 0)
		if r.err != nil || len(r.updates) != 1 || r.updates[0].ID != third {
			t.Fatalf("offset -1: got %+v %v, want only update %d", r.updates, r.err, third)
		}
		getUpdates(b, third+1, 0, 0)
		if n := s.Pending(); n != 0 {
			t.Errorf("pending after confirming all = %d, want 0", n)
		}
	})

	t.Run("second poller terminates the first", func(t *testing.T) {
		polled := make(chan pollResult, 1)
		go func() { polled <- getUpdates(b, 0, 30, 0) }()
		waitPolling(t, s)
		if r := getUpdates(b, 0, 0, 0); r.err != nil {
			t.Fatalf("second poll: %v", r.err)
		}
		select {
		case r := <-polled:
			if r.err == nil || !strings.Contains(r.err.Error(), "terminated by other getUpdates request") {
				t.Errorf("first poll: got %v, want 409 conflict", r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the first poll was not terminated")
		}
	})
}

func TestReplyToMissingMessage(t *testing.T) {
	s := New(t, token)
	s.AddChat(aliceDM)
	b := newBot(t, s, false, nil)
	_, err := b.Send(tele.ChatID(aliceDM.ID), "x", &tele.SendOptions{ReplyTo: &tele.Message{ID: 99}})
	if err == nil || !strings.Contains(err.Error(), "message to be replied not found") {
		t.Errorf("got %v, want message to be replied not found", err)
	}
	if _, err := b.Send(tele.ChatID(aliceDM.ID), "x", &tele.SendOptions{ReplyTo: &tele.Message{ID: 99}, AllowWithoutReply: true}); err != nil {
		t.Errorf("allow_sending_without_reply: %v", err)
	}
}

func TestFormEncodedRequests(t *testing.T) {
	// Other clients (curl, a shell alert route) post forms; the Bot API takes them.
	s := New(t, token)
	s.AddChat(aliceDM)
	resp, err := http.PostForm(s.URL()+"/bot"+token+"/SENDMESSAGE", map[string][]string{
		"chat_id": {strconv.FormatInt(aliceDM.ID, 10)}, "text": {"from curl"},
	})
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		OK     bool `json:"ok"`
		Result struct {
			MessageID int `json:"message_id"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !body.OK || body.Result.MessageID != 1 {
		t.Errorf("got %+v, %v; want ok with message 1", body, err)
	}
	if got := s.Sent(); len(got) != 1 || got[0].Text != "from curl" {
		t.Errorf("sent = %v", got)
	}
}

// While a webhook is set, getUpdates is refused with 409, as on the service.
func TestWebhookBlocksPolling(t *testing.T) {
	s := New(t, token)
	b := newBot(t, s, false, nil)
	if _, err := b.Raw("setWebhook", map[string]any{"url": "http://insecure.example"}); err == nil {
		t.Errorf("setWebhook with an http URL: no error, want a refusal")
	}
	if _, err := b.Raw("setWebhook", map[string]any{"url": "https://hooks.example/bot"}); err != nil {
		t.Fatalf("setWebhook: %v", err)
	}
	r := getUpdates(b, 0, 0, 0)
	if r.err == nil || !strings.Contains(r.err.Error(), "webhook is active") {
		t.Errorf("getUpdates with a webhook set: %v, want 409 webhook is active", r.err)
	}
	data, err := b.Raw("getWebhookInfo", nil)
	if err != nil || !strings.Contains(string(data), `"url":"https://hooks.example/bot"`) {
		t.Errorf("getWebhookInfo = %s, %v; want the URL", data, err)
	}
	if _, err := b.Raw("deleteWebhook", nil); err != nil {
		t.Fatal(err)
	}
	if r := getUpdates(b, 0, 0, 0); r.err != nil {
		t.Errorf("getUpdates after deleteWebhook: %v", r.err)
	}
}

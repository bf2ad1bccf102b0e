package telegramtest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// AddChat makes a chat known to the bot without a message in it: a user who
// pressed Start earlier, or a group the bot was added to. Sending to a chat
// the bot never met fails with "Bad Request: chat not found", as on Telegram.
func (s *Server) AddChat(chat Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatFor(chat, nil)
}

// SetBotAdmin makes the bot an admin of a group (or takes that back):
// with canDeleteMessages it may delete what users wrote there, as on
// Telegram; without, deleteMessage answers "message can't be deleted".
func (s *Server) SetBotAdmin(chat Chat, canDeleteMessages bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.chatFor(chat, nil); cs != nil {
		cs.canDelete = canDeleteMessages
	}
}

// UserMessage reports a message a user sent (SendUserMessage returns the
// update id; MessageIDOf turns it into the message id): its text and
// whether it is still in the chat for everyone to read.
func (s *Server) UserMessage(chatID int64, messageID int) (text string, visible bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.chats[chatID]
	if !ok {
		return "", false
	}
	m, ok := cs.msgs[messageID]
	if !ok {
		return "", false
	}
	return m.plain, !m.deleted
}

// MessageIDOf returns the id of the user message that update updateID
// carried (0 if none).
func (s *Server) MessageIDOf(updateID int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgOfUpdate[updateID]
}

// SendUserMessage enqueues an update with a text message from a user, as if
// the user typed it in chat, and returns its update_id (0 on bad input, which
// fails the test).
func (s *Server) SendUserMessage(from User, chat Chat, text string) int {
	return s.sendUser(from, chat, text, nil)
}

// ForwardUserMessage enqueues a message from forwarded by them into chat,
// originally written by original (ID 0: a user who hides their account,
// known by FirstName only).
func (s *Server) ForwardUserMessage(from User, chat Chat, text string, original User) int {
	o := &wireOrigin{Type: "hidden_user", Date: time.Now().Add(-time.Hour).Unix(), SenderUserName: original.FirstName}
	if original.ID != 0 {
		u := wireUserOf(original)
		o = &wireOrigin{Type: "user", Date: o.Date, SenderUser: &u}
	}
	return s.sendUser(from, chat, text, o)
}

func (s *Server) sendUser(from User, chat Chat, text string, origin *wireOrigin) int {
	if text == "" {
		s.tb.Errorf("telegram fake: SendUserMessage: empty text (Telegram clients cannot send it)")
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatFor(chat, &from)
	if cs == nil {
		return 0
	}
	u := wireUserOf(from)
	m := &storedMsg{
		id: cs.nextID, from: &u, date: time.Now().Unix(), text: text, plain: text,
		entities: commandEntities(text), origin: origin,
	}
	cs.nextID++
	cs.msgs[m.id] = m
	id := s.enqueue(wireUpdate{Message: s.wireMsg(cs, m, true)})
	if s.msgOfUpdate == nil {
		s.msgOfUpdate = map[int]int{}
	}
	s.msgOfUpdate[id] = m.id
	return id
}

// PressButton enqueues a callback_query as if from pressed the inline button
// carrying data under message messageID, and returns the query id the bot
// must answer. Pass a CallbackData from Sent (telebot encodes its own prefix
// into it). A message that does not exist (any more) arrives as an
// inaccessible message (date 0), as on Telegram.
func (s *Server) PressButton(from User, chat Chat, messageID int, data string) string {
	if data == "" {
		s.tb.Errorf("telegram fake: PressButton: empty callback data")
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatFor(chat, &from)
	if cs == nil {
		return ""
	}
	msg := &wireMessage{MessageID: messageID, Chat: cs.chat}
	if m, ok := cs.msgs[messageID]; ok && !m.deleted {
		msg = s.wireMsg(cs, m, true)
	}
	id := strconv.FormatUint(s.nextCallback, 10)
	s.nextCallback++
	s.callbacks[id] = &callbackState{}
	s.enqueue(wireUpdate{CallbackQuery: &wireCallback{
		ID: id, From: wireUserOf(from), Message: msg, Data: data,
		ChatInstance: strconv.FormatInt(cs.chat.ID^0x5bd1e995, 10),
	}})
	return id
}

// enqueue adds an update and wakes pollers. Callers hold s.mu.
func (s *Server) enqueue(u wireUpdate) int {
	u.UpdateID = s.nextUpdateID
	s.nextUpdateID++
	s.updates = append(s.updates, u)
	s.broadcast()
	return u.UpdateID
}

// chatFor returns the chat's state, creating it. Callers hold s.mu.
func (s *Server) chatFor(chat Chat, from *User) *chatState {
	if chat.ID == 0 {
		s.tb.Errorf("telegram fake: chat id 0")
		return nil
	}
	if chat.Type == "" {
		chat.Type = "private"
	}
	switch chat.Type {
	case "private", "group", "supergroup", "channel":
	default:
		s.tb.Errorf("telegram fake: chat %d: unknown type %q (want private, group, supergroup or channel)", chat.ID, chat.Type)
		return nil
	}
	cs, ok := s.chats[chat.ID]
	if !ok {
		cs = &chatState{nextID: 1, msgs: make(map[int]*storedMsg)}
		s.chats[chat.ID] = cs
	}
	cs.chat.ID, cs.chat.Type = chat.ID, chat.Type
	if chat.Type == "private" {
		cs.chat.Title = ""
		if from != nil {
			cs.chat.FirstName, cs.chat.Username = wireUserOf(*from).FirstName, from.Username
		} else if cs.chat.FirstName == "" {
			cs.chat.FirstName = wireUserOf(User{ID: chat.ID}).FirstName
		}
	} else {
		cs.chat.FirstName, cs.chat.Username = "", ""
		cs.chat.Title = chat.Title
		if cs.chat.Title == "" {
			cs.chat.Title = "Test " + chat.Type
		}
	}
	return cs
}

func wireUserOf(u User) wireUser {
	first := u.FirstName
	if first == "" { // required by Telegram
		first = "User" + strconv.FormatInt(u.ID, 10)
	}
	return wireUser{ID: u.ID, FirstName: first, Username: u.Username}
}

// commandEntities marks a leading /command like Telegram clients do.
func commandEntities(text string) []entity {
	if !strings.HasPrefix(text, "/") {
		return nil
	}
	cmd, _, _ := strings.Cut(text, " ")
	cmd, _, _ = strings.Cut(cmd, "\n")
	return []entity{{Type: "bot_command", Offset: 0, Length: utf16Count(cmd)}}
}

// Sent returns everything the bot sent or edited, oldest first.
func (s *Server) Sent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.sent...)
}

// WaitSent returns the first sent message (see Sent) for which pred is true,
// waiting up to timeout for it; otherwise it fails t with what was sent.
// Call it from the test goroutine.
func (s *Server) WaitSent(t testing.TB, timeout time.Duration, pred func(Message) bool) Message {
	t.Helper()
	return s.waitSent(t, timeout, 0, pred)
}

// WaitText returns the first message to chat, of those sent after the
// first after (see Sent), whose text holds every one of want; waiting up
// to timeout, otherwise it fails t with what was sent.
func (s *Server) WaitText(t testing.TB, timeout time.Duration, chat int64, after int, want ...string) Message {
	t.Helper()
	return s.waitSent(t, timeout, after, func(m Message) bool {
		if m.ChatID != chat {
			return false
		}
		for _, w := range want {
			if !strings.Contains(m.Plain, w) {
				return false
			}
		}
		return true
	})
}

func (s *Server) waitSent(t testing.TB, timeout time.Duration, after int, pred func(Message) bool) Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		sent := append([]Message(nil), s.sent...)
		wake := s.changed
		s.mu.Unlock()
		for _, m := range sent[min(after, len(sent)):] {
			if pred(m) {
				return m
			}
		}
		select {
		case <-wake:
		case <-timer.C:
			var b strings.Builder
			for _, m := range sent {
				b.WriteString("\n  " + m.String())
			}
			if len(sent) == 0 {
				b.WriteString(" nothing")
			}
			t.Fatalf("telegram fake: no sent message matched within %v; sent:%s", timeout, b.String())
			return Message{}
		case <-s.done:
			t.Fatalf("telegram fake: server closed while waiting for a sent message")
			return Message{}
		}
	}
}

// Commands returns the commands as the last setMyCommands left them for its
// scope and language (nil once deleted).
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands[s.lastCommands]...)
}

// CommandsIn returns the commands set for one scope, in the default
// language, as a user there sees them: "default", "all_group_chats",
// "chat chat=111", "chat_member chat=-100 user=111" (nil when none).
func (s *Server) CommandsIn(scope string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands[scope+" lang="]...)
}

// Answered reports whether the bot answered callback query id.
func (s *Server) Answered(callbackID string) bool {
	_, ok := s.Answer(callbackID)
	return ok
}

// Answer returns the bot's answer to callback query id.
func (s *Server) Answer(callbackID string) (CallbackAnswer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.callbacks[callbackID]
	if !ok || !cb.answered {
		return CallbackAnswer{}, false
	}
	return cb.answer, true
}

// Pending is the number of updates not yet confirmed by the bot (with a
// getUpdates offset above them).
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

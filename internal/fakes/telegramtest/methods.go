package telegramtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxTextLen         = 4096 // UTF-16 units after entity parsing
	maxCallbackData    = 64   // bytes
	maxCommands        = 100
	maxCallbackAnswer  = 200
	maxCommandDescLen  = 256
	maxUpdatesPerBatch = 100
)

var commandName = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func (s *Server) getMe(context.Context, params) (any, *apiError) {
	yes, no := true, false
	return wireUser{
		ID: s.bot.ID, IsBot: true, FirstName: s.bot.FirstName, Username: s.bot.Username,
		CanJoinGroups: &yes, CanReadAllGroupMessages: &no, SupportsInlineQueries: &no,
	}, nil
}

// getUpdates long-polls: it answers at once when updates are pending,
// otherwise waits up to timeout seconds for one. A newer getUpdates call
// terminates a waiting one with 409, as on the real service.
func (s *Server) getUpdates(ctx context.Context, p params) (any, *apiError) {
	offset, _, err := p.int("offset")
	if err != nil {
		return nil, badRequest("invalid offset specified")
	}
	limit := maxUpdatesPerBatch
	if v, ok, err := p.int("limit"); err != nil {
		return nil, badRequest("invalid limit specified")
	} else if ok && v > 0 && v < maxUpdatesPerBatch {
		limit = int(v)
	}
	timeout, _, err := p.int("timeout")
	if err != nil {
		return nil, badRequest("invalid timeout specified")
	}

	s.mu.Lock()
	if s.webhook != "" {
		s.mu.Unlock()
		return nil, &apiError{code: http.StatusConflict, desc: webhookConflict}
	}
	if s.poll != nil {
		close(s.poll)
		s.poll = nil
	}
	s.confirm(offset)

	var (
		mine     chan struct{}
		deadline <-chan time.Time
	)
	release := func() { // callers hold s.mu
		if mine != nil && s.poll == mine {
			s.poll = nil
		}
	}
	for {
		if mine != nil && s.poll != mine {
			s.mu.Unlock()
			return nil, &apiError{code: http.StatusConflict, desc: conflictDescription}
		}
		if len(s.updates) > 0 || timeout <= 0 || deadline == nil && mine != nil {
			release()
			batch := append([]wireUpdate{}, s.updates[:min(limit, len(s.updates))]...)
			s.mu.Unlock()
			return batch, nil
		}
		if mine == nil {
			mine = make(chan struct{})
			s.poll = mine
			timer := time.NewTimer(time.Duration(timeout) * time.Second)
			defer timer.Stop()
			deadline = timer.C
			s.broadcast()
		}
		wake := s.changed
		s.mu.Unlock()

		select {
		case <-wake:
		case <-mine:
		case <-deadline:
			deadline = nil // answer with whatever is there
		case <-ctx.Done():
			deadline = nil // the client is gone; the answer goes nowhere
		case <-s.done:
			deadline = nil
		}
		s.mu.Lock()
	}
}

// confirm drops updates the client acknowledged with offset. Callers hold s.mu.
func (s *Server) confirm(offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.updates) && int64(s.updates[i].UpdateID) < offset {
			i++
		}
		s.updates = s.updates[i:]
	case offset < 0:
		// -N keeps the last N updates and forgets the rest.
		if keep := int(-offset); keep < len(s.updates) {
			s.updates = s.updates[len(s.updates)-keep:]
		}
	}
}

// chatParam resolves chat_id to a chat the bot knows. Callers hold s.mu.
func (s *Server) chatParam(p params) (*chatState, *apiError) {
	raw, ok := p.str("chat_id")
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, badRequest("chat_id is empty")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return nil, badRequest("chat not found")
	}
	cs, ok := s.chats[id]
	if !ok {
		return nil, badRequest("chat not found")
	}
	return cs, nil
}

func (s *Server) sendMessage(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.chatParam(p)
	if e != nil {
		return nil, e
	}
	text, _ := p.str("text")
	mode, _ := p.str("parse_mode")
	plain, ents, e := renderText(text, mode)
	if e != nil {
		return nil, e
	}
	markup, _, e := parseMarkup(p)
	if e != nil {
		return nil, e
	}
	replyTo, e := replyTarget(cs, p)
	if e != nil {
		return nil, e
	}
	if e := s.checkRate(cs, time.Now()); e != nil {
		return nil, e
	}

	bot := s.botWire()
	m := &storedMsg{
		id: cs.nextID, from: &bot, date: time.Now().Unix(), text: text, plain: plain,
		parseMode: mode, entities: ents, markup: markup, replyTo: replyTo, fromBot: true,
	}
	cs.nextID++
	cs.msgs[m.id] = m
	s.record("sendMessage", cs, m)
	return s.wireMsg(cs, m, true), nil
}

func replyTarget(cs *chatState, p params) (int, *apiError) {
	id, _, err := p.int("reply_to_message_id")
	if err != nil {
		return 0, badRequest("invalid reply_to_message_id specified")
	}
	allow := p.bool("allow_sending_without_reply")
	var rp struct {
		MessageID int   `json:"message_id"`
		ChatID    any   `json:"chat_id"`
		Allow     *bool `json:"allow_sending_without_reply"`
	}
	if ok, err := p.object("reply_parameters", &rp); err != nil {
		return 0, badRequest("can't parse reply parameters JSON object")
	} else if ok {
		id = int64(rp.MessageID)
		if rp.Allow != nil {
			allow = *rp.Allow
		}
	}
	if id == 0 {
		return 0, nil
	}
	if m, ok := cs.msgs[int(id)]; ok && !m.deleted {
		return int(id), nil
	}
	if allow {
		return 0, nil
	}
	return 0, badRequest("message to be replied not found")
}

// renderText applies parse_mode and the Bot API's text limits.
func renderText(text, mode string) (string, []entity, *apiError) {
	if text == "" {
		return "", nil, badRequest("message text is empty")
	}
	plain := text
	var ents []entity
	switch strings.ToLower(mode) {
	case "":
	case "html":
		var err error
		plain, ents, err = parseHTML(text)
		if err != nil {
			return "", nil, badRequest("can't parse entities: %v", err)
		}
	case "markdown", "markdownv2":
		// Refuse loudly rather than pretend: the project sends HTML.
		return "", nil, badRequest("telegram fake: parse_mode %q is not emulated, use HTML", mode)
	default:
		return "", nil, badRequest("unsupported parse_mode")
	}
	if strings.TrimSpace(plain) == "" {
		return "", nil, badRequest("message text is empty")
	}
	if utf16Count(plain) > maxTextLen {
		return "", nil, badRequest("message is too long")
	}
	return plain, ents, nil
}

var buttonActions = []string{
	"url", "callback_data", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
	"switch_inline_query_chosen_chat", "web_app", "callback_game", "pay", "copy_text",
}

// parseMarkup reads reply_markup. Only inline keyboards are kept; reply
// keyboards and force_reply are accepted and dropped.
func parseMarkup(p params) ([][]wireButton, bool, *apiError) {
	var raw map[string]json.RawMessage
	present, err := p.object("reply_markup", &raw)
	if err != nil {
		return nil, false, badRequest("can't parse reply keyboard markup JSON object")
	}
	ik, ok := raw["inline_keyboard"]
	if !present || !ok {
		return nil, present, nil
	}
	var rows [][]map[string]json.RawMessage
	if err := json.Unmarshal(ik, &rows); err != nil {
		return nil, true, badRequest("can't parse inline keyboard button: field \"inline_keyboard\" must be an Array of Array of InlineKeyboardButton")
	}
	var out [][]wireButton
	for _, row := range rows {
		var r []wireButton
		for _, fields := range row {
			var b wireButton
			if json.Unmarshal(fields["text"], &b.Text) != nil {
				return nil, true, badRequest("can't parse inline keyboard button: Field \"text\" must be of type String")
			}
			action := false
			for _, k := range buttonActions {
				if _, ok := fields[k]; ok {
					action = true
				}
			}
			if !action {
				return nil, true, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			}
			if v, ok := fields["url"]; ok {
				if json.Unmarshal(v, &b.URL) != nil || !validButtonURL(b.URL) {
					return nil, true, badRequest("inline keyboard button URL '%s' is invalid: Wrong HTTP URL", b.URL)
				}
			}
			if v, ok := fields["callback_data"]; ok {
				if json.Unmarshal(v, &b.CallbackData) != nil || b.CallbackData == "" || len(b.CallbackData) > maxCallbackData {
					return nil, true, badRequest("BUTTON_DATA_INVALID")
				}
			}
			r = append(r, b)
		}
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	return out, true, nil
}

func validButtonURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	case "tg":
		return u.Host != "" || u.Opaque != ""
	}
	return false
}

// editTarget finds the bot message an edit names. Callers hold s.mu.
func (s *Server) editTarget(p params) (*chatState, *storedMsg, *apiError) {
	if _, ok := p.str("inline_message_id"); ok {
		return nil, nil, badRequest("MESSAGE_ID_INVALID")
	}
	cs, e := s.chatParam(p)
	if e != nil {
		return nil, nil, e
	}
	id, ok, err := p.int("message_id")
	if !ok || err != nil {
		return nil, nil, badRequest("message identifier is not specified")
	}
	m, ok := cs.msgs[int(id)]
	if !ok || m.deleted {
		return nil, nil, badRequest("message to edit not found")
	}
	if !m.fromBot {
		return nil, nil, badRequest("message can't be edited")
	}
	return cs, m, nil
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

func (s *Server) editMessageText(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, m, e := s.editTarget(p)
	if e != nil {
		return nil, e
	}
	text, _ := p.str("text")
	mode, _ := p.str("parse_mode")
	plain, ents, e := renderText(text, mode)
	if e != nil {
		return nil, e
	}
	// Without reply_markup the edit removes the inline keyboard, as on Telegram.
	markup, _, e := parseMarkup(p)
	if e != nil {
		return nil, e
	}
	if plain == m.plain && reflect.DeepEqual(ents, m.entities) && reflect.DeepEqual(markup, m.markup) {
		return nil, badRequest(notModified)
	}
	if e := s.checkRate(cs, time.Now()); e != nil {
		return nil, e
	}
	m.text, m.plain, m.parseMode, m.entities, m.markup = text, plain, mode, ents, markup
	m.editDate = time.Now().Unix()
	s.record("editMessageText", cs, m)
	return s.wireMsg(cs, m, true), nil
}

func (s *Server) editMessageReplyMarkup(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, m, e := s.editTarget(p)
	if e != nil {
		return nil, e
	}
	markup, _, e := parseMarkup(p)
	if e != nil {
		return nil, e
	}
	if reflect.DeepEqual(markup, m.markup) {
		return nil, badRequest(notModified)
	}
	if e := s.checkRate(cs, time.Now()); e != nil {
		return nil, e
	}
	m.markup = markup
	m.editDate = time.Now().Unix()
	s.record("editMessageReplyMarkup", cs, m)
	return s.wireMsg(cs, m, true), nil
}

func (s *Server) deleteMessage(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.chatParam(p)
	if e != nil {
		return nil, e
	}
	id, ok, err := p.int("message_id")
	if !ok || err != nil {
		return nil, badRequest("message identifier is not specified")
	}
	m, ok := cs.msgs[int(id)]
	if !ok || m.deleted {
		return nil, badRequest("message to delete not found")
	}
	// A bot may delete what users wrote only in private chats, or in a group
	// where it is an admin with "Delete messages" (SetBotAdmin).
	if !m.fromBot && cs.chat.Type != "private" && !cs.canDelete {
		return nil, badRequest("message can't be deleted")
	}
	m.deleted = true
	for i := range s.sent {
		if s.sent[i].ChatID == cs.chat.ID && s.sent[i].MessageID == m.id {
			s.sent[i].Deleted = true
		}
	}
	s.broadcast()
	return true, nil
}

func (s *Server) answerCallbackQuery(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := p.str("callback_query_id")
	cb, ok := s.callbacks[id]
	if !ok || cb.answered {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	text, _ := p.str("text")
	if utf8.RuneCountInString(text) > maxCallbackAnswer {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	link, _ := p.str("url")
	cb.answered = true
	cb.answer = CallbackAnswer{Text: text, ShowAlert: p.bool("show_alert"), URL: link}
	s.broadcast()
	return true, nil
}

var scopeTypes = map[string]bool{
	"default": true, "all_private_chats": true, "all_group_chats": true, "all_chat_administrators": true,
	"chat": true, "chat_administrators": true, "chat_member": true,
}

// commandsKey names the scope and language commands are set for.
func commandsKey(p params) (string, *apiError) {
	var scope struct {
		Type   string `json:"type"`
		ChatID any    `json:"chat_id"`
		UserID int64  `json:"user_id"`
	}
	if _, err := p.object("scope", &scope); err != nil {
		return "", badRequest("can't parse BotCommandScope JSON object")
	}
	if scope.Type == "" {
		scope.Type = "default"
	}
	if !scopeTypes[scope.Type] {
		return "", badRequest("unsupported bot command scope type %q", scope.Type)
	}
	needsChat := strings.HasPrefix(scope.Type, "chat")
	if needsChat && (scope.ChatID == nil || scope.ChatID == 0.0 || scope.ChatID == "") {
		return "", badRequest("chat_id is empty")
	}
	if scope.Type == "chat_member" && scope.UserID == 0 {
		return "", badRequest("user_id is empty")
	}
	lang, _ := p.str("language_code")
	key := scope.Type
	if needsChat {
		key += " chat=" + strings.Trim(string(mustJSON(scope.ChatID)), `"`)
	}
	if scope.UserID != 0 {
		key += " user=" + strconv.FormatInt(scope.UserID, 10)
	}
	return key + " lang=" + lang, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) setMyCommands(_ context.Context, p params) (any, *apiError) {
	var cmds []Command
	present, err := p.object("commands", &cmds)
	if !present {
		return nil, badRequest("parameter \"commands\" is required")
	}
	if err != nil {
		return nil, badRequest("can't parse commands JSON object")
	}
	if len(cmds) > maxCommands {
		return nil, badRequest("BOT_COMMANDS_TOO_MUCH")
	}
	for _, c := range cmds {
		if !commandName.MatchString(c.Command) {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(c.Description)); n == 0 || n > maxCommandDescLen {
			return nil, badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	key, e := commandsKey(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[key] = append([]Command{}, cmds...)
	s.lastCommands = key
	s.broadcast()
	return true, nil
}

func (s *Server) getMyCommands(_ context.Context, p params) (any, *apiError) {
	key, e := commandsKey(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command{}, s.commands[key]...), nil
}

func (s *Server) deleteMyCommands(_ context.Context, p params) (any, *apiError) {
	key, e := commandsKey(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.commands, key)
	s.broadcast()
	return true, nil
}

var chatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true,
}

func (s *Server) sendChatAction(_ context.Context, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.chatParam(p); e != nil {
		return nil, e
	}
	action, _ := p.str("action")
	if !chatActions[action] {
		return nil, badRequest("wrong parameter action in request")
	}
	return true, nil
}

// record appends a snapshot of m to the sent log. Callers hold s.mu.
func (s *Server) record(method string, cs *chatState, m *storedMsg) {
	msg := Message{
		Method: method, ChatID: cs.chat.ID, MessageID: m.id, Text: m.text, Plain: m.plain,
		ParseMode: m.parseMode, ReplyTo: m.replyTo,
	}
	for _, row := range m.markup {
		var r []Button
		for _, b := range row {
			r = append(r, Button(b))
		}
		msg.ReplyMarkup = append(msg.ReplyMarkup, r)
	}
	s.sent = append(s.sent, msg)
	if s.onSent != nil {
		s.onSent(msg)
	}
	s.broadcast()
}

func (s *Server) botWire() wireUser {
	return wireUser{ID: s.bot.ID, IsBot: true, FirstName: s.bot.FirstName, Username: s.bot.Username}
}

// wireMsg encodes a stored message; withReply includes the message it
// answers (one level deep, as Telegram does). Callers hold s.mu.
func (s *Server) wireMsg(cs *chatState, m *storedMsg, withReply bool) *wireMessage {
	w := &wireMessage{
		MessageID: m.id, From: m.from, Chat: cs.chat, Date: m.date, EditDate: m.editDate,
		Text: m.plain, Entities: m.entities, ForwardOrigin: m.origin,
	}
	if len(m.markup) > 0 {
		w.ReplyMarkup = &wireMarkup{InlineKeyboard: m.markup}
	}
	if withReply && m.replyTo != 0 {
		if r, ok := cs.msgs[m.replyTo]; ok && !r.deleted {
			w.ReplyTo = s.wireMsg(cs, r, false)
		}
	}
	return w
}

const webhookConflict = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"

// setWebhook records the URL; while one is set, getUpdates is refused.
func (s *Server) setWebhook(_ context.Context, p params) (any, *apiError) {
	u, _ := p.str("url")
	if u == "" {
		return s.deleteWebhook(context.Background(), p)
	}
	if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" {
		return nil, badRequest("bad webhook: An HTTPS URL must be provided for webhook")
	}
	s.mu.Lock()
	s.webhook = u
	s.mu.Unlock()
	return true, nil
}

func (s *Server) deleteWebhook(context.Context, params) (any, *apiError) {
	s.mu.Lock()
	s.webhook = ""
	s.mu.Unlock()
	return true, nil
}

func (s *Server) getWebhookInfo(context.Context, params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.updates)}, nil
}

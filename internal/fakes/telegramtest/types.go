package telegramtest

import (
	"fmt"
	"strings"
)

// User is a Telegram user as a test describes it.
type User struct {
	ID        int64
	Username  string
	FirstName string
}

// Chat is a Telegram chat as a test describes it. Type is "private", "group",
// "supergroup" or "channel" ("" means "private"). Title names a group.
type Chat struct {
	ID    int64
	Type  string
	Title string
}

// Button is one inline keyboard button the bot sent.
type Button struct {
	Text         string
	URL          string
	CallbackData string // as sent; telebot prefixes "\f<unique>|"
}

// Message is one thing the bot put on screen: a sendMessage, or an edit of a
// message (each edit is its own entry, a snapshot of the message after it).
type Message struct {
	Method      string // "sendMessage", "editMessageText" or "editMessageReplyMarkup"
	ChatID      int64
	MessageID   int
	Text        string // as the bot sent it (HTML source when ParseMode is HTML)
	Plain       string // as a user sees it: tags removed, entities decoded
	ParseMode   string
	ReplyTo     int // message_id replied to, 0 if none
	ReplyMarkup [][]Button
	Deleted     bool // the bot deleted this message later
}

// Button returns the first inline button labelled text.
func (m Message) Button(text string) (Button, bool) {
	for _, row := range m.ReplyMarkup {
		for _, b := range row {
			if b.Text == text {
				return b, true
			}
		}
	}
	return Button{}, false
}

func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s chat=%d id=%d", m.Method, m.ChatID, m.MessageID)
	if m.ParseMode != "" {
		fmt.Fprintf(&b, " mode=%s", m.ParseMode)
	}
	if m.Deleted {
		b.WriteString(" deleted")
	}
	text := m.Text
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	fmt.Fprintf(&b, " text=%q", text)
	for _, row := range m.ReplyMarkup {
		for _, btn := range row {
			fmt.Fprintf(&b, " [%s]", btn.Text)
		}
	}
	return b.String()
}

// Command is one bot command set with setMyCommands.
type Command struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// Failure scripts an error answer. Status 429 adds parameters.retry_after
// (RetryAfter, at least 1); 502 and 504 answer an HTML page like the real
// front end does. Description defaults to what Telegram says for Status.
type Failure struct {
	Status      int
	RetryAfter  int
	Description string
}

// CallbackAnswer is what the bot answered to a callback query.
type CallbackAnswer struct {
	Text      string
	ShowAlert bool
	URL       string
}

// Wire shapes, as the Bot API encodes them.

type wireUser struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	Username                string `json:"username,omitempty"`
	CanJoinGroups           *bool  `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages *bool  `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   *bool  `json:"supports_inline_queries,omitempty"`
}

type wireChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
}

type entity struct {
	Type     string `json:"type"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	URL      string `json:"url,omitempty"`
	Language string `json:"language,omitempty"`
}

type wireButton struct {
	Text         string `json:"text"`
	URL          string `json:"url,omitempty"`
	CallbackData string `json:"callback_data,omitempty"`
}

type wireMarkup struct {
	InlineKeyboard [][]wireButton `json:"inline_keyboard"`
}

type wireMessage struct {
	MessageID   int          `json:"message_id"`
	From        *wireUser    `json:"from,omitempty"`
	Chat        wireChat     `json:"chat"`
	Date        int64        `json:"date"`
	EditDate    int64        `json:"edit_date,omitempty"`
	ReplyTo     *wireMessage `json:"reply_to_message,omitempty"`
	Text        string       `json:"text,omitempty"`
	Entities    []entity     `json:"entities,omitempty"`
	ReplyMarkup *wireMarkup  `json:"reply_markup,omitempty"`
	// ForwardOrigin marks a forwarded message (Bot API 7.0+: the
	// forward_from* fields are gone).
	ForwardOrigin *wireOrigin `json:"forward_origin,omitempty"`
}

type wireOrigin struct {
	Type           string    `json:"type"` // "user" or "hidden_user" here
	Date           int64     `json:"date"`
	SenderUser     *wireUser `json:"sender_user,omitempty"`
	SenderUserName string    `json:"sender_user_name,omitempty"`
}

type wireCallback struct {
	ID           string       `json:"id"`
	From         wireUser     `json:"from"`
	Message      *wireMessage `json:"message,omitempty"`
	ChatInstance string       `json:"chat_instance"`
	Data         string       `json:"data,omitempty"`
}

type wireUpdate struct {
	UpdateID      int           `json:"update_id"`
	Message       *wireMessage  `json:"message,omitempty"`
	CallbackQuery *wireCallback `json:"callback_query,omitempty"`
}

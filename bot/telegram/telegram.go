// Package telegram is the Telegram transport on gopkg.in/telebot.v3: our own
// long poller with backoff, an outgoing queue per chat that honours 429
// retry_after and rate limits, HTML formatting split at 4096 characters, and
// inline buttons for confirmations and login links.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"github.com/fleetwarden/fleetwarden/internal/backoff"
	"github.com/fleetwarden/fleetwarden/internal/notified"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Platform is the name requests from Telegram carry.
const Platform = "telegram"

// DefaultAPIURL is the public Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// MaxCommands is Telegram's limit for setMyCommands.
const MaxCommands = 100

// Handler answers requests.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Responder)
}

// Options configure a Bot.
type Options struct {
	Token      string
	APIURL     string // default DefaultAPIURL
	AlertChats []int64
	Handler    Handler
	// Commands is the menu registered with setMyCommands, read when Run
	// starts: the daemon builds its transports before it registers the
	// commands (they need the alert manager, which delivers through them).
	Commands func() []commands.Command
	// Roles are the users the config names, by user ID: each one's private
	// chat, and each group alert chat for them, gets a menu of what their
	// role may run. Other groups show what viewers may run; everyone else
	// (the default scope) no menu.
	Roles      map[int64]commands.Role
	Log        *slog.Logger
	HTTPClient *http.Client

	PollTimeout time.Duration // long-poll timeout; default 25s
	BackoffMin  time.Duration // default 1s
	BackoffMax  time.Duration // default 2m
	Limits      Limits
	// OnHealth is called when the transport's health changes.
	OnHealth func(Health)
}

// Health is the state of the transport.
type Health struct {
	State     string // "up", "degraded", "down", "starting"
	LastError string
	Since     time.Time
}

// Bot is a running Telegram transport.
type Bot struct {
	o    Options
	cmds []commands.Command // the menu, read by Run
	tb   *tele.Bot
	log  *slog.Logger
	out  *sender

	mu     sync.Mutex
	health Health

	meOnce  sync.Once
	meReady chan struct{} // closed once getMe told us who we are (tb.Me)

	notified notified.Memory // alert chats each notification reached, by its ID
	work     *lanes
}

var commandName = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// New validates the options and prepares the bot; nothing is sent until Run.
func New(o Options) (*Bot, error) {
	if o.Token == "" {
		return nil, errors.New("telegram: no bot token")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	o.APIURL = strings.TrimRight(o.APIURL, "/")
	if o.PollTimeout <= 0 {
		o.PollTimeout = 25 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	// A long poll holds the request open for PollTimeout; give it room.
	client := *o.HTTPClient
	client.Timeout = o.PollTimeout + 15*time.Second
	b := &Bot{o: o, log: o.Log.With("transport", Platform), health: Health{State: "starting", Since: time.Now()},
		meReady: make(chan struct{})}
	b.work = newLanes()
	tb, err := tele.NewBot(synchronous(tele.Settings{
		URL:     o.APIURL,
		Token:   o.Token,
		Offline: true, // getMe happens in Run, with backoff, not here
		Client:  &client,
		Poller:  &poller{b: b},
		OnError: func(err error, _ tele.Context) { b.log.Warn("handler", "err", redactToken(err.Error(), o.Token)) },
	}))
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	b.tb = tb
	b.out = newSender(b, o.Limits)
	tb.Handle(tele.OnText, b.onText)
	tb.Handle(tele.OnCallback, b.onCallback)
	return b, nil
}

// Name is the route name alerts report.
func (b *Bot) Name() string { return Platform }

// Run polls for updates and sends until ctx is done.
func (b *Bot) Run(ctx context.Context) error {
	cmds, err := menuCommands(b.o.Commands)
	if err != nil {
		return err
	}
	b.cmds = cmds
	go b.out.run(ctx)
	b.runWorkers(ctx)
	go b.setup(ctx)
	done := make(chan struct{})
	go func() {
		b.tb.Start()
		close(done)
	}()
	<-ctx.Done()
	b.tb.Stop()
	<-done
	if n := b.work.unstarted(); n > 0 {
		// Confirmed to Telegram with the rest: a command queued before a
		// stop must not fire at the next start, maybe hours later.
		b.log.Warn("stopping with updates not handled", "count", n)
	}
	return nil
}

// setup learns the bot's name and registers the command menu, retrying
// with backoff while the API is unreachable.
func (b *Bot) setup(ctx context.Context) {
	bo := backoff.New(b.o.BackoffMin, b.o.BackoffMax)
	for {
		err := b.setupOnce()
		if err == nil {
			return
		}
		b.log.Warn("setup", "err", err)
		if !bo.Wait(ctx) {
			return
		}
	}
}

func (b *Bot) setupOnce() error {
	data, err := b.tb.Raw("getMe", map[string]string{})
	if err != nil {
		return fmt.Errorf("getMe: %w", b.apiError(err))
	}
	var me struct {
		Result tele.User `json:"result"`
	}
	if err := jsonUnmarshal(data, &me); err != nil {
		return fmt.Errorf("getMe: %w", err)
	}
	// Written once, before any update is handed to telebot (the poller
	// waits for meReady): telebot reads Me to tell "/cmd@us" from
	// "/cmd@otherbot", unlocked.
	b.meOnce.Do(func() {
		u := me.Result
		b.tb.Me = &u
		close(b.meReady)
	})
	// The API answers and knows our token: up, until polling says otherwise.
	b.setHealth("up", nil)
	for _, m := range b.menus() {
		var err error
		if len(m.cmds) == 0 {
			err = b.tb.DeleteCommands(m.scope)
		} else {
			err = b.tb.SetCommands(m.cmds, m.scope)
		}
		switch {
		case err == nil:
		case m.scope.ChatID != 0 && apiCode(err) == http.StatusBadRequest:
			// One user's or chat's menu (a user who never joined the group,
			// a chat the bot is not in): the others still get theirs.
			b.log.Warn("setMyCommands", "scope", m.scope.Type, "chat", m.scope.ChatID, "user", m.scope.UserID, "err", b.apiError(err))
		default:
			return fmt.Errorf("setMyCommands (%s): %w", m.scope.Type, b.apiError(err))
		}
	}
	return nil
}

// menuCommands reads the command list and checks it against Telegram's
// rules, before anything is sent.
func menuCommands(list func() []commands.Command) ([]commands.Command, error) {
	if list == nil {
		return nil, nil
	}
	cmds := list()
	if len(cmds) > MaxCommands {
		return nil, fmt.Errorf("telegram: %d commands, but Telegram allows at most %d", len(cmds), MaxCommands)
	}
	for _, c := range cmds {
		if !commandName.MatchString(c.Name) {
			return nil, fmt.Errorf("telegram: command %q is not a valid Telegram command name ([a-z0-9_], 1-32)", c.Name)
		}
	}
	return cmds, nil
}

// menu is the command menu of one BotCommandScope.
type menu struct {
	scope tele.CommandScope
	cmds  []tele.Command
}

// menus are the command menus per scope: nobody sees a command they may
// not run, and /login and /code show only in admins' private chats.
func (b *Bot) menus() []menu {
	out := []menu{
		{scope: tele.CommandScope{Type: tele.CommandScopeDefault}},
		{scope: tele.CommandScope{Type: tele.CommandScopeAllGroupChats}, cmds: teleCommands(commands.MenuFor(b.cmds, commands.RoleViewer, false))},
	}
	users := make([]int64, 0, len(b.o.Roles))
	for id := range b.o.Roles {
		users = append(users, id)
	}
	slices.Sort(users)
	for _, id := range users {
		role := b.o.Roles[id]
		out = append(out, menu{scope: tele.CommandScope{Type: tele.CommandScopeChat, ChatID: id},
			cmds: teleCommands(commands.MenuFor(b.cmds, role, true))})
		for _, chat := range b.o.AlertChats {
			if chat < 0 { // a group: this user's menu there
				out = append(out, menu{scope: tele.CommandScope{Type: tele.CommandScopeChatMember, ChatID: chat, UserID: id},
					cmds: teleCommands(commands.MenuFor(b.cmds, role, false))})
			}
		}
	}
	return out
}

func teleCommands(in []commands.Command) []tele.Command {
	var cmds []tele.Command
	for _, c := range in {
		desc := c.Help
		if c.Usage != "" {
			desc = c.Usage + " — " + desc
		}
		if len(desc) > 256 {
			desc = desc[:256]
		}
		if len(desc) < 3 {
			desc = "/" + c.Name
		}
		cmds = append(cmds, tele.Command{Text: c.Name, Description: desc})
	}
	return cmds
}

// Health reports the transport's state.
func (b *Bot) Health() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health
}

func (b *Bot) setHealth(state string, err error) {
	b.mu.Lock()
	changed := b.health.State != state
	if changed {
		b.health.State = state
		b.health.Since = time.Now()
	}
	if err != nil {
		b.health.LastError = redactToken(err.Error(), b.o.Token)
	}
	h := b.health
	b.mu.Unlock()
	if changed {
		b.log.Info("health", "state", state, "err", h.LastError)
		if b.o.OnHealth != nil {
			b.o.OnHealth(h)
		}
	}
}

func (b *Bot) onText(c tele.Context) error {
	m := c.Message()
	if m == nil || m.Sender == nil || m.Chat == nil {
		return nil
	}
	if forwarded(m) {
		// A forwarded "/restart all" is someone else's words shown to the
		// chat, not a command from the person who forwarded it.
		return nil
	}
	req := commands.Request{
		Platform:  Platform,
		UserID:    strconv.FormatInt(m.Sender.ID, 10),
		UserName:  m.Sender.Username,
		ChatID:    strconv.FormatInt(m.Chat.ID, 10),
		Private:   m.Chat.Type == tele.ChatPrivate,
		Text:      m.Text,
		MessageID: strconv.Itoa(m.ID),
	}
	if m.ReplyTo != nil {
		req.ReplyTo = m.ReplyTo.Text
	}
	b.dispatch(task{req: req, out: &responder{b: b, chat: m.Chat, private: req.Private, msg: m}})
	return nil
}

func (b *Bot) onCallback(c tele.Context) error {
	cb := c.Callback()
	if cb == nil || cb.Sender == nil {
		return nil
	}
	chat := &tele.Chat{ID: cb.Sender.ID, Type: tele.ChatPrivate}
	if cb.Message != nil && cb.Message.Chat != nil {
		chat = cb.Message.Chat
	}
	req := commands.Request{
		Platform: Platform,
		UserID:   strconv.FormatInt(cb.Sender.ID, 10),
		UserName: cb.Sender.Username,
		ChatID:   strconv.FormatInt(chat.ID, 10),
		Private:  chat.Type == tele.ChatPrivate,
		Callback: strings.TrimPrefix(cb.Data, "\f"),
	}
	// The command layer removes the question's buttons (RemoveButtons) once
	// it knows the presser may answer it.
	r := &responder{b: b, chat: chat, private: req.Private, pressed: cb.Message}
	b.dispatch(task{req: req, out: r, before: func() {
		// Always answer the callback, or the button spins on the user's phone.
		if err := c.Respond(); err != nil {
			b.log.Warn("answerCallbackQuery", "err", redactToken(err.Error(), b.o.Token))
		}
	}})
	return nil
}

// forwarded tells a forwarded message by any of the fields the Bot API has
// used for it (forward_origin since 7.0, forward_from* before).
func forwarded(m *tele.Message) bool {
	return m.Origin != nil || m.IsForwarded() || m.OriginalSenderName != "" || m.OriginalUnixtime != 0
}

// responder sends replies to one chat.
type responder struct {
	b       *Bot
	chat    *tele.Chat
	private bool
	msg     *tele.Message // the request, for deletion
	pressed *tele.Message // the message whose button was pressed
	prio    Priority      // High for operators and admins
	// noWait queues replies without waiting for them to go out: a
	// stranger's refusal must not hold a worker for the time a flood of
	// them takes to drain.
	noWait bool
}

// RemoveButtons takes the buttons off the message whose button was pressed:
// they are spent, nobody presses twice.
func (r *responder) RemoveButtons(context.Context) error {
	if r.pressed == nil || r.pressed.ID == 0 {
		return nil
	}
	if _, err := r.b.tb.EditReplyMarkup(r.pressed, nil); err != nil {
		return fmt.Errorf("telegram: %w", r.b.apiError(err))
	}
	return nil
}

// DeleteRequest deletes the request message (it held a login code). In a
// group Telegram refuses unless the bot is an admin with "Delete
// messages": the error says so, and the command layer tells the user.
func (r *responder) DeleteRequest(context.Context) error {
	if r.msg == nil {
		return errors.New("no message to delete")
	}
	if err := r.b.tb.Delete(r.msg); err != nil {
		err = r.b.apiError(err)
		r.b.log.Warn("deleting the message with a secret", "chat", r.chat.ID, "err", err)
		return err
	}
	return nil
}

func (r *responder) Reply(ctx context.Context, rep commands.Reply) error {
	if rep.Secret && !r.private {
		// Never: login links and code prompts go to private chats only.
		return errors.New("telegram: refusing to send a secret to a group chat")
	}
	if rep.DeleteRequest && r.msg != nil {
		if err := r.b.tb.Delete(r.msg); err != nil {
			r.b.log.Warn("deleting the message with a secret", "err", redactToken(err.Error(), r.b.o.Token))
		}
	}
	if rep.Text == "" && rep.Pre == "" {
		return nil
	}
	group := r.chat.Type != tele.ChatPrivate
	if r.noWait {
		_, err := r.b.out.enqueue(ctx, r.chat.ID, group, r.prio, Format(rep), markup(rep.Buttons, rep.Stacked))
		return err
	}
	return r.b.out.send(ctx, r.chat.ID, group, r.prio, Format(rep), markup(rep.Buttons, rep.Stacked))
}

func markup(bs []commands.Button, stacked bool) *tele.ReplyMarkup {
	if len(bs) == 0 {
		return nil
	}
	var rows [][]tele.InlineButton
	var row []tele.InlineButton
	for _, b := range bs {
		if b.URL != "" {
			row = append(row, tele.InlineButton{Text: b.Text, URL: b.URL})
		} else {
			row = append(row, tele.InlineButton{Text: b.Text, Data: b.Data})
		}
		// A dialog's options one per row; agents' names three to a row.
		if stacked || len(row) == rowButtons {
			rows = append(rows, row)
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	return &tele.ReplyMarkup{InlineKeyboard: rows}
}

// rowButtons is how many buttons a row holds before the next starts: more
// get too narrow for their labels on a phone.
const rowButtons = 3

// Notify sends a text to every alert chat. It fails if any chat did not
// get it.
func (b *Bot) Notify(ctx context.Context, text string) error { return b.NotifyOnce(ctx, "", text) }

// NotifyOnce is Notify for a notification with an ID (an alert): it fails
// if any chat did not get it, so the alert manager can fall back and retry,
// and a retry with the same id goes only to the chats that missed it.
func (b *Bot) NotifyOnce(ctx context.Context, id, text string) error {
	return b.NotifyWithButtons(ctx, id, text, nil)
}

// NotifyWithButtons is NotifyOnce with buttons under the text, one per row
// (a dialog's options on a needs_input alert).
func (b *Bot) NotifyWithButtons(ctx context.Context, id, text string, buttons []commands.Button) error {
	if len(b.o.AlertChats) == 0 {
		return errors.New("telegram: no alert_chats configured")
	}
	var errs []error
	for _, chatID := range b.o.AlertChats {
		chat := strconv.FormatInt(chatID, 10)
		if id != "" && b.notified.Reached(id, chat) {
			continue
		}
		if err := b.out.send(ctx, chatID, chatID < 0, High, Format(commands.Reply{Text: text}), markup(buttons, true)); err != nil {
			errs = append(errs, fmt.Errorf("chat %d: %w", chatID, err))
			continue
		}
		if id != "" {
			b.notified.Mark(id, chat)
		}
	}
	return errors.Join(errs...)
}

// apiCode is the Bot API error code of err, or 0 for a transport error.
// telebot returns *Error for known descriptions and a plain
// "telegram: <description> (<code>)" error for the rest.
func apiCode(err error) int {
	var te *tele.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var fe tele.FloodError
	if errors.As(err, &fe) {
		return http.StatusTooManyRequests
	}
	if m := trailingCode.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var trailingCode = regexp.MustCompile(`\((\d{3})\)$`)

// apiError turns telebot's errors into messages that say what to do.
func (b *Bot) apiError(err error) error {
	msg := redactToken(err.Error(), b.o.Token)
	switch apiCode(err) {
	case http.StatusUnauthorized:
		return &apiErr{code: 401, msg: "the bot token was rejected (401 Unauthorized): check telegram.token"}
	case http.StatusNotFound:
		return &apiErr{code: 404, msg: fmt.Sprintf("no Bot API method here (404): check telegram.api_url %s", b.o.APIURL)}
	case http.StatusConflict:
		if strings.Contains(strings.ToLower(msg), "webhook") {
			return &apiErr{code: 409, msg: webhookSet}
		}
		return &apiErr{code: 409, msg: "another instance is polling this bot token (409 Conflict): stop it or use another bot"}
	case 0:
		return &apiErr{msg: msg}
	default:
		return &apiErr{code: apiCode(err), msg: msg}
	}
}

// apiErr is a Bot API failure with its code (0 when the API was not reached).
type apiErr struct {
	code int
	msg  string
}

func (e *apiErr) Error() string { return e.msg }

// Probe calls getMe once: `fleetwarden check` uses it to say whether the token
// and API URL work.
func Probe(ctx context.Context, client *http.Client, apiURL, token string) (string, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	b, err := New(Options{Token: token, APIURL: apiURL, HTTPClient: client, Handler: nopHandler{}})
	if err != nil {
		return "", err
	}
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		data, err := b.tb.Raw("getMe", map[string]string{})
		if err != nil {
			ch <- result{err: b.apiError(err)}
			return
		}
		var me struct {
			Result tele.User `json:"result"`
		}
		if err := jsonUnmarshal(data, &me); err != nil {
			ch <- result{err: err}
			return
		}
		// A webhook on the bot makes Telegram refuse polling with 409;
		// getWebhookInfo shows it without disturbing a running poller
		// (a getUpdates would cut that poller's request short).
		data, err = b.tb.Raw("getWebhookInfo", map[string]string{})
		if err != nil {
			ch <- result{err: b.apiError(err)}
			return
		}
		var wh struct {
			Result struct {
				URL string `json:"url"`
			} `json:"result"`
		}
		if err := jsonUnmarshal(data, &wh); err != nil {
			ch <- result{err: err}
			return
		}
		if wh.Result.URL != "" {
			ch <- result{err: &apiErr{code: 409, msg: webhookSet}}
			return
		}
		ch <- result{name: "@" + me.Result.Username}
	}()
	select {
	case r := <-ch:
		return r.name, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("telegram getMe: %w", ctx.Err())
	}
}

const webhookSet = "a webhook is set on this bot, so Telegram refuses polling (409 Conflict): " +
	"fleetwarden polls; remove the webhook (deleteWebhook) or use another bot"

type nopHandler struct{}

func (nopHandler) Handle(context.Context, commands.Request, commands.Responder) {}

func redactToken(s, token string) string {
	return redact.Secrets(s, token)
}

// Package discord is the Discord transport on github.com/bwmarrin/discordgo:
// slash commands registered in one bulk overwrite, one InteractionCreate
// handler that acknowledges every interaction at once (deferred) and then
// delivers the replies as an edit of the original response and followups
// split at 2000 characters, buttons as message components, alerts posted to
// channels, and health from the gateway's connect and disconnect events.
//
// discordgo reconnects and resumes the gateway by itself
// (ShouldReconnectOnError); the bot only reports it.
package discord

import (
	"context"
	"errors"
	"fmt"
	"github.com/fleetwarden/fleetwarden/internal/backoff"
	"github.com/fleetwarden/fleetwarden/internal/notified"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/fleetwarden/fleetwarden/commands"
)

// Platform is the name requests from Discord carry.
const Platform = "discord"

// DefaultAPIURL is Discord's REST base, the one discordgo is built for.
const DefaultAPIURL = "https://discord.com/api/v9"

// MaxCommands is Discord's limit of chat commands per scope.
const MaxCommands = 100

// Handler answers requests.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Responder)
}

// Options configure a Bot.
type Options struct {
	Token   string // bot token, without "Bot "
	APIURL  string // REST base; default DefaultAPIURL (tests, proxies)
	GuildID string // register the commands in this guild (they appear at once); "" = globally
	AppID   string // application ID; learned from READY when empty

	AlertChannels []string // channel IDs Notify posts to
	Handler       Handler
	// Commands are registered as slash commands; read when Run starts (the
	// daemon builds its transports before it registers the commands).
	Commands   func() []commands.Command
	Log        *slog.Logger
	HTTPClient *http.Client // default: a client with a 20 s timeout

	// OnHealth is called, in order and never concurrently, when the
	// transport's health changes.
	OnHealth func(Health)

	// BackoffMin and BackoffMax bound the waits between attempts to open
	// the gateway and to register the commands; default 1 s and 2 min.
	BackoffMin, BackoffMax time.Duration
}

// Health is the state of the transport.
type Health struct {
	State     string // "starting", "up", "degraded", "down"
	LastError string
	Since     time.Time
}

// Bot is a Discord transport.
type Bot struct {
	o    Options
	log  *slog.Logger
	dg   *discordgo.Session
	cmds []*discordgo.ApplicationCommand
	// dmCmds are the private commands (/login, /code): with guild_id set they
	// are also registered globally, the only kind Discord offers in DMs.
	dmCmds []*discordgo.ApplicationCommand
	apiURL *url.URL

	notified notified.Memory // alert channels each notification reached, by its ID

	mu       sync.Mutex
	health   Health
	ctx      context.Context
	running  bool
	closing  bool
	inflight sync.WaitGroup // interaction handlers and command registration
	others   chan struct{}  // a slot per running handler of a stranger's or viewer's interaction
	healthQ  []Health       // changes not yet given to OnHealth
	wake     chan struct{}
}

var (
	commandName = regexp.MustCompile(`^[-_a-z0-9]{1,32}$`)
	snowflake   = regexp.MustCompile(`^[0-9]{1,20}$`)
)

// New validates the options and prepares the bot; nothing is sent until
// Run or Notify.
func New(o Options) (*Bot, error) {
	o.Token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(o.Token), "Bot "))
	if o.Token == "" {
		return nil, errors.New("discord: no bot token")
	}
	if o.Handler == nil {
		return nil, errors.New("discord: no command handler")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	api, err := parseAPIURL(o.APIURL)
	if err != nil {
		return nil, err
	}
	if o.GuildID != "" && !snowflake.MatchString(o.GuildID) {
		return nil, fmt.Errorf("discord: guild_id %q is not a Discord ID (digits only)", o.GuildID)
	}
	if o.AppID != "" && !snowflake.MatchString(o.AppID) {
		return nil, fmt.Errorf("discord: app_id %q is not a Discord ID (digits only)", o.AppID)
	}
	for _, ch := range o.AlertChannels {
		if !snowflake.MatchString(ch) {
			return nil, fmt.Errorf("discord: alert channel %q is not a channel ID (digits only; enable Developer Mode and use Copy Channel ID)", ch)
		}
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 2 * time.Minute
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	dg, err := discordgo.New("Bot " + o.Token)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	b := &Bot{o: o, log: o.Log.With("transport", Platform), dg: dg, apiURL: api,
		health: Health{State: "starting", Since: time.Now()}, wake: make(chan struct{}, 1),
		others: make(chan struct{}, maxOthers)}
	dg.Client = clientFor(o.HTTPClient, api)
	dg.Dialer = gatewayDialer(b.isClosing)
	dg.Identify.Intents = discordgo.IntentsNone // interactions arrive without any intent
	dg.StateEnabled = false
	// discordgo logs through the standard logger; we report through Health
	// and our own logger instead.
	dg.LogLevel = -1
	// Handlers run in the goroutine that emitted the event, so Disconnect
	// and the following Connect are seen in order. Interactions get their
	// own goroutine in onInteraction.
	dg.SyncEvents = true
	dg.AddHandler(func(_ *discordgo.Session, _ *discordgo.Connect) { b.onConnect() })
	dg.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) { b.setHealth("up", nil) })
	dg.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) { b.onDisconnect() })
	dg.AddHandler(func(_ *discordgo.Session, rl *discordgo.RateLimit) { b.onRateLimit(rl) })
	dg.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) { b.onInteraction(ic) })
	return b, nil
}

// loadCommands reads the command list and turns it into slash commands,
// refusing a list Discord would refuse.
func (b *Bot) loadCommands() error {
	var list []commands.Command
	if b.o.Commands != nil {
		list = b.o.Commands()
	}
	// Hidden commands (/start, Telegram's greeting) are no slash commands.
	list = slices.DeleteFunc(slices.Clone(list), func(c commands.Command) bool { return c.Hidden })
	cmds, err := appCommands(list)
	if err != nil {
		return err
	}
	var dm []*discordgo.ApplicationCommand
	for i, c := range list {
		if c.Private {
			dm = append(dm, cmds[i])
		}
	}
	b.cmds, b.dmCmds = cmds, dm
	return nil
}

// appCommands turns the command list into slash commands: the description
// is the help line, and a command with a usage takes its arguments as one
// optional string option "args".
func appCommands(in []commands.Command) ([]*discordgo.ApplicationCommand, error) {
	if len(in) > MaxCommands {
		return nil, fmt.Errorf("discord: %d commands, but Discord allows at most %d", len(in), MaxCommands)
	}
	seen := map[string]bool{}
	out := make([]*discordgo.ApplicationCommand, 0, len(in))
	for _, c := range in {
		if !commandName.MatchString(c.Name) {
			return nil, fmt.Errorf("discord: command %q is not a valid slash command name ([-_a-z0-9], 1-32)", c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("discord: command %q listed twice", c.Name)
		}
		seen[c.Name] = true
		ac := &discordgo.ApplicationCommand{Name: c.Name, Type: discordgo.ChatApplicationCommand, Description: description(c.Help, "/"+c.Name)}
		if len(c.Params) > 0 {
			opts, err := typedOptions(c)
			if err != nil {
				return nil, err
			}
			ac.Options = opts
		} else if c.Usage != "" {
			ac.Options = []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: argsOption,
				Description: description(c.Usage, "arguments"),
			}}
		}
		out = append(out, ac)
	}
	return out, nil
}

// typedOptions are a command's parameters as slash-command options: an
// agent is a string completed from the fleet, a number an integer with its
// range, a duration a string with the usual choices.
func typedOptions(c commands.Command) ([]*discordgo.ApplicationCommandOption, error) {
	var out []*discordgo.ApplicationCommandOption
	for _, p := range c.Params {
		if !commandName.MatchString(p.Name) {
			return nil, fmt.Errorf("discord: /%s: option %q is not a valid option name ([-_a-z0-9], 1-32)", c.Name, p.Name)
		}
		o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: p.Name,
			Description: description(p.Help, p.Name), Required: p.Required}
		switch {
		case p.Kind == commands.ParamInt:
			o.Type = discordgo.ApplicationCommandOptionInteger
			if p.Max > p.Min {
				lo := float64(p.Min)
				o.MinValue, o.MaxValue = &lo, float64(p.Max)
			}
		case p.Kind == commands.ParamAgent || p.Suggest != nil:
			o.Autocomplete = true
		case len(p.Choices) > 0:
			if len(p.Choices) > 25 {
				return nil, fmt.Errorf("discord: /%s: option %q has %d choices, Discord allows 25", c.Name, p.Name, len(p.Choices))
			}
			for _, ch := range p.Choices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: ch, Value: ch})
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// argsOption is the one option of a command that takes arguments.
const argsOption = "args"

// description fits s into Discord's 1-100 characters.
func description(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = fallback
	}
	return truncate(s, 100)
}

// Name is the route name alerts report.
func (b *Bot) Name() string { return Platform }

// Run connects to the gateway (retrying with backoff while it is
// unreachable), registers the commands and serves until ctx is done.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.loadCommands(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("discord: Run called twice")
	}
	b.running, b.ctx = true, ctx
	b.mu.Unlock()
	stop := b.deliverHealth()
	defer stop()

	if b.open(ctx) {
		b.track(func() { b.register(ctx) })
		<-ctx.Done()
	}
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	err := b.dg.Close()
	b.inflight.Wait()
	if err != nil {
		return fmt.Errorf("discord: closing the gateway: %w", b.describe(err))
	}
	return nil
}

// open opens the gateway session, retrying until it works or ctx ends.
func (b *Bot) open(ctx context.Context) bool {
	bo := backoff.New(b.o.BackoffMin, b.o.BackoffMax)
	for ctx.Err() == nil {
		err := b.dg.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			return true
		}
		err = b.describe(err)
		b.setHealth("down", err)
		b.log.Warn("connecting to the gateway", "err", err, "retry_in", bo.Next())
		if !bo.Wait(ctx) {
			return false
		}
	}
	return false
}

// register overwrites the slash commands, retrying with backoff.
func (b *Bot) register(ctx context.Context) {
	bo := backoff.New(b.o.BackoffMin, b.o.BackoffMax)
	for {
		err := b.registerOnce(ctx)
		if err == nil {
			b.log.Info("slash commands registered", "count", len(b.cmds), "guild", b.o.GuildID)
			return
		}
		if ctx.Err() != nil {
			return
		}
		b.setHealthOnSend(err)
		b.log.Warn("registering slash commands", "err", err, "retry_in", bo.Next())
		if !bo.Wait(ctx) {
			return
		}
	}
}

func (b *Bot) registerOnce(ctx context.Context) error {
	app := b.appID()
	if app == "" {
		return errors.New("discord: READY named no application; set discord.app_id")
	}
	cmds := b.cmds
	if b.o.GuildID == "" {
		cmds = globalCommands(b.cmds, discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM)
	}
	_, err := b.dg.ApplicationCommandBulkOverwrite(app, b.o.GuildID, cmds, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("discord: registering %d slash commands: %w", len(b.cmds), b.describe(err))
	}
	if b.o.GuildID != "" && len(b.dmCmds) > 0 {
		dm := globalCommands(b.dmCmds, discordgo.InteractionContextBotDM)
		if _, err := b.dg.ApplicationCommandBulkOverwrite(app, "", dm, discordgo.WithContext(ctx)); err != nil {
			return fmt.Errorf("discord: registering %d DM commands: %w", len(b.dmCmds), b.describe(err))
		}
	}
	return nil
}

// globalCommands copies cmds for global registration, usable only in the
// given contexts and only where the bot is installed in a server: never in
// group DMs or other people's DMs (a user-installed app's contexts), where
// everyone present would see the replies and could press the buttons.
func globalCommands(cmds []*discordgo.ApplicationCommand, contexts ...discordgo.InteractionContextType) []*discordgo.ApplicationCommand {
	out := make([]*discordgo.ApplicationCommand, len(cmds))
	for i, c := range cmds {
		cc := *c
		ctxs := append([]discordgo.InteractionContextType(nil), contexts...)
		types := []discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
		cc.Contexts, cc.IntegrationTypes = &ctxs, &types
		out[i] = &cc
	}
	return out
}

// appID is the configured application ID or the one READY announced.
func (b *Bot) appID() string {
	if b.o.AppID != "" {
		return b.o.AppID
	}
	st := b.dg.State
	st.RLock()
	defer st.RUnlock()
	if st.Application != nil && st.Application.ID != "" {
		return st.Application.ID
	}
	if st.User != nil {
		return st.User.ID // a bot user's ID is its application's
	}
	return ""
}

// track runs f in a goroutine Run waits for, unless Run is closing.
func (b *Bot) track(f func()) bool {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return false
	}
	b.inflight.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.inflight.Done()
		f()
	}()
	return true
}

func (b *Bot) isClosing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closing
}

func (b *Bot) runCtx() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// ---- health ----

// Health reports the transport's state.
func (b *Bot) Health() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health
}

func (b *Bot) onConnect() {
	if b.isClosing() {
		// A reconnect that raced with Run's Close: close it again. Not
		// here: discordgo emits Connect holding the session's lock.
		go b.dg.Close()
		return
	}
	b.setHealth("up", nil)
}

func (b *Bot) onDisconnect() {
	if b.isClosing() {
		return
	}
	b.setHealth("down", errors.New("lost the gateway connection; reconnecting"))
}

func (b *Bot) onRateLimit(rl *discordgo.RateLimit) {
	wait := time.Duration(0)
	if rl.TooManyRequests != nil {
		wait = rl.RetryAfter
	}
	b.degrade(fmt.Errorf("rate limited on %s; retrying after %s", redact(rl.URL, b.o.Token), wait))
}

// setHealthOnSend marks sending trouble as degraded; the gateway decides
// up and down.
func (b *Bot) setHealthOnSend(err error) {
	if err != nil {
		b.degrade(err)
	}
}

func (b *Bot) degrade(err error) {
	b.mu.Lock()
	up := b.health.State == "up"
	b.mu.Unlock()
	if up {
		b.setHealth("degraded", err)
	}
}

// sent records a delivered message: a degraded transport is up again.
func (b *Bot) sent() {
	b.mu.Lock()
	degraded := b.health.State == "degraded"
	b.mu.Unlock()
	if degraded {
		b.setHealth("up", nil)
	}
}

func (b *Bot) setHealth(state string, err error) {
	b.mu.Lock()
	changed := b.health.State != state
	if changed {
		b.health.State = state
		b.health.Since = time.Now()
	}
	if err != nil {
		b.health.LastError = redact(err.Error(), b.o.Token)
	}
	h := b.health
	if changed && b.o.OnHealth != nil {
		b.healthQ = append(b.healthQ, h)
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	if changed {
		b.log.Info("health", "state", state, "err", h.LastError)
	}
}

// deliverHealth hands health changes to OnHealth from one goroutine, so a
// slow callback never holds up discordgo's gateway goroutine. The returned
// func delivers what is left and stops.
func (b *Bot) deliverHealth() (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	flush := func() {
		b.mu.Lock()
		q := b.healthQ
		b.healthQ = nil
		b.mu.Unlock()
		for _, h := range q {
			b.o.OnHealth(h)
		}
	}
	go func() {
		defer close(stopped)
		for {
			select {
			case <-b.wake:
				flush()
			case <-done:
				flush()
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// ---- alerts ----

// Notify posts a text to every alert channel. It fails if any channel did
// not get all of it.
func (b *Bot) Notify(ctx context.Context, text string) error { return b.NotifyOnce(ctx, "", text) }

// NotifyOnce is Notify for a notification with an ID (an alert): it fails
// if any channel did not get all of it, so the alert manager can fall back
// and retry, and a retry with the same id goes only to the channels that
// missed it.
func (b *Bot) NotifyOnce(ctx context.Context, id, text string) error {
	return b.NotifyWithButtons(ctx, id, text, nil)
}

// NotifyWithButtons is NotifyOnce with buttons under the last part of the
// text (a dialog's options on a needs_input alert).
func (b *Bot) NotifyWithButtons(ctx context.Context, id, text string, buttons []commands.Button) error {
	comps, err := components(buttons)
	if err != nil {
		return err
	}
	if len(b.o.AlertChannels) == 0 {
		return errors.New("discord: no alert_channels configured")
	}
	chunks := Format(commands.Reply{Text: text})
	if len(chunks) == 0 {
		return errors.New("discord: empty alert")
	}
	var errs []error
	for _, ch := range b.o.AlertChannels {
		if id != "" && b.notified.Reached(id, ch) {
			continue // a retry: this channel has it
		}
		ok := true
		for i, c := range chunks {
			ms := &discordgo.MessageSend{Content: c, AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsSuppressEmbeds}
			if i == len(chunks)-1 {
				ms.Components = comps
			}
			_, err := b.dg.ChannelMessageSendComplex(ch, ms, discordgo.WithContext(ctx))
			if err != nil {
				err = b.describe(err)
				b.setHealthOnSend(err)
				errs = append(errs, fmt.Errorf("channel %s: %w", ch, err))
				ok = false
				break
			}
		}
		if ok && id != "" {
			b.notified.Mark(id, ch)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("discord: %w", errors.Join(errs...))
	}
	b.sent()
	return nil
}

// noMentions keeps alerts and pane text from pinging anyone (@everyone in
// a pane must stay text).
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// ---- probe ----

// Probe calls GET /users/@me once, through discordgo as the bot does:
// `fleetwarden check` uses it to say whether the token and API URL work. It
// returns "@name" of the bot.
func Probe(ctx context.Context, client *http.Client, apiURL, token string) (string, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	api, err := parseAPIURL(apiURL)
	if err != nil {
		return "", err
	}
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bot "))
	if token == "" {
		return "", errors.New("discord: no bot token")
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	// The same discordgo session the bot uses, pointed at the same API, so
	// the probe sees what the bot will see.
	dg, err := discordgo.New("Bot " + token)
	if err != nil {
		return "", fmt.Errorf("discord: %w", err)
	}
	dg.Client = clientFor(client, api)
	dg.UserAgent = "fleetwarden (https://github.com/fleetwarden/fleetwarden)"
	dg.MaxRestRetries = 0 // one call: check says what it saw
	dg.LogLevel = -1
	me, err := dg.User("@me", discordgo.WithContext(ctx))
	var re *discordgo.RESTError
	var ue *url.Error
	switch {
	case errors.As(err, &re) && re.Response != nil:
		switch re.Response.StatusCode {
		case http.StatusUnauthorized:
			return "", errors.New("discord: the bot token was rejected (401 Unauthorized): check discord.token")
		case http.StatusNotFound:
			return "", fmt.Errorf("discord: no Discord API at %s (404): check discord.api_url", api.Redacted())
		}
		return "", fmt.Errorf("discord: GET /users/@me answered %s: %s", re.Response.Status, redact(truncate(string(re.ResponseBody), 200), token))
	case errors.As(err, &ue):
		return "", fmt.Errorf("discord: cannot reach %s: %s", api.Redacted(), redact(ue.Err.Error(), token))
	case err != nil && !errors.Is(err, discordgo.ErrJSONUnmarshal):
		return "", fmt.Errorf("discord: GET /users/@me: %s", redact(err.Error(), token))
	case err != nil || me == nil || me.Username == "":
		return "", errors.New("discord: GET /users/@me: not a Discord user object")
	}
	return "@" + me.Username, nil
}

package discord

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/fleetwarden/fleetwarden/commands"
)

// noReply replaces the "thinking…" of a deferred response when the handler
// sent nothing (a stranger in a guild channel gets no answer from the
// command layer; only they see this, the response is ephemeral there).
const noReply = "(no reply)"

// Discord's limits for components.
const (
	maxCustomID    = 100
	maxButtonLabel = 80
	maxRowButtons  = 5
	maxRows        = 5
)

// errSecretInGuild is the transport's own guard: login links and codes go
// to DMs only, whatever the command layer decided.
var errSecretInGuild = errors.New("discord: refusing to send a secret (login link or code) to a guild channel; ask in a DM with the bot")

// Roler tells the role of a requester; commands.Handler is one. With it,
// strangers and viewers share a bounded number of handlers, so a flood of
// their interactions cannot grow without bound or crowd out operators.
type Roler interface {
	RoleOf(commands.Request) commands.Role
}

// maxOthers bounds the interactions of strangers and viewers handled at
// once; more are dropped (Discord tells the user the interaction failed).
const maxOthers = 16

// onInteraction runs in discordgo's gateway goroutine (SyncEvents): hand
// the interaction to a goroutine of its own at once.
func (b *Bot) onInteraction(ic *discordgo.InteractionCreate) {
	if ic == nil || ic.Interaction == nil {
		return
	}
	in := ic.Interaction
	if !b.operator(in) {
		select {
		case b.others <- struct{}{}:
		default:
			b.log.Warn("too many interactions from strangers or viewers at once; dropping one", "limit", maxOthers)
			return
		}
		if !b.track(func() {
			defer func() { <-b.others }()
			b.handleInteraction(b.runCtx(), in)
		}) {
			<-b.others
		}
		return
	}
	b.track(func() { b.handleInteraction(b.runCtx(), in) })
}

// operator is true when the interaction comes from an operator or admin.
func (b *Bot) operator(in *discordgo.Interaction) bool {
	ro, ok := b.o.Handler.(Roler)
	if !ok {
		return true // no roles known: nothing to tell apart
	}
	user := in.User
	if in.Member != nil && in.Member.User != nil {
		user = in.Member.User
	}
	if user == nil {
		return false
	}
	return ro.RoleOf(commands.Request{Platform: Platform, UserID: user.ID}) >= commands.RoleOperator
}

// handleInteraction acknowledges the interaction first (Discord allows 3 s
// for that), then lets the handler reply through edits and followups,
// which work for 15 minutes.
func (b *Bot) handleInteraction(ctx context.Context, in *discordgo.Interaction) {
	user := in.User
	if in.Member != nil && in.Member.User != nil {
		user = in.Member.User
	}
	if user == nil {
		return
	}
	private := isPrivate(in)
	req := commands.Request{
		Platform: Platform,
		UserID:   user.ID,
		UserName: user.Username,
		ChatID:   in.ChannelID,
		Private:  private,
	}
	r := &responder{b: b, in: in, private: private}
	switch in.Type {
	case discordgo.InteractionApplicationCommand:
		data := in.ApplicationCommandData()
		req.Text = commandText(data)
		// In guild channels every reply is ephemeral: only the person who
		// asked sees fleet details and confirmation buttons.
		var flags discordgo.MessageFlags
		if !private {
			flags = discordgo.MessageFlagsEphemeral
		}
		if !b.ack(ctx, in, discordgo.InteractionResponseDeferredChannelMessageWithSource, flags, "/"+data.Name) {
			return
		}
		b.o.Handler.Handle(ctx, req, r)
		r.finish(ctx)
	case discordgo.InteractionApplicationCommandAutocomplete:
		b.autocomplete(ctx, in, req)
	case discordgo.InteractionMessageComponent:
		data := in.MessageComponentData()
		req.Callback = data.CustomID
		r.component = true
		if !b.ack(ctx, in, discordgo.InteractionResponseDeferredMessageUpdate, 0, "button") {
			return
		}
		// The command layer removes the question's buttons (RemoveButtons)
		// once it knows the presser may answer it.
		b.o.Handler.Handle(ctx, req, r)
	}
}

// isPrivate is true only in the bot's own DM with the user: a group DM or
// another user's DM (where a user-installed app can be called) shows the
// replies to everyone there.
func isPrivate(in *discordgo.Interaction) bool {
	return in.GuildID == "" && in.Context == discordgo.InteractionContextBotDM
}

// RemoveButtons takes the buttons off the message whose button was pressed:
// they are spent, nobody presses twice.
func (r *responder) RemoveButtons(ctx context.Context) error {
	if !r.component || r.in.Message == nil || len(r.in.Message.Components) == 0 {
		return nil
	}
	none := []discordgo.MessageComponent{}
	if _, err := r.b.dg.InteractionResponseEdit(r.in, &discordgo.WebhookEdit{Components: &none}, discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discord: %w", r.b.describe(err))
	}
	return nil
}

// ack sends the initial (deferred) response.
func (b *Bot) ack(ctx context.Context, in *discordgo.Interaction, typ discordgo.InteractionResponseType, flags discordgo.MessageFlags, what string) bool {
	resp := &discordgo.InteractionResponse{Type: typ}
	if flags != 0 {
		resp.Data = &discordgo.InteractionResponseData{Flags: flags}
	}
	if err := b.dg.InteractionRespond(in, resp, discordgo.WithContext(ctx)); err != nil {
		err = b.describe(err)
		b.setHealthOnSend(err)
		b.log.Warn("acknowledging an interaction", "what", what, "err", err)
		return false
	}
	return true
}

// commandText rebuilds "/name args" for the command layer: the free-text
// "args", or the typed options in the order the command declared them
// (Discord sends them in that order).
func commandText(d discordgo.ApplicationCommandInteractionData) string {
	text := "/" + d.Name
	for _, o := range d.Options {
		var v string
		switch o.Type {
		case discordgo.ApplicationCommandOptionString:
			v = strings.TrimSpace(o.StringValue())
		case discordgo.ApplicationCommandOptionInteger:
			v = strconv.FormatInt(o.IntValue(), 10)
		default:
			continue
		}
		if v != "" {
			text += " " + v
		}
	}
	return text
}

// Completer suggests values for an option while the user types it.
// commands.Handler is one; it suggests only to users who may run the
// command.
type Completer interface {
	Complete(ctx context.Context, req commands.Request, command, option, partial string, given map[string]string) []commands.Suggestion
}

// autocomplete answers an autocomplete interaction with suggestions for the
// option being typed (Discord shows at most 25).
func (b *Bot) autocomplete(ctx context.Context, in *discordgo.Interaction, req commands.Request) {
	data := in.ApplicationCommandData()
	var focused *discordgo.ApplicationCommandInteractionDataOption
	given := map[string]string{}
	for _, o := range data.Options {
		switch {
		case o.Focused:
			focused = o
		case o.Type == discordgo.ApplicationCommandOptionString:
			given[o.Name] = o.StringValue()
		case o.Type == discordgo.ApplicationCommandOptionInteger:
			given[o.Name] = strconv.FormatInt(o.IntValue(), 10)
		}
	}
	choices := []*discordgo.ApplicationCommandOptionChoice{}
	if c, ok := b.o.Handler.(Completer); ok && focused != nil {
		partial := ""
		if s, ok := focused.Value.(string); ok {
			partial = s
		}
		for _, v := range c.Complete(ctx, req, data.Name, focused.Name, partial, given) {
			if len(choices) == 25 {
				break
			}
			choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: truncate(v.Name, 100), Value: truncate(v.Value, 100)})
		}
	}
	// Sent as our own body: discordgo leaves an empty choices list out
	// (omitempty), and Discord requires the field, empty or not.
	endpoint := discordgo.EndpointInteractionResponse(in.ID, in.Token)
	body := map[string]any{"type": discordgo.InteractionApplicationCommandAutocompleteResult, "data": map[string]any{"choices": choices}}
	_, err := b.dg.RequestWithBucketID("POST", endpoint, body, endpoint, discordgo.WithContext(ctx))
	if err != nil {
		err = b.describe(err)
		b.setHealthOnSend(err)
		b.log.Warn("answering an autocomplete", "command", data.Name, "err", err)
	}
}

// responder sends the replies to one interaction: the first one of a
// slash command replaces the deferred response, the rest are followups.
type responder struct {
	b         *Bot
	in        *discordgo.Interaction
	private   bool
	component bool

	mu   sync.Mutex
	sent int
}

func (r *responder) Reply(ctx context.Context, rep commands.Reply) error {
	if rep.Secret && !r.private {
		return errSecretInGuild
	}
	// DeleteRequest has nothing to do here: a slash command's input is not
	// a channel message but part of the interaction, shown only with our
	// response (ephemeral in guilds), so no code stays in the channel.
	if rep.Text == "" && rep.Pre == "" {
		return nil
	}
	comps, err := components(rep.Buttons)
	if err != nil {
		return err
	}
	chunks := Format(rep)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range chunks {
		var cs []discordgo.MessageComponent
		if i == len(chunks)-1 {
			cs = comps // the buttons go under the last part
		}
		if err := r.send(ctx, c, cs); err != nil {
			return err
		}
	}
	return nil
}

func (r *responder) send(ctx context.Context, content string, comps []discordgo.MessageComponent) error {
	var err error
	if !r.component && r.sent == 0 {
		e := &discordgo.WebhookEdit{Content: &content, AllowedMentions: noMentions()}
		if comps != nil {
			e.Components = &comps
		}
		_, err = r.b.dg.InteractionResponseEdit(r.in, e, discordgo.WithContext(ctx))
	} else {
		p := &discordgo.WebhookParams{Content: content, Components: comps, AllowedMentions: noMentions(),
			Flags: discordgo.MessageFlagsSuppressEmbeds}
		if !r.private {
			p.Flags |= discordgo.MessageFlagsEphemeral
		}
		_, err = r.b.dg.FollowupMessageCreate(r.in, true, p, discordgo.WithContext(ctx))
	}
	if err != nil {
		err = r.b.describe(err)
		r.b.setHealthOnSend(err)
		return fmt.Errorf("discord: %w", err)
	}
	r.sent++
	r.b.sent()
	return nil
}

// finish replaces a deferred response nobody answered, or Discord shows
// "thinking…" until it gives up.
func (r *responder) finish(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sent > 0 || ctx.Err() != nil {
		return
	}
	if err := r.send(ctx, noReply, nil); err != nil {
		r.b.log.Warn("closing an unanswered interaction", "err", err)
	}
}

// components lays buttons out in action rows of five: links for URL
// buttons, custom_id = Data for the others.
func components(bs []commands.Button) ([]discordgo.MessageComponent, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	if len(bs) > maxRows*maxRowButtons {
		return nil, fmt.Errorf("discord: %d buttons, but a message holds at most %d", len(bs), maxRows*maxRowButtons)
	}
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	ids := map[string]bool{}
	for i, bt := range bs {
		label := truncate(strings.TrimSpace(bt.Text), maxButtonLabel)
		if label == "" {
			return nil, fmt.Errorf("discord: button %d has no text", i+1)
		}
		var c discordgo.Button
		switch {
		case bt.URL != "":
			c = discordgo.Button{Label: label, Style: discordgo.LinkButton, URL: bt.URL}
		case bt.Data != "":
			if n := utf8.RuneCountInString(bt.Data); n > maxCustomID {
				return nil, fmt.Errorf("discord: button %q carries %d characters of data, but Discord allows %d", label, n, maxCustomID)
			}
			if ids[bt.Data] {
				return nil, fmt.Errorf("discord: two buttons carry the same data %q", bt.Data)
			}
			ids[bt.Data] = true
			style := discordgo.SecondaryButton
			if len(ids) == 1 {
				style = discordgo.PrimaryButton // the first action is the one asked about
			}
			c = discordgo.Button{Label: label, Style: style, CustomID: bt.Data}
		default:
			return nil, fmt.Errorf("discord: button %q has neither a URL nor data", label)
		}
		row = append(row, c)
		if len(row) == maxRowButtons {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return rows, nil
}

package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
)

// offerVerb starts the data of an offer's button.
const offerVerb = "o"

// OfferTTL is how long an offered button works: a dialog's buttons on an
// alert may be pressed hours later (the dialog is checked first anyway).
const OfferTTL = 12 * time.Hour

// offer is a button that runs a command for whoever presses it, if their
// role allows the command: an agent picked from a list, a dialog's option.
type offer struct {
	cmd     *Command
	args    []string // what the journal records as the command's arguments
	run     func(ctx context.Context, c *Call) error
	expires time.Time
}

// Offer returns a button that runs command name with args for whoever
// presses it and may run that command; run, when not nil, replaces the
// command's own handler. It is how alerts and replies carry buttons that
// are not a question to one person.
func (h *Handler) Offer(name, text string, args []string, run func(ctx context.Context, c *Call) error) (Button, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cmd := h.cmds[name]
	if cmd == nil {
		return Button{}, fmt.Errorf("no command /%s", name)
	}
	if run == nil {
		run = cmd.Run
	}
	now := h.now()
	for k, v := range h.offers {
		if now.After(v.expires) {
			delete(h.offers, k)
		}
	}
	id := newID()
	h.offers[id] = offer{cmd: cmd, args: append([]string(nil), args...), run: run, expires: now.Add(OfferTTL)}
	return Button{Text: text, Data: offerVerb + ":" + id}, nil
}

// Offer is Handler.Offer for a command's reply.
func (c *Call) Offer(name, text string, args []string, run func(ctx context.Context, c *Call) error) (Button, error) {
	return c.h.Offer(name, text, args, run)
}

// pressed runs the offer behind a pressed button.
func (h *Handler) pressed(ctx context.Context, req Request, role Role, out Responder, id string) {
	h.mu.Lock()
	o, ok := h.offers[id]
	h.mu.Unlock()
	if !ok || h.now().After(o.expires) {
		_ = out.Reply(ctx, Reply{Text: "That button has expired; send the command again."})
		return
	}
	action := "/" + o.cmd.Name + " (button)"
	switch {
	case role < o.cmd.Role:
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: action,
			Message: fmt.Sprintf("needs %s, has %s", o.cmd.Role, role), Fields: map[string]string{"args": joinArgs(o.args)}})
		_ = out.Reply(ctx, Reply{Text: fmt.Sprintf("/%s needs the %s role; you are %s.", o.cmd.Name, o.cmd.Role, role)})
		return
	case o.cmd.Private && !req.Private:
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: action, Message: "not in a private chat"})
		_ = out.Reply(ctx, Reply{Text: fmt.Sprintf("/%s works only in a private chat with the bot.", o.cmd.Name)})
		return
	}
	// Only now, the presser being allowed: the choice is made, its buttons
	// are spent.
	if br, ok := out.(ButtonRemover); ok {
		if err := br.RemoveButtons(ctx); err != nil {
			h.log.Warn("removing spent buttons", "err", err)
		}
	}
	call := &Call{Req: req, Args: append([]string(nil), o.args...), Role: role, Out: out, h: h, cmd: o.cmd}
	err := h.runAction(ctx, call, o.run)
	h.finish(ctx, call, action, err)
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return claude.Redact(s)
}

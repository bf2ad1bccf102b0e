package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// Unblocker types into agents' panes: a dialog's answer, a line at the
// prompt. *fleet.Fleet is one.
type Unblocker interface {
	Look(ctx context.Context, agent string) (fleet.Screen, error)
	Answer(ctx context.Context, agent, dialogID string, n int) (fleet.Screen, error)
	Type(ctx context.Context, agent, text string, want ...claude.State) (fleet.Screen, error)
}

// maxButtonText keeps a dialog option's button readable on a phone.
const maxButtonText = 60

// maxSend is the longest line /send types.
const maxSend = 4000

type unblock struct {
	h *Handler
	f FleetView
	u Unblocker
}

// RegisterUnblock adds /answer and /send, and gives /peek and needs_input
// alerts the buttons that answer a dialog.
func RegisterUnblock(h *Handler, f FleetView, u Unblocker) {
	ub := &unblock{h: h, f: f, u: u}
	h.Register(Command{Name: "answer", Usage: "AGENT N|esc", Help: "answer the dialog an agent waits on (option N, or Esc)", Role: RoleOperator,
		Params: []Param{{Name: "agent", Help: "the agent waiting on a dialog", Kind: ParamAgent, Required: false},
			{Name: "option", Help: "the option as the dialog lists it, or esc", Suggest: ub.suggestOptions}},
		Run: ub.cmdAnswer})
	h.Register(Command{Name: "send", Usage: "AGENT|all TEXT", Help: "type a line into an agent waiting at its prompt", Role: RoleOperator,
		Params: []Param{{Name: "agent", Help: "the agent, or all idle agents", Kind: ParamAgent, Required: true, Also: []string{"all"}},
			{Name: "text", Help: "what to type; Enter follows", Required: true, Rest: true}},
		Run: ub.cmdSend})
	h.mu.Lock()
	h.dialog = ub.dialogButtons
	h.mu.Unlock()
}

// suggestOptions offers the options of the dialog open on the agent named
// so far, as the CLI lists them, and Esc.
func (ub *unblock) suggestOptions(ctx context.Context, given map[string]string) []Suggestion {
	agent := given["agent"]
	if agent == "" || !hasAgent(ub.f.Snapshot(), agent) {
		return nil
	}
	sc, err := ub.u.Look(ctx, agent)
	if err != nil || !sc.HasDlg {
		return nil
	}
	var out []Suggestion
	for _, o := range sc.Dialog.Options {
		name := o.Title()
		if o.Widens {
			name = "⚠ " + name
		}
		out = append(out, Suggestion{Name: clip(name, 100), Value: strconv.Itoa(o.N)})
	}
	return append(out, Suggestion{Name: "Esc", Value: "esc"})
}

// DialogButtons returns the buttons that answer the dialog open on agent's
// pane now, and its question; none when no dialog is open. Alerts about an
// agent that needs input carry them.
func (h *Handler) DialogButtons(ctx context.Context, agent string) (string, []Button) {
	h.mu.Lock()
	d := h.dialog
	h.mu.Unlock()
	if d == nil {
		return "", nil
	}
	return d(ctx, agent)
}

// AlertButtons are the buttons a needs_input alert about agents carries:
// the dialog's options for one agent, the agents to pick for several.
func (h *Handler) AlertButtons(ctx context.Context, agents []string) []Button {
	if len(agents) == 1 {
		_, bs := h.DialogButtons(ctx, agents[0])
		return bs
	}
	var out []Button
	for _, a := range agents {
		if len(out) == 24 {
			break
		}
		if b, err := h.Offer("answer", Icon(claude.NeedsInput)+" "+a, []string{a}, nil); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func (ub *unblock) dialogButtons(ctx context.Context, agent string) (string, []Button) {
	sc, err := ub.u.Look(ctx, agent)
	if err != nil || !sc.HasDlg {
		return "", nil
	}
	return sc.Dialog.Question, ub.buttons(agent, sc.Dialog)
}

// buttons offers one button per option as the CLI lists it, plus Esc.
func (ub *unblock) buttons(agent string, d claude.Dialog) []Button {
	var out []Button
	for _, o := range d.Options {
		text := clip(o.Title(), maxButtonText)
		if o.Widens {
			text = "⚠ " + text
		}
		n := o.N
		b, err := ub.h.Offer("answer", text, []string{agent, strconv.Itoa(n)}, func(ctx context.Context, c *Call) error {
			return ub.answer(ctx, c, agent, d, n)
		})
		if err == nil {
			out = append(out, b)
		}
	}
	if b, err := ub.h.Offer("answer", "Esc", []string{agent, "esc"}, func(ctx context.Context, c *Call) error {
		return ub.answer(ctx, c, agent, d, 0)
	}); err == nil {
		out = append(out, b)
	}
	return out
}

// dialogReply shows a dialog with its buttons.
func (ub *unblock) dialogReply(agent string, d claude.Dialog, intro string) Reply {
	var b strings.Builder
	b.WriteString(intro)
	if d.Question != "" {
		fmt.Fprintf(&b, "\n%s", d.Question)
	}
	for _, o := range d.Options {
		mark := "  "
		if o.N == d.Cursor {
			mark = "❯ "
		}
		fmt.Fprintf(&b, "\n%s%d. %s", mark, o.N, o.Label)
		if o.Widens {
			b.WriteString(" ⚠")
		}
	}
	return Reply{Text: b.String(), Buttons: ub.buttons(agent, d), Stacked: true}
}

func (ub *unblock) cmdAnswer(ctx context.Context, c *Call) error {
	switch len(c.Args) {
	case 0:
		return ub.pickAgent(ctx, c, "answer", "Which agent's dialog?", func(s fleet.Status) bool { return s.State == claude.NeedsInput },
			"No agent is waiting on a dialog.")
	case 1, 2:
	default:
		return Usagef("")
	}
	agent := c.Args[0]
	if !hasAgent(ub.f.Snapshot(), agent) {
		return Usagef("no agent named %q (see /status)", agent)
	}
	sc, err := ub.u.Look(ctx, agent)
	if err != nil {
		return err
	}
	if !sc.HasDlg {
		return c.Reply(ctx, fmt.Sprintf("%s shows no dialog to answer: it is %s.", agent, describeState(sc.Result)))
	}
	if len(c.Args) == 1 {
		return c.Send(ctx, ub.dialogReply(agent, sc.Dialog, agent+" asks:"))
	}
	n := 0
	if a := strings.ToLower(c.Args[1]); a != "esc" {
		v, err := strconv.Atoi(a)
		if err != nil || v < 1 || v > len(sc.Dialog.Options) {
			return Usagef("the dialog on %s has options 1 to %d, or esc", agent, len(sc.Dialog.Options))
		}
		n = v
	}
	return ub.answer(ctx, c, agent, sc.Dialog, n)
}

// answer types option n (0 = Esc) of dialog d, asking again first when the
// option widens permissions.
func (ub *unblock) answer(ctx context.Context, c *Call, agent string, d claude.Dialog, n int) error {
	if n > 0 && n <= len(d.Options) && d.Options[n-1].Widens {
		o := d.Options[n-1]
		return c.Confirm(ctx, fmt.Sprintf("“%s” on %s gives the agent more than this one answer: Claude Code will not ask again for such actions. Choose it?", o.Label, agent),
			func(ctx context.Context, c *Call) error { return ub.typeAnswer(ctx, c, agent, d, n) })
	}
	return ub.typeAnswer(ctx, c, agent, d, n)
}

func (ub *unblock) typeAnswer(ctx context.Context, c *Call, agent string, d claude.Dialog, n int) error {
	what := "Esc"
	if n > 0 {
		what = "“" + d.Options[n-1].Title() + "”"
	}
	sc, err := ub.u.Answer(ctx, agent, d.ID, n)
	c.Note("question", d.Question)
	switch {
	case errors.Is(err, fleet.ErrDialogChanged), errors.Is(err, fleet.ErrNoDialog):
		c.Note("outcome", "not typed: the dialog had changed")
		text := fmt.Sprintf("Nothing typed: the dialog on %s has changed since (it is %s now).", agent, describeState(sc.Result))
		if sc.HasDlg {
			return c.Send(ctx, ub.dialogReply(agent, sc.Dialog, text+" It asks now:"))
		}
		return c.Reply(ctx, text)
	case err != nil:
		return err
	}
	c.Note("outcome", fmt.Sprintf("answered %s; %s now", what, describeState(sc.Result)))
	text := fmt.Sprintf("✓ %s: answered %s. It is %s now.", agent, what, describeState(sc.Result))
	if sc.HasDlg {
		return c.Send(ctx, ub.dialogReply(agent, sc.Dialog, text+" Next it asks:"))
	}
	return c.Reply(ctx, text)
}

// describeState says a state in a few words: "working", "auth_failed
// (expired)".
func describeState(r claude.Result) string {
	s := string(r.State)
	if r.Reason != "" {
		s += " (" + string(r.Reason) + ")"
	}
	return s
}

func (ub *unblock) cmdSend(ctx context.Context, c *Call) error {
	if len(c.Args) < 2 {
		return Usagef("")
	}
	agent := c.Args[0]
	text := sendText(c.Req.Text, c.Args)
	if text == "" {
		return Usagef("")
	}
	if utf8.RuneCountInString(text) > maxSend {
		return Usagef("the text is longer than %d characters", maxSend)
	}
	// Escape sequences and carriage returns would be keys (arrows, an early
	// Enter), not text: refuse them. Line breaks stay line breaks.
	if strings.ContainsFunc(text, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f }) {
		return Usagef("the text has control characters; send plain text")
	}
	if agent == "all" {
		return ub.sendAll(ctx, c, text)
	}
	if !hasAgent(ub.f.Snapshot(), agent) {
		return Usagef("no agent named %q (see /status)", agent)
	}
	sc, err := ub.u.Look(ctx, agent)
	if err != nil {
		return err
	}
	switch sc.Result.State {
	case claude.Idle:
		return ub.send(ctx, c, agent, text, claude.Idle)
	case claude.Working:
		return c.Confirm(ctx, fmt.Sprintf("%s is working. Claude Code queues your line and reads it when the turn ends. Send it?", agent),
			func(ctx context.Context, c *Call) error {
				return ub.send(ctx, c, agent, text, claude.Working, claude.Idle)
			})
	case claude.APIError:
		return c.Confirm(ctx, fmt.Sprintf("%s's last turn failed (%s). Send your line anyway?", agent, describeState(sc.Result)),
			func(ctx context.Context, c *Call) error {
				return ub.send(ctx, c, agent, text, claude.APIError, claude.Idle)
			})
	case claude.NeedsInput:
		intro := fmt.Sprintf("Not sent: %s is waiting on a dialog, and your text would answer it. Answer it first (/answer %s N):", agent, agent)
		if sc.HasDlg {
			return c.Send(ctx, ub.dialogReply(agent, sc.Dialog, intro))
		}
		return c.Reply(ctx, fmt.Sprintf("Not sent: %s is waiting on a dialog (%s); see /peek %s.", agent, sc.Result.Evidence, agent))
	case claude.LoggingIn:
		return c.Reply(ctx, fmt.Sprintf("Not sent: a login screen is open on %s; /login finishes logins.", agent))
	case claude.AuthFailed:
		return c.Reply(ctx, fmt.Sprintf("Not sent: %s's login failed (%s); /login first.", agent, sc.Result.Reason))
	case claude.Limited:
		// Typing into a CLI that waits out a usage limit can cancel its
		// automatic continue: leave it be.
		return c.Reply(ctx, fmt.Sprintf("Not sent: %s is at a usage limit (%s) and continues by itself after the reset; send it then.", agent, sc.Result.Reason))
	}
	return c.Reply(ctx, fmt.Sprintf("Not sent: %s is %s, not at its prompt.", agent, describeState(sc.Result)))
}

// sendText is the text of "/send AGENT TEXT" as written, spacing kept.
func sendText(raw string, args []string) string {
	f := strings.Fields(raw)
	if len(f) >= 2 && strings.HasPrefix(f[0], "/") {
		rest := strings.TrimSpace(raw)
		rest = strings.TrimSpace(rest[len(f[0]):])
		rest = strings.TrimSpace(rest[len(f[1]):])
		return rest
	}
	return strings.Join(args[1:], " ")
}

func (ub *unblock) send(ctx context.Context, c *Call, agent, text string, want ...claude.State) error {
	_, err := ub.u.Type(ctx, agent, text, want...)
	if errors.Is(err, fleet.ErrStateChanged) {
		c.Note("outcome", "not typed: the agent changed state")
		return c.Reply(ctx, fmt.Sprintf("Not sent: %s changed state just now. Look with /peek %s and send again.", agent, agent))
	}
	if err != nil {
		return err
	}
	c.Note("outcome", "typed into "+agent)
	return c.Reply(ctx, fmt.Sprintf("✓ Typed into %s.", agent))
}

func (ub *unblock) sendAll(ctx context.Context, c *Call, text string) error {
	var idle []string
	for _, s := range ub.f.Snapshot() {
		if s.State == claude.Idle {
			idle = append(idle, s.Name)
		}
	}
	if len(idle) == 0 {
		return c.Reply(ctx, "No agent is idle at its prompt; nothing sent.")
	}
	return c.Confirm(ctx, fmt.Sprintf("Type this into %d idle agent(s): %s?", len(idle), joinNames(idle, 10)),
		func(ctx context.Context, c *Call) error {
			var sent, skipped []string
			for _, a := range idle {
				if _, err := ub.u.Type(ctx, a, text, claude.Idle); err != nil {
					skipped = append(skipped, a)
					continue
				}
				sent = append(sent, a)
			}
			c.Note("outcome", "typed into "+joinNames(sent, 50))
			msg := fmt.Sprintf("✓ Typed into %d agent(s): %s.", len(sent), joinNames(sent, 10))
			if len(sent) == 0 {
				msg = "Nothing sent."
			}
			if len(skipped) > 0 {
				msg += fmt.Sprintf(" Not into %s: no longer idle.", joinNames(skipped, 10))
			}
			return c.Reply(ctx, msg)
		})
}

// pickAgent answers a command that needs an agent and got none with one
// button per agent that fits (at most 24).
func (ub *unblock) pickAgent(ctx context.Context, c *Call, cmd, question string, fits func(fleet.Status) bool, none string) error {
	return pickAgent(ctx, c, ub.f.Snapshot(), cmd, question, fits, none)
}

// pickAgent offers one button per agent that fits: pressing it runs
// /cmd AGENT for the presser.
func pickAgent(ctx context.Context, c *Call, snap []fleet.Status, cmd, question string, fits func(fleet.Status) bool, none string) error {
	var bs []Button
	for _, s := range snap {
		if fits != nil && !fits(s) {
			continue
		}
		if len(bs) == 24 {
			break
		}
		b, err := c.Offer(cmd, Icon(s.State)+" "+s.Name, []string{s.Name}, nil)
		if err != nil {
			return err
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return c.Reply(ctx, none)
	}
	return c.Send(ctx, Reply{Text: question, Buttons: bs})
}

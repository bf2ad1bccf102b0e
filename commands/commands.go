// Package commands is the chat-agnostic command layer: who may run what,
// parsing, confirmations, and the handlers (/status, /auth, /peek, /login,
// /code, /restart, /answer, /send, /silence, /timeline, /report, /help; the
// daemon registers /reload). Transports (bot/telegram, bot/discord,
// bot/console) turn chat messages into Requests and Replies into messages.
package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
)

// Role is what a user may do. Roles come from the config only.
type Role int

const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "nobody"
}

// ACL maps numeric user IDs per platform to roles.
type ACL struct {
	roles map[string]map[string]Role
}

// NewACL returns an empty ACL: nobody may do anything.
func NewACL() *ACL { return &ACL{roles: map[string]map[string]Role{}} }

// Grant gives users on platform a role; the highest grant wins.
func (a *ACL) Grant(platform string, role Role, users ...string) {
	m := a.roles[platform]
	if m == nil {
		m = map[string]Role{}
		a.roles[platform] = m
	}
	for _, u := range users {
		if role > m[u] {
			m[u] = role
		}
	}
}

// Role returns the role of a user.
func (a *ACL) Role(platform, user string) Role {
	if a == nil {
		return RoleNone
	}
	return a.roles[platform][user]
}

// Request is one incoming chat message or button press.
type Request struct {
	Platform  string // "telegram", "discord", "console"
	UserID    string // numeric id as text
	UserName  string
	ChatID    string
	Private   bool   // a private chat / DM with the bot
	Text      string // "/peek builder 50"; empty for a button press
	Callback  string // button data when a button was pressed
	MessageID string // the message carrying Text, for deletion
	ReplyTo   string // text of the message this one answers, when it is a reply
}

// Actor names the requester for the audit trail.
func (r Request) Actor() string { return r.Platform + ":" + r.UserID }

// Button is an inline button: a link (URL) or an action (Data).
type Button struct {
	Text string
	URL  string
	Data string // ≤ 64 bytes; an id, not a payload
}

// Reply is one message back to the chat.
type Reply struct {
	Text    string   // plain text; transports escape it
	Pre     string   // preformatted block (pane text), shown after Text
	Buttons []Button // one row
	// Stacked lays the buttons out one per row: long labels (a dialog's
	// options) stay readable.
	Stacked bool
	// Secret marks a reply carrying a login URL or a code prompt: transports
	// send it only to a private chat.
	Secret bool
	// DeleteRequest asks the transport to delete (or blank) the request
	// message because it held a secret such as a login code.
	DeleteRequest bool
}

// Responder sends replies to the chat a request came from.
type Responder interface {
	Reply(ctx context.Context, r Reply) error
}

// ButtonRemover is a Responder to a button press that can remove the
// buttons of the message that carried it. The handler calls it only once
// the presser is known to be allowed to answer.
type ButtonRemover interface {
	RemoveButtons(ctx context.Context) error
}

// RequestDeleter is a Responder that can delete the request message (one
// holding a login code). It returns an error when the chat refused.
type RequestDeleter interface {
	DeleteRequest(ctx context.Context) error
}

// Deletion is what became of a request message holding a secret.
type Deletion struct {
	Tried bool  // the transport can delete messages (Telegram); false: there was no message to delete (Discord, console)
	Err   error // why it is still there
}

// deleteRequest deletes the request message if the transport has one.
func deleteRequest(ctx context.Context, out Responder) Deletion {
	d, ok := out.(RequestDeleter)
	if !ok {
		return Deletion{}
	}
	return Deletion{Tried: true, Err: d.DeleteRequest(ctx)}
}

// DeleteRequest deletes the message that carried this call (it held a
// secret) and says what happened.
func (c *Call) DeleteRequest(ctx context.Context) Deletion { return deleteRequest(ctx, c.Out) }

// deletionNote tells the user what became of their message with a code:
// only what happened.
func deletionNote(d Deletion, private bool) string {
	switch {
	case !d.Tried:
		return ""
	case d.Err == nil:
		return " Your message with the code was deleted."
	case private:
		return " Your message with the code is still visible: I could not delete it (" + d.Err.Error() + "). Delete it yourself."
	}
	return " Your message with the code is still visible in this chat: I could not delete it (" + d.Err.Error() + "). " +
		"Delete it yourself now. To let the bot remove such messages, make it a group admin with the \"Delete messages\" right — or use a private chat with the bot."
}

// ResponderFunc adapts a function to Responder.
type ResponderFunc func(ctx context.Context, r Reply) error

func (f ResponderFunc) Reply(ctx context.Context, r Reply) error { return f(ctx, r) }

// Command is one chat command.
type Command struct {
	Name    string // without slash
	Usage   string // arguments, e.g. "AGENT [lines]"
	Help    string // one line
	Role    Role   // least role that may run it
	Private bool   // only in a private chat (secrets-bearing)
	Hidden  bool   // left out of the chats' command menus (/start)
	// Params are the arguments, typed, for chats that show options
	// (Discord); none: the arguments are free text as Usage says.
	Params []Param
	Run    func(ctx context.Context, c *Call) error
}

// MenuFor returns the commands a menu shows to role: those it may run,
// without the private ones when the menu is for a group.
func MenuFor(cmds []Command, role Role, private bool) []Command {
	var out []Command
	for _, c := range cmds {
		if c.Hidden || c.Role > role || role == RoleNone || (c.Private && !private) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Call is one invocation of a command.
type Call struct {
	Req  Request
	Args []string
	Role Role
	Out  Responder
	h    *Handler
	cmd  *Command

	notes map[string]string // what the journal's record of the call adds
}

// Note adds a field to the journal's record of this call: what it did
// ("outcome"), redacted.
func (c *Call) Note(key, value string) {
	if c.notes == nil {
		c.notes = map[string]string{}
	}
	c.notes[key] = claude.Redact(value)
}

// Reply sends a plain reply.
func (c *Call) Reply(ctx context.Context, text string) error {
	return c.Out.Reply(ctx, Reply{Text: text})
}

// Send sends a full reply.
func (c *Call) Send(ctx context.Context, r Reply) error { return c.Out.Reply(ctx, r) }

// Confirm asks the caller to confirm before action runs. Only the same user
// may confirm, within the confirmation's lifetime.
func (c *Call) Confirm(ctx context.Context, question string, action func(ctx context.Context, c *Call) error) error {
	id := c.h.addPending(pending{user: c.Req.Actor(), cmd: c.cmd, call: *c, action: action, expires: c.h.now().Add(confirmTTL)})
	return c.Out.Reply(ctx, Reply{Text: question, Buttons: []Button{
		{Text: "Yes, do it", Data: "y:" + id},
		{Text: "Cancel", Data: "n:" + id},
	}})
}

// UsageError makes the handler answer with the command's usage.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return UsageError{Msg: fmt.Sprintf(format, a...)} }

// Auditor records what was done.
type Auditor interface {
	Append(r audit.Record) error
}

const confirmTTL = 5 * time.Minute

type pending struct {
	user    string
	cmd     *Command
	call    Call
	action  func(ctx context.Context, c *Call) error
	expires time.Time
}

// Handler dispatches requests to commands after checking who asks.
type Handler struct {
	acl   *ACL
	audit Auditor
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	cmds    map[string]*Command
	pending map[string]pending
	offers  map[string]offer // buttons anyone with the command's role may press

	// dialog, set by RegisterUnblock, returns the buttons that answer the
	// dialog open on an agent's pane (none when there is none).
	dialog func(ctx context.Context, agent string) (question string, buttons []Button)

	agentNames func() []string // for completing agent parameters; set by RegisterFleet

	// replyCode turns a reply to the login message into /code; set by RegisterRecovery.
	replyCode func(Request) (string, bool)
	// closers end what commands left running (a login), at Close.
	closers []func()

	strangers refusals // unknown users' attempts, per window
	// note says how fleetwarden itself runs (safe mode, on the last good
	// config), above /status.
	note func() string
}

// SetStatusNote makes /status start with what note returns, when not empty:
// how fleetwarden itself runs (safe mode, on the last good config).
func (h *Handler) SetStatusNote(note func() string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.note = note
}

func (h *Handler) statusNote() string {
	h.mu.Lock()
	note := h.note
	h.mu.Unlock()
	if note == nil {
		return ""
	}
	return note()
}

// Close ends what commands left running — a login waiting for its code —
// so that no login process outlives fleetwarden. Call it when stopping.
func (h *Handler) Close() {
	h.mu.Lock()
	cs := h.closers
	h.closers = nil
	h.mu.Unlock()
	for _, c := range cs {
		c()
	}
	for _, r := range h.strangers.closeAll() {
		h.record(r)
	}
}

// Options configure a Handler.
type Options struct {
	ACL   *ACL
	Audit Auditor // nil = no audit
	Log   *slog.Logger
	Now   func() time.Time
}

// NewHandler returns a handler with /help registered.
func NewHandler(o Options) *Handler {
	h := &Handler{acl: o.ACL, audit: o.Audit, log: o.Log, now: o.Now,
		cmds: map[string]*Command{}, pending: map[string]pending{}, offers: map[string]offer{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.acl == nil {
		h.acl = NewACL()
	}
	h.Register(Command{Name: "help", Help: "list the commands you may run", Role: RoleViewer, Run: h.help})
	h.Register(Command{Name: "start", Help: "what this bot is and what you may do", Role: RoleViewer, Hidden: true, Run: h.start})
	return h
}

// Register adds or replaces a command.
func (h *Handler) Register(c Command) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cc := c
	h.cmds[c.Name] = &cc
}

// Commands returns every command, sorted by name.
func (h *Handler) Commands() []Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Command, 0, len(h.cmds))
	for _, c := range h.cmds {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RoleOf returns the role of the requester.
func (h *Handler) RoleOf(r Request) Role { return h.acl.Role(r.Platform, r.UserID) }

// Refusal is the one short answer strangers get.
const Refusal = "Sorry, you are not allowed to use this bot."

// Handle answers one request. It never panics on bad input; every problem is
// a reply.
func (h *Handler) Handle(ctx context.Context, req Request, out Responder) {
	role := h.RoleOf(req)
	if role == RoleNone {
		h.refuse(ctx, req, out)
		return
	}
	if req.Callback != "" {
		h.callback(ctx, req, role, out)
		return
	}
	if h.replyCode != nil {
		if text, ok := h.replyCode(req); ok {
			req.Text = text
		}
	}
	name, args, ok := parse(req.Text)
	if !ok {
		if req.Private {
			_ = out.Reply(ctx, Reply{Text: "Commands start with /. Send /help for the list."})
		}
		return
	}
	h.mu.Lock()
	cmd := h.cmds[name]
	h.mu.Unlock()
	if cmd == nil {
		_ = out.Reply(ctx, Reply{Text: fmt.Sprintf("Unknown command /%s. Send /help for the list.", name)})
		return
	}
	// A refused command that carries a secret (a login code) is deleted
	// all the same: it must not stay readable in the chat.
	hide := cmd.Name == "code" && len(args) > 0
	if role < cmd.Role {
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: "/" + name,
			Message: fmt.Sprintf("needs %s, has %s", cmd.Role, role)})
		text := fmt.Sprintf("/%s needs the %s role; you are %s.", name, cmd.Role, role)
		if hide {
			text += deletionNote(deleteRequest(ctx, out), req.Private)
		}
		_ = out.Reply(ctx, Reply{Text: text})
		return
	}
	if cmd.Private && !req.Private {
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: "/" + name, Message: "not in a private chat"})
		text := fmt.Sprintf("/%s works only in a private chat with the bot: it carries secrets.", name)
		if hide {
			text += deletionNote(deleteRequest(ctx, out), false) + " Send the code in a private chat with the bot."
		}
		_ = out.Reply(ctx, Reply{Text: text})
		return
	}
	call := &Call{Req: req, Args: args, Role: role, Out: out, h: h, cmd: cmd}
	err := h.run(ctx, cmd, call)
	h.finish(ctx, call, "/"+name, err)
}

func (h *Handler) run(ctx context.Context, cmd *Command, call *Call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in /%s: %v", cmd.Name, p)
			h.log.Error("command panicked", "command", cmd.Name, "panic", p)
		}
	}()
	return cmd.Run(ctx, call)
}

func (h *Handler) finish(ctx context.Context, call *Call, action string, err error) {
	result := "ok"
	var ue UsageError
	switch {
	case errors.As(err, &ue):
		result = "usage"
		msg := "usage: /" + call.cmd.Name
		if call.cmd.Usage != "" {
			msg += " " + call.cmd.Usage
		}
		if ue.Msg != "" {
			msg = ue.Msg + "\n" + msg
		}
		_ = call.Out.Reply(ctx, Reply{Text: msg})
	case err != nil:
		result = "error"
		_ = call.Out.Reply(ctx, Reply{Text: "✗ " + claude.Redact(err.Error())})
	}
	r := audit.Record{Kind: audit.KindCommand, Actor: call.Req.Actor(), Action: action,
		Message: result, Fields: map[string]string{"role": call.Role.String()}}
	if !call.cmd.Private && len(call.Args) > 0 {
		// Arguments of private commands may be secrets (login codes); never
		// record them. Others may hold one by mistake (a /send): redacted.
		r.Fields["args"] = claude.Redact(strings.Join(call.Args, " "))
	}
	if err != nil {
		r.Error = claude.Redact(err.Error())
	}
	for k, v := range call.notes {
		if _, ok := r.Fields[k]; !ok {
			r.Fields[k] = v
		}
	}
	h.record(r)
}

func (h *Handler) callback(ctx context.Context, req Request, role Role, out Responder) {
	verb, id, _ := strings.Cut(req.Callback, ":")
	if verb == offerVerb {
		h.pressed(ctx, req, role, out, id)
		return
	}
	// The question's buttons are spent once its asker answered (or it
	// expired): only then are they removed, so nobody else can strip an
	// admin's confirmation by pressing it.
	spent := func() {
		if br, ok := out.(ButtonRemover); ok {
			if err := br.RemoveButtons(ctx); err != nil {
				h.log.Warn("removing spent buttons", "err", err)
			}
		}
	}
	h.mu.Lock()
	p, ok := h.pending[id]
	if ok && p.user == req.Actor() {
		delete(h.pending, id)
	}
	h.mu.Unlock()
	switch {
	case !ok || h.now().After(p.expires):
		spent()
		_ = out.Reply(ctx, Reply{Text: "That button has expired; send the command again."})
		return
	case p.user != req.Actor():
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: "/" + p.cmd.Name + " (button)",
			Message: "pressed the button of " + p.user})
		_ = out.Reply(ctx, Reply{Text: "Only the person who asked can confirm this."})
		return
	case role < p.cmd.Role:
		h.record(audit.Record{Kind: audit.KindRefused, Actor: req.Actor(), Action: "/" + p.cmd.Name + " (button)",
			Message: fmt.Sprintf("needs %s, has %s", p.cmd.Role, role)})
		_ = out.Reply(ctx, Reply{Text: fmt.Sprintf("/%s needs the %s role.", p.cmd.Name, p.cmd.Role)})
		return
	}
	spent()
	switch {
	case verb != "y":
		h.record(audit.Record{Kind: audit.KindCommand, Actor: req.Actor(), Action: "/" + p.cmd.Name, Message: "cancelled"})
		_ = out.Reply(ctx, Reply{Text: "Cancelled."})
		return
	}
	call := p.call
	call.Out = out
	call.Role = role
	err := h.runAction(ctx, &call, p.action)
	h.finish(ctx, &call, "/"+p.cmd.Name+" (confirmed)", err)
}

func (h *Handler) runAction(ctx context.Context, c *Call, action func(context.Context, *Call) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return action(ctx, c)
}

// newID returns a random id for a button's data.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (h *Handler) addPending(p pending) string {
	id := newID()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for k, v := range h.pending {
		if now.After(v.expires) {
			delete(h.pending, k)
		}
	}
	h.pending[id] = p
	return id
}

func (h *Handler) record(r audit.Record) {
	if h.audit == nil {
		return
	}
	if err := h.audit.Append(r); err != nil {
		h.log.Error("audit", "err", err)
	}
}

// Record appends r to the audit journal, if there is one.
func (h *Handler) Record(r audit.Record) { h.record(r) }

func (h *Handler) help(ctx context.Context, c *Call) error {
	var b strings.Builder
	b.WriteString("Commands you may run:\n")
	for _, cmd := range h.Commands() {
		if cmd.Role > c.Role || cmd.Hidden {
			continue
		}
		fmt.Fprintf(&b, "/%s", cmd.Name)
		if cmd.Usage != "" {
			fmt.Fprintf(&b, " %s", cmd.Usage)
		}
		fmt.Fprintf(&b, " — %s", cmd.Help)
		if cmd.Private {
			b.WriteString(" (private chat only)")
		}
		b.WriteString("\n")
	}
	return c.Reply(ctx, strings.TrimRight(b.String(), "\n"))
}

// start greets a user (Telegram sends /start when a chat with the bot
// opens): what the bot is, who they are to it, what they may run.
func (h *Handler) start(ctx context.Context, c *Call) error {
	var names []string
	for _, cmd := range MenuFor(h.Commands(), c.Role, true) {
		names = append(names, "/"+cmd.Name)
	}
	text := "fleetwarden watches this fleet's Claude Code agents in tmux. It tells you when one stops — " +
		"a login that expired, a dialog waiting for an answer, an API error — and lets you fix it from this chat.\n\n" +
		fmt.Sprintf("You are %s here, so you may run: %s.\nSend /help for what each does.", c.Role, strings.Join(names, " "))
	if c.Role >= RoleAdmin && !c.Req.Private {
		text += " /login and /code work only in a private chat with the bot."
	}
	return c.Reply(ctx, text)
}

// parse splits "/cmd@botname a b" into its name and arguments.
func parse(text string) (name string, args []string, ok bool) {
	f := strings.Fields(text)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") || len(f[0]) < 2 {
		return "", nil, false
	}
	name = strings.ToLower(strings.TrimPrefix(f[0], "/"))
	name, _, _ = strings.Cut(name, "@")
	return name, f[1:], name != ""
}

func firstWord(text, callback string) string {
	if f := strings.Fields(text); len(f) > 0 {
		w := f[0]
		if len(w) > 40 {
			w = w[:40]
		}
		return w
	}
	if callback != "" {
		return "button"
	}
	return ""
}

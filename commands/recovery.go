package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// LoginSession is one running Claude login (login.Session: `claude auth
// login` or `claude setup-token`).
type LoginSession interface {
	URL() string
	Submit(ctx context.Context, code string) (claude.LoginOutcome, error)
	Cancel()
	Done() <-chan struct{}
}

// Restarter restarts agents and reports each.
type Restarter interface {
	Restart(ctx context.Context, names []string) []fleet.RestartResult
}

// Recovery wires /login, /code and /restart.
type Recovery struct {
	Fleet FleetView
	// StartLogin starts a login on the agents' host and returns once the
	// login URL is known.
	StartLogin func(ctx context.Context) (LoginSession, error)
	// Verify reads the credentials passively after a login and says whether
	// they hold (fresh access token, refresh token present, expiry ahead).
	Verify func(ctx context.Context) (summary string, err error)
	// AfterLogin is login.restart: "failed" (default), "all" or "none".
	AfterLogin string
	Restarter  Restarter
	Timeout    time.Duration // the login's lifetime, for messages
	// Rescan refreshes the fleet's state after a restart, so the report and
	// the next /status agree with the panes.
	Rescan func(ctx context.Context)
}

type loginState struct {
	session   LoginSession
	finishing bool // a code is being typed: its end is /code's to report
	by        string
	started   time.Time
	out       Responder // where the admin asked: timeout and results go there
}

type recovery struct {
	Recovery
	h *Handler

	mu    sync.Mutex
	login *loginState

	starting chan struct{} // holds one while a /login starts its CLI
}

// LoginHint ends the message carrying the login URL; a reply to that message
// is taken as the code.
const LoginHint = "Log in, copy the code shown, and reply /code <code>."

// RegisterRecovery adds /login, /code and /restart.
func RegisterRecovery(h *Handler, r Recovery) {
	rc := &recovery{Recovery: r, h: h, starting: make(chan struct{}, 1)}
	if rc.AfterLogin == "" {
		rc.AfterLogin = "failed"
	}
	h.Register(Command{Name: "login", Help: "log Claude in again: sends you the login link", Role: RoleAdmin, Private: true, Run: rc.cmdLogin})
	h.Register(Command{Name: "code", Usage: "CODE#STATE", Help: "finish a login with the code from the login page", Role: RoleAdmin, Private: true,
		Params: []Param{{Name: "code", Help: "the code the login page shows (CODE#STATE)", Required: true}}, Run: rc.cmdCode})
	h.Register(Command{Name: "restart", Usage: "[AGENT…|all]", Help: "restart agents (default: the ones that are down)", Role: RoleOperator,
		Params: []Param{{Name: "agent", Help: "the agent, or all (default: the ones that are down)", Kind: ParamAgent, Required: false, Also: []string{"all"}}}, Run: rc.cmdRestart})
	h.replyCode = rc.replyCode
	h.mu.Lock()
	h.closers = append(h.closers, rc.close)
	h.mu.Unlock()
}

// close cancels a login in progress: fleetwarden is stopping.
func (rc *recovery) close() {
	rc.mu.Lock()
	cur := rc.login
	rc.login = nil
	rc.mu.Unlock()
	if cur == nil {
		return
	}
	cur.session.Cancel()
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: "fleetwarden", Action: "cancelled", Message: "fleetwarden stopped"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cur.out.Reply(ctx, Reply{Text: "fleetwarden is stopping: the login was cancelled. Send /login again once it is back."})
}

func (rc *recovery) cmdLogin(ctx context.Context, c *Call) error {
	if len(c.Args) == 1 && c.Args[0] == "cancel" {
		return rc.cancel(ctx, c)
	}
	if len(c.Args) > 0 {
		return Usagef("")
	}
	// One login at a time: a second /login (a double tap, another chat)
	// waits here while the first one starts, then finds it in progress.
	select {
	case rc.starting <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rc.starting }()
	rc.mu.Lock()
	cur := rc.login
	rc.mu.Unlock()
	if cur != nil {
		return c.Confirm(ctx, fmt.Sprintf("A login is already in progress (started by %s %s ago). Cancel it?", cur.by, Ago(rc.h.now().Sub(cur.started))),
			func(ctx context.Context, c *Call) error { return rc.cancel(ctx, c) })
	}
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "started"})
	s, err := rc.StartLogin(ctx)
	if err != nil {
		rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "failed", Error: claude.Redact(err.Error())})
		return fmt.Errorf("could not start the login: %w", err)
	}
	st := &loginState{session: s, by: c.Req.Actor(), started: rc.h.now(), out: c.Out}
	rc.mu.Lock()
	rc.login = st
	rc.mu.Unlock()
	go rc.watch(context.WithoutCancel(ctx), st)
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "url_sent"})
	return c.Send(ctx, Reply{
		Text:    "Claude login started. Open the login page on this phone:\n" + s.URL() + "\n\n" + LoginHint,
		Buttons: []Button{{Text: "Open login page", URL: s.URL()}},
		Secret:  true,
	})
}

// watch tells the admin when a login dies unfinished (timeout, crash).
func (rc *recovery) watch(ctx context.Context, st *loginState) {
	<-st.session.Done()
	rc.mu.Lock()
	still := rc.login == st && !st.finishing
	if still {
		rc.login = nil
	}
	rc.mu.Unlock()
	if !still {
		return // finished by /code or cancelled
	}
	// A CLI that died says why (network, a crash); one that ran out of
	// time says nothing.
	if e, ok := st.session.(interface{ EndReason() string }); ok {
		if why := e.EndReason(); why != "" {
			rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: "fleetwarden", Action: "failed", Error: why})
			_ = st.out.Reply(ctx, Reply{Text: "The login process ended before a code came: " + why + "\n" + claude.LoginAdvice(why)})
			return
		}
	}
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: "fleetwarden", Action: "timeout"})
	_ = st.out.Reply(ctx, Reply{Text: fmt.Sprintf("The login ended without a code (it waits at most %s). Send /login to start again.", rc.timeoutText())})
}

func (rc *recovery) timeoutText() string {
	if rc.Timeout <= 0 {
		return "10m"
	}
	return rc.Timeout.String()
}

func (rc *recovery) cancel(ctx context.Context, c *Call) error {
	rc.mu.Lock()
	cur := rc.login
	rc.login = nil
	rc.mu.Unlock()
	if cur == nil {
		return c.Reply(ctx, "No login is in progress.")
	}
	cur.session.Cancel()
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "cancelled"})
	return c.Reply(ctx, "Login cancelled.")
}

// replyCode treats a private reply to the login message as /code.
func (rc *recovery) replyCode(req Request) (string, bool) {
	if !req.Private || !strings.Contains(req.ReplyTo, LoginHint) || strings.HasPrefix(strings.TrimSpace(req.Text), "/") {
		return "", false
	}
	return "/code " + strings.TrimSpace(req.Text), true
}

func (rc *recovery) cmdCode(ctx context.Context, c *Call) error {
	// The message holds a secret: delete it whatever happens, and say so
	// when that failed.
	if del := c.DeleteRequest(ctx); del.Tried && del.Err != nil {
		_ = c.Reply(ctx, strings.TrimSpace(deletionNote(del, c.Req.Private)))
	}
	if len(c.Args) != 1 {
		return Usagef("")
	}
	rc.mu.Lock()
	cur := rc.login
	rc.mu.Unlock()
	if cur == nil {
		return c.Reply(ctx, "No login is in progress. Send /login first.")
	}
	if err := claude.ValidateCode(c.Args[0]); err != nil {
		return c.Reply(ctx, "✗ "+err.Error())
	}
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "code_submitted"})
	_ = c.Reply(ctx, "Code received; signing in…")
	rc.mu.Lock()
	cur.finishing = true
	rc.mu.Unlock()
	out, err := cur.session.Submit(ctx, c.Args[0])
	if err != nil || out.Retry {
		rc.mu.Lock()
		cur.finishing = false
		rc.mu.Unlock()
		select {
		case <-cur.session.Done():
			// It died meanwhile: nobody else will say so.
			rc.mu.Lock()
			if rc.login == cur {
				rc.login = nil
			}
			rc.mu.Unlock()
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("typing the code into the login: %w", err)
	}
	if out.Retry {
		return c.Reply(ctx, "✗ "+out.Message+"\n"+out.Advice)
	}
	rc.mu.Lock()
	if rc.login == cur {
		rc.login = nil
	}
	rc.mu.Unlock()
	if !out.OK {
		cur.session.Cancel()
		rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "failed", Error: out.Message})
		return c.Reply(ctx, "✗ Login failed: "+out.Message+"\n"+out.Advice)
	}
	summary, err := rc.Verify(ctx)
	if err != nil {
		rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "failed", Error: claude.Redact(err.Error())})
		return c.Reply(ctx, "✗ The CLI said the login worked, but the credentials do not hold: "+claude.Redact(err.Error())+"\nSend /login to try again.")
	}
	rc.h.record(audit.Record{Kind: audit.KindLogin, Actor: c.Req.Actor(), Action: "verified", Message: summary})
	_ = c.Reply(ctx, "✓ Login verified: "+summary)

	names := rc.afterLoginAgents()
	switch {
	case rc.AfterLogin == "none" || rc.Restarter == nil:
		return c.Confirm(ctx, "Restart the agents that are down now?", func(ctx context.Context, c *Call) error {
			return rc.restart(ctx, c, rc.down())
		})
	case len(names) == 0:
		return c.Reply(ctx, "No agent needs a restart.")
	}
	return rc.restart(ctx, c, names)
}

// afterLoginAgents are the agents a successful login restarts without asking.
func (rc *recovery) afterLoginAgents() []string {
	var out []string
	for _, s := range rc.Fleet.Snapshot() {
		switch rc.AfterLogin {
		case "all":
			out = append(out, s.Name)
		default:
			if s.State == claude.AuthFailed && s.Reason.ReloginFixes() {
				out = append(out, s.Name)
			}
		}
	}
	return out
}

func (rc *recovery) down() []string {
	var out []string
	for _, s := range rc.Fleet.Snapshot() {
		// A limited agent continues by itself after the reset: a restart
		// would lose that, so it is never restarted unasked.
		if !s.Healthy() && s.State != claude.NeedsInput && s.State != claude.LoggingIn && s.State != claude.Limited {
			out = append(out, s.Name)
		}
	}
	return out
}

func (rc *recovery) cmdRestart(ctx context.Context, c *Call) error {
	if rc.Restarter == nil {
		return fmt.Errorf("restart is not available")
	}
	snap := rc.Fleet.Snapshot()
	var names []string
	switch {
	case len(c.Args) == 0:
		names = rc.down()
		if len(names) == 0 {
			return pickAgent(ctx, c, snap, "restart", "Every agent is up. Restart which one? (or /restart all)", nil,
				"Every agent is up. Name agents, or say /restart all.")
		}
	case len(c.Args) == 1 && c.Args[0] == "all":
		for _, s := range snap {
			names = append(names, s.Name)
		}
	default:
		for _, a := range c.Args {
			if !hasAgent(snap, a) {
				return Usagef("no agent named %q (see /status)", a)
			}
			if !slices.Contains(names, a) {
				names = append(names, a)
			}
		}
	}
	if len(names) == 0 {
		return c.Reply(ctx, "No agents.")
	}
	question := fmt.Sprintf("Restart %d agent(s): %s?", len(names), joinNames(names, 10))
	var limited []string
	for _, s := range snap {
		if s.State == claude.Limited && slices.Contains(names, s.Name) {
			limited = append(limited, s.Name)
		}
	}
	if len(limited) > 0 {
		question = fmt.Sprintf("⚠ %s %s at a usage limit and will continue by itself after the reset; a restart loses that automatic continue (it then needs a prompt after the reset).\n%s",
			joinNames(limited, 10), map[bool]string{true: "is", false: "are"}[len(limited) == 1], question)
	}
	return c.Confirm(ctx, question,
		func(ctx context.Context, c *Call) error { return rc.restart(ctx, c, names) })
}

func (rc *recovery) restart(ctx context.Context, c *Call, names []string) error {
	if len(names) == 0 {
		return c.Reply(ctx, "No agent needs a restart.")
	}
	_ = c.Reply(ctx, fmt.Sprintf("Restarting %d agent(s)…", len(names)))
	start := rc.h.now()
	res := rc.Restarter.Restart(context.WithoutCancel(ctx), names)
	took := rc.h.now().Sub(start)
	if rc.Rescan != nil {
		rc.Rescan(ctx)
	}
	for _, rec := range RestartRecords(res, names, c.Req.Actor(), took) {
		rc.h.record(rec)
	}
	return c.Reply(ctx, RestartReport(res, took))
}

// RestartRecords are the journal's account of a restart of names: one
// record per agent, then a summary with the time it took. Every restart
// writes these (commands, failover, /auth use), so the timeline, the
// report and the metrics count them all.
func RestartRecords(res []fleet.RestartResult, names []string, actor string, took time.Duration) []audit.Record {
	var out []audit.Record
	ok := 0
	for _, r := range res {
		rec := audit.Record{Kind: audit.KindRestart, Agents: []string{r.Agent}, Actor: actor, Action: "agent", OK: &r.OK}
		if r.OK {
			ok++
		} else {
			rec.Error = r.Err
		}
		out = append(out, rec)
	}
	return append(out, audit.Record{Kind: audit.KindRestart, Agents: names, Actor: actor, Action: "summary",
		Message: fmt.Sprintf("%d of %d back in %s", ok, len(names), FormatSeconds(took)),
		Fields:  map[string]string{"ok": fmt.Sprint(ok), "failed": fmt.Sprint(len(res) - ok), "seconds": fmt.Sprintf("%.3f", took.Seconds())}})
}

// RestartReport renders the per-agent outcome of a restart.
func RestartReport(res []fleet.RestartResult, took time.Duration) string {
	ok := 0
	for _, r := range res {
		if r.OK {
			ok++
		}
	}
	var b strings.Builder
	if ok == len(res) {
		fmt.Fprintf(&b, "✓ All %d agent(s) back in %s.\n", len(res), FormatSeconds(took))
	} else {
		fmt.Fprintf(&b, "Restarted %d of %d agent(s) in %s; %d failed.\n", ok, len(res), FormatSeconds(took), len(res)-ok)
	}
	var working []string
	for _, r := range res {
		if r.OK {
			fmt.Fprintf(&b, "✓ %s — %s in %s", r.Agent, r.State, FormatSeconds(r.Took))
			if r.SessionID != "" {
				b.WriteString(" (same session)")
			}
			b.WriteString("\n")
		} else {
			fmt.Fprintf(&b, "✗ %s — %s\n", r.Agent, r.Err)
			if r.LastLines != "" {
				for _, l := range strings.Split(r.LastLines, "\n") {
					fmt.Fprintf(&b, "    │ %s\n", clip(l, 100))
				}
			}
		}
		if r.WasWorking {
			working = append(working, r.Agent)
		}
	}
	if len(working) > 0 {
		fmt.Fprintf(&b, "Were mid-task when they failed — re-check their work: %s\n", strings.Join(working, ", "))
	}
	return strings.TrimRight(b.String(), "\n")
}

// FormatSeconds renders a short duration: "6 s", "1 m 5 s".
func FormatSeconds(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s < 60 {
		return fmt.Sprintf("%d s", s)
	}
	return fmt.Sprintf("%d m %d s", s/60, s%60)
}

func joinNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}

package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// FleetView is what the fleet commands read.
type FleetView interface {
	Snapshot() []fleet.Status
	Peek(ctx context.Context, agent string, lines int) (string, error)
}

// CredentialStatus is one credential as /auth shows it.
type CredentialStatus struct {
	Name    string
	Kind    string
	Healthy bool
	Detail  string // "access expires in 3h12m, refresh in 29d" or what is wrong
	// Stand-ins are the agents whose primary this is that run on another
	// credential now (after a failover or /auth use), by agent → the one.
	StandIns map[string]string
}

// CredentialSource lists the credentials and their health.
type CredentialSource func(ctx context.Context) []CredentialStatus

// Peek limits.
const (
	DefaultPeekLines = 20
	MaxPeekLines     = 10000
)

// Switcher moves agents to another credential and restarts them
// (`/auth use AGENT|all CREDENTIAL`).
type Switcher func(ctx context.Context, agents []string, credential string, by string) (string, error)

// RegisterFleet adds /status, /auth and /peek. switcher may be nil.
func RegisterFleet(h *Handler, f FleetView, creds CredentialSource, switcher ...Switcher) {
	fc := fleetCommands{h: h, f: f, creds: creds}
	if len(switcher) > 0 {
		fc.switcher = switcher[0]
	}
	h.Register(Command{Name: "status", Help: "state of every agent", Role: RoleViewer, Run: fc.status})
	h.Register(Command{Name: "auth", Usage: "[use AGENT|all CREDENTIAL]", Help: "login state of every agent and credential", Role: RoleViewer,
		Run: fc.auth})
	h.SetAgents(fc.agents)
	h.Register(Command{Name: "peek", Usage: "AGENT [lines]", Help: "last lines of an agent's pane", Role: RoleOperator,
		Params: []Param{{Name: "agent", Help: "the agent", Kind: ParamAgent, Required: false}, {Name: "lines", Help: "how many lines (default 20)", Kind: ParamInt, Min: 1, Max: MaxPeekLines}},
		Run:    fc.peek})
}

// fleetCommands are the handlers RegisterFleet adds.
type fleetCommands struct {
	h        *Handler
	f        FleetView
	creds    CredentialSource
	switcher Switcher // nil: no /auth use
}

// status is /status.
func (fc fleetCommands) status(ctx context.Context, c *Call) error {
	text := StatusText(fc.f.Snapshot(), fc.h.now())
	if note := fc.h.statusNote(); note != "" {
		text = note + "\n\n" + text
	}
	return c.Reply(ctx, text)
}

// auth is /auth, and /auth use AGENT|all CREDENTIAL.
func (fc fleetCommands) auth(ctx context.Context, c *Call) error {
	if len(c.Args) > 0 {
		return fc.authUse(ctx, c)
	}
	var cs []CredentialStatus
	if fc.creds != nil {
		cs = fc.creds(ctx)
	}
	return c.Reply(ctx, AuthText(fc.f.Snapshot(), cs))
}

// authUse is /auth use AGENT|all CREDENTIAL: it moves agents to another
// credential through the switcher.
func (fc fleetCommands) authUse(ctx context.Context, c *Call) error {
	if c.Args[0] != "use" || len(c.Args) != 3 || fc.switcher == nil {
		return Usagef("")
	}
	if c.Role < RoleOperator {
		return fmt.Errorf("/auth use needs the operator role; you are %s", c.Role)
	}
	var agents []string
	if c.Args[1] == "all" {
		for _, s := range fc.f.Snapshot() {
			agents = append(agents, s.Name)
		}
	} else if hasAgent(fc.f.Snapshot(), c.Args[1]) {
		agents = []string{c.Args[1]}
	} else {
		return Usagef("no agent named %q (see /status)", c.Args[1])
	}
	cred := c.Args[2]
	use := func(ctx context.Context, c *Call) error {
		out, err := fc.switcher(ctx, agents, cred, c.Req.Actor())
		if err != nil {
			return err
		}
		return c.Reply(ctx, out)
	}
	if c.Args[1] == "all" {
		// Every agent restarts: ask first, like /restart does.
		return c.Confirm(ctx, fmt.Sprintf("Move all %d agent(s) to credential %s and restart them?", len(agents), cred), use)
	}
	return use(ctx, c)
}

// agents names the agents for the transports' choosers.
func (fc fleetCommands) agents() []string {
	var names []string
	for _, s := range fc.f.Snapshot() {
		names = append(names, s.Name)
	}
	return names
}

// peek is /peek AGENT [lines]: the pane's last lines, redacted, with a
// login link or code shown only to an admin in private.
func (fc fleetCommands) peek(ctx context.Context, c *Call) error {
	if len(c.Args) == 0 {
		return pickAgent(ctx, c, fc.f.Snapshot(), "peek", "Peek at which agent?", nil, "No agents.")
	}
	if len(c.Args) > 2 {
		return Usagef("")
	}
	n := DefaultPeekLines
	if len(c.Args) == 2 {
		v, err := strconv.Atoi(c.Args[1])
		if err != nil || v < 1 || v > MaxPeekLines {
			return Usagef("lines must be a number from 1 to %d", MaxPeekLines)
		}
		n = v
	}
	name := c.Args[0]
	if !hasAgent(fc.f.Snapshot(), name) {
		return Usagef("no agent named %q (see /status)", name)
	}
	text, err := fc.f.Peek(ctx, name, n)
	if err != nil {
		return err
	}
	text = claude.Redact(text)
	if !c.Req.Private || c.Role < RoleAdmin {
		// A login link or code on the pane is for an admin in private.
		text = claude.HideLogin(text)
	}
	if strings.TrimSpace(text) == "" {
		text = "(empty pane)"
	}
	rep := Reply{Text: fmt.Sprintf("%s, last %d lines:", name, n), Pre: text}
	// A dialog on the pane: its options as buttons under it.
	if _, bs := fc.h.DialogButtons(ctx, name); len(bs) > 0 {
		rep.Buttons, rep.Stacked = bs, true
	}
	return c.Send(ctx, rep)
}

func hasAgent(ss []fleet.Status, name string) bool {
	for _, s := range ss {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Icon is the one-glyph summary of a state.
func Icon(s claude.State) string {
	switch s {
	case claude.Working:
		return "🔵"
	case claude.Idle:
		return "🟢"
	case claude.NeedsInput:
		return "🟡"
	case claude.LoggingIn:
		return "🔑"
	case claude.AuthFailed:
		return "🔴"
	case claude.APIError:
		return "🟠"
	case claude.Limited:
		return "⏳"
	case claude.Exited:
		return "⚫"
	}
	return "⚪"
}

// StatusText renders the fleet for /status.
func StatusText(ss []fleet.Status, now time.Time) string {
	if len(ss) == 0 {
		return "No agents found. Configure [[agent]] entries, or start Claude Code in tmux."
	}
	counts := map[claude.State]int{}
	for _, s := range ss {
		counts[s.State]++
	}
	var parts []string
	for _, st := range []claude.State{claude.Working, claude.Idle, claude.NeedsInput, claude.LoggingIn, claude.AuthFailed, claude.APIError, claude.Limited, claude.Exited, claude.Unknown} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d agents: %s\n", len(ss), strings.Join(parts, ", "))
	sorted := append([]fleet.Status(nil), ss...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i].State) < rank(sorted[j].State) })
	for _, s := range sorted {
		fmt.Fprintf(&b, "%s %s — %s", Icon(s.State), s.Name, s.State)
		if s.State == claude.Limited {
			// "limited until 14:00 (continues by itself)": what the operator
			// needs is when, and that nothing is to be done.
			if t, err := time.Parse(time.RFC3339, s.ResetsAt); err == nil {
				fmt.Fprintf(&b, " until %s", LimitClock(t, now))
			}
			b.WriteString(" (continues by itself)")
			if s.Reason != "" {
				fmt.Fprintf(&b, " · %s", s.Reason.Describe())
			}
			b.WriteString("\n")
			continue
		}
		if s.Reason != "" {
			fmt.Fprintf(&b, " (%s)", s.Reason)
		}
		if !s.Since.IsZero() {
			fmt.Fprintf(&b, " for %s", Ago(now.Sub(s.Since)))
		}
		if !s.Healthy() && s.Evidence != "" {
			fmt.Fprintf(&b, "\n    %s", clip(s.Evidence, 120))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// LimitClock shows a reset time: "14:00" today, "Mon 14:00" within a week,
// "Sep 15 14:00" beyond, in t's own zone (the CLI's, as on screen).
func LimitClock(t, now time.Time) string {
	n := now.In(t.Location())
	switch d := t.Sub(now); {
	case t.YearDay() == n.YearDay() && t.Year() == n.Year():
		return t.Format("15:04")
	case d > 0 && d < 6*24*time.Hour:
		return t.Format("Mon 15:04")
	}
	return t.Format("Jan 2 15:04")
}

// rank puts the agents that need a human first.
func rank(s claude.State) int {
	switch s {
	case claude.AuthFailed:
		return 0
	case claude.APIError:
		return 1
	case claude.Exited:
		return 2
	case claude.NeedsInput:
		return 3
	case claude.LoggingIn:
		return 4
	case claude.Unknown:
		return 5
	case claude.Limited:
		return 6
	case claude.Working:
		return 7
	}
	return 8
}

// AuthText renders /auth: agents' login state, then credentials.
func AuthText(ss []fleet.Status, creds []CredentialStatus) string {
	var b strings.Builder
	var bad, relogin int
	for _, s := range ss {
		if s.State == claude.AuthFailed {
			bad++
			if s.Reason.ReloginFixes() {
				relogin++
			}
		}
	}
	switch {
	case len(ss) == 0:
		b.WriteString("No agents.\n")
	case bad == 0:
		fmt.Fprintf(&b, "Logins OK on all %d agents.\n", len(ss))
	default:
		fmt.Fprintf(&b, "Login failed on %d of %d agents.", bad, len(ss))
		if relogin > 0 {
			b.WriteString(" /login fixes it.")
		}
		b.WriteString("\n")
	}
	for _, s := range ss {
		switch s.State {
		case claude.AuthFailed:
			fmt.Fprintf(&b, "🔴 %s: %s — %s\n", s.Name, s.Reason, s.Reason.Describe())
		case claude.LoggingIn:
			fmt.Fprintf(&b, "🔑 %s: login screen open\n", s.Name)
		}
	}
	if len(creds) > 0 {
		b.WriteString("Credentials:\n")
		for _, c := range creds {
			mark := "✅"
			if !c.Healthy {
				mark = "❌"
			}
			fmt.Fprintf(&b, "%s %s (%s): %s\n", mark, c.Name, c.Kind, c.Detail)
			for _, agent := range slices.Sorted(maps.Keys(c.StandIns)) {
				other := c.StandIns[agent]
				fmt.Fprintf(&b, "   ↪ %s runs on %s instead", agent, other)
				if c.Healthy {
					fmt.Fprintf(&b, "; back with /auth use %s %s", agent, c.Name)
				}
				b.WriteString("\n")
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Ago renders a duration compactly: 45s, 12m, 3h5m, 2d4h.
func Ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - h*60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days := int(d.Hours()) / 24
	h := int(d.Hours()) - days*24
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

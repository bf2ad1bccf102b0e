package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
)

// Silencer mutes alerts for a while.
type Silencer interface {
	Silence(target string, d time.Duration, reason, by string) (alert.Silence, error)
	Silences() []alert.Silence
	ClearSilences() int
}

// MaxSilence bounds a silence: a forgotten one must not hide an outage for weeks.
const MaxSilence = 7 * 24 * time.Hour

// RegisterSilence adds /silence.
func RegisterSilence(h *Handler, s Silencer, agents func() []string) {
	h.Register(Command{Name: "silence", Usage: "AGENT|all DURATION [reason] | list | clear", Help: "mute alerts for a while", Role: RoleOperator,
		Params: []Param{{Name: "agent", Help: "the agent, all, or list / clear", Kind: ParamAgent, Required: true, Also: []string{"all", "list", "clear"}},
			{Name: "duration", Help: "for how long", Kind: ParamDuration, Choices: Durations},
			{Name: "reason", Help: "why (shown with the silence)", Rest: true}},
		Run: func(ctx context.Context, c *Call) error {
			if len(c.Args) == 0 {
				return Usagef("")
			}
			switch c.Args[0] {
			case "list":
				return c.Reply(ctx, silenceList(s.Silences(), h.now()))
			case "clear":
				n := s.ClearSilences()
				h.record(audit.Record{Kind: audit.KindSilence, Actor: c.Req.Actor(), Action: "clear", Message: fmt.Sprintf("%d silences lifted", n)})
				return c.Reply(ctx, fmt.Sprintf("Lifted %d silence(s).", n))
			}
			if len(c.Args) < 2 {
				return Usagef("")
			}
			target := c.Args[0]
			if target != "all" && !contains(agents(), target) {
				return Usagef("no agent named %q (see /status)", target)
			}
			d, err := time.ParseDuration(c.Args[1])
			if err != nil || d <= 0 || d > MaxSilence {
				return Usagef("%q is not a duration from 1m to %s (use 30m, 2h)", c.Args[1], Ago(MaxSilence))
			}
			reason := strings.Join(c.Args[2:], " ")
			mute := func(ctx context.Context, c *Call) error {
				sil, err := s.Silence(target, d, reason, c.Req.Actor())
				if err != nil {
					return err
				}
				h.record(audit.Record{Kind: audit.KindSilence, Actor: c.Req.Actor(), Action: "add", Agents: []string{target},
					Reason: reason, Message: fmt.Sprintf("alerts for %s muted for %s", target, d)})
				return c.Reply(ctx, fmt.Sprintf("🔕 Alerts for %s muted until %s (%s).", target, sil.End.Format("15:04"), orNone(reason)))
			}
			if target == "all" {
				// Muting the whole fleet hides every outage: ask first.
				return c.Confirm(ctx, fmt.Sprintf("Mute every alert of every agent for %s (%s)?", Ago(d), orNone(reason)), mute)
			}
			return mute(ctx, c)
		}})
}

func silenceList(ss []alert.Silence, now time.Time) string {
	if len(ss) == 0 {
		return "No silences."
	}
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "🔕 %s — %s left, by %s (%s)\n", s.Target, Ago(s.End.Sub(now)), s.By, orNone(s.Reason))
	}
	return strings.TrimRight(b.String(), "\n")
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

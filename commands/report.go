package commands

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// History reads the journal.
type History func(since time.Time) ([]audit.Record, error)

// ReportInput is what the morning report is made of.
type ReportInput struct {
	Now         time.Time
	Loc         *time.Location
	Started     time.Time // when this fleetwarden started
	Agents      []fleet.Status
	Credentials []CredentialStatus
	Expiries    []Expiry
	Records     []audit.Record // the last 24 hours
}

// Expiry is a token that runs out.
type Expiry struct {
	Credential string
	Token      string // "refresh", "long-lived", "access"
	At         time.Time
}

// RegisterHistory adds /timeline and /report.
func RegisterHistory(h *Handler, history History, loc *time.Location, report func(ctx context.Context) (string, error)) {
	if loc == nil {
		loc = time.Local
	}
	h.Register(Command{Name: "timeline", Usage: "[since, e.g. 24h]", Help: "what happened, in plain words", Role: RoleViewer,
		Params: []Param{{Name: "since", Help: "how far back (default 24h)", Kind: ParamDuration, Choices: []string{"1h", "6h", "24h", "3d", "7d"}}},
		Run: func(ctx context.Context, c *Call) error {
			since := 24 * time.Hour
			if len(c.Args) > 1 {
				return Usagef("")
			}
			if len(c.Args) == 1 {
				d, err := parseSince(c.Args[0])
				if err != nil {
					return Usagef("%v", err)
				}
				since = d
			}
			now := h.now()
			recs, err := history(now.Add(-since))
			if err != nil && len(recs) == 0 {
				return fmt.Errorf("reading the journal: %w", err)
			}
			return c.Reply(ctx, fmt.Sprintf("Last %s:\n%s", Ago(since), audit.Timeline(recs, loc, now)))
		}})
	h.Register(Command{Name: "report", Help: "the morning report, now", Role: RoleViewer,
		Run: func(ctx context.Context, c *Call) error {
			text, err := report(ctx)
			if err != nil {
				return err
			}
			return c.Reply(ctx, text)
		}})
}

// parseSince accepts Go durations and days ("3d").
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 && days <= 90 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 90*24*time.Hour {
		return 0, fmt.Errorf("%q is not a period like 2h, 24h or 7d", s)
	}
	return d, nil
}

// Report renders the morning report: short enough to read on a phone.
func Report(in ReportInput) string {
	loc := in.Loc
	if loc == nil {
		loc = time.Local
	}
	var b strings.Builder
	fmt.Fprintf(&b, "☀️ fleetwarden report — %s\n", in.Now.In(loc).Format("Mon 2 Jan 15:04 MST"))
	reportFleet(&b, in)
	reportCredentials(&b, in, loc)
	reportIncidents(&b, in, loc)
	reportLimits(&b, in)
	reportActivity(&b, in)
	if !in.Started.IsZero() {
		fmt.Fprintf(&b, "fleetwarden up for %s.", Ago(in.Now.Sub(in.Started)))
	}
	return strings.TrimRight(b.String(), "\n")
}

// reportFleet is the fleet now: counts per state, then the agents that are not healthy.
func reportFleet(b *strings.Builder, in ReportInput) {
	counts := map[claude.State]int{}
	var bad []fleet.Status
	for _, s := range in.Agents {
		counts[s.State]++
		if !s.Healthy() {
			bad = append(bad, s)
		}
	}
	var parts []string
	for _, st := range []claude.State{claude.Working, claude.Idle, claude.NeedsInput, claude.LoggingIn, claude.AuthFailed, claude.APIError, claude.Limited, claude.Exited, claude.Unknown} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	if len(in.Agents) == 0 {
		b.WriteString("Fleet: no agents.\n")
	} else {
		fmt.Fprintf(b, "Fleet: %d agents — %s\n", len(in.Agents), strings.Join(parts, ", "))
	}
	for i, s := range bad {
		if i == 8 {
			fmt.Fprintf(b, "  … and %d more not healthy\n", len(bad)-i)
			break
		}
		why := string(s.State)
		if s.Reason != "" {
			why += " (" + s.Reason.Describe() + ")"
		}
		fmt.Fprintf(b, "  %s %s: %s for %s\n", Icon(s.State), s.Name, why, Ago(in.Now.Sub(s.Since)))
	}
}

// reportCredentials is each credential's health and the tokens that run out soon.
func reportCredentials(b *strings.Builder, in ReportInput, loc *time.Location) {
	if len(in.Credentials) > 0 {
		b.WriteString("Credentials:\n")
		for _, c := range in.Credentials {
			mark := "✅"
			if !c.Healthy {
				mark = "❌"
			}
			fmt.Fprintf(b, "  %s %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	sort.Slice(in.Expiries, func(i, j int) bool { return in.Expiries[i].At.Before(in.Expiries[j].At) })
	for _, e := range in.Expiries {
		fmt.Fprintf(b, "  ⏳ %s: %s token runs out in %s (%s)\n", e.Credential, e.Token, Ago(e.At.Sub(in.Now)), e.At.In(loc).Format("Mon 15:04"))
	}
}

// reportIncidents is the last 24 hours' incidents and their outage minutes.
func reportIncidents(b *strings.Builder, in ReportInput, loc *time.Location) {
	incidents := audit.Incidents(in.Records)
	if len(incidents) == 0 {
		b.WriteString("Last 24 h: no incidents.\n")
	} else {
		var total time.Duration
		for _, i := range incidents {
			total += i.Duration(in.Now)
		}
		fmt.Fprintf(b, "Last 24 h: %d incident(s), %d outage minutes:\n", len(incidents), int(total.Minutes()))
		for i, inc := range incidents {
			if i == 5 {
				fmt.Fprintf(b, "  … and %d more (/timeline)\n", len(incidents)-i)
				break
			}
			state := audit.FormatDuration(inc.Duration(in.Now))
			if inc.Ongoing {
				state += ", ongoing"
			}
			fmt.Fprintf(b, "  %s %s on %s (%s)\n", inc.Start.In(loc).Format("15:04"), inc.Cause, nameList(inc.Agents, 4), state)
		}
	}
}

// reportLimits is the time agents lost waiting at usage limits, longest first.
func reportLimits(b *strings.Builder, in ReportInput) {
	if lost := audit.LimitedTime(in.Records, in.Now); len(lost) > 0 {
		names := make([]string, 0, len(lost))
		var total time.Duration
		for a, d := range lost {
			names = append(names, a)
			total += d
		}
		sort.Slice(names, func(i, j int) bool {
			if lost[names[i]] != lost[names[j]] {
				return lost[names[i]] > lost[names[j]]
			}
			return names[i] < names[j]
		})
		var per []string
		for i, a := range names {
			if i == 6 {
				per = append(per, fmt.Sprintf("… %d more", len(names)-i))
				break
			}
			per = append(per, fmt.Sprintf("%s %s", a, audit.FormatDuration(lost[a])))
		}
		fmt.Fprintf(b, "Usage limits: %s lost — %s\n", audit.FormatDuration(total), strings.Join(per, ", "))
	}
}

// reportActivity is what fleetwarden did: restarts, alerts fired and where they were delivered.
func reportActivity(b *strings.Builder, in ReportInput) {
	restarts, failed := 0, 0
	alerts := 0
	routes := map[string]int{}
	for _, r := range in.Records {
		switch {
		case r.Kind == audit.KindRestart && r.Action == "agent":
			restarts++
			if r.OK != nil && !*r.OK {
				failed++
			}
		case r.Kind == audit.KindAlert && (r.Action == "fired" || r.Action == "firing"):
			alerts++
		case r.Kind == audit.KindDelivery && r.OK != nil && *r.OK:
			routes[r.Route]++
		}
	}
	if restarts > 0 {
		fmt.Fprintf(b, "Restarts: %d", restarts)
		if failed > 0 {
			fmt.Fprintf(b, " (%d failed)", failed)
		}
		b.WriteString("\n")
	}
	if alerts > 0 || len(routes) > 0 {
		var rs []string
		for r, n := range routes {
			rs = append(rs, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(rs)
		fmt.Fprintf(b, "Alerts: %d fired; delivered: %s\n", alerts, orNoneList(rs))
	}
}

func nameList(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" +%d", len(names)-max)
}

func orNoneList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// limitPolicy runs the usage-limit policy on a scan: one grouped notice
// per limit window (not critical: the CLI continues by itself), agents that
// went on reported back, the resume prompt for one that will not go on by
// itself, and who is still waiting after the reset.
func (d *daemon) limitPolicy(sts []fleet.Status) {
	if d.limits == nil || d.alerts == nil || d.boot == nil || d.boot.safe != "" {
		return
	}
	now := time.Now()
	for _, a := range d.limits.Observe(sts, now) {
		if a.Kind == fleet.LimitResume {
			go d.resumeAfterLimit(a.Agents[0], a.ResetsAt)
			continue
		}
		title, text := limitText(a, now)
		d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: title, Evidence: text, Active: true})
		_ = d.tap.Append(audit.Record{Kind: audit.KindTransition, Actor: "fleetwarden", Action: string(a.Kind),
			Agents: a.Agents, Reason: string(a.Reason), Message: text})
	}
}

// limitText is what the notice of a limit action says: a title and one line.
func limitText(a fleet.LimitAction, now time.Time) (title, text string) {
	switch a.Kind {
	case fleet.LimitNotice:
		title = limitTitle(a.Reason)
		who := "they continue by themselves"
		if len(a.Agents) == 1 {
			who = "it continues by itself"
		}
		text = fmt.Sprintf("%s on %s · %s · %s", title, agentsCount(a.Agents), resetsPhrase(a.ResetsAt, now), who)
		if len(a.Agents) <= 12 {
			text += ": " + strings.Join(a.Agents, ", ")
		}
	case fleet.LimitBack:
		title = "Back after the usage limit"
		text = fmt.Sprintf("%s went on after the limit (%s lost at most)", strings.Join(a.Agents, ", "), roundLost(a.Lost))
	case fleet.LimitWaiting:
		title = "Still waiting after the limit reset"
		text = fmt.Sprintf("%s still limited after the reset (%s): %s", agentsCount(a.Agents), resetsPhrase(a.ResetsAt, now), strings.Join(a.Agents, ", "))
		if len(a.Agents) == 1 {
			text = fmt.Sprintf("%s is still limited after the reset (%s). /peek it; /send %s continue", a.Agents[0], resetsPhrase(a.ResetsAt, now), a.Agents[0])
		}
	}
	return title, text
}

// resumeAfterLimit types the resume prompt into an agent whose CLI will
// not go on by itself, once the limit has reset; journaled either way.
func (d *daemon) resumeAfterLimit(agent string, reset time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prompt := d.rt.cfg.Limits.ResumePrompt
	err := d.rt.fleet.ResumeLimited(ctx, agent, prompt)
	rec := audit.Record{Kind: audit.KindCommand, Actor: "fleetwarden", Action: "limit_resume", Agents: []string{agent},
		Message: fmt.Sprintf("typed %q after the usage limit reset (%s): its CLI would not continue by itself", claude.Redact(prompt), reset.Format(time.RFC3339))}
	if err != nil {
		rec.Message = fmt.Sprintf("did not type %q after the usage limit reset: %v", claude.Redact(prompt), err)
		d.log.Warn("limit resume", "agent", agent, "err", err)
	}
	_ = d.tap.Append(rec)
	if err == nil {
		d.notice(agent, "limit resume", fmt.Sprintf("%s did not continue by itself after its usage limit reset; typed %q (once).", agent, prompt))
	}
	d.watchdog.ScanOnce(ctx)
}

func limitTitle(r claude.Reason) string {
	switch r {
	case claude.ReasonWeeklyLimit:
		return "Weekly limit"
	case claude.ReasonSpendLimit:
		return "Spend limit"
	}
	return "Usage limit"
}

func agentsCount(a []string) string {
	if len(a) == 1 {
		return "1 agent"
	}
	return fmt.Sprintf("%d agents", len(a))
}

// resetsPhrase: "resets 14:00 CET", "resets Sat 19:00 CET", "reset time unknown".
func resetsPhrase(at, now time.Time) string {
	if at.IsZero() {
		return "reset time not shown"
	}
	t := at.In(time.Local)
	f := "15:04 MST"
	if t.Sub(now) > 20*time.Hour {
		f = "Mon 2 Jan 15:04 MST"
	}
	return "resets " + t.Format(f)
}

func roundLost(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

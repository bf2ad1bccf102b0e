package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/credentials"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/atomicfile"
)

// limitPolicy runs the usage-limit policy on a scan: one grouped notice
// per limit window (not critical: the CLI continues by itself), agents that
// went on reported back, the resume prompt for one that will not go on by
// itself, and who is still waiting after the reset.
func (d *daemon) limitPolicy(sts []fleet.Status) {
	if d.boot.safe != "" {
		return
	}
	now := d.now()
	for _, a := range d.limits.Observe(sts, now) {
		switch a.Kind {
		case fleet.LimitResume:
			go d.resumeAfterLimit(a.Agents[0], a.ResetsAt)
			continue
		case fleet.LimitFailover:
			go d.limitFailover(a)
			continue
		case fleet.LimitFailback:
			go d.limitFailback(a)
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

// limitFailover moves agents limited for limits.failover_after onto the
// failover credential: a restart on it (the session resumed), then the
// resume prompt, so the task goes on; announced and journaled. An agent
// fleetwarden cannot move (not configured, already on that credential, the
// credential unhealthy) waits out its limit as before.
func (d *daemon) limitFailover(a fleet.LimitAction) {
	ctx, cancel := context.WithTimeout(context.Background(), d.rt.cfg.Login.RestartTimeout.Duration+time.Minute)
	defer cancel()
	to := d.rt.cfg.Limits.Failover
	from := map[string]string{}
	var move, stay []string
	for _, agent := range a.Agents {
		cur := ""
		if d.rt.failover != nil {
			cur = d.rt.failover.Current(agent)
		}
		if cur == "" || cur == to {
			d.limits.FailoverDone(agent, "", false)
			stay = append(stay, agent)
			continue
		}
		from[agent] = cur
		move = append(move, agent)
	}
	if len(stay) > 0 {
		d.notice("", "limit failover", fmt.Sprintf("%s not moved to credential %s during the usage limit: %s.",
			strings.Join(stay, ", "), to, "not a configured agent, or already on it"))
	}
	if len(move) == 0 {
		return
	}
	if h := d.rt.creds.Check(ctx, to, false); !h.Healthy {
		for _, agent := range move {
			d.limits.FailoverDone(agent, "", false)
		}
		d.notice("", "limit failover", fmt.Sprintf("%s stay limited: the failover credential %s is unhealthy (%s).",
			strings.Join(move, ", "), to, h.Detail))
		return
	}
	override := map[string]string{}
	for _, agent := range move {
		override[agent] = to
	}
	res, _ := d.restartOn(ctx, move, override, "fleetwarden")
	var moved, failed []string
	for _, r := range res {
		ok := r.OK && d.rt.failover.Switched(r.Agent, to) == nil
		d.limits.FailoverDone(r.Agent, from[r.Agent], ok)
		rec := audit.Record{Kind: audit.KindCredential, Agents: []string{r.Agent}, Actor: "fleetwarden", Action: "limit_failover",
			From: from[r.Agent], To: to, Reason: string(a.Reason), OK: ptr(ok), Error: r.Err}
		_ = d.tap.Append(rec)
		if !ok {
			failed = append(failed, fmt.Sprintf("%s (%s)", r.Agent, r.Err))
			continue
		}
		moved = append(moved, r.Agent)
		if d.limitOpts().AutoResume {
			if _, err := d.rt.fleet.Type(ctx, r.Agent, d.rt.cfg.Limits.ResumePrompt, claude.Idle, claude.Limited); err != nil {
				d.log.Warn("limit failover: resume prompt", "agent", r.Agent, "err", err)
			}
		}
	}
	d.saveLimitMoves()
	if len(moved) > 0 {
		d.notice("", "limit failover", fmt.Sprintf("%s: moved %s to credential %s until the reset (%s); they go back after it.",
			limitTitle(a.Reason), strings.Join(moved, ", "), to, resetsPhrase(a.ResetsAt, time.Now())))
	}
	if len(failed) > 0 {
		d.notice("", "limit failover", fmt.Sprintf("Moving to credential %s failed for %s; they wait out the limit.", to, strings.Join(failed, ", ")))
	}
	d.watchdog.ScanOnce(ctx)
}

// limitFailback moves agents back to the credential they had before their
// usage limit, once it has reset: a restart between turns.
func (d *daemon) limitFailback(a fleet.LimitAction) {
	ctx, cancel := context.WithTimeout(context.Background(), d.rt.cfg.Login.RestartTimeout.Duration+time.Minute)
	defer cancel()
	moves := d.limits.Moved()
	var back, failed []string
	for _, agent := range a.Agents {
		from := moves[agent].From
		if from == "" {
			from = d.limitFrom(agent)
		}
		err := d.rt.failover.Use([]string{agent}, from)
		var res []fleet.RestartResult
		if err == nil {
			res, _ = d.restartOn(ctx, []string{agent}, nil, "fleetwarden")
			if len(res) != 1 || !res[0].OK {
				err = fmt.Errorf("restart failed")
				if len(res) == 1 && res[0].Err != "" {
					err = errors.New(res[0].Err)
				}
			}
		}
		ok := err == nil
		rec := audit.Record{Kind: audit.KindCredential, Agents: []string{agent}, Actor: "fleetwarden", Action: "limit_failback",
			From: d.rt.cfg.Limits.Failover, To: from, Reason: string(a.Reason), OK: ptr(ok)}
		if err != nil {
			rec.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s (%v)", agent, err))
		} else {
			back = append(back, agent)
		}
		_ = d.tap.Append(rec)
		d.limits.FailbackDone(agent, ok)
	}
	d.saveLimitMoves()
	if len(back) > 0 {
		d.notice("", "limit failback", fmt.Sprintf("The usage limit has reset: %s back on their own credential.", strings.Join(back, ", ")))
	}
	if len(failed) > 0 {
		d.notice("", "limit failback", fmt.Sprintf("Moving back after the usage limit failed for %s; tried again on the next scan.", strings.Join(failed, ", ")))
	}
	d.watchdog.ScanOnce(ctx)
}

// limitFrom is where an agent goes back to when where it came from is not
// known (a state file of an older fleetwarden): its primary.
func (d *daemon) limitFrom(agent string) string {
	for _, a := range d.rt.failover.Assignments() {
		if a.Agent == agent {
			return a.Primary
		}
	}
	return credentials.DefaultName
}

// limitMovesFile keeps the agents on the failover credential across
// restarts of fleetwarden, so that they still go back after the reset.
const limitMovesFile = "limit-failover.json"

func (d *daemon) limitOpts() fleet.LimitOptions { return limitOptions(d.rt.cfg) }

func limitOptions(cfg *config.Config) fleet.LimitOptions {
	l := cfg.Limits
	return fleet.LimitOptions{AutoResume: l.AutoResume == nil || *l.AutoResume, Prompt: l.ResumePrompt,
		Grace: l.Grace.Duration, Failover: l.Failover != "", FailoverAfter: l.FailoverAfter.Duration}
}

// newLimits is the usage-limit policy of cfg, with the agents a previous
// run had moved to the failover credential.
func newLimits(cfg *config.Config, log *slog.Logger) *fleet.Limits {
	l := fleet.NewLimits(limitOptions(cfg))
	b, err := os.ReadFile(filepath.Join(cfg.State.Dir, limitMovesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return l
	}
	var moved map[string]fleet.Moved
	if err == nil {
		err = json.Unmarshal(b, &moved)
	}
	if err != nil {
		log.Warn("agents moved during a usage limit: not restored (move them back with /auth use)", "file", limitMovesFile, "err", err)
		return l
	}
	l.Restore(moved)
	return l
}

func (d *daemon) saveLimitMoves() {
	b, err := json.Marshal(d.limits.Moved())
	if err == nil {
		err = atomicfile.Write(filepath.Join(d.rt.cfg.State.Dir, limitMovesFile), b, 0o600)
	}
	if d.disk != nil {
		d.disk.report(limitMovesFile, err)
	}
	if err != nil {
		d.log.Error("saving the agents moved during a usage limit", "err", err)
	}
}

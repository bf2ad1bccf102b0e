package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/credentials"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/scheduler"
)

// Location is the zone times are shown in (schedule.timezone).
func Location(name string) *time.Location {
	if name == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.Local
	}
	return loc
}

// schedule registers the cron jobs: auth checks with expiry warnings, and
// the morning report (checked in safe mode too, which runs none of them).
func (d *daemon) schedule() (*scheduler.Scheduler, error) {
	cfg := d.rt.cfg
	s := scheduler.New(d.log, Location(cfg.Schedule.Timezone))
	if spec := cfg.Schedule.AuthCheck; spec != "" {
		if err := s.Add(scheduler.Job{Name: "auth_check", Spec: spec, Run: d.authCheck}); err != nil {
			return nil, fmt.Errorf("schedule.auth_check: %w", err)
		}
	}
	if spec := cfg.Schedule.MorningReport; spec != "" {
		if err := s.Add(scheduler.Job{Name: "morning_report", Spec: spec, Run: d.morningReport}); err != nil {
			return nil, fmt.Errorf("schedule.morning_report: %w", err)
		}
	}
	if d.boot.safe != "" {
		// Safe mode runs no jobs: only the watch and the alerts.
		return scheduler.New(d.log, Location(cfg.Schedule.Timezone)), nil
	}
	return s, nil
}

// authCheck checks every credential (with active probes where configured),
// alerts when one goes bad and warns before a login runs out — the warning
// the CLI never gives in tmux. Both go the way alerts go (queued, with the
// fallback routes), once each, across restarts too.
func (d *daemon) authCheck(ctx context.Context) {
	d.checkCLIs(ctx)
	now := d.now()
	for _, h := range d.rt.creds.CheckAll(ctx, true) {
		for _, tok := range []struct {
			which string
			at    time.Time
		}{{"access", h.AccessExpires}, {"refresh", h.RefreshExpires}} {
			if !tok.at.IsZero() {
				d.metrics.SetCredentialExpiry(h.Name, h.Kind, tok.which, tok.at)
			}
		}
		changed, seen, err := d.warnings.Health(h.Name, h.Healthy)
		if err != nil {
			d.log.Warn("auth check", "err", err)
		}
		if !changed {
			continue
		}
		// Journaled when it changes: a check every 15 minutes is no story.
		_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Actor: "fleetwarden", Action: "checked",
			Message: h.Name + ": " + h.Detail, OK: ptr(h.Healthy), Fields: map[string]string{"credential": h.Name}})
		switch {
		case !h.Healthy:
			d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: "credential " + h.Name + " is unhealthy",
				Evidence: h.Detail, Active: true})
			// Its check failing is reason enough to move its agents to
			// their backups (failover decides, by its mode).
			for _, agent := range d.agentsOn(h.Name) {
				go d.failover(context.WithoutCancel(ctx), agent, "")
			}
		case seen:
			// Healthy again: the agents that stood in on a backup go back
			// when a human says so.
			if in := d.rt.standIns(h.Name); len(in) > 0 {
				agents := slices.Sorted(maps.Keys(in))
				d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: "credential " + h.Name + " is healthy again",
					Evidence: fmt.Sprintf("%s still run on a backup. Switch back with /auth use %s %s.",
						strings.Join(agents, ", "), agents[0], h.Name), Active: true})
			}
		}
	}
	var ths []time.Duration
	for _, b := range d.rt.cfg.Schedule.WarnBefore {
		ths = append(ths, b.Duration)
	}
	due, err := d.warnings.Due(now, ths, func(within time.Duration) []credentials.Expiry {
		return d.rt.creds.ExpiringWithin(now, within)
	})
	if err != nil {
		d.log.Warn("auth check", "err", err)
	}
	for _, e := range due {
		when := e.At.In(Location(d.rt.cfg.Schedule.Timezone)).Format("Mon 2 Jan 15:04")
		what := fmt.Sprintf("The %s token of credential %s runs out in %s (%s)", e.Token, e.Name, commands.Ago(e.At.Sub(now)), when)
		d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: what,
			Evidence: "Log in again before then: /login.", Active: true})
		_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Actor: "fleetwarden", Action: "expiry_warning",
			Message: "⏳ " + what + ". Log in again before then: /login."})
	}
}

func ptr[T any](v T) *T { return &v }

// morningReport sends the report to every chat transport.
func (d *daemon) morningReport(ctx context.Context) {
	text, err := d.report(ctx)
	if err != nil {
		d.log.Error("morning report", "err", err)
		return
	}
	d.broadcast(ctx, text)
	_ = d.tap.Append(audit.Record{Kind: audit.KindReport, Actor: "fleetwarden", Action: "morning_report"})
}

// report renders the report from the fleet, the credentials and the
// journal's last 24 hours.
func (d *daemon) report(ctx context.Context) (string, error) {
	now := d.now()
	recs, err := audit.ReadAll(d.rt.cfg.State.Dir, now.Add(-24*time.Hour))
	if err != nil && len(recs) == 0 {
		return "", fmt.Errorf("reading the journal: %w", err)
	}
	in := commands.ReportInput{Now: now, Loc: Location(d.rt.cfg.Schedule.Timezone), Started: d.started,
		Agents: d.rt.fleet.Snapshot(), Credentials: d.rt.credentialStatuses(ctx), Records: recs}
	for _, e := range d.rt.creds.ExpiringWithin(now, 7*24*time.Hour) {
		if e.Token != "access" {
			in.Expiries = append(in.Expiries, commands.Expiry{Credential: e.Name, Token: e.Token, At: e.At})
		}
	}
	return commands.Report(in), nil
}

// broadcast sends a notice to the console and every chat transport.
func (d *daemon) broadcast(ctx context.Context, text string) {
	if d.console != nil {
		_ = d.console.Notify(ctx, text)
	}
	for _, t := range d.transports {
		nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := t.Notify(nctx, text); err != nil {
			d.log.Warn("notice not delivered", "transport", t.Name(), "err", err)
		}
		cancel()
	}
}

// notice is a one-off alert carried by every route.
func (d *daemon) notice(agent, reason, text string) {
	d.alerts.Observe(alert.Event{Time: d.now(), Agent: agent, Kind: alert.KindInfo, Reason: reason, Evidence: text, Active: true})
}

// checkCLIs asks each host's Claude Code for its version, for the dashboard;
// a CLI newer than the suite has passed on is logged when first seen.
func (d *daemon) checkCLIs(ctx context.Context) {
	var vs []cliVersion
	for _, host := range d.rt.cliHosts() {
		vs = append(vs, d.rt.cliVersion(ctx, host))
	}
	clis := dashboardCLIs(vs)
	d.health.mu.Lock()
	old := d.health.clis
	d.health.clis = clis
	d.health.mu.Unlock()
	for i, c := range clis {
		if c.Warning != "" && (i >= len(old) || old[i].Warning != c.Warning) {
			d.log.Warn("claude CLI", "where", vs[i].where(), "warning", c.Warning)
		}
	}
	if d.dash != nil {
		d.dash.Changed()
	}
}

// footerExpiry turns Claude Code's own footer warning ("Your login expires
// in 1 day · run /login to renew", shown when the refresh token has a day
// left) into an expiry warning, once per login and day count: the footer is
// the only sign of it for a login fleetwarden cannot read (another host, a
// config directory it is not told of).
func (d *daemon) footerExpiry(sts []fleet.Status) {
	type login struct {
		cred string
		days int
	}
	agents := map[login][]string{}
	for _, s := range sts {
		if s.LoginExpiresInDays <= 0 {
			continue
		}
		cred := s.Name // a discovered pane: its own
		if a, ok := d.rt.fleet.Agent(s.Name); ok {
			cred = a.Credential
			if cred == "" {
				cred = "default"
			}
		}
		k := login{cred, s.LoginExpiresInDays}
		agents[k] = append(agents[k], s.Name)
	}
	now := d.now()
	for k, names := range agents {
		at := now.Add(time.Duration(k.days) * 24 * time.Hour)
		fresh, err := d.warnings.Once(fmt.Sprintf("footer/%s/%d", k.cred, k.days), at)
		if err != nil {
			d.log.Warn("login expiry from the footer", "err", err)
		}
		if !fresh {
			continue
		}
		slices.Sort(names)
		days := "1 day"
		if k.days != 1 {
			days = fmt.Sprintf("%d days", k.days)
		}
		what := fmt.Sprintf("The login of %s runs out within %s (Claude Code says so on %s)", k.cred, days, strings.Join(names, ", "))
		d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: what,
			Evidence: "Your login expires in " + days + ". Log in again before then: /login.", Active: true})
		_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Actor: "fleetwarden", Action: "expiry_warning",
			Agents: names, Message: "⏳ " + what + ". Log in again before then: /login."})
	}
}

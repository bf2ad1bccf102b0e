package daemon

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	neturl "net/url"
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
// the morning report.
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
		changed, seen, err := d.warnings.health(h.Name, h.Healthy)
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
	due, err := d.warnings.due(now, ths, func(within time.Duration) []credentials.Expiry {
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

// agentsOn lists the agents running on credential name that have a backup.
func (d *daemon) agentsOn(name string) []string {
	if d.rt.failover == nil {
		return nil
	}
	var out []string
	for _, a := range d.rt.failover.Assignments() {
		if a.Credential == name && a.Backup != "" && a.Backup != name {
			out = append(out, a.Agent)
		}
	}
	return out
}

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

// heartbeat pings the dead man's switch (healthchecks.io style) while the
// scan loop is alive; a switch that stops hearing from us alerts someone
// even when fleetwarden itself is dead.
func (d *daemon) heartbeat(ctx context.Context) error {
	url := d.rt.cfg.Heartbeat.URL
	if url == "" {
		return nil
	}
	every := d.rt.cfg.Heartbeat.Interval.Duration
	if every <= 0 {
		every = time.Minute
	}
	client := &http.Client{Timeout: 15 * time.Second}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.health.mu.Lock()
		alive := !d.health.lastScan.IsZero() && d.since(d.health.lastScan) < max(3*d.rt.cfg.Watchdog.Interval.Duration, 30*time.Second)
		d.health.mu.Unlock()
		if alive {
			d.ping(ctx, client, url)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *daemon) ping(ctx context.Context, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		d.log.Warn("heartbeat", "err", hideURL(err, url))
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		d.log.Warn("heartbeat", "err", hideURL(err, url))
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		d.log.Warn("heartbeat: the dead man's switch refused the ping", "status", resp.Status)
	}
}

// hideURL takes the heartbeat URL (its path is the switch's key) out of an
// error, keeping the host.
func hideURL(err error, raw string) string {
	short := raw
	if u, perr := neturl.Parse(raw); perr == nil && u.Host != "" {
		short = u.Scheme + "://" + u.Host + "/…"
	}
	return strings.ReplaceAll(err.Error(), raw, short)
}

// heartbeatFail tells the dead man's switch that an alert could not be
// delivered on any route.
func (d *daemon) heartbeatFail(summary string) {
	url := d.rt.cfg.Heartbeat.URL
	if url == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/fail", strings.NewReader("undeliverable alert: "+summary))
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	} else {
		d.log.Warn("heartbeat /fail", "err", hideURL(err, strings.TrimRight(url, "/")+"/fail"))
	}
}

// failover reacts to an agent's login failing: with a healthy backup it
// restarts the agent on it (auto), or tells the humans how to (ask).
func (d *daemon) failover(ctx context.Context, agent, reason string) {
	fo := d.rt.failover
	if fo == nil || fo.Mode() == credentials.ModeOff {
		return
	}
	// One at a time per agent: its pane and its credential check may both
	// report the same failure.
	if _, busy := d.failingOver.LoadOrStore(agent, true); busy {
		return
	}
	defer d.failingOver.Delete(agent)
	health := map[string]credentials.Health{}
	for _, h := range d.rt.creds.CheckAll(ctx, false) {
		health[h.Name] = h
	}
	dec := fo.Decide(agent, reason, health)
	switch dec.Action {
	case credentials.ActionNone:
		if dec.To != "" || strings.Contains(dec.Why, "backup") {
			d.notice(agent, "failover", dec.Why)
		}
		return
	case credentials.ActionAsk:
		d.notice(agent, "failover", fmt.Sprintf("%s Send /auth use %s %s to switch.", dec.Why, agent, dec.To))
		return
	}
	start := d.now()
	res := d.rt.fleet.Restart(ctx, []string{agent}, d.rt.restartOptions(map[string]string{agent: dec.To}))
	ok := len(res) == 1 && res[0].OK
	_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Agents: []string{agent}, Actor: "fleetwarden", Action: "failover",
		From: dec.From, To: dec.To, Reason: reason, OK: ptr(ok), Message: dec.Why})
	for _, rec := range commands.RestartRecords(res, []string{agent}, "fleetwarden", d.since(start)) {
		_ = d.tap.Append(rec)
	}
	if !ok {
		msg := "restart failed"
		if len(res) == 1 {
			msg = res[0].Err
		}
		d.notice(agent, "failover", fmt.Sprintf("Switching %s to %s failed: %s", agent, dec.To, msg))
		return
	}
	if err := fo.Switched(agent, dec.To); err != nil {
		d.log.Error("recording the failover", "err", err)
	}
	d.notice(agent, "failover", fmt.Sprintf("%s now runs on backup credential %s (%s). Switch back with /auth use %s %s.", agent, dec.To, dec.Why, agent, dec.From))
}

// notice is a one-off alert carried by every route.
func (d *daemon) notice(agent, reason, text string) {
	d.alerts.Observe(alert.Event{Time: d.now(), Agent: agent, Kind: alert.KindInfo, Reason: reason, Evidence: text, Active: true})
}

// authUse is `/auth use AGENT|all CREDENTIAL`: the human moves agents to a
// credential (back to the primary, or over) and they restart on it.
func (d *daemon) authUse(ctx context.Context, agents []string, cred, by string) (string, error) {
	if d.rt.failover == nil {
		return "", fmt.Errorf("no credentials are configured")
	}
	if err := d.rt.failover.Use(agents, cred); err != nil {
		return "", err
	}
	_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Agents: agents, Actor: by, Action: "use", To: cred})
	start := d.now()
	res := d.rt.fleet.Restart(ctx, agents, d.rt.restartOptions(nil))
	for _, rec := range commands.RestartRecords(res, agents, by, d.since(start)) {
		_ = d.tap.Append(rec)
	}
	d.watchdog.ScanOnce(ctx)
	return fmt.Sprintf("Switched %d agent(s) to %s.\n%s", len(agents), cred, commands.RestartReport(res, d.since(start))), nil
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
	if d.alerts == nil || d.warnings == nil {
		return
	}
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
		fresh, err := d.warnings.once(fmt.Sprintf("footer/%s/%d", k.cred, k.days), at)
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

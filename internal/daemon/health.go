package daemon

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/dashboard"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// health keeps what the dashboard, /readyz and the systemd watchdog read:
// transports' health and when the last scan finished.
type health struct {
	mu         sync.Mutex
	transports map[string]dashboard.Transport
	lastScan   time.Time
	scanErr    string
	incidents  []dashboard.Incident
	incAt      time.Time
	clis       []dashboard.CLI // Claude Code on each host, as of the last auth check
}

func (h *health) setTransport(name, state, lastErr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.transports == nil {
		h.transports = map[string]dashboard.Transport{}
	}
	h.transports[name] = dashboard.Transport{Name: name, State: state, LastError: lastErr, Since: time.Now()}
}

// journalTap counts what the journal records into the metrics: alerts fired,
// deliveries per route, restarts. One place sees them all.
type journalTap struct {
	j *audit.Journal
	m *dashboard.Metrics
	d *dashboard.Server
}

func (t journalTap) Append(r audit.Record) error {
	err := t.j.Append(r)
	if t.m != nil {
		switch r.Kind {
		case audit.KindAlert:
			if r.Action == "fired" || r.Action == "firing" {
				// The kind ("auth_failed/expired" → auth_failed): a bounded
				// label, unlike the reason, which may be free text.
				kind, _, _ := strings.Cut(r.Fields["alert"], "/")
				if kind == "" {
					kind = "other"
				}
				t.m.AlertFired(kind)
			}
		case audit.KindDelivery:
			t.m.Delivery(r.Route, r.OK != nil && *r.OK)
		case audit.KindRestart:
			if r.Action == "agent" {
				t.m.Restart(r.OK != nil && *r.OK)
			}
		}
	}
	if t.d != nil && r.Kind != audit.KindCommand && r.Kind != audit.KindRefused {
		t.d.Changed()
	}
	return err
}

// snapshot is what the dashboard shows.
func (d *daemon) snapshot() dashboard.Snapshot {
	s := dashboard.Snapshot{Time: d.now(), Version: d.version, StartedAt: d.started, Notes: d.notes()}
	for _, a := range d.rt.fleet.Snapshot() {
		s.Agents = append(s.Agents, dashboard.Agent{Name: a.Name, Host: a.Host, Target: a.Target, State: string(a.State),
			Reason: string(a.Reason), Since: a.Since, Evidence: claude.Redact(a.Evidence), ResetsAt: a.ResetsAt})
	}
	for _, c := range d.rt.creds.Last() {
		s.Credentials = append(s.Credentials, dashboard.Credential{Name: c.Name, Kind: c.Kind, AccessExpires: c.AccessExpires,
			RefreshExpires: c.RefreshExpires, Healthy: c.Healthy, Detail: c.Detail})
	}
	d.health.mu.Lock()
	for _, t := range d.health.transports {
		s.Transports = append(s.Transports, t)
	}
	s.CLIs = d.health.clis
	d.health.mu.Unlock()
	for _, n := range d.alerts.Firing() {
		s.Alerts = append(s.Alerts, dashboard.Alert{Summary: n.Summary, Severity: string(n.Severity), Kind: string(n.Kind),
			Agents: n.Agents, Since: n.StartsAt})
	}
	for _, si := range d.alerts.Silences() {
		s.Silences = append(s.Silences, dashboard.Silence{Target: si.Target, By: si.By, Reason: si.Reason, Until: si.End})
	}
	s.Incidents = d.recentIncidents()
	return s
}

// recentIncidents reads the last day's incidents from the journal, at most
// every 10 s.
func (d *daemon) recentIncidents() []dashboard.Incident {
	d.health.mu.Lock()
	defer d.health.mu.Unlock()
	if d.since(d.health.incAt) < 10*time.Second {
		return d.health.incidents
	}
	recs, _ := audit.ReadAll(d.rt.cfg.State.Dir, d.now().Add(-24*time.Hour))
	var out []dashboard.Incident
	for _, i := range audit.Incidents(recs) {
		out = append(out, dashboard.Incident{Start: i.Start, End: i.End, Agents: i.Agents, Cause: i.Cause, Ongoing: i.Ongoing})
	}
	d.health.incidents, d.health.incAt = out, d.now()
	return out
}

// localAgents says whether an agent runs on this machine's tmux: a fleet
// whose agents are all on other hosts needs no local server.
func localAgents(agents []config.Agent) bool {
	return slices.ContainsFunc(agents, func(a config.Agent) bool { return a.Host == "" })
}

// ready says why fleetwarden is not ready: tmux unreachable, no route up.
func (d *daemon) ready() []string {
	var why []string
	d.health.mu.Lock()
	if d.health.lastScan.IsZero() {
		why = append(why, "no scan has finished yet")
	}
	if d.health.scanErr != "" {
		why = append(why, "tmux: "+d.health.scanErr)
	}
	switch terr := d.rt.fleet.TmuxErrors()[""]; {
	case errors.Is(terr, tmux.ErrNoServer) && localAgents(d.rt.cfg.Agents):
		why = append(why, "tmux: no server is running, so none of the configured agents is")
	case terr != nil && !errors.Is(terr, tmux.ErrNoServer) && d.health.scanErr == "":
		why = append(why, "tmux: "+claude.Redact(terr.Error()))
	}
	up := d.console != nil
	for _, t := range d.health.transports {
		if t.State == "up" || t.State == "degraded" {
			up = true
		}
	}
	d.health.mu.Unlock()
	chats := map[string]bool{}
	for _, t := range d.transports {
		chats[t.Name()] = true
	}
	// A fallback route is up unless deliveries wait on it after failing.
	for name, rs := range d.alerts.Stats().Routes {
		if !chats[name] && (rs.Queued == 0 || rs.Failed == 0) {
			up = true
		}
	}
	if !up {
		why = append(why, "no alert route is up")
	}
	return why
}

// onScan feeds the metrics, the dashboard and the systemd watchdog.
func (d *daemon) onScan(sts []fleet.Status, took time.Duration) {
	counts := map[string]int{}
	scanErr := ""
	for _, s := range sts {
		counts[string(s.State)]++
		if s.Host == "" && s.Reason == fleet.ReasonHostDown {
			scanErr = s.Evidence
		}
	}
	d.health.mu.Lock()
	d.health.lastScan, d.health.scanErr = d.now(), scanErr
	d.health.mu.Unlock()
	d.metrics.ObserveScan(took)
	d.metrics.SetAgentStates(counts)
	resets := map[string]dashboard.LimitReset{}
	for _, s := range sts {
		if t, err := time.Parse(time.RFC3339, s.ResetsAt); err == nil && s.State == claude.Limited {
			resets[s.Name] = dashboard.LimitReset{Reason: string(s.Reason), At: t}
		}
	}
	d.metrics.SetLimitResets(resets)
	// The first scan's events are in: alerts restored from before a
	// restart can now tell "still firing" from "cleared meanwhile".
	d.synced.Do(d.alerts.Synced)
	d.footerExpiry(sts)
	d.limitPolicy(sts)
}

// scanning says whether the scan loop is alive, for the dead man's switch:
// a scan finished within three scan intervals (30 s at least).
func (d *daemon) scanning() bool {
	d.health.mu.Lock()
	defer d.health.mu.Unlock()
	return !d.health.lastScan.IsZero() && d.since(d.health.lastScan) < max(3*d.rt.cfg.Watchdog.Interval.Duration, 30*time.Second)
}

// notifySystemd tells systemd we are ready, then pings its watchdog while
// scans keep finishing: a hung scan loop stops the pings and systemd
// restarts us.
func (d *daemon) notifySystemd(ctx context.Context) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	_, _ = sd.SdNotify(false, sd.SdNotifyReady)
	every, err := sd.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	// Alive means a scan finished lately: within three scan intervals, and
	// at least half of systemd's watchdog period, so a hung loop stops the
	// pings well before systemd gives up on them.
	interval := d.rt.cfg.Watchdog.Interval.Duration
	stale := max(3*interval, every/2)
	t := time.NewTicker(every / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.health.mu.Lock()
			alive := d.since(d.health.lastScan) < stale
			d.health.mu.Unlock()
			if alive {
				_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
			}
		}
	}
}

func sdStopping() {
	if os.Getenv("NOTIFY_SOCKET") != "" {
		_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	}
}

package dashboard

import (
	_ "embed"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// maxIncidents caps the incident table: the page is for now, the journal
// and /timeline are for history.
const maxIncidents = 10

// view is what the template renders: the sanitized snapshot with every time
// already turned into short text, so the template stays logic-free.
type view struct {
	Version     string
	Notes       []string
	Uptime      string
	Updated     string
	Counts      []stateCount
	Agents      []agentRow
	Credentials []credRow
	CLIs        []cliRow
	Transports  []transportRow
	Alerts      []alertRow
	Silences    []silenceRow
	Incidents   []incidentRow
}

type pageData struct {
	Live  view
	Nonce string
	// PollMS is how often the page polls /fragment once events have been
	// silent for SilentMS.
	PollMS, SilentMS int64
}

type stateCount struct {
	State string
	N     int
}

type agentRow struct {
	Name, Host, Target, State, Class, Reason, Since, SinceTitle, Evidence string
}

type credRow struct {
	Name, Kind                string
	Access, AccessClass       string
	Refresh, RefreshClass     string
	Healthy                   bool
	Detail                    string
	AccessTitle, RefreshTitle string
}

type cliRow struct {
	Host, Version, Warning, Error string
}

type transportRow struct {
	Name, State, Class, Since, SinceTitle, LastError string
}

type alertRow struct {
	Summary, Severity, Kind, Agents, Since, SinceTitle string
}

type silenceRow struct {
	Target, By, Reason, Until, UntilTitle string
}

type incidentRow struct {
	Start, StartTitle, Duration, Agents, Cause string
	Ongoing                                    bool
}

// view is the page's data: the snapshot as rows of text, one function a
// section.
func (s *Server) view() view {
	snap := s.snapshot()
	now := snap.Time
	v := view{
		Version: snap.Version,
		Notes:   snap.Notes,
		Updated: now.Local().Format("15:04:05"),
	}
	if !snap.StartedAt.IsZero() {
		v.Uptime = short(now.Sub(snap.StartedAt))
	}
	v.Agents, v.Counts = agentRows(snap.Agents, now)
	v.Credentials = credRows(snap.Credentials, now)
	v.CLIs = cliRows(snap.CLIs)
	v.Transports = transportRows(snap.Transports, now)
	v.Alerts = alertRows(snap.Alerts, now)
	v.Silences = silenceRows(snap.Silences, now)
	v.Incidents = incidentRows(snap.Incidents, now)
	return v
}

// agentRows are the agents, and how many are in each state (in the order
// of agentStates, states nobody is in left out).
func agentRows(agents []Agent, now time.Time) (rows []agentRow, counts []stateCount) {
	n := map[string]int{}
	for _, a := range agents {
		class := stateClass(a.State)
		n[class]++
		host := a.Host
		if host == "" {
			host = "local"
		}
		rows = append(rows, agentRow{
			Name: a.Name, Host: host, Target: a.Target, State: a.State, Class: class,
			Reason: a.Reason, Since: ago(now, a.Since), SinceTitle: stamp(a.Since), Evidence: a.Evidence,
		})
	}
	for _, st := range agentStates {
		if n[st] > 0 {
			counts = append(counts, stateCount{State: st, N: n[st]})
		}
	}
	return rows, counts
}

func credRows(creds []Credential, now time.Time) (rows []credRow) {
	for _, c := range creds {
		r := credRow{Name: c.Name, Kind: c.Kind, Healthy: c.Healthy, Detail: c.Detail,
			AccessTitle: stamp(c.AccessExpires), RefreshTitle: stamp(c.RefreshExpires)}
		r.Access, r.AccessClass = expiresIn(now, c.AccessExpires)
		r.Refresh, r.RefreshClass = expiresIn(now, c.RefreshExpires)
		rows = append(rows, r)
	}
	return rows
}

func cliRows(clis []CLI) (rows []cliRow) {
	for _, c := range clis {
		host := c.Host
		if host == "" {
			host = "local"
		}
		rows = append(rows, cliRow{Host: host, Version: c.Version, Warning: c.Warning, Error: c.Error})
	}
	return rows
}

func transportRows(ts []Transport, now time.Time) (rows []transportRow) {
	for _, t := range ts {
		rows = append(rows, transportRow{
			Name: t.Name, State: t.State, Class: transportClass(t.State),
			Since: ago(now, t.Since), SinceTitle: stamp(t.Since), LastError: t.LastError,
		})
	}
	return rows
}

func alertRows(alerts []Alert, now time.Time) (rows []alertRow) {
	for _, a := range alerts {
		rows = append(rows, alertRow{
			Summary: a.Summary, Severity: a.Severity, Kind: a.Kind,
			Agents: strings.Join(a.Agents, ", "), Since: ago(now, a.Since), SinceTitle: stamp(a.Since),
		})
	}
	return rows
}

func silenceRows(silences []Silence, now time.Time) (rows []silenceRow) {
	for _, si := range silences {
		until := "until further notice"
		if !si.Until.IsZero() {
			until = "ends in " + short(si.Until.Sub(now))
		}
		rows = append(rows, silenceRow{
			Target: si.Target, By: si.By, Reason: si.Reason, Until: until, UntilTitle: stamp(si.Until),
		})
	}
	return rows
}

// incidentRows are the newest maxIncidents incidents.
func incidentRows(incidents []Incident, now time.Time) (rows []incidentRow) {
	if len(incidents) > maxIncidents {
		// Keep the newest.
		incidents = slices.Clone(incidents)
		slices.SortStableFunc(incidents, func(a, b Incident) int { return b.Start.Compare(a.Start) })
		incidents = incidents[:maxIncidents]
	}
	for _, in := range incidents {
		r := incidentRow{
			Start: ago(now, in.Start) + " ago", StartTitle: stamp(in.Start),
			Agents: strings.Join(in.Agents, ", "), Cause: in.Cause, Ongoing: in.Ongoing,
		}
		switch {
		case in.Ongoing || in.End.IsZero():
			r.Duration = short(now.Sub(in.Start)) + " so far"
		default:
			r.Duration = short(in.End.Sub(in.Start))
		}
		rows = append(rows, r)
	}
	return rows
}

// stateClass maps an agent state to its CSS class; anything unexpected is
// shown as unknown rather than unstyled.
func stateClass(state string) string {
	if slices.Contains(agentStates, state) {
		return state
	}
	return "unknown"
}

func transportClass(state string) string {
	switch state {
	case "up", "degraded", "down", "starting":
		return state
	}
	return "starting"
}

// expiresIn is "2h05m" (class ok), "12m" (soon: under an hour), "expired 3m
// ago" (bad), or "unknown" for a zero time.
func expiresIn(now, t time.Time) (text, class string) {
	if t.IsZero() {
		return "unknown", "na"
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "expired " + short(-d) + " ago", "bad"
	case d < time.Hour:
		return short(d), "soon"
	}
	return short(d), "ok"
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return short(now.Sub(t))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// short formats a duration for a narrow cell: 45s, 12m, 3h05m, 2d4h.
func short(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

package dashboard

import (
	"strings"
	"time"
	"unicode"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Snapshot is everything the page shows, taken at one moment. The lead builds
// it from fleet, alert, transports and the journal; the dashboard only renders
// it. Zero times mean "unknown" or "none".
type Snapshot struct {
	Time      time.Time `json:"time"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Notes say how fleetwarden itself runs: safe mode and why, a config
	// that did not load.
	Notes       []string     `json:"notes,omitempty"`
	Agents      []Agent      `json:"agents"`
	Credentials []Credential `json:"credentials"`
	// CLIs are the Claude Code CLIs found on this machine and each host.
	CLIs       []CLI       `json:"claude_cli,omitempty"`
	Transports []Transport `json:"transports"`
	Alerts     []Alert     `json:"alerts"`
	Silences   []Silence   `json:"silences"`
	Incidents  []Incident  `json:"incidents"`
}

// Agent is one watched Claude Code pane.
type Agent struct {
	Name     string    `json:"name"`
	Host     string    `json:"host,omitempty"`
	Target   string    `json:"target"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Evidence string    `json:"evidence,omitempty"`
	// ResetsAt: when a limited agent's usage limit resets (RFC 3339).
	ResetsAt string `json:"resets_at,omitempty"`
}

// Credential is one login the fleet depends on.
type Credential struct {
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	AccessExpires  time.Time `json:"access_expires,omitzero"`
	RefreshExpires time.Time `json:"refresh_expires,omitzero"`
	Healthy        bool      `json:"healthy"`
	Detail         string    `json:"detail,omitempty"`
}

// CLI is the Claude Code CLI on one host, as `claude --version` says.
type CLI struct {
	Host    string `json:"host"`              // "" = the machine fleetwarden runs on
	Version string `json:"version,omitempty"` // "" when none was found
	// Warning: newer than any release the real-CLI suite passed on.
	Warning string `json:"warning,omitempty"`
	Error   string `json:"error,omitempty"` // why no version was found
}

// Transport is one chat channel or alert route.
type Transport struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // up, degraded, down, starting
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
}

// Alert is one firing alert.
type Alert struct {
	Summary  string    `json:"summary"`
	Severity string    `json:"severity"`
	Kind     string    `json:"kind"`
	Agents   []string  `json:"agents,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// Silence mutes alerts for a target until a time.
type Silence struct {
	Target string    `json:"target"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// Incident is one outage from the journal.
type Incident struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Agents  []string  `json:"agents,omitempty"`
	Cause   string    `json:"cause"`
	Ongoing bool      `json:"ongoing"`
}

// agentStates lists the agent states of DESIGN.md in the order the page shows them.
var agentStates = []string{"working", "idle", "needs_input", "logging_in", "auth_failed", "api_error", "limited", "exited", "unknown"}

// Redact removes token-like strings and control characters from free text
// before it is shown or served.
func Redact(s string) string {
	if s == "" {
		return s
	}
	// The lead passes redacted text already, but a page is the easiest
	// place to leak a token: once more here.
	s = redact.String(s)
	// Control characters would break the SSE framing (a bare CR ends a line)
	// and mean nothing on a page; tabs become spaces, newlines stay.
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// lastLine is the last non-blank line of s, shortened for a table cell.
func lastLine(s string, max int) string {
	s = strings.TrimRight(s, " \n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

// sanitized returns a deep copy of snap with every free-text field passed
// through red, slices non-nil (JSON shows [] rather than null) and Time set.
// The caller's slices are never modified.
func sanitized(snap Snapshot, now time.Time, red func(string) string) Snapshot {
	out := snap
	if out.Time.IsZero() {
		out.Time = now
	}
	out.Version = red(snap.Version)
	out.Notes = nil
	for _, n := range snap.Notes {
		out.Notes = append(out.Notes, red(n))
	}
	out.Agents = make([]Agent, 0, len(snap.Agents))
	for _, a := range snap.Agents {
		a.Name, a.Host, a.Target = red(a.Name), red(a.Host), red(a.Target)
		a.State, a.Reason = red(a.State), red(a.Reason)
		a.Evidence = lastLine(red(a.Evidence), 240)
		out.Agents = append(out.Agents, a)
	}
	out.Credentials = make([]Credential, 0, len(snap.Credentials))
	for _, c := range snap.Credentials {
		c.Name, c.Kind, c.Detail = red(c.Name), red(c.Kind), red(c.Detail)
		out.Credentials = append(out.Credentials, c)
	}
	out.CLIs = nil
	for _, c := range snap.CLIs {
		c.Host, c.Version, c.Warning, c.Error = red(c.Host), red(c.Version), red(c.Warning), red(c.Error)
		out.CLIs = append(out.CLIs, c)
	}
	out.Transports = make([]Transport, 0, len(snap.Transports))
	for _, t := range snap.Transports {
		t.Name, t.State, t.LastError = red(t.Name), red(t.State), red(t.LastError)
		out.Transports = append(out.Transports, t)
	}
	out.Alerts = make([]Alert, 0, len(snap.Alerts))
	for _, a := range snap.Alerts {
		a.Summary, a.Severity, a.Kind = red(a.Summary), red(a.Severity), red(a.Kind)
		a.Agents = redactAll(a.Agents, red)
		out.Alerts = append(out.Alerts, a)
	}
	out.Silences = make([]Silence, 0, len(snap.Silences))
	for _, s := range snap.Silences {
		s.Target, s.By, s.Reason = red(s.Target), red(s.By), red(s.Reason)
		out.Silences = append(out.Silences, s)
	}
	out.Incidents = make([]Incident, 0, len(snap.Incidents))
	for _, in := range snap.Incidents {
		in.Cause = red(in.Cause)
		in.Agents = redactAll(in.Agents, red)
		out.Incidents = append(out.Incidents, in)
	}
	return out
}

func redactAll(ss []string, red func(string) string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = red(s)
	}
	return out
}

// Package alert turns agent state changes into notifications a person can
// act on, and gets them delivered.
//
// Lifecycle: the first Event of a cause (kind + reason) opens a group that
// waits GroupWait for other agents failing the same way, then one "firing"
// notification names them all. While the cause holds it is repeated every
// RepeatInterval; when the last agent clears, one "resolved" follows (only
// for an alert that was announced). Agents that join a cause already
// announced are told in a firing update naming them (Notification.Added)
// after GroupWait; the repeat timer restarts with it.
//
// Muting: a silence (an agent or "all") leaves agents out; an auth failure
// mutes the exited/stuck/api_error alerts of the same agent, and "silent"
// mutes "needs_input" of the same agent (it is the same prompt, only
// older). A muted agent is named in nothing — not in a repeat, not in a
// resolved notice — and an alert whose agents are all muted stays quiet.
// When the mute ends and the agent still fails, it is told as new.
//
// Delivery: every notification goes to all primary routes (the chat
// channels); when none delivered it — each failed or none answered within
// FallbackAfter — the fallback routes are tried in order until one does.
// Each (notification, route) is written to QueueDir before it is tried and
// removed once delivered, so a failed copy is retried with backoff, in
// order, across restarts, and no route gets a notification twice.
//
// Not kept across restarts: which alerts are firing. After a restart the
// fleet reports its conditions again and they are announced anew.
package alert

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Kind is the kind of condition an Event reports.
type Kind string

const (
	KindAuthFailed Kind = "auth_failed"
	KindAPIError   Kind = "api_error"
	KindExited     Kind = "exited"
	KindStuck      Kind = "stuck"
	KindNeedsInput Kind = "needs_input"
	KindSilent     Kind = "silent"    // needs_input waiting too long
	KindTransport  Kind = "transport" // a chat transport is down (409/401/network); Agent is ""
	KindInfo       Kind = "info"      // a one-off notice: sent once after GroupWait, never repeated or resolved
)

// Severity says how urgent a notification is.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Notification statuses.
const (
	StatusFiring   = "firing"
	StatusRepeat   = "repeat"
	StatusResolved = "resolved"
)

// Event is one change of a condition. The caller sends Active=true when an
// agent enters a condition and Active=false when it leaves it; repeating an
// active event only refreshes its evidence.
type Event struct {
	Time     time.Time
	Agent    string // "" for fleet-level events (transport down)
	Kind     Kind
	Reason   string // e.g. "expired", "subscription", "pane_dead"; for transport: the transport's name
	Evidence string // one pane line (or the transport's last error)
	Active   bool   // true: the condition holds now; false: it cleared
	// ReloginFixes says, for auth_failed, that a /login fixes it. Used for
	// reasons this package does not know by name.
	ReloginFixes bool
}

// Notification is one message about an alert.
type Notification struct {
	ID       string    `json:"id"`        // unique per (alert, status, sequence); dedup key on disk
	AlertKey string    `json:"alert_key"` // cause: kind/reason, e.g. "auth_failed/expired"
	Status   string    `json:"status"`    // "firing" | "repeat" | "resolved"
	Severity Severity  `json:"severity"`
	Kind     Kind      `json:"kind"`
	Reason   string    `json:"reason,omitempty"`
	Agents   []string  `json:"agents,omitempty"`
	Added    []string  `json:"added,omitempty"` // firing update: the agents new since the last notification
	Summary  string    `json:"summary"`         // "Login expired on 3 agents: builder, tester, docs"
	Remedy   string    `json:"remedy,omitempty"`
	Evidence string    `json:"evidence,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"` // resolved only
	Time     time.Time `json:"time"`
	// Reached lists the routes that delivered this notification; filled in
	// by Manager.Firing only (a route is told before it is known).
	Reached []string `json:"reached,omitempty"`
}

// maxNamed is how many agents a summary names before "and N more".
const maxNamed = 10

// Text is the notification in plain text for chat and email: icon and
// summary, since when, the evidence, and what to do.
func (n Notification) Text() string {
	d := n.details()
	if d == "" {
		return n.headline()
	}
	return n.headline() + "\n" + d
}

// headline is the first line of Text: icon, status and summary.
func (n Notification) headline() string {
	h := n.icon() + " "
	if n.Status == StatusRepeat {
		h += "Still: "
	}
	h += n.Summary
	if n.Status == StatusFiring && len(n.Added) > 0 {
		h += " (new: " + nameList(n.Added) + ")"
	}
	return h
}

// subject is the headline without the icon, for mail subjects and ntfy titles.
func (n Notification) subject() string {
	if n.Status == StatusRepeat {
		return "Still: " + n.Summary
	}
	return n.Summary
}

// details is Text without its headline.
func (n Notification) details() string {
	var lines []string
	switch {
	case n.Status == StatusResolved && !n.StartsAt.IsZero() && !n.EndsAt.IsZero():
		lines = append(lines, fmt.Sprintf("lasted %s (since %s)", humanDuration(n.EndsAt.Sub(n.StartsAt)), clock(n.StartsAt, n.EndsAt)))
	case n.Status != StatusResolved && !n.StartsAt.IsZero():
		lines = append(lines, fmt.Sprintf("since %s · %s", clock(n.StartsAt, n.Time), n.Severity))
	}
	if len(n.Agents) > maxNamed {
		lines = append(lines, "Agents: "+strings.Join(n.Agents, ", "))
	}
	if n.Evidence != "" && n.Status != StatusResolved {
		lines = append(lines, "» "+n.Evidence)
	}
	if n.Remedy != "" {
		lines = append(lines, "What to do: "+n.Remedy)
	}
	return strings.Join(lines, "\n")
}

func (n Notification) icon() string {
	if n.Status == StatusResolved {
		return "✅"
	}
	switch n.Severity {
	case SeverityCritical:
		return "🔴"
	case SeverityWarning:
		return "🟠"
	}
	return "🔵"
}

// clock formats t as "02:14", with the date when it is not on ref's day.
func clock(t, ref time.Time) string {
	t, ref = t.Local(), ref.Local()
	if ref.IsZero() || t.Format(time.DateOnly) == ref.Format(time.DateOnly) {
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// humanDuration: "45s", "42m", "3h05m", "2d4h".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// severityOf says how urgent a cause is.
func severityOf(k Kind) Severity {
	switch k {
	case KindAuthFailed, KindExited, KindTransport:
		return SeverityCritical
	case KindAPIError, KindStuck, KindSilent:
		return SeverityWarning
	}
	return SeverityInfo
}

// reloginReasons are the auth_failed reasons a /login fixes.
var reloginReasons = map[string]bool{"expired": true, "time_limit": true, "revoked": true, "not_logged_in": true}

// words: "time_limit" → "time limit".
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func paren(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + words(reason) + ")"
}

// causeText is the cause in plain words: "Login expired".
func causeText(k Kind, reason string) string {
	switch k {
	case KindAuthFailed:
		switch reason {
		case "expired":
			return "Login expired"
		case "time_limit":
			return "Login reached its time limit"
		case "revoked":
			return "Login revoked"
		case "not_logged_in":
			return "Not logged in"
		case "subscription":
			return "Subscription refused (403)"
		case "forbidden":
			return "Login refused by the organization (403)"
		case "invalid_api_key":
			return "API key or auth token invalid"
		case "refresh_race":
			return "Login refresh lost to another Claude Code process"
		case "disk_full":
			return "Login could not be renewed: disk full"
		case "account_disabled":
			return "Account on hold or usage disabled by an admin"
		case "gateway_ended":
			return "Organization gateway sign-in ended"
		}
		return "Login failed" + paren(reason)
	case KindAPIError:
		switch reason {
		case "overloaded":
			return "API overloaded"
		case "rate_limit":
			return "Rate limited by the API"
		case "network":
			return "Network errors reaching the API"
		case "throttled":
			return "Server briefly limiting requests"
		case "prompt_too_long":
			return "Conversation too long for the context window"
		}
		return "API errors" + paren(reason)
	case KindExited:
		return "Claude Code exited" + paren(reason)
	case KindStuck:
		return "Stuck, no progress" + paren(reason)
	case KindNeedsInput:
		return "Waiting for an answer" + paren(reason)
	case KindSilent:
		return "Waiting too long for an answer" + paren(reason)
	case KindTransport:
		if reason == "" {
			return "Chat channel down"
		}
		return "Chat channel down: " + reason
	case KindInfo:
		if reason == "" {
			return "Notice"
		}
		w := words(reason)
		if first, _, _ := strings.Cut(w, " "); strings.HasPrefix(w, "fleetwarden") || strings.Contains(first, ".") {
			return w // a name (fleetwarden, a config key such as state.dir) keeps its case
		}
		return strings.ToUpper(w[:1]) + w[1:]
	}
	return words(string(k)) + paren(reason)
}

// resolvedText says the cause cleared: "Login works again".
func resolvedText(k Kind, reason string) string {
	switch k {
	case KindAuthFailed:
		return "Login works again"
	case KindAPIError:
		return "API calls work again"
	case KindExited:
		return "Claude Code runs again"
	case KindStuck:
		return "Making progress again"
	case KindNeedsInput, KindSilent:
		return "Prompt answered"
	case KindTransport:
		if reason == "" {
			return "Chat channel works again"
		}
		return "Chat channel works again: " + reason
	}
	return "Cleared: " + strings.ToLower(causeText(k, reason))
}

// onAgents: " on builder", " on 3 agents: a, b, c", "" for none.
func onAgents(agents []string) string {
	switch len(agents) {
	case 0:
		return ""
	case 1:
		return " on " + agents[0]
	}
	return fmt.Sprintf(" on %d agents: %s", len(agents), nameList(agents))
}

// nameList names up to maxNamed agents: "a, b, c and 2 more".
func nameList(agents []string) string {
	if len(agents) <= maxNamed {
		return strings.Join(agents, ", ")
	}
	return strings.Join(agents[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(agents)-maxNamed)
}

// summary is the one line that says what happened to whom.
func summary(k Kind, reason, status string, agents []string) string {
	if status == StatusResolved {
		return resolvedText(k, reason) + onAgents(agents)
	}
	return causeText(k, reason) + onAgents(agents)
}

// remedy says what to do about a cause, in plain words.
func remedy(k Kind, reason, evidence string, agents []string, reloginFixes bool) string {
	one := len(agents) == 1
	first := "<agent>"
	if len(agents) > 0 {
		first = agents[0]
	}
	switch k {
	case KindAuthFailed:
		switch {
		case reloginReasons[reason]:
			return "Send /login to log in again; the agents restart by themselves after."
		case reason == "subscription":
			return "Re-login will not help — renew billing or switch the agent to an API-key credential."
		case reason == "forbidden":
			return "The organization refuses this login (403) — check its settings or switch credentials."
		case reason == "invalid_api_key":
			return "Replace the API key. The CLI's line says which: ANTHROPIC_API_KEY, the external auth token (ANTHROPIC_AUTH_TOKEN), or a key of a disabled organization — unset it to use the subscription login."
		case reason == "refresh_race":
			return "Agents sharing one login race for its single-use refresh token, and the losers fail like this. Resend the message in the pane; to stop it for good, give each agent its own login: a long-lived token from `claude setup-token` (CLAUDE_CODE_OAUTH_TOKEN) or a config directory per agent."
		case reason == "disk_full":
			return "Free space on the disk that holds the Claude config directory (~/.claude), then resend the message; a new login will not help."
		case reason == "account_disabled":
			return "A login will not help: the account is on hold (the link in the evidence tells why and how to appeal) or an admin disabled its usage — ask the admin, or switch the agent to another credential."
		case reason == "gateway_ended":
			return "After the organization gateway sign-in ended only a new session sends requests: /restart " + first + "; if it then asks to sign in, run `claude auth login --organization-gateway` on its host."
		case reloginFixes:
			return "Send /login to log in again; the agents restart by themselves after."
		}
		return "Re-login may not help — check the credential with /auth."
	case KindAPIError:
		switch reason {
		case "rate_limit":
			return "Usually passes; nothing to do unless it lasts."
		case "overloaded":
			return "Usually passes; nothing to do unless it lasts. If it does, switch the agent's model: type /model in its pane."
		case "throttled":
			return "A short throttle, not a usage limit: it passes by itself within minutes; then resend the message."
		case "prompt_too_long":
			return "A restart will not help: type /compact in the agent's pane (or /clear to start fresh)."
		case "network":
			return "Check the host's network."
		}
		return "Usually passes; /peek " + first + " to look if it lasts."
	case KindExited:
		if len(agents) == 0 {
			return "Send /restart to start it again."
		}
		if one {
			return "Send /restart " + first + " to start it again."
		}
		return "Send /restart " + strings.Join(agents, " ") + " to start them again."
	case KindStuck:
		if one || len(agents) == 0 {
			return "/peek " + first + " to look, /restart " + first + " if it is hung."
		}
		return "/peek <agent> to look (e.g. /peek " + first + "), /restart <agent> if it is hung."
	case KindNeedsInput, KindSilent:
		if one || len(agents) == 0 {
			return "Answer it with /answer " + first + " N (/peek " + first + " to see it)."
		}
		return "Answer them with /answer <agent> N (/peek <agent> to see one, e.g. /peek " + first + ")."
	case KindTransport:
		e := strings.ToLower(reason + " " + evidence)
		switch {
		case strings.Contains(e, "409") || strings.Contains(e, "conflict"):
			return "Another program polls with the same bot token (a second fleetwarden?) — stop it. Alerts go to the other routes meanwhile."
		case strings.Contains(e, "401") || strings.Contains(e, "unauthorized") || strings.Contains(e, "invalid token"):
			return "The bot token was refused — check the token in the config. Alerts go to the other routes meanwhile."
		}
		return "Check the host's network and the chat service. Alerts go to the other routes meanwhile."
	}
	return ""
}

// evidenceLine keeps evidence to one short, redacted line: the journal
// and the chat are read by people, so no tokens in evidence (nor in route
// errors: they go through internal/redact too).
func evidenceLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return redact.String(s)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// named drops the fleet-level member "" from a list of agents.
func named(agents []string) []string {
	out := agents[:0:0]
	for _, a := range agents {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

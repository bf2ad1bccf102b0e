// Package claude holds what fleetwarden knows about the Claude Code CLI: the
// pane classifier (states, reasons, usage-limit resets), login-URL
// extraction, the credentials and session files, config-dir rules, resume
// choices, version parsing, process names, and what the login says (code
// shapes, refusals, advice) — functions over text and files; it runs no
// process (package login runs the CLI's login). It knows nothing of tmux
// or chat; callers hand it captured text and paths.
package claude

// State is what an agent pane is doing, as far as its text tells.
type State string

// The states a pane can be in. The names are part of the JSON contract.
const (
	Working    State = "working"     // a turn is in progress
	Idle       State = "idle"        // waiting at an empty input line
	NeedsInput State = "needs_input" // permission prompt, trust or onboarding dialog, other chooser
	LoggingIn  State = "logging_in"  // a login chooser, URL or code prompt is open
	AuthFailed State = "auth_failed" // the latest turn (or the footer) says the login is not usable
	APIError   State = "api_error"   // the latest turn failed for a non-auth reason
	Limited    State = "limited"     // a subscription usage limit: the CLI waits for the reset
	Exited     State = "exited"      // Claude Code is no longer running in the pane
	Unknown    State = "unknown"     // empty pane or text that is not Claude Code's
)

// Reason says why a pane is auth_failed or api_error. Empty when not known.
type Reason string

// Reasons for auth_failed and api_error.
const (
	ReasonExpired       Reason = "expired"
	ReasonTimeLimit     Reason = "time_limit"
	ReasonRevoked       Reason = "revoked"
	ReasonNotLoggedIn   Reason = "not_logged_in"
	ReasonSubscription  Reason = "subscription"
	ReasonForbidden     Reason = "forbidden"
	ReasonInvalidAPIKey Reason = "invalid_api_key"
	// The refresh token is single-use: agents sharing one login race for
	// it, and the losers are told another process is refreshing.
	ReasonRefreshRace Reason = "refresh_race"
	// The renewed login could not be saved: the config directory's disk is full.
	ReasonDiskFull Reason = "disk_full"
	// The account is on hold, or an admin disabled its usage allocation.
	ReasonAccountDisabled Reason = "account_disabled"
	// The organization gateway sign-in of this session ended: only a new
	// session sends requests again.
	ReasonGatewayEnded Reason = "gateway_ended"

	// limited reasons: the 5-hour (session) window, the weekly one, or a
	// monthly spend limit / extra usage used up.
	ReasonUsageLimit  Reason = "usage_limit"
	ReasonWeeklyLimit Reason = "weekly_limit"
	ReasonSpendLimit  Reason = "spend_limit"

	// api_error reasons.
	ReasonRateLimit  Reason = "rate_limit"
	ReasonOverloaded Reason = "overloaded"
	ReasonNetwork    Reason = "network"
	ReasonServer     Reason = "server_error"
	// The server briefly limits requests (not a usage limit).
	ReasonThrottled Reason = "throttled"
	// The conversation no longer fits the context window (automatic
	// compaction failed too): /compact helps, a restart does not.
	ReasonPromptTooLong Reason = "prompt_too_long"
)

// ReloginFixes reports whether a fresh /login is expected to cure the failure.
// Subscription, forbidden and API-key failures need someone to change a plan,
// an org policy or a key instead; a full disk, an account on hold or an ended
// gateway sign-in are not cured by a login either, and a refresh race is
// what a login shared by several agents causes in the first place.
func (r Reason) ReloginFixes() bool {
	switch r {
	case ReasonExpired, ReasonTimeLimit, ReasonRevoked, ReasonNotLoggedIn:
		return true
	}
	return false
}

// Describe returns the reason in plain words for a human reading an alert.
func (r Reason) Describe() string {
	switch r {
	case "":
		return ""
	case ReasonExpired:
		return "login expired"
	case ReasonTimeLimit:
		return "login reached its time limit"
	case ReasonRevoked:
		return "login revoked"
	case ReasonNotLoggedIn:
		return "not logged in"
	case ReasonSubscription:
		return "subscription refused (payment or plan)"
	case ReasonForbidden:
		return "access forbidden (403)"
	case ReasonInvalidAPIKey:
		return "invalid API key or auth token"
	case ReasonRefreshRace:
		return "login refresh raced by another Claude Code process"
	case ReasonDiskFull:
		return "renewed login could not be saved: disk full"
	case ReasonAccountDisabled:
		return "account on hold or usage disabled by an admin"
	case ReasonGatewayEnded:
		return "organization gateway sign-in ended"
	case ReasonUsageLimit:
		return "5-hour usage limit reached"
	case ReasonWeeklyLimit:
		return "weekly usage limit reached"
	case ReasonSpendLimit:
		return "spend limit or extra usage used up"
	case ReasonRateLimit:
		return "rate limit reached"
	case ReasonOverloaded:
		return "API overloaded"
	case ReasonNetwork:
		return "cannot reach the API (network)"
	case ReasonServer:
		return "API server error"
	case ReasonThrottled:
		return "server briefly limiting requests (not a usage limit)"
	case ReasonPromptTooLong:
		return "prompt too long for the context window"
	}
	return string(r)
}

// Result is the verdict on one captured pane.
type Result struct {
	State    State  `json:"state"`
	Reason   Reason `json:"reason"`
	Evidence string `json:"evidence"`  // the one line (trimmed, redacted) that decided it
	LoginURL string `json:"login_url"` // joined when hard-wrapped; only for logging_in
	// Unconfirmed marks a failure read off the last turn's message alone: the
	// input box lacks the "Once fixed, resend your message" placeholder with
	// which the CLI says the turn it just ran failed. A conversation resumed
	// after a failure (`claude --resume`, classic renderer) looks exactly so;
	// only a caller that knows it resumed the pane can call the error history.
	Unconfirmed bool `json:"-"`
	// LoginExpiresInDays is what the footer says when the login's refresh
	// token runs out soon ("Your login expires in 1 day · run /login to
	// renew"); 0 when it says nothing of the kind.
	LoginExpiresInDays int `json:"-"`
	// ResetText is when a limited pane's limit resets, as the screen says
	// it ("11:24am (UTC)", "Sep 15 at 7pm"); ResetsAt is that instant (RFC
	// 3339), filled by Resolve / ClassifyAt, which know the capture time.
	ResetText string `json:"-"`
	// NoResume: the limited CLI says it will not continue by itself after
	// the reset (its automatic continue was cancelled, it was relaunched
	// during the wait, …): a prompt after the reset is needed.
	NoResume bool   `json:"-"`
	ResetsAt string `json:"resets_at"`
}

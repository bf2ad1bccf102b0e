package anthropictest

import (
	"net/http"
	"time"
)

// DefaultAnswer is what /v1/messages answers until a test scripts otherwise.
const DefaultAnswer = "Hello from fake API."

// Real error messages, as the API sends them.
const (
	MsgExpired      = "OAuth token has expired. Please obtain a new token or refresh your existing token."
	MsgRevoked      = "OAuth token has been revoked. Please obtain a new token."
	MsgOrgDisabled  = "OAuth authentication is currently not allowed for this organization."
	MsgInvalidKey   = "invalid x-api-key"
	MsgInvalidToken = "Invalid bearer token"
)

// Reply is how POST /v1/messages answers from now on (see Server.Script).
type Reply struct {
	status  int // 0: answer, after checking the credentials
	errType string
	message string
	text    string
	release <-chan struct{}
	hangup  bool

	tool      string         // a tool_use block instead of text
	toolInput map[string]any // its input
	once      bool           // the answer after it is the default one again

	limit *usageLimit // a subscription usage limit (429) until it resets
}

// usageLimit is what a subscription at its usage limit gets.
type usageLimit struct {
	claim   string    // "five_hour" or "seven_day": the window that is exhausted
	resetAt time.Time // when it resets; from then on the fake answers again
}

// Claims of the unified rate limit: which window a usage limit is about.
const (
	ClaimFiveHour = "five_hour"
	ClaimSevenDay = "seven_day"
)

// Answer streams text as the assistant's reply, for a request with a live
// token or a known API key; a dead one gets the error the API would send
// (401 expired, 403 revoked, 401 invalid).
func Answer(text string) Reply { return Reply{text: text} }

// AnswerWhen is Answer, but the stream stops after message_start until
// release is closed, so the CLI shows a turn in progress.
func AnswerWhen(text string, release <-chan struct{}) Reply {
	return Reply{text: text, release: release}
}

// Expired answers 401 "OAuth token has expired…" whatever the token.
func Expired() Reply {
	return Error(http.StatusUnauthorized, "authentication_error", MsgExpired)
}

// Revoked answers 403 "OAuth token has been revoked…" whatever the token.
func Revoked() Reply {
	return Error(http.StatusForbidden, "permission_error", MsgRevoked)
}

// Subscription answers 403 "OAuth authentication is currently not allowed
// for this organization." — what an org that disabled subscription use, or
// a subscription past due, gets.
func Subscription() Reply {
	return Error(http.StatusForbidden, "permission_error", MsgOrgDisabled)
}

// Forbidden answers 403 permission_error with message.
func Forbidden(message string) Reply {
	return Error(http.StatusForbidden, "permission_error", message)
}

// Error answers status with the API's error body
// {"type":"error","error":{"type":errType,"message":message}}.
func Error(status int, errType, message string) Reply {
	return Reply{status: status, errType: errType, message: message}
}

// ToolUse answers once with a tool call (tool name and its input, as the
// model sends them), then the default answer again: the CLI runs the tool,
// or asks permission first, and sends the result back.
func ToolUse(name string, input map[string]any) Reply {
	return Reply{tool: name, toolInput: input, once: true}
}

// UsageLimit answers every request with a live login as the API does once
// a subscription has used up a window: 429 rate_limit_error with
// anthropic-ratelimit-unified-status: rejected, -reset: the epoch of
// resetAt, -representative-claim: claim (ClaimFiveHour, ClaimSevenDay),
// and the per-window headers (-5h-*, -7d-*). At resetAt by the server's
// clock the limit ends by itself and the default answer comes back, as a
// real reset would; EndLimit ends it sooner. A dead login still gets its
// 401/403.
func UsageLimit(claim string, resetAt time.Time) Reply {
	return Reply{limit: &usageLimit{claim: claim, resetAt: resetAt}}
}

// EndLimit ends a scripted usage limit now: the following requests are
// answered with the default answer (any other script stays).
func (s *Server) EndLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.messages.limit != nil {
		s.messages = Answer(DefaultAnswer)
	}
}

// Hangup drops the connection without an answer, as a network failure
// between the CLI and the API would.
func Hangup() Reply { return Reply{hangup: true} }

// Script sets how every following POST /v1/messages answers.
func (s *Server) Script(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = r
}

// Grant is an OAuth grant type of POST /v1/oauth/token.
type Grant string

// The grants the CLI uses.
const (
	GrantAuthorizationCode Grant = "authorization_code"
	GrantRefreshToken      Grant = "refresh_token"
)

// TokenReply is how POST /v1/oauth/token answers one grant.
type TokenReply int

const (
	// TokenOK does what the real server does: a valid code or refresh
	// token gets new tokens; a bad, used, revoked or expired one gets
	// invalid_grant.
	TokenOK TokenReply = iota
	// TokenInvalidGrant refuses with 400 invalid_grant ("Invalid 'code' in
	// request." / "Refresh token not found or invalid").
	TokenInvalidGrant
	// TokenRefreshExpired refuses with 400 invalid_grant "Refresh token
	// expired", what the CLI turns into "Login reached its time limit".
	TokenRefreshExpired
	// TokenServerError answers 500.
	TokenServerError
)

// ScriptToken sets how every following token request of grant g answers.
func (s *Server) ScriptToken(g Grant, r TokenReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token[g] = r
}

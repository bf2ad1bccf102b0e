package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
)

// The probe is the smallest request that proves the API takes a token:
// POST /v1/messages asking the cheapest model for one output token. A
// cheaper, free endpoint (GET /v1/models, count_tokens) is not known to
// accept OAuth tokens, and the auth failures worth catching (expired,
// revoked, subscription refused, org policy 403) are the ones Claude Code
// itself meets on /v1/messages. The API checks credentials before the
// model or the request, so any answer other than 401/403 (200, a 400/404
// for the request, a 429 limit) means the credential was accepted.
const (
	defaultBaseURL = "https://api.anthropic.com"
	probePath      = "/v1/messages"
	probeBody      = `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`
	oauthBeta      = "oauth-2025-04-20"
	apiVersion     = "2023-06-01"
	maxErrorBody   = 64 << 10
)

// probeResult is one probe's outcome, kept for the rate limit.
type probeResult struct {
	at          time.Time
	fingerprint string // of the token probed: a new token is probed at once
	conclusive  bool   // the API said yes or no about the credential
	healthy     bool
	reason      string
	detail      string // refusal with advice, or a note ("rate limited")
	err         string // why an inconclusive probe failed
}

// applyProbe adds a probe's verdict to h, probing only when the last probe
// of this token is older than ProbeEvery. Callers hold cr.mu.
func (c *Checker) applyProbe(ctx context.Context, cr *cred, h *Health, f facts, now time.Time) {
	var tok string
	if f.token != nil {
		tok = f.token()
	}
	if tok == "" {
		why := f.noProbe
		if why == "" {
			why = "probe skipped: no token to send"
		}
		h.Detail += "; " + why
		return
	}
	fp := claude.Fingerprint(tok)
	p := cr.probe
	if p == nil || p.fingerprint != fp || now.Before(p.at) || now.Sub(p.at) >= c.probeEvery {
		r := c.probe(ctx, cr, tok, f.bearer)
		r.at, r.fingerprint = now, fp
		p = &r
		if ctx.Err() == nil { // a cancelled probe says nothing worth keeping
			cr.probe = p
		}
	}
	h.Probed, h.ProbedAt = true, p.at
	age := "probed just now"
	if d := now.Sub(p.at); d >= time.Second {
		age = "probed " + claude.ShortDuration(d) + " ago"
	}
	switch {
	case !p.conclusive:
		h.Detail += "; probe inconclusive (" + age + "): " + p.detail
		h.Err = p.err
	case p.healthy:
		h.Detail += "; API accepts it (" + age + ")"
		if p.detail != "" {
			h.Detail += ", " + p.detail
		}
	default:
		h.Healthy = false
		h.Reason = p.reason
		h.Detail = p.detail + " (" + age + ")"
	}
}

// probe sends the request. Tokens go in headers only and never into the
// result.
func (c *Checker) probe(ctx context.Context, cr *cred, tok string, bearer bool) probeResult {
	base := cr.BaseURL
	if base == "" {
		base = os.Getenv("ANTHROPIC_BASE_URL")
	}
	if base == "" {
		base = defaultBaseURL
	}
	url := strings.TrimRight(base, "/") + probePath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(probeBody))
	if err != nil {
		return probeResult{detail: "bad base_url " + base, err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", apiVersion)
	req.Header.Set("User-Agent", "fleetwarden-credential-probe")
	if bearer {
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Anthropic-Beta", oauthBeta)
	} else {
		req.Header.Set("X-Api-Key", tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		msg := claude.Redact(err.Error())
		return probeResult{detail: "cannot reach " + url + ": " + msg, err: msg}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	c.log.Debug("credential probe", "credential", cr.Name, "url", url, "status", resp.StatusCode)
	return judge(cr.Kind, resp.StatusCode, body)
}

// apiError is the API's error body: {"type":"error","error":{"type","message"}}.
type apiError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// judge reads the API's answer to the probe.
func judge(kind string, status int, body []byte) probeResult {
	var e apiError
	_ = json.Unmarshal(body, &e) // a body that is not the API's JSON still has a status
	msg := e.Error.Message
	if msg == "" && e.Error.Type == "" {
		msg = string(body)
	}
	said := fmt.Sprintf("%d", status)
	if e.Error.Type != "" {
		said += " " + e.Error.Type
	}
	if m := oneLine(msg, 160); m != "" {
		said += ": " + m
	}
	low := strings.ToLower(msg)
	switch {
	case status >= 200 && status < 300:
		return probeResult{conclusive: true, healthy: true}
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		(status == http.StatusBadRequest && strings.Contains(low, "credit balance")):
		r := reasonOf(kind, status, low)
		return probeResult{conclusive: true, reason: string(r),
			detail: "API refused it: " + said + " — " + advice(kind, r)}
	case status == http.StatusTooManyRequests:
		return probeResult{conclusive: true, healthy: true, detail: "but rate limited now (" + said + ")"}
	case status >= 400 && status < 500:
		// Authenticated, then the request itself was refused (e.g. the
		// probe's model retired): the credential is fine.
		return probeResult{conclusive: true, healthy: true, detail: "the probe request itself got " + said}
	}
	return probeResult{detail: "API answered " + said, err: "probe: API answered " + said}
}

// reasonOf maps a refusal to the classifier's auth_failed reasons, with the
// same words the classifier looks for in a pane.
func reasonOf(kind string, status int, low string) claude.Reason {
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(low, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("revoked"):
		return claude.ReasonRevoked
	case has("subscription", "past due", "payment", "credit balance", "billing"):
		return claude.ReasonSubscription
	case status == http.StatusForbidden:
		return claude.ReasonForbidden
	case has("x-api-key", "api key", "api_key") || kind == config.KindAPIKey:
		return claude.ReasonInvalidAPIKey
	case has("time limit", "time_limit"):
		return claude.ReasonTimeLimit
	}
	return claude.ReasonExpired
}

// advice says what fixes a refusal, for the credential's kind.
func advice(kind string, r claude.Reason) string {
	const elsewhere = " (re-login does not fix it); /auth use moves agents to another credential"
	switch r {
	case claude.ReasonSubscription:
		return "check the plan or payment" + elsewhere
	case claude.ReasonForbidden:
		return "the organization refuses this login" + elsewhere
	case claude.ReasonInvalidAPIKey:
		return "replace the key (console.anthropic.com)"
	}
	switch kind {
	case config.KindOAuthToken:
		return "make a new token with `claude setup-token` (/login)"
	case config.KindAPIKey:
		return "replace the key (console.anthropic.com)"
	}
	return "run /login"
}

// oneLine squeezes s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// fileToken reads one token from a Claude Code credentials file, for a
// probe only.
func fileToken(path, field string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var v struct {
		OAuth struct {
			AccessToken string `json:"accessToken"`
		} `json:"claudeAiOauth"`
		PrimaryAPIKey string `json:"primaryApiKey"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	if field == "primaryApiKey" {
		return strings.TrimSpace(v.PrimaryAPIKey)
	}
	return strings.TrimSpace(v.OAuth.AccessToken)
}

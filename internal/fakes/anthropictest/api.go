package anthropictest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// serveAPI routes by path, whatever the host: the CLI's hosts all end up here.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rec := Request{
		Time:   s.now(),
		Method: r.Method,
		Host:   hostOnly(r),
		Path:   r.URL.RequestURI(),
		Known:  true,
	}
	if tok := bearer(r); tok != "" {
		rec.Token = Fingerprint(tok)
	} else if k := r.Header.Get("X-Api-Key"); k != "" {
		rec.Token = Fingerprint(k)
	}
	defer func() {
		rec.Status = sw.status
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
		s.record(rec)
	}()

	switch p := r.URL.Path; {
	case p == "/api/hello" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(sw, http.StatusOK, map[string]string{"message": "hello"})
	case p == "/v1/oauth/hello" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(sw, http.StatusOK, map[string]string{"message": "hello"})
	case p == "/v1/messages" && r.Method == http.MethodPost:
		s.serveMessages(sw, r, &rec)
	case p == "/v1/oauth/token" && r.Method == http.MethodPost:
		s.serveToken(sw, r, &rec)
	case p == "/api/oauth/profile" && r.Method == http.MethodGet:
		s.serveProfile(sw, r)
	case p == "/api/oauth/claude_cli/roles" && r.Method == http.MethodGet:
		s.serveRoles(sw, r)
	default:
		rec.Known = false
		// Drain so a keep-alive connection stays usable.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		apiError(sw, http.StatusNotFound, "not_found_error", "Not found")
	}
}

func hostOnly(r *http.Request) string {
	h := r.Host
	if r.URL.IsAbs() {
		h = r.URL.Host
	}
	if hh, _, err := net.SplitHostPort(h); err == nil {
		return hh
	}
	return h
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError writes the API's error body.
func apiError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("Request-Id", "req_fake")
	writeJSON(w, status, map[string]any{
		"type":  "error",
		"error": map[string]string{"type": errType, "message": message},
	})
}

// oauthError writes the OAuth server's error body.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

type messagesRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// lastUserText returns the text of the last user message: content is a
// string or a list of blocks, of which the text ones count.
func (m messagesRequest) lastUserText() string {
	for i := len(m.Messages) - 1; i >= 0; i-- {
		msg := m.Messages[i]
		if msg.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(msg.Content, &s) == nil {
			return s
		}
		var blocks []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(msg.Content, &blocks) != nil {
			return ""
		}
		// The CLI puts system reminders first; the user's words come last.
		for j := len(blocks) - 1; j >= 0; j-- {
			if blocks[j].Type == "text" && !strings.HasPrefix(blocks[j].Text, "<system-reminder>") {
				return blocks[j].Text
			}
		}
		return ""
	}
	return ""
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request, rec *Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "could not read the body: "+err.Error())
		return
	}
	var req messagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "body is not JSON: "+err.Error())
		return
	}
	rec.Prompt = cut(req.lastUserText(), 200)
	rec.Stream = req.Stream

	s.mu.Lock()
	if l := s.messages.limit; l != nil && !s.now().Before(l.resetAt) {
		s.messages = Answer(DefaultAnswer) // the window reset
	}
	reply := s.messages
	if reply.status == 0 {
		switch tok, key := bearer(r), r.Header.Get("X-Api-Key"); {
		case tok != "":
			if e := s.checkAccessLocked(tok); e != nil {
				reply = *e
			}
		case key != "":
			if !s.apiKeys[key] {
				reply = Error(http.StatusUnauthorized, "authentication_error", MsgInvalidKey)
			}
		default:
			reply = Error(http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		}
	}
	if s.messages.once && reply.tool != "" {
		s.messages = Answer(DefaultAnswer)
	}
	s.seq++
	id := fmt.Sprintf("msg_fake%06d", s.seq)
	s.mu.Unlock()

	if reply.hangup {
		rec.Status = 0
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
			return
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	if reply.status != 0 {
		apiError(w, reply.status, reply.errType, reply.message)
		return
	}
	if reply.limit != nil {
		limitHeaders(w.Header(), *reply.limit, s.now())
		apiError(w, http.StatusTooManyRequests, "rate_limit_error", "This request would exceed your account's rate limit. Please try again later.")
		return
	}
	model := req.Model
	if model == "" {
		model = "claude-fake"
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model,
			"content":     []map[string]string{{"type": "text", "text": reply.text}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]int{"input_tokens": 10, "output_tokens": len(strings.Fields(reply.text)) + 1},
		})
		return
	}
	s.stream(w, r, id, model, reply)
}

// stream writes the answer as the API's server-sent events.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, id, model string, reply Reply) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Request-Id", "req_fake")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	event := func(name string, v any) {
		b, _ := json.Marshal(v) // maps of plain values; cannot fail
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		flush()
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": 10, "output_tokens": 1},
	}})
	if reply.tool != "" {
		in, _ := json.Marshal(reply.toolInput)
		event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_" + id, "name": reply.tool, "input": map[string]any{}}})
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]string{"type": "input_json_delta", "partial_json": string(in)}})
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		event("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": 20}})
		event("message_stop", map[string]string{"type": "message_stop"})
		return
	}
	event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]string{"type": "text", "text": ""}})
	if reply.release != nil {
		// Keep the connection visibly alive while the turn is held.
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
	hold:
		for {
			select {
			case <-reply.release:
				break hold
			case <-r.Context().Done():
				return
			case <-tick.C:
				event("ping", map[string]string{"type": "ping"})
			}
		}
	}
	words := strings.SplitAfter(reply.text, " ")
	for _, part := range words {
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]string{"type": "text_delta", "text": part}})
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": len(words) + 1}})
	event("message_stop", map[string]string{"type": "message_stop"})
}

// limitHeaders sets the unified rate-limit headers of a rejected request:
// the exhausted window says rejected with its reset, the other one is
// allowed and resets later (5 hours or 7 days from now).
func limitHeaders(h http.Header, l usageLimit, now time.Time) {
	epoch := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	h.Set("anthropic-ratelimit-unified-status", "rejected")
	h.Set("anthropic-ratelimit-unified-reset", epoch(l.resetAt))
	h.Set("anthropic-ratelimit-unified-representative-claim", l.claim)
	h.Set("anthropic-ratelimit-unified-fallback-percentage", "0.5")
	h.Set("anthropic-ratelimit-unified-overage-status", "rejected")
	h.Set("anthropic-ratelimit-unified-overage-disabled-reason", "org_level_disabled")
	win := map[string]struct {
		claim string
		next  time.Duration
	}{"5h": {ClaimFiveHour, 5 * time.Hour}, "7d": {ClaimSevenDay, 7 * 24 * time.Hour}}
	for k, w := range win {
		p := "anthropic-ratelimit-unified-" + k + "-"
		if w.claim == l.claim {
			h.Set(p+"status", "rejected")
			h.Set(p+"reset", epoch(l.resetAt))
			h.Set(p+"utilization", "1.0")
			continue
		}
		h.Set(p+"status", "allowed")
		h.Set(p+"reset", epoch(now.Add(w.next)))
		h.Set(p+"utilization", "0.42")
	}
}

// readTokenRequest accepts JSON (what the CLI sends) or a form.
func readTokenRequest(r *http.Request) (tokenRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return tokenRequest{}, err
	}
	if len(body) == 0 {
		return tokenRequest{}, errNoBody
	}
	var t tokenRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return tokenRequest{}, err
		}
		t = tokenRequest{
			GrantType: Grant(v.Get("grant_type")), Code: v.Get("code"), RedirectURI: v.Get("redirect_uri"),
			ClientID: v.Get("client_id"), CodeVerifier: v.Get("code_verifier"), State: v.Get("state"),
			RefreshToken: v.Get("refresh_token"), Scope: v.Get("scope"),
		}
		if e := v.Get("expires_in"); e != "" {
			t.ExpiresIn, err = strconv.ParseInt(e, 10, 64)
			if err != nil {
				return tokenRequest{}, fmt.Errorf("expires_in: %w", err)
			}
		}
		return t, nil
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return tokenRequest{}, err
	}
	return t, nil
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, rec *Request) {
	req, err := readTokenRequest(r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "could not read the token request: "+err.Error())
		return
	}
	rec.Grant = req.GrantType
	if req.GrantType == GrantRefreshToken {
		rec.Token = Fingerprint(req.RefreshToken)
	}
	if req.GrantType != GrantAuthorizationCode && req.GrantType != GrantRefreshToken {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", req.GrantType))
		return
	}
	if req.ClientID == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id is required")
		return
	}

	s.mu.Lock()
	var t Tokens
	switch s.token[req.GrantType] {
	case TokenInvalidGrant:
		err = errInvalidGrant{descBadCode}
		if req.GrantType == GrantRefreshToken {
			err = errInvalidGrant{descRefreshBad}
		}
	case TokenRefreshExpired:
		err = errInvalidGrant{descRefreshExpired}
	case TokenServerError:
		err = errors.New("internal server error")
	default:
		if req.GrantType == GrantAuthorizationCode {
			t, err = s.exchangeLocked(req)
		} else {
			t, err = s.refreshLocked(req)
		}
	}
	p := s.profile
	s.mu.Unlock()

	var ig errInvalidGrant
	switch {
	case errors.As(err, &ig):
		oauthError(w, http.StatusBadRequest, "invalid_grant", ig.desc)
		return
	case err != nil:
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	now := s.now()
	resp := map[string]any{
		"token_type":   "Bearer",
		"access_token": t.Access,
		"expires_in":   int64(t.AccessExpires.Sub(now).Round(time.Second) / time.Second),
		"scope":        strings.Join(t.Scopes, " "),
		"organization": map[string]string{"uuid": p.OrgUUID, "name": p.OrgName},
		"account":      map[string]string{"uuid": p.AccountUUID, "email_address": p.Email},
	}
	if t.Refresh != "" {
		resp["refresh_token"] = t.Refresh
		resp["refresh_token_expires_in"] = int64(t.RefreshExpires.Sub(now).Round(time.Second) / time.Second)
	}
	writeJSON(w, http.StatusOK, resp)
}

// authorized checks the bearer token of an OAuth API call.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) (Profile, bool) {
	tok := bearer(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok == "" {
		apiError(w, http.StatusUnauthorized, "authentication_error", "OAuth token is required")
		return Profile{}, false
	}
	if e := s.checkAccessLocked(tok); e != nil {
		apiError(w, e.status, e.errType, e.message)
		return Profile{}, false
	}
	return s.profile, true
}

func (s *Server) serveProfile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorized(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"account": map[string]any{
			"uuid": p.AccountUUID, "email": p.Email, "email_address": p.Email,
			"display_name": p.DisplayName, "full_name": p.DisplayName,
			"has_claude_max": p.OrgType == "claude_max", "has_claude_pro": p.OrgType == "claude_pro",
			"created_at": "2025-01-01T00:00:00Z",
		},
		"organization": map[string]any{
			"uuid": p.OrgUUID, "name": p.OrgName, "organization_type": p.OrgType,
			"billing_type": "stripe_subscription", "rate_limit_tier": p.RateLimitTier,
			"has_extra_usage_enabled": false, "subscription_created_at": "2025-01-01T00:00:00Z",
		},
	})
}

func (s *Server) serveRoles(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorized(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"organization_role": "admin", "workspace_role": nil, "organization_name": p.OrgName,
	})
}

package anthropictest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

func do(t *testing.T, c *http.Client, method, rawURL, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return resp, b
}

func TestProxyTerminatesTLSForAnyHost(t *testing.T) {
	s := New(t)
	c := s.Client()
	for _, host := range []string{APIHost, OAuthHost, "claude.ai", "downloads.claude.ai"} {
		resp, _ := do(t, c, http.MethodGet, "https://"+host+"/api/hello", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", host, resp.StatusCode)
		}
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			t.Fatalf("%s: not served over TLS", host)
		}
		if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != host {
			t.Errorf("%s: leaf certificate names %v, want [%s]", host, got, host)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[0].Host != APIHost || reqs[1].Host != OAuthHost {
		t.Errorf("requests = %v, want the four hosts in order", reqs)
	}

	// The CA file is what NODE_EXTRA_CA_CERTS gets: it must hold the CA.
	pemBytes, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no PEM certificate", s.CAFile())
	}
	proxy, _ := url.Parse(s.Env()["HTTPS_PROXY"])
	fromFile := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, _ := do(t, fromFile, http.MethodHead, "https://"+APIHost+"/api/hello", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /api/hello with the CA file: %d, want 200", resp.StatusCode)
	}

	// A client that does not trust the test CA must refuse the proxy's certificate.
	untrusting := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+APIHost+"/api/hello", nil)
	_, err = untrusting.Do(req)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("client without the CA: err = %v, want x509.UnknownAuthorityError", err)
	}
	// The refused handshake is reported, so a CLI that distrusts the CA
	// leaves a trace in Dump.
	timeout := time.After(5 * time.Second)
	for waiting := true; waiting; {
		s.mu.Lock()
		n, ch := len(s.errs), s.changed
		s.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-ch:
		case <-timeout:
			waiting = false
		}
	}
	if errs := s.Errors(); len(errs) == 0 || !strings.Contains(errs[0], "TLS handshake error") {
		t.Errorf("Errors() = %q, want the refused TLS handshake", errs)
	}
	if d := s.Dump(); !strings.Contains(d, "CONNECT: "+APIHost+"×") || !strings.Contains(d, "[server] ") {
		t.Errorf("Dump lacks the tunnels or the server errors:\n%s", d)
	}
}

func TestPlainHTTPThroughProxy(t *testing.T) {
	s := New(t)
	resp, _ := do(t, s.Client(), http.MethodGet, "http://"+OAuthHost+"/v1/oauth/hello", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if r := s.Requests()[0]; r.Host != OAuthHost || r.Path != "/v1/oauth/hello" {
		t.Errorf("recorded %v, want %s/v1/oauth/hello", r, OAuthHost)
	}
	// Addressed directly, as with ANTHROPIC_BASE_URL.
	if resp, _ := do(t, &http.Client{Transport: &http.Transport{}}, http.MethodHead, s.URL()+"/api/hello", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD %s/api/hello: %d, want 200", s.URL(), resp.StatusCode)
	}
}

func TestUnknownEndpointsAre404AndListed(t *testing.T) {
	s := New(t)
	c := s.Client()
	resp, body := do(t, c, http.MethodGet, "https://"+APIHost+"/v1/mcp_servers?limit=1000", "", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not_found_error") {
		t.Errorf("unknown endpoint: %d %s, want 404 not_found_error", resp.StatusCode, body)
	}
	do(t, c, http.MethodPost, "https://"+APIHost+"/api/event_logging/batch", "", map[string]int{"n": 1})
	do(t, c, http.MethodGet, "https://"+APIHost+"/api/hello", "", nil)
	u := s.Unknown()
	if len(u) != 2 || u[0].Path != "/v1/mcp_servers?limit=1000" || u[1].Path != "/api/event_logging/batch" {
		t.Errorf("Unknown() = %v, want the two unserved requests", u)
	}
	if !strings.Contains(s.Dump(), "[unknown] ") {
		t.Errorf("Dump does not mark unknown requests:\n%s", s.Dump())
	}
}

type sseEvent struct {
	name string
	data map[string]any
}

func readEvents(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var ev sseEvent
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = sseEvent{name: strings.TrimPrefix(line, "event: ")}
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				t.Fatalf("event %s: data is not JSON: %v", ev.name, err)
			}
		case line == "":
			if ev.name != "" {
				if ev.data["type"] != ev.name {
					t.Errorf("event %q carries type %v", ev.name, ev.data["type"])
				}
				out = append(out, ev)
			}
			ev = sseEvent{}
		}
	}
	return out
}

var messagesBody = map[string]any{
	"model": "claude-opus-5-5", "stream": true, "max_tokens": 100,
	"messages": []map[string]any{{"role": "user", "content": []map[string]string{
		{"type": "text", "text": "<system-reminder>be nice</system-reminder>"},
		{"type": "text", "text": "say hello"},
	}}},
}

func TestMessagesStreamsTheAnswer(t *testing.T) {
	s := New(t)
	tok := s.Login()
	release := make(chan struct{})
	s.Script(AnswerWhen("Hello from the fleet.", release))

	b, _ := json.Marshal(messagesBody)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+APIHost+"/v1/messages?beta=true", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("status %d, content type %q; want 200 text/event-stream", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	head := readEvents(t, rd, 2)
	if head[0].name != "message_start" || head[1].name != "content_block_start" {
		t.Fatalf("stream starts with %s, %s; want message_start, content_block_start", head[0].name, head[1].name)
	}
	// Held: the handler cannot have finished, so nothing is recorded yet.
	if n := s.Count(Messages); n != 0 {
		t.Fatalf("%d messages recorded while the answer is held, want 0", n)
	}
	close(release)
	var text strings.Builder
	var names []string
	for {
		ev := readEvents(t, rd, 1)[0]
		if ev.name == "ping" {
			continue
		}
		names = append(names, ev.name)
		if ev.name == "content_block_delta" {
			d := ev.data["delta"].(map[string]any)
			if d["type"] != "text_delta" {
				t.Errorf("delta type %v, want text_delta", d["type"])
			}
			text.WriteString(d["text"].(string))
		}
		if ev.name == "message_delta" && ev.data["delta"].(map[string]any)["stop_reason"] != "end_turn" {
			t.Errorf("message_delta %v, want stop_reason end_turn", ev.data)
		}
		if ev.name == "message_stop" {
			break
		}
	}
	if text.String() != "Hello from the fleet." {
		t.Errorf("streamed text %q, want %q", text.String(), "Hello from the fleet.")
	}
	want := []string{"content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", names, want)
	}
	r, err := s.WaitRequest(t.Context(), Messages)
	if err != nil {
		t.Fatal(err)
	}
	if r.Prompt != "say hello" || !r.Stream || r.Token != claude.Fingerprint(tok.Access) || r.Status != 200 {
		t.Errorf("recorded %+v, want prompt \"say hello\", stream, the token's fingerprint, 200", r)
	}
	if strings.Contains(s.Dump(), tok.Access) {
		t.Errorf("Dump holds the token")
	}
}

func TestMessagesNonStreaming(t *testing.T) {
	s := New(t)
	tok := s.Login()
	body := map[string]any{"model": "m", "messages": []map[string]any{{"role": "user", "content": "hi"}}}
	resp, b := do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages", tok.Access, body)
	var m struct {
		Type    string                  `json:"type"`
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 200 || m.Type != "message" || len(m.Content) != 1 || m.Content[0].Text != DefaultAnswer {
		t.Errorf("got %d %s (%v), want 200 with the default answer", resp.StatusCode, b, err)
	}
}

func TestMessagesErrors(t *testing.T) {
	type apiErr struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	cases := []struct {
		name    string
		setup   func(s *Server, tok Tokens)
		token   func(tok Tokens) string
		status  int
		errType string
		message string
	}{
		{"scripted expired", func(s *Server, _ Tokens) { s.Script(Expired()) }, nil, 401, "authentication_error", MsgExpired},
		{"scripted revoked", func(s *Server, _ Tokens) { s.Script(Revoked()) }, nil, 403, "permission_error", MsgRevoked},
		{"scripted subscription", func(s *Server, _ Tokens) { s.Script(Subscription()) }, nil, 403, "permission_error", MsgOrgDisabled},
		{"scripted other 403", func(s *Server, _ Tokens) { s.Script(Forbidden("nope")) }, nil, 403, "permission_error", "nope"},
		{"scripted overload", func(s *Server, _ Tokens) { s.Script(Error(529, "overloaded_error", "Overloaded")) }, nil, 529, "overloaded_error", "Overloaded"},
		{"access expired on the server", func(s *Server, _ Tokens) { s.ExpireAccess() }, nil, 401, "authentication_error", MsgExpired},
		{"grant revoked", func(s *Server, _ Tokens) { s.RevokeAll() }, nil, 403, "permission_error", MsgRevoked},
		{"unknown token", nil, func(Tokens) string { return "sk-ant-oat01-nottheone" }, 401, "authentication_error", MsgInvalidToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(t)
			tok := s.Login()
			if c.setup != nil {
				c.setup(s, tok)
			}
			token := tok.Access
			if c.token != nil {
				token = c.token(tok)
			}
			resp, b := do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages?beta=true", token, messagesBody)
			var e apiErr
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if resp.StatusCode != c.status || e.Type != "error" || e.Error.Type != c.errType || e.Error.Message != c.message {
				t.Errorf("got %d %s, want %d %s %q", resp.StatusCode, b, c.status, c.errType, c.message)
			}
		})
	}
}

func TestMessagesAPIKey(t *testing.T) {
	s := New(t)
	s.AddAPIKey("sk-ant-api03-good")
	for key, want := range map[string]int{"sk-ant-api03-good": 200, "sk-ant-api03-bad": 401} {
		b, _ := json.Marshal(map[string]any{"model": "m", "messages": []any{}})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+APIHost+"/v1/messages", bytes.NewReader(b))
		req.Header.Set("X-Api-Key", key)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("x-api-key %s: %d, want %d", key, resp.StatusCode, want)
		}
	}
}

type tokenResp struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	Account      struct {
		UUID  string `json:"uuid"`
		Email string `json:"email_address"`
	} `json:"account"`
	Organization struct{ UUID string } `json:"organization"`
	Error        string                `json:"error"`
	Description  string                `json:"error_description"`
}

func postToken(t *testing.T, s *Server, body map[string]any) (int, tokenResp) {
	t.Helper()
	resp, b := do(t, s.Client(), http.MethodPost, "https://"+OAuthHost+"/v1/oauth/token", "", body)
	var tr tokenResp
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("token response %s: %v", b, err)
	}
	return resp.StatusCode, tr
}

func refreshBody(rt string) map[string]any {
	return map[string]any{"grant_type": "refresh_token", "refresh_token": rt, "client_id": ClaudeCodeClientID, "scope": "user:profile user:inference"}
}

func TestRefreshRotatesAndFails(t *testing.T) {
	s := New(t)
	tok := s.Login()
	status, tr := postToken(t, s, refreshBody(tok.Refresh))
	if status != 200 || tr.TokenType != "Bearer" || tr.AccessToken == "" || tr.RefreshToken == "" || tr.RefreshToken == tok.Refresh ||
		tr.ExpiresIn < 28000 || tr.Scope != "user:profile user:inference" || tr.Account.Email == "" || tr.Organization.UUID == "" {
		t.Fatalf("refresh: %d %+v, want 200 with new tokens, 8h, the asked scopes, account and org", status, tr)
	}
	// The new access token works; the old refresh token is spent.
	if resp, _ := do(t, s.Client(), http.MethodGet, "https://"+APIHost+"/api/oauth/profile", tr.AccessToken, nil); resp.StatusCode != 200 {
		t.Errorf("profile with the refreshed token: %d, want 200", resp.StatusCode)
	}
	status, tr2 := postToken(t, s, refreshBody(tok.Refresh))
	if status != 400 || tr2.Error != "invalid_grant" || tr2.Description != "Refresh token not found or invalid" {
		t.Errorf("reused refresh token: %d %+v, want 400 invalid_grant not found", status, tr2)
	}

	s.ExpireRefresh()
	status, tr3 := postToken(t, s, refreshBody(tr.RefreshToken))
	if status != 400 || tr3.Error != "invalid_grant" || tr3.Description != "Refresh token expired" {
		t.Errorf("expired refresh token: %d %+v, want 400 invalid_grant \"Refresh token expired\"", status, tr3)
	}

	s2 := New(t)
	tok2 := s2.Login()
	s2.ScriptToken(GrantRefreshToken, TokenInvalidGrant)
	if status, tr := postToken(t, s2, refreshBody(tok2.Refresh)); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("scripted invalid_grant: %d %+v", status, tr)
	}
	s2.ScriptToken(GrantRefreshToken, TokenRefreshExpired)
	if status, tr := postToken(t, s2, refreshBody(tok2.Refresh)); status != 400 || tr.Description != "Refresh token expired" {
		t.Errorf("scripted refresh expired: %d %+v", status, tr)
	}
	s2.ScriptToken(GrantRefreshToken, TokenOK)
	if status, _ := postToken(t, s2, refreshBody(tok2.Refresh)); status != 200 {
		t.Errorf("back to TokenOK: %d, want 200 (scripted failures must not spend the token)", status)
	}
	if r := s2.Requests()[0]; r.Grant != GrantRefreshToken || r.Token != Fingerprint(tok2.Refresh) {
		t.Errorf("recorded %+v, want the grant and the refresh token's fingerprint", r)
	}
}

// loginURL builds an authorize URL the way the CLI does.
func loginURL(verifier, state, scope string) string {
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"code": {"true"}, "client_id": {ClaudeCodeClientID}, "response_type": {"code"},
		"redirect_uri": {"https://platform.claude.com/oauth/code/callback"}, "scope": {scope},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {state},
	}
	return "https://claude.com/cai/oauth/authorize?" + q.Encode()
}

func exchangeBody(code, verifier, state string) map[string]any {
	return map[string]any{
		"grant_type": "authorization_code", "code": code, "state": state, "code_verifier": verifier,
		"redirect_uri": "https://platform.claude.com/oauth/code/callback", "client_id": ClaudeCodeClientID,
	}
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	s := New(t)
	verifier := "a-verifier-of-forty-three-characters-abcdef"
	paste, err := s.Authorize(loginURL(verifier, "st4te", "user:profile user:inference"))
	if err != nil {
		t.Fatal(err)
	}
	code, state, ok := strings.Cut(paste, "#")
	if !ok || state != "st4te" {
		t.Fatalf("Authorize returned %q, want code#st4te", paste)
	}
	if status, tr := postToken(t, s, exchangeBody(code, "the-wrong-verifier", state)); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("wrong verifier: %d %+v, want 400 invalid_grant", status, tr)
	}
	if status, tr := postToken(t, s, exchangeBody(code, verifier, "other")); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("wrong state: %d %+v, want 400 invalid_grant", status, tr)
	}
	status, tr := postToken(t, s, exchangeBody(code, verifier, state))
	if status != 200 || tr.RefreshToken == "" || tr.Scope != "user:profile user:inference" {
		t.Fatalf("exchange: %d %+v, want 200 with both tokens and the authorized scopes", status, tr)
	}
	if status, tr := postToken(t, s, exchangeBody(code, verifier, state)); status != 400 || tr.Description != "Invalid 'code' in request." {
		t.Errorf("code reused: %d %+v, want 400 invalid_grant", status, tr)
	}
	issued := s.Issued()
	if len(issued) != 1 || issued[0].Access != tr.AccessToken {
		t.Errorf("Issued() = %d logins, want the one exchanged", len(issued))
	}

	// setup-token asks for one long-lived token.
	paste, err = s.Authorize(loginURL(verifier, "s2", "user:inference"))
	if err != nil {
		t.Fatal(err)
	}
	code, state, _ = strings.Cut(paste, "#")
	body := exchangeBody(code, verifier, state)
	body["expires_in"] = 31536000
	status, tr = postToken(t, s, body)
	if status != 200 || tr.RefreshToken != "" || tr.ExpiresIn != 31536000 || tr.Scope != "user:inference" {
		t.Errorf("long-lived exchange: %d %+v, want 200, one year, no refresh token", status, tr)
	}

	s.ScriptToken(GrantAuthorizationCode, TokenInvalidGrant)
	paste, _ = s.Authorize(loginURL(verifier, "s3", "user:inference"))
	code, state, _ = strings.Cut(paste, "#")
	if status, tr := postToken(t, s, exchangeBody(code, verifier, state)); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("scripted refusal: %d %+v", status, tr)
	}
}

func TestAuthorizeRejectsBrokenURLs(t *testing.T) {
	s := New(t)
	good := loginURL("v", "st", "user:inference")
	cut := good[:strings.Index(good, "&state=")] // what a bad unwrap leaves
	for _, u := range []string{"https://claude.com/not-authorize?x=1", cut, "::"} {
		if _, err := s.Authorize(u); err == nil {
			t.Errorf("Authorize(%q) accepted it", u)
		}
	}
}

func TestProfileAndRoles(t *testing.T) {
	s := New(t)
	tok := s.Login()
	resp, b := do(t, s.Client(), http.MethodGet, "https://"+APIHost+"/api/oauth/profile", tok.Access, nil)
	var p struct {
		Account      struct{ UUID, Email string } `json:"account"`
		Organization struct {
			UUID string `json:"uuid"`
			Type string `json:"organization_type"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(b, &p); err != nil || resp.StatusCode != 200 || p.Account.UUID == "" || p.Account.Email == "" ||
		p.Organization.UUID == "" || p.Organization.Type != "claude_max" {
		t.Errorf("profile: %d %s (%v), want account uuid+email and a claude_max organization", resp.StatusCode, b, err)
	}
	resp, b = do(t, s.Client(), http.MethodGet, "https://"+APIHost+"/api/oauth/claude_cli/roles", tok.Access, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"organization_role":"admin"`) {
		t.Errorf("roles: %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, s.Client(), http.MethodGet, "https://"+APIHost+"/api/oauth/profile", "", nil); resp.StatusCode != 401 {
		t.Errorf("profile without a token: %d, want 401", resp.StatusCode)
	}
}

func TestWriteCredentialsIsWhatClaudeReads(t *testing.T) {
	s := New(t)
	tok := s.Login()
	dir := t.TempDir()
	p, err := s.WriteCredentials(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file %s: %v, mode %v; want 0600", p, err, fi.Mode())
	}
	c, err := claude.ReadCredentials(claude.CredentialsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if c.Kind != claude.KindOAuth || !c.HasRefresh || c.Subscription != "max" || c.Fingerprint != Fingerprint(tok.Access) ||
		c.AccessExpires.Sub(now) < 7*time.Hour || c.RefreshExpires.Sub(now) < 29*24*time.Hour {
		t.Errorf("claude reads %+v; want a live max OAuth login with the issued token", c)
	}
}

// A scripted tool call is answered once, as a tool_use block; the request
// that carries the tool's result gets the default answer.
func TestToolUseOnce(t *testing.T) {
	s := New(t)
	tok := s.Login()
	s.Script(ToolUse("Bash", map[string]any{"command": "touch marker"}))
	_, b := do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages?beta=true", tok.Access, messagesBody)
	for _, want := range []string{`"type":"tool_use"`, `"name":"Bash"`, `"partial_json":"{\"command\":\"touch marker\"}"`, `"stop_reason":"tool_use"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("first answer lacks %s:\n%s", want, b)
		}
	}
	_, b = do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages?beta=true", tok.Access, messagesBody)
	if strings.Contains(string(b), "tool_use") || !strings.Contains(string(b), `"stop_reason":"end_turn"`) {
		t.Errorf("second answer is not the default one:\n%s", b)
	}
}

// Hangup closes the connection without a response.
func TestHangup(t *testing.T) {
	s := New(t)
	tok := s.Login()
	s.Script(Hangup())
	b, _ := json.Marshal(messagesBody)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+APIHost+"/v1/messages", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want the connection dropped", resp.StatusCode)
	}
}

// shortLink encodes a login URL the way Claude Code 2.1.330+ shortens it:
// client and scope bits in base 64, then the code challenge; no state.
func shortLink(full string) string {
	u, _ := url.Parse(full)
	q := u.Query()
	n := 0
	for _, sc := range strings.Fields(q.Get("scope")) {
		for i, known := range shortLinkScopes {
			if sc == known {
				n |= 2 << i
			}
		}
	}
	p := ""
	for {
		p = string(shortLinkDigits[n%64]) + p
		n >>= 6
		if n == 0 {
			break
		}
	}
	return "https://claude.ai/oauth/authorize?" + p + q.Get("code_challenge")
}

func TestAuthorizeShortLink(t *testing.T) {
	s := New(t)
	verifier := "a-verifier-of-forty-three-characters-abcdef"
	link := shortLink(loginURL(verifier, "cli-state", "user:profile user:inference"))
	if strings.Contains(link, "state") || strings.Contains(link, "client_id") {
		t.Fatalf("test built a long link: %s", link)
	}
	paste, err := s.Authorize(link)
	if err != nil {
		t.Fatal(err)
	}
	code, _, ok := strings.Cut(paste, "#")
	if !ok {
		t.Fatalf("Authorize returned %q, want code#state", paste)
	}
	// The CLI sends the state it made; the short link never carried it.
	status, tr := postToken(t, s, exchangeBody(code, verifier, "cli-state"))
	if status != 200 || tr.Scope != "user:profile user:inference" {
		t.Fatalf("exchange: %d %+v, want 200 with the scopes the link named", status, tr)
	}
	paste, _ = s.Authorize(link)
	code, _, _ = strings.Cut(paste, "#")
	if status, _ := postToken(t, s, exchangeBody(code, "the-wrong-verifier", "cli-state")); status != 400 {
		t.Errorf("wrong verifier on a short link: %d, want 400", status)
	}
	for _, bad := range []string{link[:len(link)-5], "https://claude.ai/oauth/authorize?%%%"} {
		if _, err := s.Authorize(bad); err == nil {
			t.Errorf("Authorize(%q) accepted a cut link", bad)
		}
	}
}

// A usage limit answers 429 with the unified rate-limit headers the CLI
// reads, until it resets or the test ends it.
func TestMessagesUsageLimit(t *testing.T) {
	s := New(t)
	tok := s.Login()
	body := map[string]any{"model": "m", "messages": []map[string]any{{"role": "user", "content": "hi"}}}
	ask := func() (*http.Response, []byte) {
		return do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages", tok.Access, body)
	}
	reset := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	for _, claim := range []string{ClaimFiveHour, ClaimSevenDay} {
		s.Script(UsageLimit(claim, reset))
		resp, b := ask()
		h := resp.Header
		win := map[string]string{ClaimFiveHour: "5h", ClaimSevenDay: "7d"}[claim]
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "rate_limit_error") ||
			h.Get("anthropic-ratelimit-unified-status") != "rejected" ||
			h.Get("anthropic-ratelimit-unified-reset") != strconv.FormatInt(reset.Unix(), 10) ||
			h.Get("anthropic-ratelimit-unified-representative-claim") != claim ||
			h.Get("anthropic-ratelimit-unified-"+win+"-status") != "rejected" ||
			h.Get("anthropic-ratelimit-unified-"+win+"-reset") != strconv.FormatInt(reset.Unix(), 10) {
			t.Errorf("%s: got %d %s, headers %v; want 429 rejected until %d", claim, resp.StatusCode, b, h, reset.Unix())
		}
	}
	s.EndLimit()
	if resp, b := ask(); resp.StatusCode != http.StatusOK {
		t.Errorf("after EndLimit: %d %s, want the answer", resp.StatusCode, b)
	}
	// A reset already passed (by the server's clock) ends the limit by itself.
	s.Script(UsageLimit(ClaimFiveHour, time.Now().Add(-time.Second)))
	if resp, b := ask(); resp.StatusCode != http.StatusOK {
		t.Errorf("after the reset: %d %s, want the answer", resp.StatusCode, b)
	}
	// A dead login still gets its 401, limit or not.
	s.Script(UsageLimit(ClaimFiveHour, reset))
	if resp, _ := do(t, s.Client(), http.MethodPost, "https://"+APIHost+"/v1/messages", "sk-ant-oat01-unknown", body); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token under a limit: %d, want 401", resp.StatusCode)
	}
}

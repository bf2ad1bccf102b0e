package anthropictest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Lifetimes the real servers give.
const (
	AccessLifetime  = 8 * time.Hour
	RefreshLifetime = 30 * 24 * time.Hour
)

// ClaudeCodeClientID is the OAuth client id of Claude Code 2.x.
const ClaudeCodeClientID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"

// FullScopes is what `claude auth login` asks for.
var FullScopes = []string{
	"user:profile", "user:inference", "user:sessions:claude_code",
	"user:mcp_servers", "user:file_upload",
}

// Tokens is one login the fake issued.
type Tokens struct {
	Access         string
	Refresh        string // "" for a long-lived token (setup-token)
	AccessExpires  time.Time
	RefreshExpires time.Time
	Scopes         []string
}

type accessToken struct {
	expires time.Time
	revoked bool
}

type refreshToken struct {
	expires time.Time
	used    bool
	revoked bool
	scopes  []string
}

type authCode struct {
	challenge, redirect, state, clientID string
	scopes                               []string
	used                                 bool
}

// Profile is what GET /api/oauth/profile reports.
type Profile struct {
	AccountUUID, Email, DisplayName string
	OrgUUID, OrgName                string
	OrgType                         string // claude_max, claude_pro, claude_team, …
	RateLimitTier                   string
}

// DefaultProfile is a Claude Max account.
func DefaultProfile() Profile {
	return Profile{
		AccountUUID:   "0b6d1d54-4f1c-4c55-9f4a-3f3f0c7d1a01",
		Email:         "agent@example.com",
		DisplayName:   "Fleet Agent",
		OrgUUID:       "5a1b2c3d-0000-4000-8000-00000000f1ee",
		OrgName:       "Fleet Org",
		OrgType:       "claude_max",
		RateLimitTier: "default_claude_max_20x",
	}
}

// SetProfile changes what the profile endpoint reports.
func (s *Server) SetProfile(p Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profile = p
}

// randomToken is as long as the real ones (sk-ant-oat01- + 95 characters
// + "-" + 6 + "AA": 108 in all), so wrapping and redaction see real lengths.
func randomToken(prefix string) string {
	var b [75]byte
	_, _ = rand.Read(b[:])                             // crypto/rand does not fail
	body := base64.RawURLEncoding.EncodeToString(b[:]) // 100 characters
	return prefix + body[:95] + "-" + body[95:] + "AA"
}

// issueLocked makes a new login. lifetime 0 means AccessLifetime;
// withRefresh false makes a long-lived token without a refresh token.
func (s *Server) issueLocked(scopes []string, lifetime time.Duration, refreshExpires time.Time, withRefresh bool) Tokens {
	now := s.now()
	if lifetime <= 0 {
		lifetime = AccessLifetime
	}
	t := Tokens{
		Access:        randomToken("sk-ant-oat01-"),
		AccessExpires: now.Add(lifetime),
		Scopes:        slices.Clone(scopes),
	}
	s.access[t.Access] = &accessToken{expires: t.AccessExpires}
	if withRefresh {
		if refreshExpires.IsZero() {
			refreshExpires = now.Add(RefreshLifetime)
		}
		t.Refresh = randomToken("sk-ant-ort01-")
		t.RefreshExpires = refreshExpires
		s.refresh[t.Refresh] = &refreshToken{expires: refreshExpires, scopes: slices.Clone(scopes)}
	}
	s.issued = append(s.issued, t)
	return t
}

// Login issues a fresh login with the scopes of `claude auth login`, as if
// a human had logged in before the test. Write it with WriteCredentials.
func (s *Server) Login() Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(FullScopes, 0, time.Time{}, true)
}

// Issued returns every login the fake issued, oldest first.
func (s *Server) Issued() []Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// AddAPIKey makes key a valid x-api-key.
func (s *Server) AddAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKeys[key] = true
}

// ExpireAccess makes every access token issued so far expired on the
// server side (the CLI still thinks it is good until it asks).
func (s *Server) ExpireAccess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Minute)
	for _, a := range s.access {
		a.expires = past
	}
}

// ExpireRefresh makes every refresh token issued so far expired: a refresh
// then gets invalid_grant "Refresh token expired".
func (s *Server) ExpireRefresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Minute)
	for _, r := range s.refresh {
		r.expires = past
	}
}

// RevokeAll revokes every token issued so far: the API answers 403
// "OAuth token has been revoked" and a refresh gets invalid_grant.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.access {
		a.revoked = true
	}
	for _, r := range s.refresh {
		r.revoked = true
	}
}

// credentialsFile is Claude Code's .credentials.json.
type credentialsFile struct {
	ClaudeAiOauth credentialsOAuth `json:"claudeAiOauth"`
}

type credentialsOAuth struct {
	AccessToken           string   `json:"accessToken"`
	RefreshToken          string   `json:"refreshToken"`
	ExpiresAt             int64    `json:"expiresAt"`
	RefreshTokenExpiresAt int64    `json:"refreshTokenExpiresAt,omitempty"`
	Scopes                []string `json:"scopes"`
	SubscriptionType      string   `json:"subscriptionType"`
	RateLimitTier         string   `json:"rateLimitTier"`
}

// CredentialsJSON renders t as Claude Code's .credentials.json.
func (s *Server) CredentialsJSON(t Tokens) []byte {
	s.mu.Lock()
	p := s.profile
	s.mu.Unlock()
	f := credentialsFile{ClaudeAiOauth: credentialsOAuth{
		AccessToken:      t.Access,
		RefreshToken:     t.Refresh,
		ExpiresAt:        t.AccessExpires.UnixMilli(),
		Scopes:           t.Scopes,
		SubscriptionType: strings.TrimPrefix(p.OrgType, "claude_"),
		RateLimitTier:    p.RateLimitTier,
	}}
	if !t.RefreshExpires.IsZero() {
		f.ClaudeAiOauth.RefreshTokenExpiresAt = t.RefreshExpires.UnixMilli()
	}
	b, _ := json.Marshal(f) // plain structs; cannot fail
	return b
}

// WriteCredentials writes t as configDir/.credentials.json (mode 0600) and
// returns the path.
func (s *Server) WriteCredentials(configDir string, t Tokens) (string, error) {
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	p := filepath.Join(configDir, ".credentials.json")
	if err := os.WriteFile(p, s.CredentialsJSON(t), 0o600); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	return p, nil
}

// Authorize plays the human in the browser: it takes the login URL the CLI
// printed, checks it is a real authorization request, approves it and
// returns the "code#state" string the OAuth page shows for pasting back
// into the CLI. Both forms are understood: the full URL with its query
// fields (…/oauth/authorize?code=true&client_id=…&state=…, older CLIs and
// CLAUDE_CODE_FULL_SIGN_IN_LINK=1) and the short sign-in link of 2.1.330+
// (https://claude.ai/oauth/authorize?<opaque>), which carries no state: the
// page then shows a state of its own and the token request's is not checked.
func (s *Server) Authorize(loginURL string) (string, error) {
	u, err := url.Parse(loginURL)
	if err != nil {
		return "", fmt.Errorf("authorize: bad login URL: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/oauth/authorize") {
		return "", fmt.Errorf("authorize: %s is not an /oauth/authorize URL", u.Redacted())
	}
	q := u.Query()
	short := !q.Has("client_id")
	if short {
		if q, err = expandShortLink(u.RawQuery); err != nil {
			return "", err
		}
	}
	for _, k := range []string{"client_id", "response_type", "redirect_uri", "scope", "code_challenge", "code_challenge_method", "state"} {
		if q.Get(k) == "" {
			return "", fmt.Errorf("authorize: the login URL has no %s (was it cut when unwrapping?)", k)
		}
	}
	switch {
	case q.Get("response_type") != "code":
		return "", fmt.Errorf("authorize: response_type %q, want code", q.Get("response_type"))
	case q.Get("code_challenge_method") != "S256":
		return "", fmt.Errorf("authorize: code_challenge_method %q, want S256", q.Get("code_challenge_method"))
	case len(q.Get("code_challenge")) != 43:
		return "", fmt.Errorf("authorize: code_challenge %q is not a base64url SHA-256 (43 characters)", q.Get("code_challenge"))
	}
	code := randomToken("fakecode-")
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &authCode{
		challenge: q.Get("code_challenge"),
		redirect:  q.Get("redirect_uri"),
		state:     q.Get("state"),
		clientID:  q.Get("client_id"),
		scopes:    strings.Fields(q.Get("scope")),
	}
	if short {
		c.state = "" // the link had none to check against
	}
	s.codes[code] = c
	return code + "#" + q.Get("state"), nil
}

// shortLinkScopes are the scopes a short sign-in link names by bit (bit
// i+1 for scopes[i]; bit 0 picks the client), as the CLI encodes them.
var shortLinkScopes = []string{"org:create_api_key", "user:profile", "user:inference", "user:sessions:claude_code",
	"user:mcp_servers", "user:file_upload", "user:plugins", "user:projects:read", "user:projects:write",
	"user:privacy_consents:write", "org:desktop_config"}

const (
	shortLinkDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	manualRedirect  = "https://platform.claude.com/oauth/code/callback"
)

// expandShortLink turns the query of a short sign-in link — a base-64
// number (client and scope bits), the 43-character code challenge, then
// "&"-fields the short form kept — into the full authorization request.
func expandShortLink(raw string) (url.Values, error) {
	head, rest, _ := strings.Cut(raw, "&")
	if len(head) < 44 {
		return nil, fmt.Errorf("authorize: short sign-in link %q is too short (was it cut when unwrapping?)", head)
	}
	digits, challenge := head[:len(head)-43], head[len(head)-43:]
	n := 0
	for _, d := range digits {
		i := strings.IndexRune(shortLinkDigits, d)
		if i < 0 {
			return nil, fmt.Errorf("authorize: short sign-in link: %q is not a link digit", d)
		}
		n = n<<6 | i
	}
	if n&1 != 0 {
		return nil, fmt.Errorf("authorize: short sign-in link names a client this fake does not know")
	}
	var scopes []string
	for i, sc := range shortLinkScopes {
		if n&(2<<i) != 0 {
			scopes = append(scopes, sc)
		}
	}
	q, err := url.ParseQuery(rest)
	if err != nil {
		return nil, fmt.Errorf("authorize: short sign-in link: %w", err)
	}
	if extra := q.Get("scope"); extra != "" {
		scopes = append(scopes, strings.Fields(extra)...)
	}
	q.Set("code", "true")
	q.Set("client_id", ClaudeCodeClientID)
	q.Set("response_type", "code")
	q.Set("redirect_uri", manualRedirect)
	q.Set("scope", strings.Join(scopes, " "))
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("state", randomToken("page-"))
	return q, nil
}

// errInvalidGrant carries the OAuth error description.
type errInvalidGrant struct{ desc string }

func (e errInvalidGrant) Error() string { return "invalid_grant: " + e.desc }

const (
	descBadCode        = "Invalid 'code' in request."
	descRefreshBad     = "Refresh token not found or invalid"
	descRefreshExpired = "Refresh token expired"
)

type tokenRequest struct {
	GrantType    Grant  `json:"grant_type"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	ClientID     string `json:"client_id"`
	CodeVerifier string `json:"code_verifier"`
	State        string `json:"state"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
}

// exchangeLocked checks an authorization_code grant and issues tokens.
func (s *Server) exchangeLocked(r tokenRequest) (Tokens, error) {
	c, ok := s.codes[r.Code]
	if !ok || c.used {
		return Tokens{}, errInvalidGrant{descBadCode}
	}
	sum := sha256.Sum256([]byte(r.CodeVerifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge ||
		r.RedirectURI != c.redirect || (c.state != "" && r.State != c.state) || r.ClientID != c.clientID {
		return Tokens{}, errInvalidGrant{descBadCode}
	}
	c.used = true
	if r.ExpiresIn > 0 { // setup-token: one long-lived access token
		return s.issueLocked(c.scopes, time.Duration(r.ExpiresIn)*time.Second, time.Time{}, false), nil
	}
	return s.issueLocked(c.scopes, 0, time.Time{}, true), nil
}

// refreshLocked checks a refresh_token grant and rotates the tokens.
func (s *Server) refreshLocked(r tokenRequest) (Tokens, error) {
	rt, ok := s.refresh[r.RefreshToken]
	switch {
	case !ok || rt.used || rt.revoked:
		return Tokens{}, errInvalidGrant{descRefreshBad}
	case !s.now().Before(rt.expires):
		return Tokens{}, errInvalidGrant{descRefreshExpired}
	}
	rt.used = true
	scopes := rt.scopes
	if f := strings.Fields(r.Scope); len(f) > 0 {
		scopes = f
	}
	return s.issueLocked(scopes, time.Duration(r.ExpiresIn)*time.Second, rt.expires, true), nil
}

// checkAccessLocked says whether token may call the API, and if not, the
// error the API sends.
func (s *Server) checkAccessLocked(token string) *Reply {
	a, ok := s.access[token]
	switch {
	case !ok:
		r := Error(401, "authentication_error", MsgInvalidToken)
		return &r
	case a.revoked:
		r := Revoked()
		return &r
	case !s.now().Before(a.expires):
		r := Expired()
		return &r
	}
	return nil
}

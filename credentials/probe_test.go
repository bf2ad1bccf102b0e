package credentials

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/config"
)

// Real error bodies from the API.
const (
	bodyExpired      = `{"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired. Please obtain a new token or refresh your existing token."}}`
	bodyOrgForbidden = `{"type":"error","error":{"type":"permission_error","message":"OAuth authentication is currently not allowed for this organization."}}`
	bodyInvalidKey   = `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`
	bodyOK           = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"Hi"}],"stop_reason":"max_tokens","usage":{"input_tokens":8,"output_tokens":1}}`
)

type answer struct {
	status int
	body   string
}

// fakeAPI plays the Messages API: it authenticates the way the real one
// does (Bearer + the OAuth beta, or x-api-key) and answers per token.
type fakeAPI struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]answer // by token
	reqs    []*http.Request
	bodies  []string
}

func newFakeAPI(t *testing.T, answers map[string]answer) *fakeAPI {
	f := &fakeAPI{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func apiErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Clone(r.Context()))
	f.bodies = append(f.bodies, string(body))
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		apiErr(w, 404, "not_found_error", "Not Found")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		apiErr(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var tok string
	switch {
	case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		if !strings.Contains(r.Header.Get("Anthropic-Beta"), "oauth-2025-04-20") {
			apiErr(w, 401, "authentication_error", "OAuth authentication is currently not supported.")
			return
		}
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	case r.Header.Get("X-Api-Key") != "":
		tok = r.Header.Get("X-Api-Key")
	default:
		apiErr(w, 401, "authentication_error", "x-api-key header is required")
		return
	}
	a, ok := f.answers[tok]
	if !ok {
		apiErr(w, 401, "authentication_error", "invalid x-api-key")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeAPI) last() (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1], f.bodies[len(f.bodies)-1]
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		kind    string // oauth-file uses a live login holding oatLive
		token   string
		answer  answer
		healthy bool
		reason  string
		detail  []string
		err     bool
	}{
		{"oauth token accepted", config.KindOAuthToken, oatLive, answer{200, bodyOK}, true, "", []string{"API accepts it (probed just now)"}, false},
		{"oauth token expired", config.KindOAuthToken, oatLive, answer{401, bodyExpired}, false, "expired",
			[]string{"API refused it: 401 authentication_error: OAuth token has expired.", "claude setup-token"}, false},
		{"oauth token revoked", config.KindOAuthToken, oatLive,
			answer{401, `{"type":"error","error":{"type":"authentication_error","message":"OAuth token has been revoked."}}`}, false, "revoked", nil, false},
		{"login file, org forbids oauth", config.KindOAuthFile, oatLive, answer{403, bodyOrgForbidden}, false, "forbidden",
			[]string{"403 permission_error: OAuth authentication is currently not allowed for this organization.", "re-login does not fix it"}, false},
		{"login file, subscription disabled", config.KindOAuthFile, oatLive,
			answer{403, `{"type":"error","error":{"type":"permission_error","message":"Your organization has disabled Claude subscription access for Claude Code."}}`},
			false, "subscription", []string{"check the plan or payment"}, false},
		{"login file expired", config.KindOAuthFile, oatLive, answer{401, bodyExpired}, false, "expired", []string{"run /login"}, false},
		{"api key invalid", config.KindAPIKey, "sk-ant-api03-unknown", answer{}, false, "invalid_api_key",
			[]string{"401 authentication_error: invalid x-api-key", "replace the key"}, false},
		{"api key out of credit", config.KindAPIKey, apiKey,
			answer{400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`},
			false, "subscription", nil, false},
		{"api key rate limited", config.KindAPIKey, apiKey,
			answer{429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`},
			true, "", []string{"API accepts it", "rate limited now"}, false},
		{"model gone but token fine", config.KindOAuthToken, oatLive,
			answer{404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-haiku-4-5"}}`},
			true, "", []string{"API accepts it", "404 not_found_error"}, false},
		{"overloaded: inconclusive", config.KindAPIKey, apiKey,
			answer{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
			true, "", []string{"probe inconclusive", "529 overloaded_error: Overloaded"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := map[string]answer{}
			if tt.answer.status != 0 { // else the fake API does not know the token
				answers[tt.token] = tt.answer
			}
			api := newFakeAPI(t, answers)
			cr := config.Credential{Name: "c", Kind: tt.kind, Probe: "api", BaseURL: api.URL}
			if tt.kind == config.KindOAuthFile {
				cr.ConfigDir = writeLogin(t, filepath.Join(t.TempDir(), "claude"), liveLogin(time.Hour, 20*24*time.Hour))
			} else {
				cr.Token = config.LiteralSecret(tt.token)
			}
			now := t0
			c := New(Options{Credentials: []config.Credential{cr}, Now: fixedClock(&now), HTTPClient: api.Client()})
			h := c.Check(t.Context(), "c", true)

			if h.Healthy != tt.healthy || h.Reason != tt.reason {
				t.Errorf("healthy, reason = %v, %q; want %v, %q (detail %q)", h.Healthy, h.Reason, tt.healthy, tt.reason, h.Detail)
			}
			if !h.Probed || !h.ProbedAt.Equal(t0) {
				t.Errorf("Probed %v at %v, want a probe at %v", h.Probed, h.ProbedAt, t0)
			}
			for _, s := range tt.detail {
				if !strings.Contains(h.Detail, s) {
					t.Errorf("detail %q does not say %q", h.Detail, s)
				}
			}
			if (h.Err != "") != tt.err {
				t.Errorf("Err = %q, want set: %v", h.Err, tt.err)
			}
			if strings.Contains(h.Detail+h.Err, tt.token) {
				t.Errorf("the token leaked into %q / %q", h.Detail, h.Err)
			}

			if n := api.count(); n != 1 {
				t.Fatalf("API got %d requests, want 1", n)
			}
			r, body := api.last()
			if tt.kind == config.KindAPIKey {
				if got := r.Header.Get("X-Api-Key"); got != tt.token {
					t.Errorf("x-api-key = %q, want the key", got)
				}
				if got := r.Header.Get("Authorization"); got != "" {
					t.Errorf("Authorization = %q sent with an API key", got)
				}
			} else {
				if got := r.Header.Get("Authorization"); got != "Bearer "+tt.token {
					t.Errorf("Authorization = %q, want Bearer <token>", got)
				}
				if got := r.Header.Get("Anthropic-Beta"); got != "oauth-2025-04-20" {
					t.Errorf("anthropic-beta = %q, want oauth-2025-04-20", got)
				}
				if got := r.Header.Get("X-Api-Key"); got != "" {
					t.Errorf("x-api-key = %q sent with an OAuth token", got)
				}
			}
			if got := r.Header.Get("Anthropic-Version"); got != "2023-06-01" {
				t.Errorf("anthropic-version = %q", got)
			}
			var req struct {
				MaxTokens int `json:"max_tokens"`
			}
			if err := json.Unmarshal([]byte(body), &req); err != nil || req.MaxTokens != 1 {
				t.Errorf("request body %s: max_tokens %d, err %v; want a one-token request", body, req.MaxTokens, err)
			}
		})
	}
}

func TestProbeRateLimit(t *testing.T) {
	api := newFakeAPI(t, map[string]answer{oatLive: {401, bodyExpired}})
	now := t0
	c := New(Options{
		Credentials: []config.Credential{
			{Name: "tok", Kind: config.KindOAuthToken, Token: config.LiteralSecret(oatLive), Probe: "api", BaseURL: api.URL},
			{Name: "passive", Kind: config.KindOAuthToken, Token: config.LiteralSecret(oatLive), BaseURL: api.URL},
		},
		Now: fixedClock(&now), ProbeEvery: 10 * time.Minute, HTTPClient: api.Client(),
	})
	steps := []struct {
		at       time.Duration
		probe    bool
		requests int
		healthy  bool
		probedAt time.Duration
		detail   string
	}{
		{0, true, 1, false, 0, "probed just now"},
		{5 * time.Minute, true, 1, false, 0, "probed 5m ago"}, // cached
		{9 * time.Minute, false, 1, true, -1, "long-lived oauth token"},
		{10 * time.Minute, true, 2, false, 10 * time.Minute, "probed just now"},
	}
	for _, s := range steps {
		now = t0.Add(s.at)
		h := c.Check(t.Context(), "tok", s.probe)
		if n := api.count(); n != s.requests {
			t.Errorf("at +%v: %d requests, want %d", s.at, n, s.requests)
		}
		if h.Healthy != s.healthy || !strings.Contains(h.Detail, s.detail) {
			t.Errorf("at +%v: healthy %v detail %q; want %v and %q", s.at, h.Healthy, h.Detail, s.healthy, s.detail)
		}
		if s.probedAt >= 0 && !h.ProbedAt.Equal(t0.Add(s.probedAt)) {
			t.Errorf("at +%v: ProbedAt %v, want %v", s.at, h.ProbedAt, t0.Add(s.probedAt))
		}
		if s.probedAt < 0 && h.Probed {
			t.Errorf("at +%v: Probed without asking for a probe", s.at)
		}
	}
	// probe = "" in the config: never probed.
	if h := c.Check(t.Context(), "passive", true); h.Probed || api.count() != 2 {
		t.Errorf("credential without probe = \"api\" was probed (requests %d)", api.count())
	}
}

func TestProbeNewLoginProbedAtOnce(t *testing.T) {
	const newAccess = "sk-ant-oat01-AfterLoginEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"
	api := newFakeAPI(t, map[string]answer{oatLive: {401, bodyExpired}, newAccess: {200, bodyOK}})
	dir := writeLogin(t, filepath.Join(t.TempDir(), "claude"), liveLogin(time.Hour, 20*24*time.Hour))
	now := t0
	c := New(Options{
		Credentials: []config.Credential{{Name: "max", Kind: config.KindOAuthFile, ConfigDir: dir, Probe: "api", BaseURL: api.URL}},
		Now:         fixedClock(&now), HTTPClient: api.Client(),
	})
	if h := c.Check(t.Context(), "max", true); h.Healthy || h.Reason != "expired" {
		t.Fatalf("before login: healthy %v reason %q, want expired", h.Healthy, h.Reason)
	}
	now = t0.Add(time.Minute)
	l := liveLogin(8*time.Hour, 30*24*time.Hour)
	l.AccessToken = newAccess
	writeLogin(t, dir, l)
	h := c.Check(t.Context(), "max", true)
	if !h.Healthy || api.count() != 2 {
		t.Errorf("after login: healthy %v after %d requests; want healthy after a fresh probe (2)", h.Healthy, api.count())
	}
}

func TestProbeSkipsExpiredAccess(t *testing.T) {
	api := newFakeAPI(t, map[string]answer{oatLive: {200, bodyOK}})
	dir := writeLogin(t, filepath.Join(t.TempDir(), "claude"), liveLogin(-time.Minute, 20*24*time.Hour))
	c := New(Options{
		Credentials: []config.Credential{{Name: "max", Kind: config.KindOAuthFile, ConfigDir: dir, Probe: "api", BaseURL: api.URL}},
		Now:         func() time.Time { return t0 }, HTTPClient: api.Client(),
	})
	h := c.Check(t.Context(), "max", true)
	if !h.Healthy || h.Probed || api.count() != 0 || !strings.Contains(h.Detail, "probe skipped: the access token has expired") {
		t.Errorf("healthy %v probed %v requests %d detail %q; want healthy, no probe, and why", h.Healthy, h.Probed, api.count(), h.Detail)
	}
}

func TestProbeBaseURL(t *testing.T) {
	fromEnv := newFakeAPI(t, map[string]answer{apiKey: {200, bodyOK}})
	configured := newFakeAPI(t, map[string]answer{apiKey: {200, bodyOK}})
	t.Setenv("ANTHROPIC_BASE_URL", fromEnv.URL+"/")
	c := New(Options{Credentials: []config.Credential{
		{Name: "env", Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey), Probe: "api"},
		{Name: "set", Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey), Probe: "api", BaseURL: configured.URL},
	}})
	if h := c.Check(t.Context(), "env", true); !h.Healthy || fromEnv.count() != 1 {
		t.Errorf("no base_url: healthy %v, $ANTHROPIC_BASE_URL got %d requests, want 1 (detail %q)", h.Healthy, fromEnv.count(), h.Detail)
	}
	if r, _ := fromEnv.last(); r.URL.Path != "/v1/messages" {
		t.Errorf("path %q, want /v1/messages", r.URL.Path)
	}
	if h := c.Check(t.Context(), "set", true); !h.Healthy || configured.count() != 1 || fromEnv.count() != 1 {
		t.Errorf("base_url set: healthy %v, requests configured %d env %d; want 1 and 1", h.Healthy, configured.count(), fromEnv.count())
	}
}

func TestProbeUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	c := New(Options{Credentials: []config.Credential{
		{Name: "key", Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey), Probe: "api", BaseURL: url},
	}})
	h := c.Check(t.Context(), "key", true)
	if !h.Healthy || h.Err == "" || !strings.Contains(h.Detail, "probe inconclusive") || !strings.Contains(h.Detail, "cannot reach "+url) {
		t.Errorf("healthy %v err %q detail %q; want the passive verdict kept and the network error said", h.Healthy, h.Err, h.Detail)
	}
}

func TestCheckAllProbesConcurrently(t *testing.T) {
	api := newFakeAPI(t, map[string]answer{apiKey: {200, bodyOK}, oatLive: {401, bodyExpired}})
	var creds []config.Credential
	for _, n := range []string{"a", "b", "c"} {
		creds = append(creds, config.Credential{Name: n, Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey), Probe: "api", BaseURL: api.URL})
	}
	creds = append(creds, config.Credential{Name: "bad", Kind: config.KindOAuthToken, Token: config.LiteralSecret(oatLive), Probe: "api", BaseURL: api.URL})
	c := New(Options{Credentials: creds, HTTPClient: api.Client()})
	all := c.CheckAll(t.Context(), true)
	for i, h := range all {
		if want := i < 3; h.Healthy != want || !h.Probed {
			t.Errorf("%s: healthy %v probed %v, want healthy %v after a probe", h.Name, h.Healthy, h.Probed, want)
		}
	}
	if api.count() != 4 {
		t.Errorf("%d requests, want 4", api.count())
	}
}

package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const secret = "sk-ant-oat01-AAAAbbbbCCCCddddEEEEffff0123456789_-xyz"

// fleetState is a snapshot source the test can change while the server
// reads it.
type fleetState struct {
	mu   sync.Mutex
	snap Snapshot
}

func (f *fleetState) get() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	s.Agents = slices.Clone(f.snap.Agents)
	return s
}

func (f *fleetState) set(name, state, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.snap.Agents {
		if f.snap.Agents[i].Name == name {
			f.snap.Agents[i].State, f.snap.Agents[i].Reason = state, reason
			return
		}
	}
	panic("no agent " + name)
}

func newFleet() *fleetState {
	return &fleetState{snap: Snapshot{
		Time:      t0,
		Version:   "v1.2.3",
		StartedAt: t0.Add(-26 * time.Hour),
		Agents: []Agent{
			{Name: "builder", Target: "fleet:builder", State: "working", Since: t0.Add(-3 * time.Minute), Evidence: "✻ Compacting conversation… (esc to interrupt)"},
			{Name: "reviewer", Host: "gpu-box", Target: "fleet:reviewer", State: "idle", Since: t0.Add(-40 * time.Minute), Evidence: "> \n? for shortcuts"},
			{Name: "docs", Target: "fleet:docs", State: "auth_failed", Reason: "expired", Since: t0.Add(-90 * time.Second),
				Evidence: "API Error: 401 {\"error\":\"OAuth token has expired\"} token=" + secret},
			{Name: "<script>x</script>", Target: "fleet:evil", State: "needs_input", Since: t0.Add(-time.Hour), Evidence: "Do you want to proceed? <b>1. Yes</b>"},
		},
		Credentials: []Credential{
			{Name: "default", Kind: "oauth", AccessExpires: t0.Add(2*time.Hour + 5*time.Minute), RefreshExpires: t0.Add(29 * 24 * time.Hour), Healthy: true},
			{Name: "team", Kind: "oauth", AccessExpires: t0.Add(-3 * time.Minute), Healthy: false, Detail: "refresh failed: 400 invalid_grant"},
		},
		CLIs: []CLI{
			{Version: "2.1.332"},
			{Host: "gpu-box", Version: "2.1.999", Warning: "Claude Code 2.1.999 is newer than any release fleetwarden's real-CLI suite has passed on"},
			{Host: "old-box", Error: "claude --version: exec: not found"},
		},
		Transports: []Transport{
			{Name: "telegram", State: "up", Since: t0.Add(-26 * time.Hour)},
			{Name: "discord", State: "down", LastError: "dial tcp: i/o timeout (Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345)", Since: t0.Add(-5 * time.Minute)},
		},
		Alerts: []Alert{
			{Summary: "docs: login expired", Severity: "critical", Kind: "auth_failed", Agents: []string{"docs"}, Since: t0.Add(-80 * time.Second)},
		},
		Silences:  []Silence{{Target: "reviewer", By: "alice", Reason: "maintenance", Until: t0.Add(time.Hour)}},
		Incidents: []Incident{{Start: t0.Add(-80 * time.Second), Agents: []string{"docs"}, Cause: "OAuth token expired", Ongoing: true}},
	}}
}

func newServer(t *testing.T, f *fleetState, mod func(*Options)) *Server {
	t.Helper()
	o := Options{
		Listen:   "127.0.0.1:0",
		Snapshot: f.get,
		Now:      func() time.Time { return t0 },
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.Host = "127.0.0.1:8787" // httptest's example.com is not the dashboard's
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestNewListenRule(t *testing.T) {
	tests := []struct {
		listen, token string
		wantErr       string
	}{
		{"0.0.0.0:8787", "", "dashboard.listen 0.0.0.0:8787 is not loopback: set dashboard.token"},
		{":8787", "", "dashboard.listen :8787 is not loopback: set dashboard.token"},
		{"[::]:8787", "", "is not loopback"},
		{"192.168.1.5:8787", "", "is not loopback"},
		{"dash.example.com:8787", "", "is not loopback"},
		{"8787", "", `dashboard.listen "8787" is not host:port`},
		{"0.0.0.0:8787", "s3cret-s3cret-s3cret", ""},
		{"127.0.0.1:8787", "", ""},
		{"127.0.0.2:0", "", ""},
		{"[::1]:8787", "", ""},
		{"localhost:8787", "", ""},
		{"", "", ""}, // default 127.0.0.1:8787
	}
	for _, tt := range tests {
		_, err := New(Options{Listen: tt.listen, Token: tt.token, Snapshot: func() Snapshot { return Snapshot{} }})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("New(listen %q, token %q): got error %v, want none", tt.listen, tt.token, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("New(listen %q, token %q): got error %v, want %q", tt.listen, tt.token, err, tt.wantErr)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Errorf("New without Snapshot: got no error, want one")
	}
}

func TestPage(t *testing.T) {
	s := newServer(t, newFleet(), nil)
	w := get(t, s.Handler(), "/")
	if w.Code != 200 {
		t.Fatalf("GET /: got %d, want 200", w.Code)
	}
	body := w.Body.String()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type: got %q, want text/html", ct)
	}
	for _, want := range []string{
		`<tr data-agent="builder" data-state="working"`, `class="state st-working">working<`,
		`<tr data-agent="reviewer" data-state="idle"`, `gpu-box`,
		`<tr data-agent="docs" data-state="auth_failed"`, `<span class="reason">expired</span>`,
		`docs: login expired`,          // alert
		`maintenance`, `ends in 1h00m`, // silence
		`<tr data-credential="default">`, `2h05m`, `29d0h`, `expired 3m ago`, `unhealthy`, `invalid_grant`,
		`<tr data-transport="discord">`, `tp-down`, `tp-up`,
		// The Claude Code CLI on each host, a newer one than the suite saw marked.
		`<tr data-host="local">`, `2.1.332`, `<tr data-host="gpu-box">`, `⚠ Claude Code 2.1.999 is newer`, `claude --version: exec: not found`,
		`OAuth token expired`, `ongoing`, `1m so far`,
		`version v1.2.3`, `up 1d2h`,
		`&lt;script&gt;x&lt;/script&gt;`, `&lt;b&gt;1. Yes&lt;/b&gt;`,
		`? for shortcuts`, // the last evidence line only
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>x</script>", "<b>1. Yes", "AAAAbbbbCCCC", "abcdefghijklmnopqrstuvwxyz012345", "http://", "https://"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Every inline script and style carries the nonce the CSP allows, and
	// nothing is loaded from elsewhere.
	csp := w.Header().Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("CSP %q has no script nonce", csp)
	}
	if n := strings.Count(body, `<script nonce="`+m[1]+`">`); n != 1 || strings.Count(body, "<script") != 1 {
		t.Errorf("got %d scripts with the CSP nonce among %d, want 1 of 1", n, strings.Count(body, "<script"))
	}
	if again := get(t, s.Handler(), "/").Header().Get("Content-Security-Policy"); again == csp {
		t.Errorf("nonce repeated across requests")
	}
}

func TestAPIStatus(t *testing.T) {
	f := newFleet()
	f.snap.Alerts, f.snap.Silences = nil, nil
	s := newServer(t, f, nil)
	w := get(t, s.Handler(), "/api/status")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/status: got %d %q, want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	raw := w.Body.String()
	if strings.Contains(raw, "AAAAbbbb") || strings.Contains(raw, "abcdefghijklmnopqrstuvwxyz012345") {
		t.Errorf("JSON leaks a token: %s", raw)
	}
	for _, want := range []string{`"alerts": []`, `"silences": []`} {
		if !strings.Contains(raw, want) {
			t.Errorf("JSON lacks %s (empty lists must be [], not null)", want)
		}
	}
	var got struct {
		Time   time.Time `json:"time"`
		Agents []struct {
			Name, Host, Target, State, Reason, Evidence string
			Since                                       time.Time
		} `json:"agents"`
		Credentials []struct {
			Name          string    `json:"name"`
			AccessExpires time.Time `json:"access_expires"`
			Healthy       bool      `json:"healthy"`
		} `json:"credentials"`
		Counts map[string]int `json:"counts"`
		CLIs   []CLI          `json:"claude_cli"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, raw)
	}
	if !got.Time.Equal(t0) {
		t.Errorf("time: got %v, want %v", got.Time, t0)
	}
	if len(got.Agents) != 4 {
		t.Fatalf("agents: got %d, want 4", len(got.Agents))
	}
	docs := got.Agents[2]
	if docs.Name != "docs" || docs.State != "auth_failed" || docs.Reason != "expired" || !docs.Since.Equal(t0.Add(-90*time.Second)) {
		t.Errorf("docs: got %+v", docs)
	}
	if !strings.Contains(docs.Evidence, "OAuth token has expired") || !strings.Contains(docs.Evidence, "[redacted]") {
		t.Errorf("docs evidence: got %q, want the message with the token redacted", docs.Evidence)
	}
	if c := got.Credentials[0]; c.Name != "default" || !c.AccessExpires.Equal(t0.Add(125*time.Minute)) || !c.Healthy {
		t.Errorf("credential: got %+v", c)
	}
	if len(got.CLIs) != 3 || got.CLIs[1].Host != "gpu-box" || got.CLIs[1].Version != "2.1.999" || !strings.Contains(got.CLIs[1].Warning, "newer") {
		t.Errorf("claude_cli: got %+v, want each host's version with the warning", got.CLIs)
	}
	wantCounts := map[string]int{"working": 1, "idle": 1, "needs_input": 1, "logging_in": 0, "auth_failed": 1, "api_error": 0, "exited": 0, "unknown": 0}
	for k, v := range wantCounts {
		if got.Counts[k] != v {
			t.Errorf("counts[%s]: got %d, want %d", k, got.Counts[k], v)
		}
	}
	// The caller's snapshot is not modified by redaction.
	if !strings.Contains(f.snap.Agents[2].Evidence, secret) {
		t.Errorf("the lead's snapshot was modified")
	}
}

func TestFragmentHealthzAndRoutes(t *testing.T) {
	s := newServer(t, newFleet(), nil)
	h := s.Handler()
	tests := []struct {
		method, target string
		code           int
		body           string
	}{
		{"GET", "/fragment", 200, `data-agent="reviewer"`},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ready"},
		{"GET", "/metrics", 404, ""}, // no Metrics passed
		{"GET", "/nope", 404, ""},
		{"POST", "/", 405, ""},
		{"HEAD", "/healthz", 200, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(tt.method, tt.target, nil)
		r.Host = "localhost:8787"
		h.ServeHTTP(w, r)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s %s: got %d %q, want %d containing %q", tt.method, tt.target, w.Code, w.Body.String(), tt.code, tt.body)
		}
	}
	if strings.Contains(get(t, h, "/fragment").Body.String(), "<html") {
		t.Errorf("/fragment is a whole page, want the live part only")
	}
}

func TestReadyz(t *testing.T) {
	var reasons []string
	var mu sync.Mutex
	s := newServer(t, newFleet(), func(o *Options) {
		o.Ready = func() []string { mu.Lock(); defer mu.Unlock(); return reasons }
	})
	if w := get(t, s.Handler(), "/readyz"); w.Code != 200 || w.Body.String() != "ready" {
		t.Errorf("ready: got %d %q, want 200 \"ready\"", w.Code, w.Body.String())
	}
	mu.Lock()
	reasons = []string{"tmux server not reachable: no server running on /tmp/tmux-0/default", "no alert route up"}
	mu.Unlock()
	w := get(t, s.Handler(), "/readyz")
	want := "not ready:\n- tmux server not reachable: no server running on /tmp/tmux-0/default\n- no alert route up\n"
	if w.Code != 503 || w.Body.String() != want {
		t.Errorf("not ready: got %d %q, want 503 %q", w.Code, w.Body.String(), want)
	}
}

func TestTokenAuth(t *testing.T) {
	const token = "correct-horse-battery-staple"
	s := newServer(t, newFleet(), func(o *Options) { o.Token = token })
	h := s.Handler()

	for _, target := range []string{"/", "/api/status", "/events", "/fragment", "/readyz", "/metrics"} {
		if w := get(t, h, target); w.Code != 401 {
			t.Errorf("GET %s without token: got %d, want 401", target, w.Code)
		}
	}
	if w := get(t, h, "/healthz"); w.Code != 200 {
		t.Errorf("GET /healthz without token: got %d, want 200 (liveness needs no secret)", w.Code)
	}
	if w := get(t, h, "/api/status", "Authorization", "Bearer "+token); w.Code != 200 {
		t.Errorf("bearer token: got %d, want 200", w.Code)
	}
	for _, hdr := range []string{"Bearer wrong", "Bearer " + token + "x", "Basic " + token, token} {
		if w := get(t, h, "/api/status", "Authorization", hdr); w.Code != 401 {
			t.Errorf("Authorization %q: got %d, want 401", hdr, w.Code)
		}
	}
	if w := get(t, h, "/?token=wrong"); w.Code != 401 || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("?token=wrong: got %d cookie %q, want 401 and no cookie", w.Code, w.Header().Get("Set-Cookie"))
	}

	// ?token= once: a cookie, then a redirect to the same URL without it.
	w := get(t, h, "/api/status?pretty=1&token="+token)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("?token=: got %d, want 303", w.Code)
	}
	if loc := w.Header().Get("Location"); loc != "/api/status?pretty=1" {
		t.Errorf("redirect: got %q, want /api/status?pretty=1", loc)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("got %d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie: got %+v, want HttpOnly, SameSite=Strict, Path=/, persistent", c)
	}
	if strings.Contains(c.Value, token) {
		t.Errorf("cookie carries the token itself")
	}
	if w := get(t, h, "/", "Cookie", c.Name+"="+c.Value); w.Code != 200 || !strings.Contains(w.Body.String(), `data-agent="docs"`) {
		t.Errorf("with cookie: got %d, want 200 and the page", w.Code)
	}
	if w := get(t, h, "/", "Cookie", c.Name+"=0"+c.Value[1:]); w.Code != 401 {
		t.Errorf("tampered cookie: got %d, want 401", w.Code)
	}
	// A token-carrying link must not become an open redirect.
	if loc := get(t, h, "//evil.example/?token="+token).Header().Get("Location"); strings.HasPrefix(loc, "//") || strings.Contains(loc, "://") {
		t.Errorf("redirect for //evil.example: got Location %q, want a local path", loc)
	}
	// A navigation from another site arrives without the Strict cookie:
	// the 401 page reloads itself once from our own origin.
	w = get(t, h, "/", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
	if w.Code != 401 || !strings.Contains(w.Body.String(), `http-equiv="refresh"`) {
		t.Errorf("cross-site navigation: got %d %q, want 401 with a refresh", w.Code, w.Body.String())
	}
	if w := get(t, h, "/", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate"); strings.Contains(w.Body.String(), "refresh") {
		t.Errorf("same-origin 401 refreshes: a reload loop")
	}
}

func TestTokenNotRendered(t *testing.T) {
	const token = "dashboard-token-0123456789"
	f := newFleet()
	f.snap.Transports[0].LastError = "webhook said: bad ?token=" + token
	s := newServer(t, f, func(o *Options) { o.Token = token })
	w := get(t, s.Handler(), "/", "Authorization", "Bearer "+token)
	if w.Code != 200 || strings.Contains(w.Body.String(), token) {
		t.Errorf("got %d; page contains the dashboard token: %v", w.Code, strings.Contains(w.Body.String(), token))
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"key sk-ant-api03-abcDEF_123-xyz end", "key sk-ant-api03-…[redacted] end"},
		{"bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 ok", "bot 123456789:…[redacted] ok"},
		{"Authorization: Bearer abcdefghijklmnop0123456789", "Authorization: Bearer …[redacted]"},
		{"MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123", "MTA5…[redacted]"},
		{"line1\r\nline2\x1b[31m\tred", "line1\nline2[31m red"},
		{"plain text: /home/me/src/app stays", "plain text: /home/me/src/app stays"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// sse is one server-sent event as the browser sees it.
type sse struct {
	id, event, data string
}

// readEvent reads one server-sent event; comment lines (keepalives) are
// returned as an event named ":".
func readEvent(r *bufio.Reader) (sse, error) {
	var ev sse
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return sse{}, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event != "" || lines != nil {
				ev.data = strings.Join(lines, "\n")
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			ev.event = ":"
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			lines = append(lines, line[len("data: "):])
		}
	}
}

func openEvents(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body)
}

func TestEventsPushOnChange(t *testing.T) {
	f := newFleet()
	s := newServer(t, f, nil)
	s.minGap = 100 * time.Millisecond
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	r := openEvents(t, srv.URL+"/events")

	first, err := readEvent(r)
	if err != nil {
		t.Fatalf("first event: %v", err)
	}
	if first.event != "status" || first.id != "1" || !strings.Contains(first.data, `data-agent="reviewer" data-state="idle"`) {
		t.Fatalf("first event: got %+v, want status 1 with reviewer idle", first)
	}

	// Changed with nothing new sends nothing; the next real change is the
	// next event.
	s.Changed()
	f.set("reviewer", "auth_failed", "revoked")
	s.Changed()
	ev, err := readEvent(r)
	if err != nil {
		t.Fatalf("event after Changed: %v", err)
	}
	if ev.id != "2" || !strings.Contains(ev.data, `data-agent="reviewer" data-state="auth_failed"`) || !strings.Contains(ev.data, "revoked") {
		t.Errorf("event after Changed: got %+v, want id 2 with reviewer auth_failed revoked", ev)
	}

	// A burst of changes is coalesced: a few events, the last with the
	// final state, not one per change.
	states := []string{"working", "idle", "needs_input", "logging_in", "api_error", "exited", "unknown", "working"}
	for i := range 40 {
		f.set("builder", states[i%len(states)], "")
		s.Changed()
	}
	f.set("builder", "exited", "")
	s.Changed()
	for n := 1; ; n++ {
		ev, err := readEvent(r)
		if err != nil {
			t.Fatalf("waiting for the final state: %v", err)
		}
		if strings.Contains(ev.data, `data-agent="builder" data-state="exited"`) {
			if n > 3 {
				t.Errorf("a burst of 41 changes gave %d events, want at most 3", n)
			}
			break
		}
	}
}

func TestEventsKeepalive(t *testing.T) {
	s := newServer(t, newFleet(), nil)
	s.pushEvery = 20 * time.Millisecond
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	r := openEvents(t, srv.URL+"/events")
	if ev, err := readEvent(r); err != nil || ev.event != "status" {
		t.Fatalf("first event: got %+v, %v", ev, err)
	}
	// Nothing changes (the clock is fixed): the refresh is a bare keepalive,
	// not the same page again.
	ev, err := readEvent(r)
	if err != nil || ev.event != ":" {
		t.Errorf("after a quiet refresh interval: got %+v, %v; want a keepalive comment", ev, err)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	s := newServer(t, newFleet(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if s.Addr() != "" {
		t.Errorf("Addr before Listen: got %q, want empty", s.Addr())
	}
	ln, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	addr := s.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr: got %q, want 127.0.0.1:<port>", addr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("/healthz: got %d %q, want 200 ok", resp.StatusCode, b)
	}

	// An open event stream must not hold up shutdown.
	r := openEvents(t, "http://"+addr+"/events")
	if _, err := readEvent(r); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: got %v, want nil", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return within 4s of cancel with a stream open")
	}
	if _, err := readEvent(r); err == nil {
		t.Errorf("stream still open after shutdown")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("server still answers after shutdown")
	}
}

func TestRunListenError(t *testing.T) {
	s := newServer(t, newFleet(), func(o *Options) { o.Listen = "127.0.0.1:99999" })
	err := s.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "dashboard: listen on 127.0.0.1:99999") {
		t.Errorf("Run: got %v, want a listen error naming the address", err)
	}
	if _, ok := errors.AsType[*net.OpError](err); !ok {
		t.Errorf("Run: got %T, want the *net.OpError wrapped", err)
	}
}

func TestPageAndAPIShowNotes(t *testing.T) {
	f := newFleet()
	f.snap.Notes = []string{"Safe mode: started with --safe <b>. Leave it with /reload or a restart."}
	s := newServer(t, f, nil)
	body := get(t, s.Handler(), "/").Body.String()
	if !strings.Contains(body, `<p class="note">⚠ Safe mode: started with --safe &lt;b&gt;.`) {
		t.Errorf("page does not show the note:\n%s", body)
	}
	if api := get(t, s.Handler(), "/api/status").Body.String(); !strings.Contains(api, `"notes": [`) || !strings.Contains(api, `"Safe mode: started with --safe`) {
		t.Errorf("/api/status does not carry the note: %s", api)
	}
	if body := get(t, newServer(t, newFleet(), nil).Handler(), "/").Body.String(); strings.Contains(body, `class="note"`) {
		t.Errorf("a page with no notes shows one")
	}
}

// TestHostCheck: a page elsewhere that points its own name at 127.0.0.1
// (DNS rebinding) reads nothing; the names the dashboard is opened by work.
func TestHostCheck(t *testing.T) {
	s := newServer(t, newFleet(), func(o *Options) { o.Listen = "127.0.0.1:0"; o.Hosts = []string{"Fleet.LAN"} })
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ln, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ctx, ln)
	_, port, _ := net.SplitHostPort(s.Addr())
	fetch := func(host, path string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"attacker.example:" + port, "/api/status", http.StatusMisdirectedRequest},
		{"attacker.example", "/", http.StatusMisdirectedRequest},
		{"127.0.0.1.attacker.example:" + port, "/fragment", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", "/metrics", http.StatusMisdirectedRequest},
		{"127.0.0.1:" + port, "/api/status", 200},
		{"localhost:" + port, "/api/status", 200},
		{"LOCALHOST.", "/api/status", 200},
		{"[::1]:" + port, "/api/status", 200},
		{"fleet.lan:" + port, "/api/status", 200},
		{"attacker.example", "/healthz", 200},
	} {
		code, body := fetch(tc.host, tc.path)
		if code != tc.want {
			t.Errorf("Host %s %s: got %d, want %d (%s)", tc.host, tc.path, code, tc.want, body)
		}
		if code != 200 && strings.Contains(body, "agents") {
			t.Errorf("Host %s: the refusal shows the status: %s", tc.host, body)
		}
	}
	// With a token, the token guards the page, whatever the name.
	tok := newServer(t, newFleet(), func(o *Options) { o.Token = "s3cret-dashboard-token" })
	if w := get(t, tok.Handler(), "/api/status", "Host", "fleet.example.com", "Authorization", "Bearer s3cret-dashboard-token"); w.Code != 200 {
		t.Errorf("token dashboard by another name: got %d, want 200", w.Code)
	}
	if w := get(t, tok.Handler(), "/api/status", "Host", "attacker.example"); w.Code != http.StatusUnauthorized {
		t.Errorf("token dashboard without the token: got %d, want 401", w.Code)
	}
}

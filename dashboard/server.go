// Package dashboard serves fleetwarden's status over HTTP: a self-refreshing
// page for a phone, /api/status as JSON, /metrics for Prometheus, and
// /healthz and /readyz for supervisors.
package dashboard

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// DefaultListen is where the dashboard listens when Options.Listen is empty.
const DefaultListen = "127.0.0.1:8787"

const (
	cookieName   = "fleetwarden_dashboard"
	cookieMaxAge = 30 * 24 * time.Hour
	maxStreams   = 64 // open /events connections; more get 503
)

// Options configure a Server.
type Options struct {
	Listen   string           // host:port; "" = DefaultListen
	Token    string           // "" = no auth (only allowed on loopback)
	Hosts    []string         // more names the page may be asked for by (Host header), besides localhost and Listen's host
	Snapshot func() Snapshot  // called per request / per SSE push
	Ready    func() []string  // reasons not ready; empty = ready; nil = always ready
	Metrics  *Metrics         // nil = /metrics answers 404
	Log      *slog.Logger     // nil = discard
	Now      func() time.Time // nil = time.Now
}

// Server is the dashboard HTTP server. It serves once: after Serve returns,
// make a new one.
type Server struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler
	cookie  string // value of the session cookie: an HMAC of the token, never the token

	// pushEvery re-sends the page to open streams even without a change, so
	// "since" and "expires in" stay current and proxies see traffic.
	pushEvery time.Duration
	// pollEvery is how often a page polls when events do not arrive.
	pollEvery time.Duration
	// minGap coalesces bursts of Changed: a stream sends at most one update
	// per gap, always rendering the newest snapshot.
	minGap time.Duration

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced by Changed
	ln       net.Listener
	done     chan struct{} // closed when the server shuts down: ends streams
	doneOnce sync.Once
	streams  chan struct{} // semaphore of open /events connections
}

// New checks o and builds a Server. It refuses a listen address beyond the
// loopback interface unless a token is set.
func New(o Options) (*Server, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Snapshot == nil {
		return nil, errors.New("dashboard: Options.Snapshot is required")
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("dashboard.listen %q is not host:port: %w", o.Listen, err)
	}
	if !isLoopback(host) && o.Token == "" {
		return nil, fmt.Errorf("dashboard.listen %s is not loopback: set dashboard.token", o.Listen)
	}
	s := &Server{
		o:         o,
		log:       o.Log,
		now:       o.Now,
		pushEvery: 15 * time.Second,
		pollEvery: 5 * time.Second,
		minGap:    time.Second,
		changed:   make(chan struct{}),
		done:      make(chan struct{}),
		streams:   make(chan struct{}, maxStreams),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.Token != "" {
		mac := hmac.New(sha256.New, []byte(o.Token))
		mac.Write([]byte("fleetwarden dashboard session v1"))
		s.cookie = hex.EncodeToString(mac.Sum(nil))
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /fragment", s.fragment)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /api/status", s.status)
	mux.Handle("GET /metrics", o.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.handler = s.secure(s.checkHost(s.auth(mux)))
	return s, nil
}

// checkHost answers only requests for a host the dashboard knows as its own:
// its listen address, localhost, a loopback address, or a name in
// dashboard.hosts. Otherwise a web page anywhere could rename itself to
// 127.0.0.1 in DNS (DNS rebinding) and read /api/status through a browser
// on this machine. A dashboard with a token is guarded by the token: a page
// elsewhere has neither the token nor the cookie, so it takes any name (a
// reverse proxy's, say). /healthz tells nothing and answers every name.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.o.Token != "" {
		return next
	}
	own, _, _ := net.SplitHostPort(s.o.Listen)
	allowed := map[string]bool{"localhost": true, strings.ToLower(own): true}
	for _, h := range s.o.Hosts {
		allowed[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
		ip := net.ParseIP(host)
		if allowed[host] || ip != nil && ip.IsLoopback() || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Warn("dashboard: request for another host refused", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, "this dashboard does not answer for host %q: open it as http://localhost:PORT, or add the name to dashboard.hosts\n", r.Host)
	})
}

// isLoopback reports whether host names only the loopback interface. An
// empty host (":8787") listens everywhere; a host name other than localhost
// could resolve to anything.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler is the whole dashboard, with auth, for tests or another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the listening socket; Addr is valid once it returns.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.o.Listen)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s: %w", s.o.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down gracefully: open
// event streams end at once, other requests get a few seconds to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: /events streams for as long as the page is open;
		// each write of a stream has its own deadline instead.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.shutdownStreams)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("dashboard listening", "addr", ln.Addr().String(), "auth", s.o.Token != "")
	select {
	case err := <-errc:
		s.shutdownStreams()
		return fmt.Errorf("dashboard: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("dashboard: shutdown: %w", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}

// Run listens and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Addr is the address the server listens on ("" before Listen), e.g. the
// real port after listening on ":0".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Changed tells every open page that the status changed. It never blocks;
// bursts are coalesced by the streams.
func (s *Server) Changed() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) shutdownStreams() { s.doneOnce.Do(func() { close(s.done) }) }

// snapshot takes a redacted copy of the lead's snapshot, also hiding our own
// token should it ever show up in some error text.
func (s *Server) snapshot() Snapshot {
	return sanitized(s.o.Snapshot(), s.now(), s.redact)
}

func (s *Server) redact(text string) string {
	return Redact(redact.Secrets(text, s.o.Token))
}

// ---- auth ----

// auth requires the token on everything except /healthz (a liveness probe
// must work without secrets and tells nothing). The token comes as
// "Authorization: Bearer …", as the session cookie, or once as ?token=…,
// which sets the cookie and redirects to the same URL without the token so
// it does not stay in the address bar or the history.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.o.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if q.Has("token") {
			if !equal(q.Get("token"), s.o.Token) {
				s.deny(w, r, "wrong token in ?token=")
				return
			}
			http.SetCookie(w, &http.Cookie{
				Name:     cookieName,
				Value:    s.cookie,
				Path:     "/",
				MaxAge:   int(cookieMaxAge.Seconds()),
				HttpOnly: true,
				// Behind a TLS-terminating proxy the request here is plain HTTP.
				Secure:   r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
				SameSite: http.SameSiteStrictMode,
			})
			q.Del("token")
			// Clean the path and keep a single leading slash: "//evil.example"
			// must not become a redirect to another host.
			p := "/" + strings.TrimLeft(path.Clean("/"+r.URL.Path), "/")
			if len(q) > 0 {
				p += "?" + q.Encode()
			}
			http.Redirect(w, r, p, http.StatusSeeOther)
			return
		}
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			if strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), s.o.Token) {
				next.ServeHTTP(w, r)
				return
			}
			s.deny(w, r, "wrong Authorization header")
			return
		}
		if c, err := r.Cookie(cookieName); err == nil {
			if equal(c.Value, s.cookie) {
				next.ServeHTTP(w, r)
				return
			}
			s.deny(w, r, "stale session cookie")
			return
		}
		s.deny(w, r, "no token")
	})
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, why string) {
	level := slog.LevelWarn
	if why == "no token" {
		level = slog.LevelDebug // browsers and scanners knock all the time
	}
	s.log.Log(r.Context(), level, "dashboard: unauthorized request", "remote", r.RemoteAddr, "path", r.URL.Path, "why", why)
	w.Header().Set("WWW-Authenticate", `Bearer realm="fleetwarden"`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	// A SameSite=Strict cookie is not sent on a navigation whose redirect
	// chain started on another site (a link tapped in a web chat client):
	// reloading once from our own page sends it.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" && r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		fmt.Fprint(w, `<!doctype html><meta http-equiv="refresh" content="0">`)
	}
	fmt.Fprint(w, "unauthorized: send the dashboard token as \"Authorization: Bearer TOKEN\", or open the page once with ?token=TOKEN\n")
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// secure sets headers that keep the page to itself: only its own inline
// script and style (by nonce), no framing, no referrer (a URL could carry
// ?token=), no caching of status.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// ---- handlers ----

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	var nonce [16]byte
	rand.Read(nonce[:])
	n := hex.EncodeToString(nonce[:])
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "page", pageData{
		Live: s.view(), Nonce: n,
		PollMS: s.pollEvery.Milliseconds(), SilentMS: (2*s.pushEvery + 5*time.Second).Milliseconds(),
	}); err != nil {
		s.log.Error("dashboard: render page", "err", err)
		http.Error(w, "render error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+n+"'; style-src 'nonce-"+n+"'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// fragment is the live part of the page alone: what the page swaps in when
// it polls because server-sent events do not get through.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	b, err := s.renderFragment()
	if err != nil {
		s.log.Error("dashboard: render fragment", "err", err)
		http.Error(w, "render error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (s *Server) renderFragment() ([]byte, error) {
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "live", s.view()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// statusJSON is /api/status: the snapshot plus agent counts by state.
type statusJSON struct {
	Snapshot
	Counts map[string]int `json:"counts"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	snap := s.snapshot()
	counts := make(map[string]int, len(agentStates))
	for _, st := range agentStates {
		counts[st] = 0
	}
	for _, a := range snap.Agents {
		counts[a.State]++
	}
	b, err := json.MarshalIndent(statusJSON{Snapshot: snap, Counts: counts}, "", "  ")
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var reasons []string
	if s.o.Ready != nil {
		reasons = s.o.Ready()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(reasons) == 0 {
		fmt.Fprint(w, "ready")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, "not ready:")
	for _, why := range reasons {
		fmt.Fprintf(w, "- %s\n", s.redact(why))
	}
}

// events streams the live fragment as server-sent events: one at once, then
// one after each Changed (at most one per minGap, bursts coalesced) and a
// refresh every pushEvery. An update that renders the same as the last one
// is not sent again: a phone on a slow link gets only what changed.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many open event streams", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	tick := time.NewTicker(s.pushEvery)
	defer tick.Stop()
	var (
		id     int
		sent   []byte // the fragment last sent
		sentAt time.Time
		ticked bool
	)
	for {
		// Take the change channel before rendering: a change that lands while
		// we render closes it, and we render again.
		ch := s.changes()
		frag, err := s.renderFragment()
		if err != nil {
			s.log.Error("dashboard: render event", "err", err)
			return
		}
		var ev []byte
		switch {
		case !bytes.Equal(frag, sent):
			id++
			ev = event(id, frag)
			sent, sentAt = frag, time.Now()
		case ticked:
			ev = []byte(": keepalive\n\n") // proxies close silent streams
		}
		if ev != nil {
			// A client that stopped reading must not hold this goroutine forever.
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := w.Write(ev)
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				s.log.Debug("dashboard: event stream ended", "remote", r.RemoteAddr, "err", err)
				return
			}
		}
		ticked = false
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-tick.C:
			ticked = true
			continue
		case <-ch:
		}
		if wait := s.minGap - time.Since(sentAt); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// event frames one fragment as a server-sent event; each line of it becomes
// a data: line, which the browser joins back with newlines.
func event(id int, frag []byte) []byte {
	var ev bytes.Buffer
	if id == 1 {
		ev.WriteString("retry: 3000\n")
	}
	fmt.Fprintf(&ev, "id: %d\nevent: status\n", id)
	for line := range bytes.SplitSeq(bytes.TrimRight(frag, "\n"), []byte("\n")) {
		ev.WriteString("data: ")
		ev.Write(line)
		ev.WriteByte('\n')
	}
	ev.WriteByte('\n')
	return ev.Bytes()
}

// Package anthropictest is an in-process fake of the Anthropic API and OAuth
// servers for tests that run the real Claude Code CLI offline.
//
// The CLI calls fixed hosts (api.anthropic.com, platform.claude.com,
// claude.ai, …), so the fake is reached as an HTTPS proxy: it answers
// CONNECT, terminates TLS with a certificate authority made for the test and
// a leaf certificate per host, and serves every host from one handler. Run
// the CLI with Env() (HTTPS_PROXY=http://127.0.0.1:P,
// NODE_EXTRA_CA_CERTS=ca.pem) and it talks to this server only.
//
// What it serves: HEAD/GET /api/hello, GET /v1/oauth/hello, POST
// /v1/messages (an SSE stream, or a scripted error with the real status and
// body), POST /v1/oauth/token (authorization_code and refresh_token grants
// with real rotation, PKCE and expiry checks, or scripted failures), GET
// /api/oauth/profile and /api/oauth/claude_cli/roles. Everything else gets
// a 404 and is kept in Unknown() so a test can print what the CLI asked for.
//
// Tokens are real to the fake: it issues them (Login, Authorize + the code
// exchange, refresh), knows when they expire, and answers /v1/messages only
// for a live one. It never logs a token; Request carries fingerprints.
package anthropictest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hosts the CLI is known to call; the proxy serves any host, these are
// only the ones a test may want to name.
const (
	APIHost   = "api.anthropic.com"
	OAuthHost = "platform.claude.com"
)

// Server is the fake API, OAuth server and HTTPS proxy in one.
type Server struct {
	tb       testing.TB
	ca       *authority
	caFile   string
	proxy    *http.Server
	api      *http.Server
	proxyLn  net.Listener
	tunnelLn *connListener // TLS connections that came through CONNECT
	now      func() time.Time

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every request and logged error
	reqs     []Request
	tunnels  map[string]int // CONNECTs by host
	errs     []string       // what the HTTP servers logged (TLS handshake failures, …)
	messages Reply
	token    map[Grant]TokenReply
	seq      int
	access   map[string]*accessToken  // by token
	refresh  map[string]*refreshToken // by token
	codes    map[string]*authCode     // by code
	issued   []Tokens
	apiKeys  map[string]bool
	profile  Profile
}

// Request is one request the fake saw, as it answered it. It never holds a
// token: Token is a fingerprint (the first 8 hex digits of its SHA-256, as
// claude.Fingerprint computes it).
type Request struct {
	Time   time.Time
	Method string
	Host   string // the host the client asked for (api.anthropic.com, …)
	Path   string // with the query, e.g. /v1/messages?beta=true
	Status int
	Token  string // fingerprint of the bearer token or API key; "" without one
	Grant  Grant  // POST /v1/oauth/token only
	Prompt string // POST /v1/messages only: the last user text, cut to 200 bytes
	Stream bool   // POST /v1/messages only
	Known  bool   // false: the fake does not serve this endpoint (404)
}

func (r Request) String() string {
	s := fmt.Sprintf("%s %s %s%s → %d", r.Time.Format("15:04:05.000"), r.Method, r.Host, r.Path, r.Status)
	if r.Grant != "" {
		s += " grant=" + string(r.Grant)
	}
	if r.Token != "" {
		s += " token=" + r.Token
	}
	if r.Prompt != "" {
		s += fmt.Sprintf(" prompt=%q", r.Prompt)
	}
	return s
}

// New starts the fake on 127.0.0.1 and closes it in t.Cleanup. Its CA
// certificate is written to a file in t.TempDir().
func New(t testing.TB) *Server {
	t.Helper()
	ca, err := newAuthority()
	if err != nil {
		t.Fatalf("anthropic fake: %v", err)
	}
	caFile := filepath.Join(t.TempDir(), "fake-anthropic-ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatalf("anthropic fake: write CA: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("anthropic fake: listen: %v", err)
	}
	s := &Server{
		tb:       t,
		ca:       ca,
		caFile:   caFile,
		proxyLn:  ln,
		tunnelLn: newConnListener(ln.Addr()),
		now:      time.Now,
		changed:  make(chan struct{}),
		messages: Answer(DefaultAnswer),
		tunnels:  map[string]int{},
		token:    map[Grant]TokenReply{},
		access:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
		codes:    map[string]*authCode{},
		apiKeys:  map[string]bool{},
		profile:  DefaultProfile(),
	}
	// A TLS handshake the client refused shows only here: keep it for Dump.
	errLog := log.New(writerFunc(s.logError), "", 0)
	s.api = &http.Server{Handler: http.HandlerFunc(s.serveAPI), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	s.proxy = &http.Server{Handler: http.HandlerFunc(s.serveProxy), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	go s.api.Serve(s.tunnelLn) //nolint:errcheck // ends with ErrServerClosed at cleanup
	go s.proxy.Serve(ln)       //nolint:errcheck // ends with ErrServerClosed at cleanup
	t.Cleanup(func() {
		// Close, not Shutdown: a CLI may hold a stream open.
		_ = s.proxy.Close()
		_ = s.api.Close()
		_ = s.tunnelLn.Close()
	})
	return s
}

// Proxy is the proxy URL for HTTPS_PROXY: http://127.0.0.1:P.
func (s *Server) Proxy() string { return "http://" + s.proxyLn.Addr().String() }

// URL is the same server addressed directly (plain HTTP), for clients that
// take a base URL such as ANTHROPIC_BASE_URL.
func (s *Server) URL() string { return s.Proxy() }

// CAFile is the PEM file of the test CA, for NODE_EXTRA_CA_CERTS.
func (s *Server) CAFile() string { return s.caFile }

// CertPool holds the test CA, for Go clients.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// Env is what a process needs to reach the fake instead of the internet:
// the proxy for every scheme, the CA, and no proxy exceptions.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"HTTPS_PROXY":         s.Proxy(),
		"https_proxy":         s.Proxy(),
		"HTTP_PROXY":          s.Proxy(),
		"http_proxy":          s.Proxy(),
		"NO_PROXY":            "",
		"no_proxy":            "",
		"NODE_EXTRA_CA_CERTS": s.caFile,
	}
}

// Client returns an HTTP client that goes through the proxy and trusts the
// test CA, as the CLI does with Env().
func (s *Server) Client() *http.Client {
	proxy, _ := url.Parse(s.Proxy()) // our own URL; always parses
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:           http.ProxyURL(proxy),
			TLSClientConfig: &tls.Config{RootCAs: s.CertPool()},
		},
	}
}

// serveProxy answers CONNECT by terminating TLS itself, and plain requests
// (absolute-form through the proxy, or addressed to it directly) as the API.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		s.serveAPI(w, r)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	// Bytes the client sent after CONNECT (the TLS hello) may sit in rw's buffer.
	var raw net.Conn = conn
	if n := rw.Reader.Buffered(); n > 0 {
		raw = &bufferedConn{Conn: conn, r: rw.Reader}
	}
	s.mu.Lock()
	s.tunnels[host]++
	s.mu.Unlock()
	if !s.tunnelLn.push(tls.Server(raw, s.ca.tlsConfig(host))) {
		conn.Close()
	}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands connections to an http.Server, which then tracks and
// closes them like its own.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// Requests returns every request so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Unknown returns the requests for endpoints the fake does not serve (404).
func (s *Server) Unknown() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if !r.Known {
			out = append(out, r)
		}
	}
	return out
}

// Dump is every request, one a line, then the hosts tunnelled to and what
// the servers logged (TLS handshakes a client refused), for a failing test
// to print.
func (s *Server) Dump() string {
	var b strings.Builder
	for _, r := range s.Requests() {
		if !r.Known {
			b.WriteString("[unknown] ")
		}
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tunnels) > 0 {
		b.WriteString("CONNECT:")
		for _, h := range slices.Sorted(maps.Keys(s.tunnels)) {
			fmt.Fprintf(&b, " %s×%d", h, s.tunnels[h])
		}
		b.WriteByte('\n')
	}
	for _, e := range s.errs {
		b.WriteString("[server] " + e + "\n")
	}
	return b.String()
}

// Errors returns what the fake's HTTP servers logged, e.g. a TLS handshake
// a client refused because it does not trust the CA.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Server) logError(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, strings.TrimSpace(string(p)))
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// WaitRequest waits until a request matching match has been answered (one
// seen before the call counts) and returns it.
func (s *Server) WaitRequest(ctx context.Context, match func(Request) bool) (Request, error) {
	for {
		s.mu.Lock()
		for _, r := range s.reqs {
			if match(r) {
				s.mu.Unlock()
				return r, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Request{}, fmt.Errorf("anthropic fake: waiting for a request: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Count returns how many requests so far match.
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// Messages matches a POST to /v1/messages (not count_tokens and the like).
func Messages(r Request) bool {
	p, _, _ := strings.Cut(r.Path, "?")
	return r.Method == http.MethodPost && p == "/v1/messages"
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Fingerprint is the fake's short, non-reversible id of a token: the first
// 8 hex digits of its SHA-256 (the same as claude.Fingerprint).
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// statusWriter remembers the status and passes flushes through, which the
// SSE stream needs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var errNoBody = errors.New("empty request body")

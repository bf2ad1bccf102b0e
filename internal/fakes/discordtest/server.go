// Package discordtest is an in-process fake of the Discord gateway (websocket)
// and REST API, good enough to drive the real github.com/bwmarrin/discordgo
// against it.
//
// discordgo computes its endpoint URLs at package init, so a session is
// pointed at the fake through its HTTP client, which rewrites every request
// (discord.com or any other host) to the fake:
//
//	srv := discord.New(t, "tok", "111")
//	dg, _ := discordgo.New("Bot tok")
//	dg.Client = srv.HTTPClient()
//	dg.Dialer = srv.Dialer() // optional, see Dialer
//	t.Cleanup(func() { dg.Close() }) // after New, so it runs before the fake stops
//	dg.Open()
//
// Open fetches GET /api/v9/gateway, which answers with the fake's ws:// URL;
// discordgo's default dialer reaches it directly (loopback is never proxied).
// Session.Close sleeps one second inside discordgo; parallel tests hide it.
package discordtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Discord's documented limits and defaults the fake enforces.
const (
	defaultHeartbeat    = 41250 * time.Millisecond
	defaultInteractionD = 3 * time.Second
	webhookTokenTTL     = 15 * time.Minute
	privilegedIntents   = 1<<1 | 1<<8 | 1<<15 // GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT
	eventBufferSize     = 1000                // events kept per session for Resume
)

var snowflakeRE = regexp.MustCompile(`^[0-9]{1,20}$`)

// Option changes how the fake behaves.
type Option func(*config)

type config struct {
	heartbeat  time.Duration
	now        func() time.Time
	deadline   time.Duration
	privileged int
}

// WithHeartbeatInterval sets heartbeat_interval in the Hello (default
// 41.25 s as on Discord). discordgo reconnects when 5 intervals pass without
// an ack, so below ~500 ms a loaded machine under -race sees spurious
// reconnects.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(c *config) { c.heartbeat = d }
}

// WithClock replaces time.Now for interaction deadlines and token expiry.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithInteractionDeadline changes the 3 s within which an interaction must
// get its callback.
func WithInteractionDeadline(d time.Duration) Option {
	return func(c *config) { c.deadline = d }
}

// WithPrivilegedIntents enables privileged intents for the application (as
// in the developer portal). Without it an Identify asking for GUILD_MEMBERS,
// GUILD_PRESENCES or MESSAGE_CONTENT is closed with 4014.
func WithPrivilegedIntents(mask int) Option {
	return func(c *config) { c.privileged = mask }
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	t         testing.TB
	token     string
	appID     string
	cfg       config
	hs        *httptest.Server
	addr      string // host:port of the listener
	transport *http.Transport
	mux       *http.ServeMux
	wg        sync.WaitGroup

	logMu     sync.Mutex
	logClosed bool

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced on every state change
	closed       bool
	nextID       uint64
	conns        map[*gwConn]struct{}
	sessions     map[string]*gwSession
	active       *gwSession
	identifies   int
	resumes      int
	heartbeats   int
	interactions map[string]*interaction // by ID
	byToken      map[string]*interaction
	messages     []Message
	stored       map[string]*storedMsg // by message ID, current state
	commands     map[string][]*storedCommand
	commandIDs   map[string]string // scope|type|name → stable ID
	dmByUser     map[string]string
	dmUser       map[string]string // DM channel → user
	refuseDM     map[string]bool
	channelGuild map[string]string
	users        map[string]User
	failures     []*failure
	requests     []Request
}

type failure struct {
	method string
	prefix string
	left   int
	status int
}

// New starts a fake for a bot with the given token (without "Bot ") and
// application ID (which is also the bot user's ID). It stops in t.Cleanup.
func New(t testing.TB, token, appID string, opts ...Option) *Server {
	t.Helper()
	if token == "" {
		t.Fatalf("discord fake: empty bot token")
	}
	if strings.HasPrefix(token, "Bot ") {
		t.Fatalf("discord fake: pass the bare token; clients send it as \"Bot <token>\"")
	}
	if !snowflakeRE.MatchString(appID) {
		t.Fatalf("discord fake: application ID %q is not a snowflake (digits only)", appID)
	}
	s := &Server{
		t:     t,
		token: token,
		appID: appID,
		cfg: config{
			heartbeat: defaultHeartbeat,
			now:       time.Now,
			deadline:  defaultInteractionD,
		},
		changed:      make(chan struct{}),
		conns:        map[*gwConn]struct{}{},
		sessions:     map[string]*gwSession{},
		interactions: map[string]*interaction{},
		byToken:      map[string]*interaction{},
		stored:       map[string]*storedMsg{},
		commands:     map[string][]*storedCommand{},
		commandIDs:   map[string]string{},
		dmByUser:     map[string]string{},
		dmUser:       map[string]string{},
		refuseDM:     map[string]bool{},
		channelGuild: map[string]string{},
		users:        map[string]User{},
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.heartbeat < time.Millisecond {
		t.Fatalf("discord fake: heartbeat interval %v is below 1ms", s.cfg.heartbeat)
	}
	s.mux = s.routes()
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.addr = s.hs.Listener.Addr().String()
	s.transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.logMu.Lock()
	s.logClosed = true
	s.logMu.Unlock()
	s.mu.Lock()
	s.closed = true
	conns := s.dropLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.NetConn().Close()
	}
	s.hs.Close()
	s.transport.CloseIdleConnections()
	s.wg.Wait()
}

// URL is the fake's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.hs.URL }

// GatewayURL is what GET /api/v9/gateway answers.
func (s *Server) GatewayURL() string { return "ws://" + s.addr }

// HTTPClient returns a client that sends every request, whatever its host
// (discord.com, gateway.discord.gg, cdn…), to the fake over plain HTTP.
// Set it as discordgo's Session.Client.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &rewriteTransport{addr: s.addr, base: s.transport},
		Timeout:   10 * time.Second,
	}
}

type rewriteTransport struct {
	addr string
	base http.RoundTripper
}

func (rt *rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	if r2.Host == "" {
		r2.Host = r.URL.Host
	}
	r2.URL.Scheme = "http"
	r2.URL.Host = rt.addr
	return rt.base.RoundTrip(r2)
}

// Dialer returns a websocket dialer that connects every ws:// or wss://
// URL (e.g. a hard-coded wss://gateway.discord.gg) to the fake, without
// TLS or proxy. discordgo v0.29 dials through Session.Dialer; it is only
// needed when the gateway URL does not come from the fake's /gateway (that
// one is a plain ws:// loopback URL the default dialer reaches).
func (s *Server) Dialer() *websocket.Dialer {
	var d net.Dialer
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", s.addr)
	}
	return &websocket.Dialer{
		NetDialContext:    dial,
		NetDialTLSContext: dial, // gorilla then skips the TLS handshake
		HandshakeTimeout:  10 * time.Second,
	}
}

// Fail makes the next n REST requests whose method matches (any when "")
// and whose path starts with pathPrefix fail with status. The prefix may
// omit "/api/v9" ("/channels/" is "/api/v9/channels/"). A 429 carries
// {"retry_after":0.05,"global":false} and X-RateLimit-* headers, so
// discordgo waits 50 ms and retries by itself; a 502 is also retried by
// discordgo (MaxRestRetries); other statuses reach the caller.
func (s *Server) Fail(method, pathPrefix string, n int, status int) {
	s.t.Helper()
	if n <= 0 || status < 400 || status > 599 {
		s.t.Fatalf("discord fake: Fail(%q, %q, %d, %d): need n > 0 and a 4xx/5xx status", method, pathPrefix, n, status)
	}
	if !strings.HasPrefix(pathPrefix, "/api/v") {
		pathPrefix = "/api/v9/" + strings.TrimPrefix(pathPrefix, "/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{method: strings.ToUpper(method), prefix: pathPrefix, left: n, status: status})
}

// RefuseDMs makes messages to userID's DM channel fail with 403 code 50007
// "Cannot send messages to this user", as when the user closed their DMs.
func (s *Server) RefuseDMs(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseDM[userID] = true
}

// DMChannel returns the ID of the DM channel between the bot and userID,
// creating it as Discord does on first use.
func (s *Server) DMChannel(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmChannelLocked(userID)
}

func (s *Server) dmChannelLocked(userID string) string {
	if id, ok := s.dmByUser[userID]; ok {
		return id
	}
	id := s.newIDLocked()
	s.dmByUser[userID] = id
	s.dmUser[id] = userID
	return id
}

// Identifies counts successful Identify handshakes (READY sent).
func (s *Server) Identifies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identifies
}

// Resumes counts successful Resumes (RESUMED sent).
func (s *Server) Resumes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes
}

// Heartbeats counts op 1 heartbeats received (each was answered with op 11).
func (s *Server) Heartbeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heartbeats
}

// Messages returns everything the bot posted or edited, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = cloneMessage(m)
	}
	return out
}

// MessageState returns the current state of a message the bot posted.
func (s *Server) MessageState(messageID string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.stored[messageID]
	if !ok {
		return Message{}, false
	}
	return cloneMessage(m.record("", "")), true
}

// Commands returns the commands registered for guildID ("" = global).
func (s *Server) Commands(guildID string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Command
	for _, c := range s.commands[guildID] {
		out = append(out, c.public())
	}
	return out
}

// Requests returns every REST request answered so far, with its status.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// WaitReady waits until the bot holds a live gateway connection that has
// completed Identify or Resume. After DropConnections it waits for the
// reconnection.
func (s *Server) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	ok := s.waitFor(timeout, func() bool { return s.active != nil && s.active.conn != nil })
	if !ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("discord fake: no ready gateway connection within %v (identifies=%d resumes=%d, open sockets=%d)",
			timeout, s.identifies, s.resumes, len(s.conns))
	}
}

// WaitCommands waits until guildID ("" = global) has a command called name.
func (s *Server) WaitCommands(t testing.TB, timeout time.Duration, guildID string, names ...string) {
	t.Helper()
	ok := s.waitFor(timeout, func() bool {
		for _, n := range names {
			if s.findCommandLocked(guildID, n, false) == nil {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("discord fake: commands %v not registered for guild %q within %v; have %v",
			names, guildID, timeout, s.commandNames(guildID))
	}
}

// WaitMessage waits for a recorded message (past or future) for which pred
// holds and returns the first one.
func (s *Server) WaitMessage(t testing.TB, timeout time.Duration, pred func(Message) bool) Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		s.mu.Lock()
		fresh := make([]Message, 0, len(s.messages)-seen)
		for _, m := range s.messages[seen:] {
			fresh = append(fresh, cloneMessage(m))
		}
		seen = len(s.messages)
		ch := s.changed
		s.mu.Unlock()
		for _, m := range fresh {
			if pred(m) {
				return m
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			var b strings.Builder
			for _, m := range s.Messages() {
				fmt.Fprintf(&b, "\n  %s id=%s channel=%s interaction=%s content=%q", m.Kind, m.ID, m.ChannelID, m.InteractionID, truncate(m.Content, 80))
			}
			t.Fatalf("discord fake: no matching message within %v; recorded:%s", timeout, b.String())
			return Message{}
		}
	}
}

// waitFor polls cond (called with s.mu held) on every state change.
func (s *Server) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// notifyLocked wakes waiters; call with s.mu held after a state change.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newIDLocked() string {
	s.nextID++
	return strconv.FormatUint(1234567890123456000+s.nextID, 10)
}

func (s *Server) now() time.Time { return s.cfg.now() }

// logf logs through the test, never after it ended, with the bot token
// redacted.
func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.logClosed {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.t.Logf("discord fake: %s", strings.ReplaceAll(msg, s.token, "<redacted>"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func cloneMessage(m Message) Message {
	m.Components = slices.Clone(m.Components)
	m.Embeds = slices.Clone(m.Embeds)
	m.Files = slices.Clone(m.Files)
	return m
}

// Package telegramtest is an in-process fake of the Telegram Bot API for tests.
//
// It serves POST {URL}/bot{token}/{method} like api.telegram.org does, so the
// real telebot.v3 code runs against it unchanged: getUpdates long-polls for
// real (offset, timeout, limit, and 409 for a second concurrent poller),
// sendMessage parses HTML the way the Bot API does and enforces its limits,
// edits, deletes, callback answers and bot commands keep state. Tests play
// the users (SendUserMessage, PressButton), read what the bot sent (Sent,
// WaitSent), and break the service on purpose (Fail, Down, SetRateLimit).
package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a fake Bot API server for one bot token.
type Server struct {
	tb     TB
	onSent func(Message) // called with s.mu held
	token  string
	bot    User
	addr   string
	srv    *http.Server
	done   chan struct{} // closed at cleanup: wakes every waiter

	netMu  sync.Mutex // guards the listener side: ln, conns, down, closed
	ln     net.Listener
	conns  map[net.Conn]struct{}
	down   bool
	closed bool

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced on every state change
	requests     map[string]int
	failures     []failRule
	chats        map[int64]*chatState
	updates      []wireUpdate
	nextUpdateID int
	poll         chan struct{} // closed to terminate the waiting getUpdates with 409
	sent         []Message
	callbacks    map[string]*callbackState
	nextCallback uint64
	commands     map[string][]Command // by scope and language
	lastCommands string               // key of the last setMyCommands
	ratePerSec   int
	webhook      string // set by setWebhook: getUpdates then answers 409
	// After a 429, a chat takes no message until its retry_after has
	// passed; a client that sends earlier is counted, and refused again.
	blocked map[string]time.Time // by chat_id
	early   int
	// msgOfUpdate maps a user message's update id to its message id.
	msgOfUpdate map[int]int
}

// sendMethods put messages in a chat: the ones rate limits and 429s apply to.
var sendMethods = map[string]bool{"sendmessage": true, "editmessagetext": true, "editmessagereplymarkup": true}

// EarlyRetries counts messages sent to a chat before the retry_after of a
// 429 it got had passed: a client that honours 429 makes none.
func (s *Server) EarlyRetries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.early
}

// blockLocked starts a chat's retry_after. Callers hold s.mu.
func (s *Server) blockLocked(chat string, retryAfter int, now time.Time) {
	if chat == "" {
		return
	}
	if s.blocked == nil {
		s.blocked = map[string]time.Time{}
	}
	// The client may be up to a clock tick early; a quarter second of slack.
	s.blocked[chat] = now.Add(time.Duration(retryAfter)*time.Second - 250*time.Millisecond)
}

type failRule struct {
	method string // lower case; "" = any
	left   int
	f      Failure
}

type chatState struct {
	chat      wireChat
	canDelete bool // the bot is an admin of this group with "Delete messages"
	nextID    int
	msgs      map[int]*storedMsg
	sendTimes []time.Time // for the per-chat rate limit
}

type storedMsg struct {
	id        int
	from      *wireUser
	date      int64
	editDate  int64
	text      string // source as sent
	plain     string
	parseMode string
	entities  []entity
	markup    [][]wireButton
	replyTo   int
	fromBot   bool
	deleted   bool
	origin    *wireOrigin // forwarded from
}

type callbackState struct {
	answered bool
	answer   CallbackAnswer
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{code: http.StatusBadRequest, desc: "Bad Request: " + fmt.Sprintf(format, args...)}
}

// TB is the part of testing.TB the fake uses; the benchmark tool, which
// runs outside a test, provides its own.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// OnSent registers f to be called, in order, with every message the bot
// sends or edits, the moment the fake accepts it (latency measurements).
// f must not call back into the server.
func (s *Server) OnSent(f func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onSent = f
}

// New starts a fake Bot API that accepts token, listening on 127.0.0.1, and
// closes it in t.Cleanup. The bot's user id is the token's numeric prefix
// (as with real tokens "123456:ABC…").
func New(t TB, token string) *Server {
	t.Helper()
	if token == "" {
		t.Fatalf("telegram fake: empty bot token")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("telegram fake: listen: %v", err)
	}
	botID := int64(7000000001)
	if head, _, ok := strings.Cut(token, ":"); ok {
		if id, err := strconv.ParseInt(head, 10, 64); err == nil && id > 0 {
			botID = id
		}
	}
	s := &Server{
		tb:           t,
		token:        token,
		bot:          User{ID: botID, Username: "fleetwarden_test_bot", FirstName: "Fleetwarden"},
		addr:         ln.Addr().String(),
		done:         make(chan struct{}),
		ln:           ln,
		conns:        make(map[net.Conn]struct{}),
		changed:      make(chan struct{}),
		requests:     make(map[string]int),
		chats:        make(map[int64]*chatState),
		nextUpdateID: 850000001, // real update ids are large; nothing may assume 0 or 1
		callbacks:    make(map[string]*callbackState),
		nextCallback: 4382236018291837000,
		commands:     make(map[string][]Command),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         s.trackConn,
	}
	go s.srv.Serve(ln) //nolint:errcheck // returns when the listener closes
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.netMu.Lock()
	s.down, s.closed = true, true
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	s.netMu.Unlock()
	close(s.done)
	s.srv.Close()
}

// URL is the Bot API base URL for telebot's Settings.URL (no trailing slash).
func (s *Server) URL() string { return "http://" + s.addr }

// SetWebhook sets (or with "" removes) the bot's webhook, as another program
// using the same token might: getUpdates is then refused with 409.
func (s *Server) SetWebhook(u string) {
	s.mu.Lock()
	s.webhook = u
	s.mu.Unlock()
}

// Bot is the bot's own user, as getMe reports it.
func (s *Server) Bot() User { return s.bot }

// Down closes the listener and every open connection: calls fail with
// "connection refused" until Up.
func (s *Server) Down() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.down {
		return
	}
	s.down = true
	s.ln.Close()
	s.ln = nil
	for c := range s.conns {
		c.Close()
	}
}

// Up listens again on the same address, so the bot's URL keeps working.
func (s *Server) Up() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.closed || !s.down {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.tb.Errorf("telegram fake: listen again on %s: %v", s.addr, err)
		return
	}
	s.ln = ln
	s.down = false
	go s.srv.Serve(ln) //nolint:errcheck // returns when the listener closes
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	switch state {
	case http.StateNew:
		if s.down { // accepted just before Down closed the listener
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// broadcast wakes everyone waiting on a state change. Callers hold s.mu.
func (s *Server) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Requests counts calls to method (case-insensitive, as the Bot API treats
// method names), failed ones included.
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[strings.ToLower(method)]
}

// Fail makes the next n calls of method ("" = any method) answer f instead.
// Rules for a named method are tried before "" rules, each in the order set.
func (s *Server) Fail(method string, n int, f Failure) {
	if n <= 0 {
		s.tb.Errorf("telegram fake: Fail(%q, %d): n must be positive", method, n)
		return
	}
	if f.Status < 400 || f.Status > 599 {
		s.tb.Errorf("telegram fake: Fail(%q): status %d is not an error status", method, f.Status)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failRule{method: strings.ToLower(method), left: n, f: f})
}

// ClearFailures drops every scripted failure not yet used and every
// retry_after still running: the API is healthy again.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
	s.blocked = nil
}

// takeFailure returns the scripted failure for this call, if any. Callers hold s.mu.
func (s *Server) takeFailure(method string) (Failure, bool) {
	for _, pass := range []bool{true, false} {
		for i := range s.failures {
			r := &s.failures[i]
			if r.left == 0 || (r.method != "") != pass || (pass && r.method != method) {
				continue
			}
			r.left--
			return r.f, true
		}
	}
	return Failure{}, false
}

// SetRateLimit makes sendMessage and the edit methods answer 429 with
// parameters.retry_after once a chat got more than perChatPerSecond of them
// within a second. 0 turns it off.
func (s *Server) SetRateLimit(perChatPerSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ratePerSec = max(perChatPerSecond, 0)
	s.blocked = nil // a new limit, a clean slate
}

// checkRate records a message to chat or refuses it. Callers hold s.mu.
func (s *Server) checkRate(cs *chatState, now time.Time) *apiError {
	if s.ratePerSec == 0 {
		return nil
	}
	window := now.Add(-time.Second)
	kept := cs.sendTimes[:0]
	for _, at := range cs.sendTimes {
		if at.After(window) {
			kept = append(kept, at)
		}
	}
	cs.sendTimes = kept
	if len(kept) >= s.ratePerSec {
		wait := kept[0].Add(time.Second).Sub(now)
		retry := max(int((wait+time.Second-1)/time.Second), 1)
		return &apiError{code: http.StatusTooManyRequests, desc: fmt.Sprintf("Too Many Requests: retry after %d", retry), retryAfter: retry}
	}
	cs.sendTimes = append(cs.sendTimes, now)
	return nil
}

type handler func(s *Server, ctx context.Context, p params) (any, *apiError)

var handlers = map[string]handler{
	"getme":                  (*Server).getMe,
	"getupdates":             (*Server).getUpdates,
	"sendmessage":            (*Server).sendMessage,
	"editmessagetext":        (*Server).editMessageText,
	"editmessagereplymarkup": (*Server).editMessageReplyMarkup,
	"deletemessage":          (*Server).deleteMessage,
	"answercallbackquery":    (*Server).answerCallbackQuery,
	"setmycommands":          (*Server).setMyCommands,
	"getmycommands":          (*Server).getMyCommands,
	"deletemycommands":       (*Server).deleteMyCommands,
	"sendchataction":         (*Server).sendChatAction,
	"setwebhook":             (*Server).setWebhook,
	"deletewebhook":          (*Server).deleteWebhook,
	"getwebhookinfo":         (*Server).getWebhookInfo,
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" || strings.Contains(method, "/") {
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found"})
		return
	}
	method = strings.ToLower(method)
	p, perr := parseParams(r)
	chat := ""
	if sendMethods[method] && perr == nil {
		chat, _ = p.str("chat_id")
	}
	now := time.Now()

	s.mu.Lock()
	s.requests[method]++
	if until, ok := s.blocked[chat]; ok && chat != "" && now.Before(until) {
		s.early++
		s.broadcast()
		s.mu.Unlock()
		retry := max(int(until.Sub(now)/time.Second)+1, 1)
		writeError(w, &apiError{code: http.StatusTooManyRequests, desc: fmt.Sprintf("Too Many Requests: retry after %d", retry), retryAfter: retry})
		return
	}
	f, failing := s.takeFailure(method)
	if failing && f.Status == http.StatusTooManyRequests {
		s.blockLocked(chat, max(f.RetryAfter, 1), now)
	}
	s.broadcast()
	s.mu.Unlock()

	if failing {
		writeFailure(w, f)
		return
	}
	if token != s.token {
		writeError(w, &apiError{code: http.StatusUnauthorized, desc: "Unauthorized"})
		return
	}
	h, ok := handlers[method]
	if !ok {
		writeError(w, &apiError{code: http.StatusNotFound, desc: "Not Found: method not found"})
		return
	}
	if perr != nil {
		writeError(w, badRequest("%v", perr))
		return
	}
	result, apiErr := h(s, r.Context(), p)
	if apiErr != nil {
		if apiErr.code == http.StatusTooManyRequests {
			s.mu.Lock()
			s.blockLocked(chat, apiErr.retryAfter, now)
			s.mu.Unlock()
		}
		writeError(w, apiErr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client may be gone
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
	if e.retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": e.retryAfter}
	}
	writeJSON(w, e.code, body)
}

func writeFailure(w http.ResponseWriter, f Failure) {
	switch f.Status {
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		// The real front end (nginx) answers these with an HTML page.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		text := fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status))
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n", text, text)
		return
	}
	e := &apiError{code: f.Status, desc: f.Description}
	if f.Status == http.StatusTooManyRequests {
		e.retryAfter = max(f.RetryAfter, 1)
	}
	if e.desc == "" {
		switch f.Status {
		case http.StatusTooManyRequests:
			e.desc = fmt.Sprintf("Too Many Requests: retry after %d", e.retryAfter)
		case http.StatusConflict:
			e.desc = conflictDescription
		case http.StatusUnauthorized:
			e.desc = "Unauthorized"
		case http.StatusForbidden:
			e.desc = "Forbidden: bot was blocked by the user"
		case http.StatusBadRequest:
			e.desc = "Bad Request"
		default:
			e.desc = http.StatusText(f.Status)
		}
	}
	writeError(w, e)
}

const conflictDescription = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"

// params holds a call's parameters as JSON values. Form and query values are
// strings; telebot sends everything as JSON strings, other clients send
// numbers, booleans and objects: both are accepted, as the Bot API does.
type params map[string]json.RawMessage

func parseParams(r *http.Request) (params, error) {
	p := make(params)
	setString := func(k, v string) {
		b, _ := json.Marshal(v)
		p[k] = b
	}
	for k, vs := range r.URL.Query() {
		setString(k, vs[0])
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var body map[string]json.RawMessage
		dec := json.NewDecoder(io.LimitReader(r.Body, 10<<20))
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("can't parse JSON encoded request: %v", err)
		}
		for k, v := range body {
			p[k] = v
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("can't parse form: %v", err)
		}
		for k, vs := range r.PostForm {
			setString(k, vs[0])
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, fmt.Errorf("can't parse multipart form: %v", err)
		}
		for k, vs := range r.MultipartForm.Value {
			setString(k, vs[0])
		}
	}
	return p, nil
}

// str returns a parameter as text: a JSON string's value, or a number's or
// boolean's literal.
func (p params) str(key string) (string, bool) {
	raw, ok := p[key]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

func (p params) int(key string) (int64, bool, error) {
	v, ok := p.str(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, true, err
}

func (p params) bool(key string) bool {
	v, _ := p.str(key)
	switch strings.ToLower(v) {
	case "true", "1":
		return true
	}
	return false
}

// object decodes a parameter that is a JSON object or a string holding one.
func (p params) object(key string, dst any) (bool, error) {
	raw, ok := p[key]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	return true, json.Unmarshal(raw, dst)
}

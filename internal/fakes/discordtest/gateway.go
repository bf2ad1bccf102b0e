package discordtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway close codes, as Discord sends them.
const (
	closeUnknownOpcode     = 4001
	closeDecodeError       = 4002
	closeNotAuthenticated  = 4003
	closeAuthFailed        = 4004
	closeAlreadyAuth       = 4005
	closeInvalidAPIVersion = 4012
	closeDisallowedIntents = 4014
)

type gwConn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	session *gwSession // set once Identify/Resume succeeded; guarded by Server.mu
}

func (c *gwConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// closeWith sends a close frame with a gateway close code, then drops the
// socket, as Discord does on a protocol error.
func (c *gwConn) closeWith(code int, reason string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.ws.NetConn().Close()
}

type gwSession struct {
	id     string
	seq    int64
	events []gwEvent // dispatched events kept for Resume replay
	conn   *gwConn
}

type gwEvent struct {
	seq     int64
	payload []byte
}

type gwPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
}

type identifyData struct {
	Token   string `json:"token"`
	Intents int    `json:"intents"`
}

type resumeData struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered with an HTTP error
	}
	c := &gwConn{ws: ws}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.NetConn().Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.detach(c)

	ws.SetReadLimit(1 << 20)
	// The client's close frame is handled in the read loop, not echoed twice.
	ws.SetCloseHandler(func(int, string) error { return nil })

	if v := r.URL.Query().Get("v"); v != "" && v != "9" && v != "10" {
		c.closeWith(closeInvalidAPIVersion, "Invalid API version.")
		return
	}
	hello, _ := json.Marshal(map[string]any{
		"op": 10, "s": nil, "t": nil,
		"d": map[string]any{"heartbeat_interval": s.cfg.heartbeat.Milliseconds()},
	})
	if err := c.write(hello); err != nil {
		return
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
				// Discord invalidates the session on a 1000/1001 close: no Resume after it.
				s.mu.Lock()
				if c.session != nil {
					delete(s.sessions, c.session.id)
				}
				s.mu.Unlock()
				s.logf("gateway: client closed with %d; session invalidated", ce.Code)
			}
			return
		}
		var p gwPayload
		if err := json.Unmarshal(msg, &p); err != nil {
			c.closeWith(closeDecodeError, "Error while decoding payload.")
			return
		}
		if !s.handleOp(c, p) {
			return
		}
	}
}

// handleOp answers one client payload; false ends the connection.
func (s *Server) handleOp(c *gwConn, p gwPayload) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p.Op {
	case 1: // heartbeat
		s.heartbeats++
		s.notifyLocked()
		return c.write([]byte(`{"op":11,"d":null,"s":null,"t":null}`)) == nil
	case 2:
		return s.identifyLocked(c, p.D)
	case 6:
		return s.resumeLocked(c, p.D)
	case 3, 4, 8: // presence, voice state, request guild members: accepted, ignored
		if c.session == nil {
			c.closeWith(closeNotAuthenticated, "Not authenticated.")
			return false
		}
		return true
	default:
		c.closeWith(closeUnknownOpcode, "Unknown opcode.")
		return false
	}
}

func (s *Server) tokenOK(tok string) bool {
	// Discord accepts the gateway token with or without the "Bot " prefix.
	return tok == s.token || tok == "Bot "+s.token
}

func (s *Server) identifyLocked(c *gwConn, raw json.RawMessage) bool {
	if c.session != nil {
		c.closeWith(closeAlreadyAuth, "Already authenticated.")
		return false
	}
	var d identifyData
	if err := json.Unmarshal(raw, &d); err != nil {
		c.closeWith(closeDecodeError, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(d.Token) {
		s.logf("gateway: identify with a wrong token; closing 4004")
		c.closeWith(closeAuthFailed, "Authentication failed.")
		return false
	}
	if bad := d.Intents & privilegedIntents &^ s.cfg.privileged; bad != 0 {
		s.logf("gateway: identify asks privileged intents %#x not enabled; closing 4014", bad)
		c.closeWith(closeDisallowedIntents, "Disallowed intent(s).")
		return false
	}
	sess := &gwSession{id: randomHex(16), conn: c}
	s.sessions[sess.id] = sess
	c.session = sess
	s.active = sess // one shard: the newest session gets the bot's events
	s.identifies++
	s.dispatchLocked(sess, "READY", map[string]any{
		"v":                  9,
		"session_id":         sess.id,
		"session_type":       "normal",
		"resume_gateway_url": s.GatewayURL(),
		"user":               s.botUserJSON(),
		"application":        map[string]any{"id": s.appID, "flags": 0},
		"guilds":             []any{},
		"private_channels":   []any{},
	})
	s.logf("gateway: identify ok, READY session %s", sess.id)
	s.notifyLocked()
	return true
}

func (s *Server) resumeLocked(c *gwConn, raw json.RawMessage) bool {
	if c.session != nil {
		c.closeWith(closeAlreadyAuth, "Already authenticated.")
		return false
	}
	var d resumeData
	if err := json.Unmarshal(raw, &d); err != nil {
		c.closeWith(closeDecodeError, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(d.Token) {
		c.closeWith(closeAuthFailed, "Authentication failed.")
		return false
	}
	sess := s.sessions[d.SessionID]
	if sess == nil {
		// Not resumable: op 9 with d=false tells the client to Identify anew.
		s.logf("gateway: resume of unknown session; sending op 9")
		return c.write([]byte(`{"op":9,"d":false,"s":null,"t":null}`)) == nil
	}
	if old := sess.conn; old != nil && old != c {
		old.session = nil
		old.ws.NetConn().Close()
	}
	sess.conn = c
	c.session = sess
	s.active = sess
	// Missed events first, then RESUMED, as Discord does.
	for _, ev := range sess.events {
		if ev.seq > d.Seq {
			if err := c.write(ev.payload); err != nil {
				return false
			}
		}
	}
	s.resumes++
	s.dispatchLocked(sess, "RESUMED", map[string]any{})
	s.logf("gateway: resumed session %s from seq %d", sess.id, d.Seq)
	s.notifyLocked()
	return true
}

// dispatchLocked sends an op 0 event on the session, keeping it for replay.
func (s *Server) dispatchLocked(sess *gwSession, typ string, d any) {
	sess.seq++
	b, err := json.Marshal(map[string]any{"op": 0, "s": sess.seq, "t": typ, "d": d})
	if err != nil {
		panic(err) // only our own maps are marshalled
	}
	sess.events = append(sess.events, gwEvent{seq: sess.seq, payload: b})
	if len(sess.events) > eventBufferSize {
		sess.events = sess.events[len(sess.events)-eventBufferSize:]
	}
	if sess.conn != nil {
		// A failed write surfaces in the read loop; the event stays for Resume.
		sess.conn.write(b)
	}
}

func (s *Server) detach(c *gwConn) {
	c.ws.NetConn().Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.session != nil && c.session.conn == c {
		c.session.conn = nil
	}
	c.session = nil
	s.notifyLocked()
}

// DropConnections closes every gateway socket abruptly, without a close
// frame, like a lost connection. Sessions stay resumable.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.dropLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.NetConn().Close()
	}
	s.logf("gateway: dropped %d connection(s)", len(conns))
}

func (s *Server) dropLocked() []*gwConn {
	var out []*gwConn
	for c := range s.conns {
		out = append(out, c)
		if c.session != nil && c.session.conn == c {
			c.session.conn = nil
		}
		c.session = nil
		delete(s.conns, c)
	}
	s.notifyLocked()
	return out
}

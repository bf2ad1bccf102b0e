package discordtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	const v = "/api/v9"
	m.HandleFunc("GET "+v+"/gateway", s.handleGateway)
	m.HandleFunc("GET "+v+"/gateway/bot", s.auth(s.handleGatewayBot))
	m.HandleFunc("GET "+v+"/users/@me", s.auth(s.handleMe))
	m.HandleFunc("POST "+v+"/users/@me/channels", s.auth(s.handleDMCreate))
	m.HandleFunc("PUT "+v+"/applications/{app}/commands", s.auth(s.handleCommandsPut))
	m.HandleFunc("GET "+v+"/applications/{app}/commands", s.auth(s.handleCommandsGet))
	m.HandleFunc("PUT "+v+"/applications/{app}/guilds/{guild}/commands", s.auth(s.handleCommandsPut))
	m.HandleFunc("GET "+v+"/applications/{app}/guilds/{guild}/commands", s.auth(s.handleCommandsGet))
	m.HandleFunc("POST "+v+"/interactions/{id}/{token}/callback", s.handleCallback)
	m.HandleFunc("PATCH "+v+"/webhooks/{app}/{token}/messages/{msg}", s.handleWebhookEdit)
	m.HandleFunc("POST "+v+"/webhooks/{app}/{token}", s.handleFollowup)
	m.HandleFunc("POST "+v+"/channels/{channel}/messages", s.auth(s.handleChannelMessage))
	m.HandleFunc("PATCH "+v+"/channels/{channel}/messages/{msg}", s.auth(s.handleChannelMessageEdit))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeErr(w, errNotFound()) })
	return m
}

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

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.serveGateway(w, r)
		return
	}
	// v10 has the same shapes for everything the fake serves.
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v10/"); ok {
		r.URL.Path = "/api/v9/" + rest
	}
	sw := &statusWriter{ResponseWriter: w}
	if f := s.takeFailure(r.Method, r.URL.Path); f != 0 {
		writeFailure(sw, f)
	} else {
		setRateLimitHeaders(sw.Header(), r.URL.Path, 4, 1)
		s.mux.ServeHTTP(sw, r)
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Status: sw.status})
	s.notifyLocked()
	s.mu.Unlock()
	if sw.status >= 400 {
		s.logf("rest: %s %s -> %d", r.Method, redactPath(r.URL.Path), sw.status)
	}
}

// redactPath hides interaction and webhook tokens.
func redactPath(p string) string {
	seg := strings.Split(p, "/")
	for i := range seg {
		if i >= 2 && (seg[i-2] == "interactions" || seg[i-2] == "webhooks") {
			seg[i] = "<token>"
		}
	}
	return strings.Join(seg, "/")
}

func (s *Server) takeFailure(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if (f.method == "" || f.method == method) && strings.HasPrefix(path, f.prefix) {
			f.left--
			if f.left == 0 {
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
			}
			return f.status
		}
	}
	return 0
}

func setRateLimitHeaders(h http.Header, path string, remaining int, resetAfter float64) {
	f := fnv.New64a()
	f.Write([]byte(path))
	h.Set("X-RateLimit-Bucket", strconv.FormatUint(f.Sum64(), 16))
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(resetAfter, 'f', 3, 64))
	reset := float64(time.Now().Add(time.Duration(resetAfter*float64(time.Second))).UnixMilli()) / 1000
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(reset, 'f', 3, 64))
}

func writeFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		const retry = 0.05
		setRateLimitHeaders(w.Header(), "failure", 0, retry)
		w.Header().Set("X-RateLimit-Scope", "user")
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, map[string]any{"message": "You are being rate limited.", "retry_after": retry, "global": false})
	case http.StatusUnauthorized:
		writeErr(w, errUnauthorized())
	default:
		writeErr(w, errCode(status, 0, fmt.Sprintf("%d: %s", status, http.StatusText(status))))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, e.body())
}

// auth requires "Authorization: Bot <token>", as Discord does for bot calls.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+s.token {
			writeErr(w, errUnauthorized())
			return
		}
		h(w, r)
	}
}

func (s *Server) handleGateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": s.GatewayURL()})
}

func (s *Server) handleGatewayBot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"url":    s.GatewayURL(),
		"shards": 1,
		"session_start_limit": map[string]any{
			"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1,
		},
	})
}

func (s *Server) botUserJSON() map[string]any {
	return map[string]any{
		"id": s.appID, "username": "fleetwarden-fake", "discriminator": "0",
		"global_name": nil, "avatar": nil, "bot": true, "verified": true, "flags": 0,
	}
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.botUserJSON())
}

func userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "username": u.Username, "discriminator": "0",
		"global_name": u.Username, "avatar": nil,
	}
}

func (s *Server) handleDMCreate(w http.ResponseWriter, r *http.Request) {
	body, _, e := readBody(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var in struct {
		RecipientID string `json:"recipient_id"`
	}
	if e := decodeJSON(body, &in); e != nil {
		writeErr(w, e)
		return
	}
	if !snowflakeRE.MatchString(in.RecipientID) {
		writeErr(w, notSnowflake([]string{"recipient_id"}, in.RecipientID))
		return
	}
	s.mu.Lock()
	id := s.dmChannelLocked(in.RecipientID)
	u := s.userLocked(in.RecipientID)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "type": 1, "last_message_id": nil, "flags": 0,
		"recipients": []any{userJSON(u)},
	})
}

func (s *Server) userLocked(id string) User {
	if u, ok := s.users[id]; ok {
		return u
	}
	return User{ID: id, Username: "user" + id}
}

// ---- application commands ----

type storedCommand struct {
	Command
	raw map[string]any // as answered to the client
}

func (c *storedCommand) public() Command {
	out := c.Command
	out.Options = append([]CommandOption(nil), c.Options...)
	return out
}

func (s *Server) checkApp(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("app") != s.appID {
		writeErr(w, errCode(http.StatusForbidden, 50001, "Missing Access"))
		return false
	}
	if g := r.PathValue("guild"); g != "" && !snowflakeRE.MatchString(g) {
		writeErr(w, notSnowflake([]string{"guild_id"}, g))
		return false
	}
	return true
}

func (s *Server) handleCommandsPut(w http.ResponseWriter, r *http.Request) {
	if !s.checkApp(w, r) {
		return
	}
	guild := r.PathValue("guild")
	body, _, e := readBody(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var cmds []commandIn
	var raws []map[string]any
	if e := decodeJSON(body, &cmds); e != nil {
		writeErr(w, e)
		return
	}
	json.Unmarshal(body, &raws) // same bytes as above, cannot fail now
	if e := validateCommands(cmds); e != nil {
		writeErr(w, e)
		return
	}
	s.mu.Lock()
	var stored []*storedCommand
	out := make([]map[string]any, 0, len(cmds))
	for i, c := range cmds {
		typ := c.Type
		if typ == 0 {
			typ = 1
		}
		key := guild + "|" + strconv.Itoa(typ) + "|" + c.Name
		id, ok := s.commandIDs[key]
		if !ok {
			// Discord keeps a command's ID across overwrites with the same name.
			id = s.newIDLocked()
			s.commandIDs[key] = id
		}
		raw := raws[i]
		raw["id"] = id
		raw["application_id"] = s.appID
		raw["version"] = s.newIDLocked()
		raw["type"] = typ
		if guild != "" {
			raw["guild_id"] = guild
		}
		dm := guild == "" && (c.DMPermission == nil || *c.DMPermission)
		if c.Contexts != nil {
			dm = false
			for _, ctx := range *c.Contexts {
				dm = dm || (ctx == 1 && guild == "")
			}
		}
		group := guild == "" && (c.Contexts == nil || slices.Contains(*c.Contexts, 2)) &&
			(c.IntegrationTypes == nil || slices.Contains(*c.IntegrationTypes, 1))
		stored = append(stored, &storedCommand{
			Command: Command{
				ID: id, GuildID: guild, Type: typ, Name: c.Name, Description: c.Description,
				Options: publicOptions(c.Options), DMAllowed: dm, GroupDMAllowed: group,
			},
			raw: raw,
		})
		out = append(out, raw)
	}
	s.commands[guild] = stored
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCommandsGet(w http.ResponseWriter, r *http.Request) {
	if !s.checkApp(w, r) {
		return
	}
	s.mu.Lock()
	out := []map[string]any{}
	for _, c := range s.commands[r.PathValue("guild")] {
		out = append(out, c.raw)
	}
	b, _ := json.Marshal(out)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// findCommandLocked finds a chat-input command usable in guildID (guild
// commands, then global) or, for "" (a DM), a global command allowed in DMs.
func (s *Server) findCommandLocked(guildID, name string, usable bool) *storedCommand {
	scopes := []string{guildID}
	if guildID != "" && usable {
		scopes = append(scopes, "")
	}
	for _, scope := range scopes {
		for _, c := range s.commands[scope] {
			if c.Type == 1 && c.Name == name && (!usable || guildID != "" || c.DMAllowed) {
				return c
			}
		}
	}
	return nil
}

func (s *Server) commandNames(guildID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.commands[guildID] {
		out = append(out, c.Name)
	}
	return out
}

// ---- messages ----

type storedMsg struct {
	id, channelID, guildID string
	interactionID          string // interaction whose response or followup this is
	ownerID                string // who invoked that interaction (sees ephemeral messages)
	msgType                int    // 0 default, 20 chat input reply
	content                string
	comps                  []rawComponent
	compsRaw               json.RawMessage
	embeds                 []rawEmbed
	embedsRaw              json.RawMessage
	files                  []File
	flags                  int
	created, edited        time.Time
}

const flagEphemeral = 1 << 6

func (m *storedMsg) empty() bool {
	return m.content == "" && len(m.comps) == 0 && len(m.embeds) == 0 && len(m.files) == 0
}

// apply merges the fields an edit sends.
func (m *storedMsg) apply(f msgFields) {
	if f.contentSet {
		m.content = f.content
	}
	if f.compsSet {
		m.comps, m.compsRaw = f.comps, f.compsRaw
	}
	if f.embedsSet {
		m.embeds, m.embedsRaw = f.embeds, f.embedsRaw
	}
	if len(f.files) > 0 {
		m.files = f.files
	}
}

func (m *storedMsg) record(kind Kind, interactionID string) Message {
	out := Message{
		ID: m.id, ChannelID: m.channelID, GuildID: m.guildID, InteractionID: interactionID,
		Kind: kind, Content: m.content, Components: flattenComponents(m.comps),
		Files: append([]File(nil), m.files...), Ephemeral: m.flags&flagEphemeral != 0,
		At: m.created,
	}
	if !m.edited.IsZero() {
		out.At = m.edited
	}
	for _, e := range m.embeds {
		out.Embeds = append(out.Embeds, Embed(e))
	}
	return out
}

func (s *Server) messageJSON(m *storedMsg) map[string]any {
	comps := m.compsRaw
	if comps == nil {
		comps = json.RawMessage("[]")
	}
	embeds := m.embedsRaw
	if embeds == nil {
		embeds = json.RawMessage("[]")
	}
	atts := []any{}
	for i, f := range m.files {
		atts = append(atts, map[string]any{
			"id": m.id + strconv.Itoa(i), "filename": f.Name, "size": len(f.Data),
			"url": "https://cdn.discordapp.com/attachments/" + m.channelID + "/" + m.id + "/" + f.Name,
		})
	}
	out := map[string]any{
		"id": m.id, "channel_id": m.channelID, "content": m.content, "components": comps,
		"embeds": embeds, "attachments": atts, "author": s.botUserJSON(), "type": m.msgType,
		"timestamp": m.created.UTC().Format(time.RFC3339Nano), "edited_timestamp": nil,
		"flags": m.flags, "tts": false, "mention_everyone": false, "mentions": []any{},
		"mention_roles": []any{}, "pinned": false,
	}
	if !m.edited.IsZero() {
		out["edited_timestamp"] = m.edited.UTC().Format(time.RFC3339Nano)
	}
	if m.guildID != "" {
		out["guild_id"] = m.guildID
	}
	if m.interactionID != "" {
		out["application_id"] = s.appID
		out["webhook_id"] = s.appID
	}
	return out
}

// newMsgLocked stores a new message and records it.
func (s *Server) newMsgLocked(kind Kind, channelID, guildID string, it *interaction, f msgFields, flags int) *storedMsg {
	m := &storedMsg{
		id: s.newIDLocked(), channelID: channelID, guildID: guildID, content: f.content,
		comps: f.comps, compsRaw: f.compsRaw, embeds: f.embeds, embedsRaw: f.embedsRaw,
		files: f.files, flags: flags, created: s.now(),
	}
	iid := ""
	if it != nil {
		iid = it.id
		m.interactionID, m.ownerID, m.msgType = it.id, it.user.ID, 20
		if it.typ == 3 {
			m.msgType = 19 // a reply to the button's message
		}
	}
	s.stored[m.id] = m
	s.recordLocked(m, kind, iid)
	return m
}

func (s *Server) recordLocked(m *storedMsg, kind Kind, interactionID string) {
	s.messages = append(s.messages, m.record(kind, interactionID))
	s.notifyLocked()
}

func readMsg(r *http.Request) (msgFields, *apiError) {
	body, files, e := readBody(r)
	if e != nil {
		return msgFields{}, e
	}
	return parseMsgFields(body, files)
}

func (s *Server) handleChannelMessage(w http.ResponseWriter, r *http.Request) {
	ch := r.PathValue("channel")
	if !snowflakeRE.MatchString(ch) {
		writeErr(w, notSnowflake([]string{"channel_id"}, ch))
		return
	}
	f, e := readMsg(r)
	if e == nil {
		e = f.validate(nil)
	}
	if e != nil {
		writeErr(w, e)
		return
	}
	tmp := storedMsg{content: f.content, comps: f.comps, embeds: f.embeds, files: f.files}
	if tmp.empty() {
		writeErr(w, errCode(http.StatusBadRequest, 50006, "Cannot send an empty message"))
		return
	}
	s.mu.Lock()
	if u, ok := s.dmUser[ch]; ok && s.refuseDM[u] {
		s.mu.Unlock()
		writeErr(w, errCode(http.StatusForbidden, 50007, "Cannot send messages to this user"))
		return
	}
	// Ephemeral exists only for interaction replies; other flags pass through.
	m := s.newMsgLocked(KindChannel, ch, s.channelGuild[ch], nil, f, f.flags&^flagEphemeral)
	out := s.messageJSON(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleChannelMessageEdit(w http.ResponseWriter, r *http.Request) {
	f, e := readMsg(r)
	if e == nil {
		e = f.validate(nil)
	}
	if e != nil {
		writeErr(w, e)
		return
	}
	s.mu.Lock()
	var out map[string]any
	m := s.stored[r.PathValue("msg")]
	if m == nil || m.channelID != r.PathValue("channel") || m.flags&flagEphemeral != 0 {
		e = errCode(http.StatusNotFound, 10008, "Unknown Message")
	} else {
		out, e = s.editLocked(m, f, KindEdit, "")
	}
	s.mu.Unlock()
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// editLocked applies an edit, refusing one that would leave the message
// empty, and returns the message as Discord answers it.
func (s *Server) editLocked(m *storedMsg, f msgFields, kind Kind, interactionID string) (map[string]any, *apiError) {
	next := *m
	next.apply(f)
	if next.empty() {
		return nil, errCode(http.StatusBadRequest, 50006, "Cannot send an empty message")
	}
	next.edited = s.now()
	*m = next
	s.recordLocked(m, kind, interactionID)
	return s.messageJSON(m), nil
}

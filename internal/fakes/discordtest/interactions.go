package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// memberPermissions is what an ordinary member has: view channel, send
// messages, read history, use application commands.
const memberPermissions = 1<<10 | 1<<11 | 1<<16 | 1<<31

type interaction struct {
	id, token          string
	typ                int // 2 application command, 3 message component
	user               User
	channelID, guildID string
	created            time.Time
	acked              bool
	suggested          []string // an autocomplete's answer (choice values), once acked
	original           string   // @original: the response (commands) or the button's message (components)
	followups          map[string]bool
}

// SlashCommand has user invoke /name in channelID (guildID "" for the
// bot's DMs) and dispatches INTERACTION_CREATE (type 2). The command must
// be registered where the user is (guild or global; only global commands
// allowed in DMs appear in DMs) and options must fit its definition, as a
// Discord client enforces; otherwise the test fails and "" is returned.
// Values are converted to the option's type (integer, boolean, number).
// The interaction's 3 s clock starts now; if the gateway is down the event
// waits for a Resume, as Discord does.
func (s *Server) SlashCommand(user User, channelID, guildID, name string, options map[string]string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	user, err := s.checkActorLocked(user, channelID, guildID)
	if err == nil {
		cmd := s.findCommandLocked(guildID, name, true)
		if cmd == nil {
			err = fmt.Errorf("no command /%s usable here (guild %q commands %v, global %v)",
				name, guildID, namesOf(s.commands[guildID]), namesOf(s.commands[""]))
		} else {
			var opts []map[string]any
			if opts, err = buildOptions(cmd.Options, options); err == nil {
				it := s.newInteractionLocked(2, user, channelID, guildID)
				data := map[string]any{"id": cmd.ID, "name": cmd.Name, "type": 1}
				if len(opts) > 0 {
					data["options"] = opts
				}
				if cmd.GuildID != "" {
					data["guild_id"] = cmd.GuildID
				}
				s.dispatchLocked(s.active, "INTERACTION_CREATE", s.interactionJSON(it, data, nil))
				return it.id
			}
		}
	}
	s.t.Errorf("discord fake: SlashCommand /%s: %v", name, err)
	return ""
}

// Autocomplete has user type partial into option focused of /name (the
// other options as given so far) and dispatches INTERACTION_CREATE type 4,
// as a Discord client does while the user types into an option that has
// autocomplete. The option must exist and autocomplete; otherwise the test
// fails and "" is returned. Suggestions returns the bot's answer.
func (s *Server) Autocomplete(user User, channelID, guildID, name string, options map[string]string, focused, partial string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	user, err := s.checkActorLocked(user, channelID, guildID)
	if err == nil {
		cmd := s.findCommandLocked(guildID, name, true)
		switch {
		case cmd == nil:
			err = fmt.Errorf("no command /%s usable here", name)
		default:
			i := slices.IndexFunc(cmd.Options, func(o CommandOption) bool { return o.Name == focused })
			if i < 0 {
				err = fmt.Errorf("command has no option %q", focused)
			} else if !cmd.Options[i].Autocomplete {
				err = fmt.Errorf("option %q does not autocomplete", focused)
			} else {
				given := map[string]string{}
				for k, v := range options {
					if k != focused {
						given[k] = v
					}
				}
				var opts []map[string]any
				if opts, err = buildOptions(optionalAll(cmd.Options), given); err == nil {
					// The focused option arrives as typed so far: always a string.
					opts = append(opts, map[string]any{"name": focused, "type": cmd.Options[i].Type, "value": partial, "focused": true})
					it := s.newInteractionLocked(4, user, channelID, guildID)
					data := map[string]any{"id": cmd.ID, "name": cmd.Name, "type": 1, "options": opts}
					if cmd.GuildID != "" {
						data["guild_id"] = cmd.GuildID
					}
					s.dispatchLocked(s.active, "INTERACTION_CREATE", s.interactionJSON(it, data, nil))
					return it.id
				}
			}
		}
	}
	s.t.Errorf("discord fake: Autocomplete /%s %s: %v", name, focused, err)
	return ""
}

// optionalAll is defs with nothing required: an autocomplete comes while
// the user is still filling the options in.
func optionalAll(defs []CommandOption) []CommandOption {
	out := slices.Clone(defs)
	for i := range out {
		out[i].Required = false
	}
	return out
}

// Suggestions waits up to timeout for the bot's answer to autocomplete id
// and returns the values it suggested; ok is false when it did not answer.
func (s *Server) Suggestions(id string, timeout time.Duration) (values []string, ok bool) {
	s.waitFor(timeout, func() bool {
		it := s.interactions[id]
		if it != nil && it.acked {
			values, ok = slices.Clone(it.suggested), true
		}
		return ok
	})
	return values, ok
}

// PressButton has user press the button with customID on a message the bot
// posted, dispatching INTERACTION_CREATE (type 3) with that message. The
// button must exist and be enabled, and an ephemeral message can only be
// used by the user it was shown to; otherwise the test fails and "" is
// returned.
func (s *Server) PressButton(user User, channelID, guildID, messageID, customID string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	user, err := s.checkActorLocked(user, channelID, guildID)
	if err == nil {
		err = s.pressableLocked(user, channelID, guildID, messageID, customID)
	}
	if err != nil {
		s.t.Errorf("discord fake: PressButton %q on message %s: %v", customID, messageID, err)
		return ""
	}
	m := s.stored[messageID]
	if m.guildID == "" && guildID != "" {
		m.guildID = guildID // a channel first seen through the bot's own post
	}
	it := s.newInteractionLocked(3, user, channelID, guildID)
	it.original = messageID
	data := map[string]any{"custom_id": customID, "component_type": 2}
	s.dispatchLocked(s.active, "INTERACTION_CREATE", s.interactionJSON(it, data, s.messageJSON(m)))
	return it.id
}

func (s *Server) pressableLocked(user User, channelID, guildID, messageID, customID string) error {
	m := s.stored[messageID]
	switch {
	case m == nil:
		return fmt.Errorf("the bot posted no such message")
	case m.channelID != channelID:
		return fmt.Errorf("message is in channel %s, not %s", m.channelID, channelID)
	case m.guildID != "" && m.guildID != guildID:
		return fmt.Errorf("message is in guild %q, not %q", m.guildID, guildID)
	case m.flags&flagEphemeral != 0 && m.ownerID != user.ID:
		return fmt.Errorf("message is ephemeral, shown only to user %s", m.ownerID)
	}
	var ids []string
	for _, c := range flattenComponents(m.comps) {
		if c.Type == 2 && c.CustomID == customID {
			if c.Disabled {
				return fmt.Errorf("button is disabled")
			}
			return nil
		}
		ids = append(ids, c.CustomID)
	}
	return fmt.Errorf("message has no such button (custom_ids %q)", ids)
}

// checkActorLocked validates IDs and keeps channels consistent: a DM channel
// belongs to one user, a guild channel to one guild.
func (s *Server) checkActorLocked(u User, channelID, guildID string) (User, error) {
	switch {
	case !snowflakeRE.MatchString(u.ID):
		return u, fmt.Errorf("user ID %q is not a snowflake", u.ID)
	case !snowflakeRE.MatchString(channelID):
		return u, fmt.Errorf("channel ID %q is not a snowflake", channelID)
	case guildID != "" && !snowflakeRE.MatchString(guildID):
		return u, fmt.Errorf("guild ID %q is not a snowflake", guildID)
	case s.active == nil:
		return u, fmt.Errorf("no gateway session: Open the bot and WaitReady first")
	}
	if u.Username == "" {
		u.Username = "user" + u.ID
	}
	if guildID == "" {
		if dm, ok := s.dmByUser[u.ID]; ok && dm != channelID {
			return u, fmt.Errorf("user %s's DM channel is %s, not %s (use DMChannel)", u.ID, dm, channelID)
		}
		if other, ok := s.dmUser[channelID]; ok && other != u.ID {
			return u, fmt.Errorf("channel %s is the DM of user %s", channelID, other)
		}
		if g := s.channelGuild[channelID]; g != "" {
			return u, fmt.Errorf("channel %s belongs to guild %s", channelID, g)
		}
		s.dmByUser[u.ID] = channelID
		s.dmUser[channelID] = u.ID
	} else {
		if _, ok := s.dmUser[channelID]; ok {
			return u, fmt.Errorf("channel %s is a DM channel, not in guild %s", channelID, guildID)
		}
		if g, ok := s.channelGuild[channelID]; ok && g != guildID {
			return u, fmt.Errorf("channel %s belongs to guild %s, not %s", channelID, g, guildID)
		}
		s.channelGuild[channelID] = guildID
	}
	s.users[u.ID] = u
	return u, nil
}

func namesOf(cmds []*storedCommand) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name)
	}
	return out
}

// buildOptions turns test input into typed interaction options, in the
// command's declared order.
func buildOptions(defs []CommandOption, given map[string]string) ([]map[string]any, error) {
	for name := range given {
		if !slices.ContainsFunc(defs, func(d CommandOption) bool { return d.Name == name }) {
			return nil, fmt.Errorf("command has no option %q", name)
		}
	}
	var out []map[string]any
	for _, d := range defs {
		v, ok := given[d.Name]
		if !ok {
			if d.Required {
				return nil, fmt.Errorf("required option %q missing", d.Name)
			}
			continue
		}
		if len(d.Choices) > 0 && !slices.Contains(d.Choices, v) {
			return nil, fmt.Errorf("option %q = %q is not one of the choices %q", d.Name, v, d.Choices)
		}
		var val any
		var err error
		switch d.Type {
		case 3:
			val = v
		case 4:
			var n int64
			n, err = strconv.ParseInt(v, 10, 64)
			if err == nil && (d.Min != nil && float64(n) < *d.Min || d.Max != nil && float64(n) > *d.Max) {
				err = fmt.Errorf("out of the option's range")
			}
			val = n
		case 5:
			val, err = strconv.ParseBool(v)
		case 10:
			val, err = strconv.ParseFloat(v, 64)
		case 6, 7, 8, 9:
			if !snowflakeRE.MatchString(v) {
				err = fmt.Errorf("not a snowflake")
			}
			val = v
		default:
			return nil, fmt.Errorf("option %q has type %d, which SlashCommand cannot fill (subcommands, attachments)", d.Name, d.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("option %q = %q does not fit type %d: %v", d.Name, v, d.Type, err)
		}
		out = append(out, map[string]any{"name": d.Name, "type": d.Type, "value": val})
	}
	return out, nil
}

func (s *Server) newInteractionLocked(typ int, u User, channelID, guildID string) *interaction {
	it := &interaction{
		id: s.newIDLocked(), token: "aW50ZXJhY3Rpb24." + randomHex(24), typ: typ, user: u,
		channelID: channelID, guildID: guildID, created: s.now(), followups: map[string]bool{},
	}
	s.interactions[it.id] = it
	s.byToken[it.token] = it
	return it
}

func (s *Server) interactionJSON(it *interaction, data map[string]any, message map[string]any) map[string]any {
	p := map[string]any{
		"id": it.id, "application_id": s.appID, "type": it.typ, "token": it.token, "version": 1,
		"channel_id": it.channelID, "data": data, "locale": "en-US",
		"app_permissions": strconv.Itoa(memberPermissions), "entitlements": []any{},
	}
	u := userJSON(it.user)
	if it.guildID != "" {
		roles := it.user.Roles
		if roles == nil {
			roles = []string{}
		}
		p["guild_id"] = it.guildID
		p["guild_locale"] = "en-US"
		p["context"] = 0
		p["channel"] = map[string]any{"id": it.channelID, "type": 0, "guild_id": it.guildID}
		p["member"] = map[string]any{
			"user": u, "roles": roles, "permissions": strconv.Itoa(memberPermissions),
			"joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0, "nick": nil,
		}
	} else {
		p["user"] = u
		p["context"] = 1
		p["channel"] = map[string]any{"id": it.channelID, "type": 1}
	}
	if message != nil {
		p["message"] = message
	}
	return p
}

// ---- REST: interaction callback, @original edit, followups ----

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	body, files, e := readBody(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var in struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if e := decodeJSON(body, &in); e != nil {
		writeErr(w, e)
		return
	}
	if in.Type == 8 {
		s.mu.Lock()
		e = s.suggestLocked(r.PathValue("id"), r.PathValue("token"), in.Data)
		s.mu.Unlock()
		if e != nil {
			writeErr(w, e)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f, e := parseMsgFields(in.Data, files)
	if e == nil {
		e = f.validate([]string{"data"})
	}
	if e != nil {
		writeErr(w, e)
		return
	}
	s.mu.Lock()
	e = s.callbackLocked(r.PathValue("id"), r.PathValue("token"), in.Type, f)
	s.mu.Unlock()
	if e != nil {
		writeErr(w, e)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// suggestLocked takes the answer (callback type 8) to an autocomplete
// interaction: only those take it, once, within 3 s, with valid choices
// of the focused option's type.
func (s *Server) suggestLocked(id, token string, raw json.RawMessage) *apiError {
	it := s.interactions[id]
	if it == nil || it.token != token || s.now().Sub(it.created) > s.cfg.deadline {
		return errCode(http.StatusNotFound, 10062, "Unknown interaction")
	}
	if it.typ != 4 {
		return formErr([]string{"type"}, "INTERACTION_CALLBACK_TYPE_INVALID", "Callback type 8 is only valid for autocomplete interactions")
	}
	if it.acked {
		return errCode(http.StatusBadRequest, 40060, "Interaction has already been acknowledged.")
	}
	var data struct {
		Choices []choiceIn `json:"choices"`
	}
	if e := decodeJSON(raw, &data); e != nil {
		return e
	}
	if data.Choices == nil {
		return formErr([]string{"data", "choices"}, "BASE_TYPE_REQUIRED", "This field is required")
	}
	if e := validateChoices([]string{"data", "choices"}, 3, data.Choices); e != nil {
		return e
	}
	it.suggested = []string{}
	for _, ch := range data.Choices {
		var v string
		_ = json.Unmarshal(ch.Value, &v)
		it.suggested = append(it.suggested, v)
	}
	it.acked = true
	s.notifyLocked()
	return nil
}

func (s *Server) callbackLocked(id, token string, typ int, f msgFields) *apiError {
	it := s.interactions[id]
	if it == nil || it.token != token || s.now().Sub(it.created) > s.cfg.deadline {
		return errCode(http.StatusNotFound, 10062, "Unknown interaction")
	}
	if it.acked {
		return errCode(http.StatusBadRequest, 40060, "Interaction has already been acknowledged.")
	}
	if it.typ == 4 {
		return formErr([]string{"type"}, "INTERACTION_CALLBACK_TYPE_INVALID", "An autocomplete interaction takes only callback type 8")
	}
	keep := flagEphemeral | 1<<2 | 1<<12 // ephemeral, suppress embeds, suppress notifications
	switch typ {
	case 4:
		tmp := storedMsg{content: f.content, comps: f.comps, embeds: f.embeds, files: f.files}
		if tmp.empty() {
			return errCode(http.StatusBadRequest, 50006, "Cannot send an empty message")
		}
		it.original = s.newMsgLocked(KindResponse, it.channelID, it.guildID, it, f, f.flags&keep).id
	case 5:
		it.original = s.newMsgLocked(KindDeferred, it.channelID, it.guildID, it, msgFields{}, f.flags&flagEphemeral).id
	case 6, 7:
		if it.typ != 3 {
			return formErr([]string{"type"}, "INTERACTION_CALLBACK_TYPE_INVALID",
				fmt.Sprintf("Callback type %d is only valid for message component interactions", typ))
		}
		m := s.stored[it.original]
		if m == nil {
			return errCode(http.StatusNotFound, 10008, "Unknown Message")
		}
		if typ == 6 {
			s.recordLocked(m, KindDeferredUpdate, it.id)
		} else if _, e := s.editLocked(m, f, KindUpdate, it.id); e != nil {
			return e
		}
	default:
		return formErr([]string{"type"}, "INTERACTION_CALLBACK_TYPE_INVALID",
			fmt.Sprintf("Callback type %d is not supported by the fake (4, 5, 6, 7 are)", typ))
	}
	it.acked = true
	return nil
}

// webhookLocked resolves /webhooks/{app}/{token}: the interaction token
// works for 15 minutes and only after the initial callback.
func (s *Server) webhookLocked(app, token string) (*interaction, *apiError) {
	it := s.byToken[token]
	if app != s.appID || it == nil {
		return nil, errCode(http.StatusNotFound, 10015, "Unknown Webhook")
	}
	if s.now().Sub(it.created) > webhookTokenTTL {
		return nil, errCode(http.StatusUnauthorized, 50027, "Invalid Webhook Token")
	}
	if !it.acked {
		return nil, errCode(http.StatusNotFound, 10015, "Unknown Webhook")
	}
	return it, nil
}

func (s *Server) handleWebhookEdit(w http.ResponseWriter, r *http.Request) {
	f, e := readMsg(r)
	if e == nil {
		e = f.validate(nil)
	}
	if e != nil {
		writeErr(w, e)
		return
	}
	var out map[string]any
	s.mu.Lock()
	it, e := s.webhookLocked(r.PathValue("app"), r.PathValue("token"))
	if e == nil {
		id := r.PathValue("msg")
		if id == "@original" {
			id = it.original
		} else if !it.followups[id] {
			id = ""
		}
		if m := s.stored[id]; m == nil {
			e = errCode(http.StatusNotFound, 10008, "Unknown Message")
		} else {
			out, e = s.editLocked(m, f, KindEdit, it.id)
		}
	}
	s.mu.Unlock()
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleFollowup(w http.ResponseWriter, r *http.Request) {
	f, e := readMsg(r)
	if e == nil {
		e = f.validate(nil)
	}
	if e == nil {
		tmp := storedMsg{content: f.content, comps: f.comps, embeds: f.embeds, files: f.files}
		if tmp.empty() {
			e = errCode(http.StatusBadRequest, 50006, "Cannot send an empty message")
		}
	}
	if e != nil {
		writeErr(w, e)
		return
	}
	var out map[string]any
	s.mu.Lock()
	it, e := s.webhookLocked(r.PathValue("app"), r.PathValue("token"))
	if e == nil {
		m := s.newMsgLocked(KindFollowup, it.channelID, it.guildID, it, f, f.flags&(flagEphemeral|1<<2|1<<12))
		it.followups[m.id] = true
		out = s.messageJSON(m)
	}
	s.mu.Unlock()
	if e != nil {
		writeErr(w, e)
		return
	}
	if strings.EqualFold(r.URL.Query().Get("wait"), "true") {
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

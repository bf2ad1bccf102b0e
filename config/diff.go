package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Change is one difference between two configs, said for a human.
type Change struct {
	Text string // "agent docs removed", "watchdog.interval: 10s → 5s"
	// Confirm marks a change that widens who or what is reached (a new chat,
	// route, user with a role, credential, host, destination) or removes an
	// agent: it applies only after an admin says so.
	Confirm bool
}

// Changes is what a reload would change, in config order.
type Changes []Change

// NeedConfirm reports whether any change waits for an admin.
func (cs Changes) NeedConfirm() bool {
	return slices.ContainsFunc(cs, func(c Change) bool { return c.Confirm })
}

// String lists the changes, those needing an admin's confirmation first.
func (cs Changes) String() string {
	if len(cs) == 0 {
		return "No changes."
	}
	var b strings.Builder
	for _, confirm := range []bool{true, false} {
		head := "Applies at once:"
		if confirm {
			head = "Needs an admin's confirmation:"
		}
		n := 0
		for _, c := range cs {
			if c.Confirm != confirm {
				continue
			}
			if n == 0 {
				if b.Len() > 0 {
					b.WriteString("\n")
				}
				b.WriteString(head + "\n")
			}
			n++
			b.WriteString("  " + c.Text + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Diff says what changes from old to new: agents added, removed and changed,
// chat transports and who may use them, alert chats and routes, credentials,
// hosts, schedules and every other setting. Secrets are never shown, only
// that they changed.
func Diff(old, new *Config) Changes {
	d := &differ{}
	d.agents(old.Agents, new.Agents)
	d.telegram(old.Telegram, new.Telegram)
	d.discord(old.Discord, new.Discord)
	d.routes(old.Alerts.Routes, new.Alerts.Routes)
	d.named("credential", names(old.Credentials, func(c Credential) string { return c.Name }),
		names(new.Credentials, func(c Credential) string { return c.Name }), true)
	d.named("host", names(old.Hosts, func(h Host) string { return h.Name }),
		names(new.Hosts, func(h Host) string { return h.Name }), true)
	for _, s := range []struct {
		key      string
		old, new any
		widens   []string // keys whose change reaches someone or something new
	}{
		{"tmux", old.Tmux, new.Tmux, nil},
		{"claude", old.Claude, new.Claude, nil},
		{"console", old.Console, new.Console, nil},
		{"watchdog", old.Watchdog, new.Watchdog, nil},
		{"alerts", alertTimes(old.Alerts), alertTimes(new.Alerts), nil},
		{"schedule", old.Schedule, new.Schedule, nil},
		{"heartbeat", old.Heartbeat, new.Heartbeat, []string{"url"}},
		{"login", old.Login, new.Login, nil},
		{"restart", old.Restart, new.Restart, nil},
		// A failover credential spends what it names (a paid API key).
		{"limits", old.Limits, new.Limits, []string{"failover"}},
		{"dashboard", old.Dashboard, new.Dashboard, []string{"listen", "token"}},
		{"state", old.State, new.State, nil},
		{"log", old.Log, new.Log, nil},
	} {
		d.fields(s.key, reflect.ValueOf(s.old), reflect.ValueOf(s.new), s.widens)
	}
	return d.out
}

type differ struct{ out Changes }

func (d *differ) add(confirm bool, format string, a ...any) {
	d.out = append(d.out, Change{Text: fmt.Sprintf(format, a...), Confirm: confirm})
}

func names[T any](xs []T, name func(T) string) map[string]T {
	m := make(map[string]T, len(xs))
	for _, x := range xs {
		m[name(x)] = x
	}
	return m
}

func sortedNames[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (d *differ) agents(old, new []Agent) {
	om, nm := names(old, func(a Agent) string { return a.Name }), names(new, func(a Agent) string { return a.Name })
	for _, a := range new {
		if _, ok := om[a.Name]; !ok {
			d.add(false, "+ agent %s added (%s)", a.Name, where(a))
		}
	}
	for _, a := range old {
		if _, ok := nm[a.Name]; !ok {
			d.add(true, "- agent %s removed (%s): no longer watched", a.Name, where(a))
		}
	}
	for _, a := range new {
		if o, ok := om[a.Name]; ok {
			d.fields("agent "+a.Name, reflect.ValueOf(o), reflect.ValueOf(a), []string{"host", "credential", "backup"})
		}
	}
}

func where(a Agent) string {
	if a.Host != "" {
		return a.Target + " on " + a.Host
	}
	return a.Target
}

// named reports entries added, removed and changed by name; added or changed
// ones widen what is reached when widens is set.
func (d *differ) named(kind string, old, new any, widens bool) {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(new)
	keys := map[string]bool{}
	for _, k := range ov.MapKeys() {
		keys[k.String()] = true
	}
	for _, k := range nv.MapKeys() {
		keys[k.String()] = true
	}
	for _, name := range sortedNames(keys) {
		o, n := ov.MapIndex(reflect.ValueOf(name)), nv.MapIndex(reflect.ValueOf(name))
		switch {
		case !o.IsValid():
			d.add(widens, "+ %s %s added", kind, name)
		case !n.IsValid():
			d.add(false, "- %s %s removed", kind, name)
		default:
			d.fields(kind+" "+name, o, n, everything(widens))
		}
	}
}

// everything marks every field as widening ("*") when widens is set.
func everything(widens bool) []string {
	if widens {
		return []string{"*"}
	}
	return nil
}

func (d *differ) telegram(old, new *Telegram) {
	switch {
	case old == nil && new == nil:
		return
	case old == nil:
		d.add(true, "+ telegram added: %d alert chat(s), %d admin(s), %d operator(s), %d viewer(s)",
			len(new.AlertChats), len(new.Admins), len(new.Operators), len(new.Viewers))
		return
	case new == nil:
		d.add(false, "- telegram removed")
		return
	}
	d.secret("telegram.token", old.Token, new.Token)
	d.value("telegram.api_url", old.APIURL, new.APIURL, true)
	ids(d, "telegram alert chat", old.AlertChats, new.AlertChats)
	ids(d, "telegram admin", old.Admins, new.Admins)
	ids(d, "telegram operator", old.Operators, new.Operators)
	ids(d, "telegram viewer", old.Viewers, new.Viewers)
}

func (d *differ) discord(old, new *Discord) {
	switch {
	case old == nil && new == nil:
		return
	case old == nil:
		d.add(true, "+ discord added: %d alert channel(s), %d admin(s), %d operator(s), %d viewer(s)",
			len(new.AlertChannels), len(new.Admins), len(new.Operators), len(new.Viewers))
		return
	case new == nil:
		d.add(false, "- discord removed")
		return
	}
	d.secret("discord.token", old.Token, new.Token)
	d.value("discord.api_url", old.APIURL, new.APIURL, true)
	d.value("discord.guild_id", old.GuildID, new.GuildID, true)
	ids(d, "discord alert channel", old.AlertChannels, new.AlertChannels)
	ids(d, "discord admin", old.Admins, new.Admins)
	ids(d, "discord operator", old.Operators, new.Operators)
	ids(d, "discord viewer", old.Viewers, new.Viewers)
}

// ids reports IDs added (they widen who is reached) and removed.
func ids[T comparable](d *differ, what string, old, new []T) {
	for _, id := range new {
		if !slices.Contains(old, id) {
			d.add(true, "+ %s %v added", what, id)
		}
	}
	for _, id := range old {
		if !slices.Contains(new, id) {
			d.add(false, "- %s %v removed", what, id)
		}
	}
}

func (d *differ) secret(key string, old, new Secret) {
	if old.Ref() != new.Ref() || old.Value() != new.Value() {
		d.add(true, "~ %s changed (a new credential)", key)
	}
}

func (d *differ) value(key string, old, new any, widens bool) {
	if !reflect.DeepEqual(old, new) {
		d.add(widens, "~ %s: %s → %s", key, show(reflect.ValueOf(old)), show(reflect.ValueOf(new)))
	}
}

// RouteName is the name an alert route goes by: its name, else its type and
// index ("webhook0").
func RouteName(i int, r Route) string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("%s%d", r.Type, i)
}

func (d *differ) routes(old, new []Route) {
	om, nm := map[string]Route{}, map[string]Route{}
	for i, r := range old {
		om[RouteName(i, r)] = r
	}
	for i, r := range new {
		nm[RouteName(i, r)] = r
	}
	for _, name := range sortedNames(nm) {
		if _, ok := om[name]; !ok {
			d.add(true, "+ alert route %s added (%s)", name, routeDest(nm[name]))
		}
	}
	for _, name := range sortedNames(om) {
		if _, ok := nm[name]; !ok {
			d.add(false, "- alert route %s removed (%s)", name, routeDest(om[name]))
		}
	}
	for _, name := range sortedNames(nm) {
		if o, ok := om[name]; ok {
			d.fields("alert route "+name, reflect.ValueOf(o), reflect.ValueOf(nm[name]),
				[]string{"type", "url", "headers", "host", "port", "username", "password", "from", "to", "command"})
		}
	}
}

func routeDest(r Route) string {
	switch r.Type {
	case RouteWebhook:
		return "webhook " + redact.URL(r.URL)
	case RouteEmail:
		return "email to " + strings.Join(r.To, ", ")
	case RouteExec:
		if len(r.Command) > 0 {
			return "exec " + r.Command[0]
		}
	}
	return r.Type
}

type alertTiming struct {
	GroupWait      Duration `toml:"group_wait"`
	RepeatInterval Duration `toml:"repeat_interval"`
	FallbackAfter  Duration `toml:"fallback_after"`
}

func alertTimes(a Alerts) alertTiming {
	return alertTiming{a.GroupWait, a.RepeatInterval, a.FallbackAfter}
}

// fields reports each changed field of two structs of one type by its TOML
// key under prefix; widens lists the keys whose change needs confirming
// ("*": all of them).
func (d *differ) fields(prefix string, old, new reflect.Value, widens []string) {
	t := old.Type()
	sep := "."
	if strings.Contains(prefix, " ") {
		sep = ": "
	}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		o, n := old.Field(i), new.Field(i)
		if reflect.DeepEqual(o.Interface(), n.Interface()) {
			continue
		}
		widen := slices.Contains(widens, key) || slices.Contains(widens, "*")
		name := prefix + sep + key
		switch {
		case f.Type == secretType:
			d.add(true, "~ %s changed (a new credential)", name)
		case key == "env" || key == "headers":
			// Values may be secrets: name the keys only.
			d.add(widen, "~ %s changed (%s)", name, mapKeys(o, n))
		case key == "url" || key == "api_url":
			d.add(widen, "~ %s: %s → %s", name, redact.URL(o.String()), redact.URL(n.String()))
		default:
			d.add(widen, "~ %s: %s → %s", name, show(o), show(n))
		}
	}
}

// mapKeys names the keys of two string maps that differ.
func mapKeys(o, n reflect.Value) string {
	var keys []string
	seen := map[string]bool{}
	for _, m := range []reflect.Value{o, n} {
		for _, k := range m.MapKeys() {
			ks := k.String()
			if seen[ks] {
				continue
			}
			seen[ks] = true
			ov, nv := o.MapIndex(k), n.MapIndex(k)
			if !ov.IsValid() || !nv.IsValid() || ov.String() != nv.String() {
				keys = append(keys, ks)
			}
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func show(v reflect.Value) string {
	if v.Type() == durationType {
		return v.Interface().(Duration).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "default"
		}
		return show(v.Elem())
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Slice:
		if v.Len() == 0 {
			return "[]"
		}
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = show(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

package config

import (
	"errors"
	"fmt"
	"github.com/fleetwarden/fleetwarden/internal/cronspec"
	"io/fs"
	"net"
	"net/mail"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// parse is Load and Parse: dir resolves relative paths ("" = working dir).
func parse(name string, dir string, data []byte) (*Config, error) {
	if dir == "" {
		dir, _ = os.Getwd()
	}
	p := &problems{file: name}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.addLine(pe.Position.Line, "", "%s", pe.Message)
		} else {
			p.addLine(0, "", "%v", err)
		}
		return nil, p.errs()
	}
	p.lines = indexLines(string(data))
	d := &decoder{p: p, defined: map[string]bool{}, bad: map[string]bool{}}
	c := &Config{}
	d.decode("", raw, reflect.ValueOf(c).Elem())

	k := &checker{p: p, has: d.defined, bad: d.bad, dir: dir}
	k.defaults(c)
	k.paths(c)
	k.secrets(c)
	k.validate(c)
	if err := p.errs(); err != nil {
		return nil, err
	}
	return c, nil
}

// checker applies defaults and checks values after decoding.
type checker struct {
	p   *problems
	has map[string]bool // key paths written in the file
	bad map[string]bool // key paths that did not decode
	dir string
	// refs are values read by env: or file: into plain strings: never
	// quoted in a message.
	refs map[string]bool
}

// add reports a problem unless key (or a table holding it) already failed
// to decode: one mistake gets one message.
func (k *checker) add(key, format string, args ...any) {
	for q := key; q != ""; q = parentPath(q) {
		if k.bad[q] {
			return
		}
	}
	k.p.add(key, format, args...)
}

func (k *checker) str(key string, field *string, def string) {
	if !k.has[key] {
		*field = def
	}
}

func (k *checker) dur(key string, field *Duration, def time.Duration) {
	if !k.has[key] {
		field.Duration = def
	}
}

func (k *checker) num(key string, field *int, def int) {
	if !k.has[key] {
		*field = def
	}
}

func (k *checker) flag(field **bool, def bool) {
	if *field == nil {
		*field = &def
	}
}

// Defaults fill the keys the file leaves out; a key written with an empty or
// zero value is checked as written.
func (k *checker) defaults(c *Config) {
	k.str("tmux.bin", &c.Tmux.Bin, "tmux")
	if !k.has["tmux.discover"] {
		c.Tmux.Discover = len(c.Agents) == 0
	}

	k.str("claude.bin", &c.Claude.Bin, "claude")
	k.str("claude.config_dir", &c.Claude.ConfigDir, "~/.claude")
	k.str("claude.login_method", &c.Claude.LoginMethod, "auth-login")
	k.dur("claude.login_timeout", &c.Claude.LoginTimeout, 10*time.Minute)
	k.str("claude.failover", &c.Claude.Failover, "ask")

	for i := range c.Agents {
		k.str(joinIndex("agent", i)+".command", &c.Agents[i].Command, "claude --continue")
	}
	baseURL := os.Getenv("ANTHROPIC_BASE_URL")
	if baseURL == "" {
		baseURL = "https://api.anthropic.com"
	}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		p := joinIndex("credential", i)
		if cr.Kind == KindOAuthFile {
			k.str(p+".config_dir", &cr.ConfigDir, c.Claude.ConfigDir)
		}
		k.str(p+".base_url", &cr.BaseURL, baseURL)
		cr.BaseURL = strings.TrimRight(cr.BaseURL, "/")
	}

	if t := c.Telegram; t != nil {
		k.str("telegram.api_url", &t.APIURL, "https://api.telegram.org")
		t.APIURL = strings.TrimRight(t.APIURL, "/")
	}
	if dc := c.Discord; dc != nil {
		k.str("discord.api_url", &dc.APIURL, "https://discord.com/api/v9")
		dc.APIURL = strings.TrimRight(dc.APIURL, "/")
	}

	w := &c.Watchdog
	k.dur("watchdog.interval", &w.Interval, 10*time.Second)
	k.dur("watchdog.stuck_after", &w.StuckAfter, 20*time.Minute)
	k.dur("watchdog.input_after", &w.InputAfter, 10*time.Minute)
	k.flag(&w.ControlMode, true)
	k.dur("watchdog.debounce", &w.Debounce, 75*time.Millisecond)
	k.num("watchdog.concurrency", &w.Concurrency, 8)

	a := &c.Alerts
	k.dur("alerts.group_wait", &a.GroupWait, 10*time.Second)
	k.dur("alerts.repeat_interval", &a.RepeatInterval, time.Hour)
	k.dur("alerts.fallback_after", &a.FallbackAfter, 30*time.Second)
	for i := range a.Routes {
		r := &a.Routes[i]
		p := joinIndex("alerts.route", i)
		k.str(p+".name", &r.Name, r.Type+strconv.Itoa(i))
		if r.Type == RouteWebhook {
			k.str(p+".format", &r.Format, "json")
		}
		if r.Type == RouteEmail {
			k.num(p+".port", &r.Port, 587)
		}
		k.flag(&r.StartTLS, true)
		k.dur(p+".timeout", &r.Timeout, 10*time.Second)
	}

	s := &c.Schedule
	k.str("schedule.auth_check", &s.AuthCheck, "*/15 * * * *")
	if !k.has["schedule.warn_before"] {
		s.WarnBefore = []Duration{{24 * time.Hour}, {time.Hour}}
	}
	k.str("schedule.morning_report", &s.MorningReport, "CRON_TZ=UTC 0 8 * * *")
	k.str("schedule.timezone", &s.Timezone, "Local")

	k.dur("heartbeat.interval", &c.Heartbeat.Interval, time.Minute)

	k.str("login.restart", &c.Login.Restart, "failed")
	k.num("login.parallel", &c.Login.Parallel, 8)
	k.dur("login.restart_timeout", &c.Login.RestartTimeout, 90*time.Second)
	k.str("restart.resume_choice", &c.Restart.ResumeChoice, "summary")
	k.flag(&c.Limits.AutoResume, true)
	k.str("limits.resume_prompt", &c.Limits.ResumePrompt, "continue")
	k.dur("limits.grace", &c.Limits.Grace, 2*time.Minute)
	k.dur("limits.failover_after", &c.Limits.FailoverAfter, 15*time.Minute)

	localUser := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		localUser = u.Username
	}
	for i := range c.Hosts {
		h := &c.Hosts[i]
		p := joinIndex("host", i)
		k.str(p+".user", &h.User, localUser)
		k.str(p+".known_hosts", &h.KnownHosts, "~/.ssh/known_hosts")
	}

	k.str("dashboard.listen", &c.Dashboard.Listen, "127.0.0.1:8787")

	k.str("state.dir", &c.State.Dir, DefaultStateDir)
	k.num("state.journal_max_mb", &c.State.JournalMaxMB, 10)
	k.num("state.journal_keep", &c.State.JournalKeep, 5)

	k.str("log.format", &c.Log.Format, "text")
	k.str("log.level", &c.Log.Level, "info")
}

// paths expands ~ and resolves relative paths against the file's directory.
func (k *checker) paths(c *Config) {
	expand := func(key string, p *string) bool {
		v, err := expandPath(*p, k.dir)
		if err != nil {
			k.add(key, "%v", err)
			return false
		}
		*p = v
		return true
	}
	expand("claude.config_dir", &c.Claude.ConfigDir)
	if expand("state.dir", &c.State.Dir) && !k.has["claude.token_file"] && c.State.Dir != "" {
		c.Claude.TokenFile = filepath.Join(c.State.Dir, "oauth-token")
	}
	expand("claude.token_file", &c.Claude.TokenFile)
	for i := range c.Agents {
		// A remote agent's ~ is the remote home: leave it to the remote shell.
		if c.Agents[i].Host == "" {
			expand(joinIndex("agent", i)+".workdir", &c.Agents[i].Workdir)
		}
	}
	for i := range c.Credentials {
		expand(joinIndex("credential", i)+".config_dir", &c.Credentials[i].ConfigDir)
	}
	for i := range c.Hosts {
		p := joinIndex("host", i)
		expand(p+".key_file", &c.Hosts[i].KeyFile)
		expand(p+".known_hosts", &c.Hosts[i].KnownHosts)
	}
}

// secrets resolves every Secret.
func (k *checker) secrets(c *Config) {
	resolve := func(key string, s *Secret) {
		if err := s.resolve(k.dir); err != nil {
			k.add(key, "%v", err)
		}
	}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		if cr.Kind == KindOAuthToken && k.tokenFileToCome(cr.Token, c.Claude.TokenFile) {
			continue // /login (setup-token) writes it; until then the credential checks unhealthy
		}
		resolve(joinIndex("credential", i)+".token", &cr.Token)
	}
	if c.Telegram != nil {
		resolve("telegram.token", &c.Telegram.Token)
	}
	if c.Discord != nil {
		resolve("discord.token", &c.Discord.Token)
	}
	for i := range c.Alerts.Routes {
		resolve(joinIndex("alerts.route", i)+".password", &c.Alerts.Routes[i].Password)
	}
	resolve("dashboard.token", &c.Dashboard.Token)
	// Strings that carry a key (a webhook's URL or headers, the heartbeat
	// URL) may come from env: or file: too; they are resolved in place.
	str := func(key string, v *string) {
		if !isEnvRef(*v) && !isFileRef(*v) {
			return
		}
		s := Secret{ref: *v}
		if err := s.resolve(k.dir); err != nil {
			k.add(key, "%v", err)
			if k.bad == nil {
				k.bad = map[string]bool{}
			}
			k.bad[key] = true // one message for it, not a second about the URL
			return
		}
		*v = s.Value()
		c.refSecrets = append(c.refSecrets, *v)
		if k.refs == nil {
			k.refs = map[string]bool{}
		}
		k.refs[*v] = true
	}
	for i := range c.Alerts.Routes {
		r := &c.Alerts.Routes[i]
		if r.Type != RouteWebhook {
			continue
		}
		p := joinIndex("alerts.route", i)
		str(p+".url", &r.URL)
		for name, v := range r.Headers {
			str(joinKey(p+".headers", name), &v)
			r.Headers[name] = v
		}
	}
	str("heartbeat.url", &c.Heartbeat.URL)
}

// tokenFileToCome reports whether s is file:claude.token_file and that file
// does not exist yet: setup-token's first login creates it.
func (k *checker) tokenFileToCome(s Secret, tokenFile string) bool {
	p, ok := strings.CutPrefix(s.ref, "file:")
	if !ok || tokenFile == "" {
		return false
	}
	p, err := expandPath(p, k.dir)
	if err != nil || filepath.Clean(p) != filepath.Clean(tokenFile) {
		return false
	}
	_, err = os.Stat(p)
	return errors.Is(err, fs.ErrNotExist)
}

func (k *checker) validate(c *Config) {
	k.notEmpty("tmux.bin", c.Tmux.Bin)
	k.notEmpty("claude.bin", c.Claude.Bin)
	k.notEmpty("claude.config_dir", c.Claude.ConfigDir)
	k.oneOf("claude.login_method", c.Claude.LoginMethod, "auth-login", "setup-token")
	k.positive("claude.login_timeout", c.Claude.LoginTimeout)
	k.oneOf("claude.failover", c.Claude.Failover, "auto", "ask", "off")

	hosts := k.names("host", len(c.Hosts), func(i int) string { return c.Hosts[i].Name })
	creds := k.names("credential", len(c.Credentials), func(i int) string { return c.Credentials[i].Name })
	k.names("agent", len(c.Agents), func(i int) string { return c.Agents[i].Name })
	k.ref("limits.failover", c.Limits.Failover, "credential", creds)

	k.validateAgents(c.Agents, hosts, creds)
	if !c.Tmux.Discover && len(c.Agents) == 0 && !k.bad["agent"] {
		k.add("tmux.discover", "nothing to watch: no [[agent]] is configured and tmux.discover is false")
	}

	k.validateCredentials(c.Credentials)

	k.validateTelegram(c.Telegram)
	k.validateDiscord(c.Discord)

	w := c.Watchdog
	k.positive("watchdog.interval", w.Interval)
	k.positive("watchdog.stuck_after", w.StuckAfter)
	k.positive("watchdog.input_after", w.InputAfter)
	k.between("watchdog.concurrency", w.Concurrency, 1, 1024)

	k.positive("alerts.repeat_interval", c.Alerts.RepeatInterval)
	k.validateRoutes(c.Alerts.Routes)

	s := &c.Schedule
	k.cron("schedule.auth_check", &s.AuthCheck)
	k.cron("schedule.morning_report", &s.MorningReport)
	for i, d := range s.WarnBefore {
		k.positive(joinIndex("schedule.warn_before", i), d)
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "" {
		k.add("schedule.timezone", "%q is not a time zone (e.g. \"Local\", \"UTC\", \"Europe/Berlin\")", s.Timezone)
	}

	if c.Heartbeat.URL != "" {
		k.httpURL("heartbeat.url", c.Heartbeat.URL)
	}
	k.positive("heartbeat.interval", c.Heartbeat.Interval)

	k.oneOf("login.restart", c.Login.Restart, "failed", "all", "none")
	k.between("login.parallel", c.Login.Parallel, 1, 1024)
	k.positive("login.restart_timeout", c.Login.RestartTimeout)
	k.oneOf("restart.resume_choice", c.Restart.ResumeChoice, "summary", "full")
	k.notEmpty("limits.resume_prompt", c.Limits.ResumePrompt)
	if strings.ContainsAny(c.Limits.ResumePrompt, "\n\r") {
		k.add("limits.resume_prompt", "must be one line (it is typed into the pane and sent with Enter)")
	}

	k.validateHosts(c.Hosts)

	k.dashboard(&c.Dashboard)

	k.notEmpty("state.dir", c.State.Dir)
	k.between("state.journal_max_mb", c.State.JournalMaxMB, 1, 1<<20)
	k.between("state.journal_keep", c.State.JournalKeep, 0, 1000)

	k.oneOf("log.format", c.Log.Format, "text", "json")
	k.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
}

// validateAgents checks each [[agent]]: a target no other agent has, a
// command, and the hosts and credentials it names.
func (k *checker) validateAgents(agents []Agent, hosts, creds map[string]bool) {
	targets := map[string]int{}
	for i, a := range agents {
		p := joinIndex("agent", i)
		if a.Target == "" {
			k.add(p+".target", "required: the tmux pane, session[:window[.pane]]")
		} else if err := checkTarget(a.Target); err != nil {
			k.add(p+".target", "%v", err)
		} else {
			id := a.Host + "\x00" + a.Target
			if j, dup := targets[id]; dup {
				k.add(p+".target", "%q is also the target of agent[%d] (line %d)", a.Target, j, k.p.lines.line(joinIndex("agent", j)))
			} else {
				targets[id] = i
			}
		}
		k.notEmpty(p+".command", a.Command)
		if a.Workdir != "" && a.Host == "" && !filepath.IsAbs(a.Workdir) {
			k.add(p+".workdir", "%q is not an absolute path", a.Workdir)
		}
		k.ref(p+".host", a.Host, "host", hosts)
		k.ref(p+".credential", a.Credential, "credential", creds)
		k.ref(p+".backup", a.Backup, "credential", creds)
		if a.Backup != "" && a.Backup == a.Credential {
			k.add(p+".backup", "is the same credential as agent.credential")
		}
		for name := range a.Env {
			if !isEnvName(name) {
				k.add(joinKey(p+".env", name), "%q is not an environment variable name", name)
			}
		}
	}
}

// validateCredentials checks each [[credential]]: its kind and the keys
// that kind needs or does not use.
func (k *checker) validateCredentials(creds []Credential) {
	for i, cr := range creds {
		p := joinIndex("credential", i)
		if !k.has[p+".kind"] {
			k.add(p+".kind", "required: %s, %s or %s", KindOAuthFile, KindOAuthToken, KindAPIKey)
		} else if k.oneOf(p+".kind", cr.Kind, KindOAuthFile, KindOAuthToken, KindAPIKey) {
			if cr.Kind == KindOAuthFile {
				if k.has[p+".token"] {
					k.add(p+".token", "not used by kind %q (it reads config_dir/.credentials.json)", cr.Kind)
				}
				k.notEmpty(p+".config_dir", cr.ConfigDir)
			} else {
				if !k.has[p+".token"] {
					k.add(p+".token", "required for kind %q, e.g. \"env:ANTHROPIC_API_KEY\"", cr.Kind)
				}
				if k.has[p+".config_dir"] {
					k.add(p+".config_dir", "only used by kind %q", KindOAuthFile)
				}
			}
		}
		k.oneOf(p+".probe", cr.Probe, "", "api")
		k.httpURL(p+".base_url", cr.BaseURL)
	}
}

// validateTelegram checks [telegram]: a token and numeric user and chat IDs.
func (k *checker) validateTelegram(t *Telegram) {
	if t == nil {
		return
	}
	if !t.Token.IsSet() {
		k.add("telegram.token", "required: the bot token, e.g. \"env:TELEGRAM_BOT_TOKEN\"")
	}
	k.httpURL("telegram.api_url", t.APIURL)
	for _, l := range []struct {
		key string
		ids []int64
	}{{"admins", t.Admins}, {"operators", t.Operators}, {"viewers", t.Viewers}} {
		for i, id := range l.ids {
			if id <= 0 {
				k.add(joinIndex("telegram."+l.key, i), "%d is not a user ID (user IDs are positive; ask @userinfobot)", id)
			}
		}
	}
	for i, id := range t.AlertChats {
		if id == 0 {
			k.add(joinIndex("telegram.alert_chats", i), "0 is not a chat ID")
		}
	}
}

// validateDiscord checks [discord]: a token and numeric Discord IDs.
func (k *checker) validateDiscord(dc *Discord) {
	if dc == nil {
		return
	}
	if !dc.Token.IsSet() {
		k.add("discord.token", "required: the bot token, e.g. \"env:DISCORD_BOT_TOKEN\"")
	}
	k.httpURL("discord.api_url", dc.APIURL)
	if dc.GuildID != "" && !isSnowflake(dc.GuildID) {
		k.add("discord.guild_id", "%q is not a numeric Discord ID", dc.GuildID)
	}
	for _, l := range []struct {
		key string
		ids []string
	}{{"admins", dc.Admins}, {"operators", dc.Operators}, {"viewers", dc.Viewers}, {"alert_channels", dc.AlertChannels}} {
		for i, id := range l.ids {
			if !isSnowflake(id) {
				k.add(joinIndex("discord."+l.key, i), "%q is not a numeric Discord ID (Developer Mode → Copy ID)", id)
			}
		}
	}
}

// validateHosts checks each [[host]]'s address and writes it as host:port.
func (k *checker) validateHosts(hosts []Host) {
	for i := range hosts {
		h := &hosts[i]
		p := joinIndex("host", i)
		if h.Address == "" {
			k.add(p+".address", "required: host or host:port")
		} else if addr, err := hostPort(h.Address, "22"); err != nil {
			k.add(p+".address", "%v", err)
		} else {
			h.Address = addr
		}
	}
}

// routeKeys lists the keys each route type uses besides type, name, timeout.
var routeKeys = map[string][]string{
	RouteWebhook: {"url", "format", "headers"},
	RouteEmail:   {"host", "port", "username", "password", "from", "to", "starttls"},
	RouteExec:    {"command"},
}

func (k *checker) validateRoutes(routes []Route) {
	ids := map[string]int{}
	for i := range routes {
		r := &routes[i]
		p := joinIndex("alerts.route", i)
		// Compared as the alert manager knows them: "backup" and
		// "webhook:backup" are one webhook route.
		if j, dup := ids[r.ID(i)]; dup {
			k.add(p+".name", "%q is also the name of alerts.route[%d] (both are %s)", r.Name, j, r.ID(i))
		}
		ids[r.ID(i)] = i
		k.positive(p+".timeout", r.Timeout)
		if !k.has[p+".type"] {
			k.add(p+".type", "required: webhook, email or exec")
			continue
		}
		if !k.oneOf(p+".type", r.Type, RouteWebhook, RouteEmail, RouteExec) {
			continue
		}
		for _, typ := range []string{RouteWebhook, RouteEmail, RouteExec} {
			if typ == r.Type {
				continue
			}
			for _, key := range routeKeys[typ] {
				if k.has[p+"."+key] && !slices.Contains(routeKeys[r.Type], key) {
					k.add(p+"."+key, "not used by a route of type %q", r.Type)
				}
			}
		}
		switch r.Type {
		case RouteWebhook:
			if r.URL == "" {
				k.add(p+".url", "required for a webhook route")
			} else {
				k.httpURL(p+".url", r.URL)
			}
			k.oneOf(p+".format", r.Format, "json", "ntfy", "slack")
			for name := range r.Headers {
				if name == "" || strings.ContainsAny(name, " \t:\r\n") {
					k.add(joinKey(p+".headers", name), "%q is not an HTTP header name", name)
				}
			}
		case RouteEmail:
			if r.Host == "" {
				k.add(p+".host", "required for an email route: the SMTP server")
			}
			k.between(p+".port", r.Port, 1, 65535)
			if r.From == "" {
				k.add(p+".from", "required for an email route")
			} else if _, err := mail.ParseAddress(r.From); err != nil {
				k.add(p+".from", "%q is not an email address", r.From)
			}
			if len(r.To) == 0 {
				k.add(p+".to", "required for an email route: at least one address")
			}
			for j, to := range r.To {
				if _, err := mail.ParseAddress(to); err != nil {
					k.add(joinIndex(p+".to", j), "%q is not an email address", to)
				}
			}
		case RouteExec:
			if len(r.Command) == 0 || r.Command[0] == "" {
				k.add(p+".command", "required for an exec route: the program and its arguments, e.g. [\"notify-send\", \"fleetwarden\"]")
			}
		}
	}
}

func (k *checker) dashboard(d *Dashboard) {
	if d.Listen == "off" {
		d.Listen = ""
	}
	if d.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(d.Listen)
	if err != nil {
		k.add("dashboard.listen", "%q is not host:port (e.g. \"127.0.0.1:8787\"; \"off\" disables)", d.Listen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		k.add("dashboard.listen", "%q: port %q is not a number from 0 to 65535", d.Listen, port)
		return
	}
	for i, h := range d.Hosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			k.add(joinIndex("dashboard.hosts", i), "%q is not a host name (e.g. \"fleet.lan\", no scheme or port)", h)
		}
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()
	if !loopback && !d.Token.IsSet() {
		k.add("dashboard.listen", "%q is reachable from other machines: set dashboard.token (e.g. \"env:FLEETWARDEN_DASHBOARD_TOKEN\") or listen on 127.0.0.1", d.Listen)
	}
}

// names checks that the name of each table in an array is present, well
// formed and unique, and returns the set of names.
func (k *checker) names(array string, n int, name func(int) string) map[string]bool {
	seen := map[string]int{}
	for i := range n {
		key := joinIndex(array, i) + ".name"
		v := name(i)
		if v == "" {
			k.add(key, "required")
			continue
		}
		if !isName(v) {
			k.add(key, "%q: use letters, digits, '.', '_' and '-' only", v)
		}
		if j, dup := seen[v]; dup {
			k.add(key, "duplicate name %q (first at line %d)", v, k.p.lines.line(joinIndex(array, j)+".name"))
			continue
		}
		seen[v] = i
	}
	set := make(map[string]bool, len(seen))
	for v := range seen {
		set[v] = true
	}
	return set
}

// ref checks that v, when set, names an entry of the [[kind]] array.
func (k *checker) ref(key, v, kind string, names map[string]bool) {
	if v == "" || names[v] || k.bad[kind] {
		return
	}
	if len(names) == 0 {
		k.add(key, "%q: no [[%s]] is configured", v, kind)
		return
	}
	known := make([]string, 0, len(names))
	for n := range names {
		known = append(known, n)
	}
	if s := suggest(v, known); s != "" {
		k.add(key, "%q is not a [[%s]] name; did you mean %q?", v, kind, s)
		return
	}
	k.add(key, "%q is not a [[%s]] name", v, kind)
}

func (k *checker) notEmpty(key, v string) {
	if strings.TrimSpace(v) == "" {
		k.add(key, "must not be empty (leave the key out for the default)")
	}
}

// oneOf reports whether v is one of the options, and complains if not.
func (k *checker) oneOf(key, v string, options ...string) bool {
	if slices.Contains(options, v) {
		return true
	}
	var quoted []string
	for _, o := range options {
		if o != "" {
			quoted = append(quoted, strconv.Quote(o))
		}
	}
	msg := fmt.Sprintf("%q is not one of %s", v, strings.Join(quoted, ", "))
	if s := suggest(v, options); s != "" && v != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	k.add(key, "%s", msg)
	return false
}

func (k *checker) positive(key string, d Duration) {
	if d.Duration <= 0 {
		k.add(key, "must be longer than 0s")
	}
}

func (k *checker) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		k.add(key, "%d is out of range (%d to %d)", n, lo, hi)
	}
}

func (k *checker) httpURL(key, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if k.refs[v] {
			k.add(key, "the value read by env: or file: is not an http:// or https:// URL")
			return
		}
		k.add(key, "%q is not an http:// or https:// URL", v)
	}
}

// cron accepts "off" (stored as "") and a spec the scheduler will run,
// checked here with its own parser (which never panics), so a bad one is a
// config error with its line, not a failure at start.
func (k *checker) cron(key string, v *string) {
	switch {
	case *v == "off":
		*v = ""
	case strings.TrimSpace(*v) == "":
		k.add(key, "empty cron spec; write \"off\" to turn the job off")
	default:
		if err := cronspec.Validate(*v); err != nil {
			k.add(key, "%v", err)
		}
	}
}

// checkTarget checks a tmux target: session[:window[.pane]].
func checkTarget(t string) error {
	bad := fmt.Errorf("%q is not session[:window[.pane]]", t)
	session, rest, hasWindow := strings.Cut(t, ":")
	if session == "" || strings.ContainsAny(session, ".") || hasSpace(session) {
		return bad
	}
	if !hasWindow {
		return nil
	}
	window, pane := rest, ""
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		window, pane = rest[:i], rest[i+1:]
		if pane == "" || strings.Trim(pane, "0123456789") != "" {
			return bad
		}
	}
	if window == "" || strings.Contains(window, ":") || hasSpace(window) {
		return bad
	}
	return nil
}

func hasSpace(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
}

// hostPort checks host[:port] and adds the default port when missing.
func hostPort(addr, defPort string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: a plain host name or IP (IPv6 with or without brackets).
		if len(addr) > 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
			addr = addr[1 : len(addr)-1]
		}
		if hasSpace(addr) || strings.ContainsAny(addr, "/[]") || strings.Count(addr, ":") == 1 {
			return "", fmt.Errorf("%q is not host or host:port", addr)
		}
		return net.JoinHostPort(addr, defPort), nil
	}
	if n, err := strconv.Atoi(port); host == "" || hasSpace(host) || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q is not host or host:port", addr)
	}
	return addr, nil
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isBareChar(c) || c == '.') {
			return false
		}
	}
	return s != ""
}

func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s[0] != '+'
}

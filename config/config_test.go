package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// setHome points ~ at a fresh directory and returns it.
func setHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("fw.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefault(t *testing.T) {
	home := setHome(t)
	c := Default()
	if c.Path != "" {
		t.Errorf("Path = %q, want \"\" for the embedded default", c.Path)
	}
	if !c.Tmux.Discover || c.Tmux.Socket != "" || len(c.Agents) != 0 {
		t.Errorf("Tmux = %+v with %d agents, want discover on the default server", c.Tmux, len(c.Agents))
	}
	if c.Console.Enabled != nil || !c.Console.On(true) || c.Console.On(false) {
		t.Errorf("Console = %+v, want on exactly when stdin is a terminal", c.Console)
	}
	if c.Dashboard.Listen != "127.0.0.1:8787" || !c.Dashboard.Enabled() {
		t.Errorf("Dashboard.Listen = %q, want 127.0.0.1:8787", c.Dashboard.Listen)
	}
	if c.Telegram != nil || c.Discord != nil {
		t.Errorf("Telegram = %v, Discord = %v, want none", c.Telegram, c.Discord)
	}
	if want := filepath.Join(home, ".local/state/fleetwarden"); c.State.Dir != want {
		t.Errorf("State.Dir = %q, want %q", c.State.Dir, want)
	}
}

func TestDefaults(t *testing.T) {
	home := setHome(t)
	t.Setenv("ANTHROPIC_BASE_URL", "")
	t.Setenv("USER", "tester")
	c := mustParse(t, doc(
		`[[agent]]`,
		`name = "a"`,
		`target = "s"`,
		`[[credential]]`,
		`name = "main"`,
		`kind = "oauth-file"`,
		`[telegram]`,
		`token = "t"`,
		`api_url = "https://bots.example.com/"`,
		`[discord]`,
		`token = "d"`,
		`[[alerts.route]]`,
		`type = "email"`,
		`host = "smtp.example.com"`,
		`from = "a@example.com"`,
		`to = ["b@example.com"]`,
		`[[alerts.route]]`,
		`type = "webhook"`,
		`url = "https://example.com/hook"`,
		`[[host]]`,
		`name = "gpu"`,
		`address = "10.0.0.7"`,
	))
	r0, r1 := c.Alerts.Routes[0], c.Alerts.Routes[1]
	tests := []struct {
		name      string
		got, want any
	}{
		{"tmux.bin", c.Tmux.Bin, "tmux"},
		{"tmux.discover (agents configured)", c.Tmux.Discover, false},
		{"claude.bin", c.Claude.Bin, "claude"},
		{"claude.config_dir", c.Claude.ConfigDir, filepath.Join(home, ".claude")},
		{"claude.login_method", c.Claude.LoginMethod, "auth-login"},
		{"claude.login_timeout", c.Claude.LoginTimeout.Duration, 10 * time.Minute},
		{"claude.token_file", c.Claude.TokenFile, filepath.Join(home, ".local/state/fleetwarden/oauth-token")},
		{"claude.failover", c.Claude.Failover, "ask"},
		{"agent.command", c.Agents[0].Command, "claude --continue"},
		{"credential.config_dir", c.Credentials[0].ConfigDir, filepath.Join(home, ".claude")},
		{"credential.base_url", c.Credentials[0].BaseURL, "https://api.anthropic.com"},
		{"telegram.api_url (trailing / dropped)", c.Telegram.APIURL, "https://bots.example.com"},
		{"discord.api_url", c.Discord.APIURL, "https://discord.com/api/v9"},
		{"console.enabled", c.Console.Enabled, (*bool)(nil)},
		{"watchdog.interval", c.Watchdog.Interval.Duration, 10 * time.Second},
		{"watchdog.stuck_after", c.Watchdog.StuckAfter.Duration, 20 * time.Minute},
		{"watchdog.input_after", c.Watchdog.InputAfter.Duration, 10 * time.Minute},
		{"watchdog.control_mode", *c.Watchdog.ControlMode, true},
		{"watchdog.debounce", c.Watchdog.Debounce.Duration, 75 * time.Millisecond},
		{"watchdog.concurrency", c.Watchdog.Concurrency, 8},
		{"alerts.group_wait", c.Alerts.GroupWait.Duration, 10 * time.Second},
		{"alerts.repeat_interval", c.Alerts.RepeatInterval.Duration, time.Hour},
		{"alerts.fallback_after", c.Alerts.FallbackAfter.Duration, 30 * time.Second},
		{"route[0].name", r0.Name, "email0"},
		{"route[0].port", r0.Port, 587},
		{"route[0].starttls", *r0.StartTLS, true},
		{"route[0].timeout", r0.Timeout.Duration, 10 * time.Second},
		{"route[1].name", r1.Name, "webhook1"},
		{"route[1].format", r1.Format, "json"},
		{"schedule.auth_check", c.Schedule.AuthCheck, "*/15 * * * *"},
		{"schedule.warn_before", c.Schedule.WarnBefore, []Duration{{24 * time.Hour}, {time.Hour}}},
		{"schedule.morning_report", c.Schedule.MorningReport, "CRON_TZ=UTC 0 8 * * *"},
		{"schedule.timezone", c.Schedule.Timezone, "Local"},
		{"heartbeat.url", c.Heartbeat.URL, ""},
		{"heartbeat.interval", c.Heartbeat.Interval.Duration, time.Minute},
		{"login.restart", c.Login.Restart, "failed"},
		{"login.parallel", c.Login.Parallel, 8},
		{"login.restart_timeout", c.Login.RestartTimeout.Duration, 90 * time.Second},
		{"restart.resume_choice", c.Restart.ResumeChoice, "summary"},
		{"limits.auto_resume", *c.Limits.AutoResume, true},
		{"limits.resume_prompt", c.Limits.ResumePrompt, "continue"},
		{"limits.grace", c.Limits.Grace.Duration, 2 * time.Minute},
		{"host.address (port added)", c.Hosts[0].Address, "10.0.0.7:22"},
		{"host.known_hosts", c.Hosts[0].KnownHosts, filepath.Join(home, ".ssh/known_hosts")},
		{"dashboard.listen", c.Dashboard.Listen, "127.0.0.1:8787"},
		{"state.dir", c.State.Dir, filepath.Join(home, ".local/state/fleetwarden")},
		{"state.journal_max_mb", c.State.JournalMaxMB, 10},
		{"state.journal_keep", c.State.JournalKeep, 5},
		{"log.format", c.Log.Format, "text"},
		{"log.level", c.Log.Level, "info"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if c.Hosts[0].User == "" {
		t.Errorf("host.user is empty, want the local user name")
	}
}

func TestDefaultsFollowEnvironmentAndOtherKeys(t *testing.T) {
	setHome(t)
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000/")
	c := mustParse(t, doc(
		`[state]`,
		`dir = "/var/lib/fw"`,
		`[claude]`,
		`config_dir = "/opt/claude"`,
		`[[credential]]`,
		`name = "main"`,
		`kind = "oauth-file"`,
	))
	if got, want := c.Claude.TokenFile, "/var/lib/fw/oauth-token"; got != want {
		t.Errorf("claude.token_file = %q, want %q (under state.dir)", got, want)
	}
	if got, want := c.Credentials[0].ConfigDir, "/opt/claude"; got != want {
		t.Errorf("credential.config_dir = %q, want claude.config_dir %q", got, want)
	}
	if got, want := c.Credentials[0].BaseURL, "http://127.0.0.1:4000"; got != want {
		t.Errorf("credential.base_url = %q, want $ANTHROPIC_BASE_URL %q", got, want)
	}
	if !c.Tmux.Discover {
		t.Errorf("tmux.discover = false, want true when no [[agent]] is configured")
	}
}

func TestWrittenValuesOverrideDefaults(t *testing.T) {
	setHome(t)
	c := mustParse(t, doc(
		`[tmux]`,
		`discover = true`,
		`[[agent]]`,
		`name = "a"`,
		`target = "s"`,
		`[watchdog]`,
		`control_mode = false`,
		`debounce = "0s"`,
		`[alerts]`,
		`group_wait = "0s"`,
		`[schedule]`,
		`warn_before = []`,
		`auth_check = "off"`,
		`[dashboard]`,
		`listen = "off"`,
		`[console]`,
		`enabled = false`,
	))
	if !c.Tmux.Discover {
		t.Errorf("tmux.discover = false, want the written true")
	}
	if *c.Watchdog.ControlMode || c.Watchdog.Debounce.Duration != 0 || c.Alerts.GroupWait.Duration != 0 {
		t.Errorf("control_mode=%v debounce=%v group_wait=%v, want the written false, 0s, 0s",
			*c.Watchdog.ControlMode, c.Watchdog.Debounce, c.Alerts.GroupWait)
	}
	if len(c.Schedule.WarnBefore) != 0 || c.Schedule.AuthCheck != "" {
		t.Errorf("warn_before=%v auth_check=%q, want none and off (\"\")", c.Schedule.WarnBefore, c.Schedule.AuthCheck)
	}
	if c.Dashboard.Enabled() {
		t.Errorf("dashboard enabled with listen %q, want off", c.Dashboard.Listen)
	}
	if c.Console.On(true) {
		t.Errorf("console on, want the written false")
	}
}

func TestTildeExpansion(t *testing.T) {
	home := setHome(t)
	c := mustParse(t, doc(
		`[claude]`,
		`config_dir = "~/.claude-work"`,
		`token_file = "$HOME/tok"`,
		`[[agent]]`,
		`name = "local"`,
		`target = "s:1"`,
		`workdir = "~/src/app"`,
		`[[agent]]`,
		`name = "remote"`,
		`target = "s:2"`,
		`workdir = "~/src/app"`,
		`host = "gpu"`,
		`[[credential]]`,
		`name = "c"`,
		`kind = "oauth-file"`,
		`config_dir = "~"`,
		`[[host]]`,
		`name = "gpu"`,
		`address = "gpu.example.com:2222"`,
		`key_file = "~/.ssh/id_ed25519"`,
		`known_hosts = "~/.ssh/kh"`,
		`[state]`,
		`dir = "${HOME}/state"`,
	))
	tests := []struct{ name, got, want string }{
		{"claude.config_dir", c.Claude.ConfigDir, home + "/.claude-work"},
		{"claude.token_file", c.Claude.TokenFile, home + "/tok"},
		{"agent[0].workdir", c.Agents[0].Workdir, home + "/src/app"},
		{"agent[1].workdir (remote: its own ~)", c.Agents[1].Workdir, "~/src/app"},
		{"credential[0].config_dir", c.Credentials[0].ConfigDir, home},
		{"host[0].key_file", c.Hosts[0].KeyFile, home + "/.ssh/id_ed25519"},
		{"host[0].known_hosts", c.Hosts[0].KnownHosts, home + "/.ssh/kh"},
		{"state.dir", c.State.Dir, home + "/state"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}

	got := problemsOf(t, doc(`[state]`, `dir = "~bob/state"`))
	matchAll(t, got, []string{`fw.toml:2: state.dir: "~bob/state": only ~ and ~/ are expanded, not ~user`})
}

func TestLoadResolvesRelativePathsAgainstTheFile(t *testing.T) {
	setHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bot-token"), []byte("123:abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fw.toml")
	src := doc(`[state]`, `dir = "state"`, `[telegram]`, `token = "file:bot-token"`)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // somewhere else

	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if want := filepath.Join(dir, "state"); c.State.Dir != want {
		t.Errorf("state.dir = %q, want %q", c.State.Dir, want)
	}
	if got := c.Telegram.Token.Value(); got != "123:abc" {
		t.Errorf("telegram token = %q, want the file's trimmed content", got)
	}

	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	work := filepath.Join(root, "work")
	xdg := filepath.Join(root, "xdg")
	for _, d := range []string{home, work, xdg} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", home)
	t.Chdir(work)
	write := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	find := func() string {
		t.Helper()
		p, err := Find()
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		return p
	}

	t.Setenv("XDG_CONFIG_HOME", xdg)
	if got := find(); got != "" {
		t.Errorf("no file anywhere: Find() = %q, want \"\"", got)
	}

	homeCfg := filepath.Join(home, ".config/fleetwarden/config.toml")
	write(homeCfg)
	if got := find(); got != "" {
		t.Errorf("XDG_CONFIG_HOME set: Find() = %q, want \"\" (~/.config is not looked at)", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	if got := find(); got != homeCfg {
		t.Errorf("XDG_CONFIG_HOME unset: Find() = %q, want %q", got, homeCfg)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative/dir") // ignored, as the XDG spec says
	if got := find(); got != homeCfg {
		t.Errorf("XDG_CONFIG_HOME relative: Find() = %q, want %q", got, homeCfg)
	}

	t.Setenv("XDG_CONFIG_HOME", xdg)
	xdgCfg := filepath.Join(xdg, "fleetwarden/config.toml")
	write(xdgCfg)
	if got := find(); got != xdgCfg {
		t.Errorf("Find() = %q, want %q", got, xdgCfg)
	}

	write(filepath.Join(work, "config.toml"))
	if got := find(); got != "config.toml" {
		t.Errorf("./config.toml present: Find() = %q, want config.toml first", got)
	}

	if err := os.Remove(filepath.Join(work, "config.toml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(work, "config.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := Find(); err == nil {
		t.Errorf("./config.toml is a directory: Find() = %q, nil; want an error", p)
	}
}

func TestConsoleOn(t *testing.T) {
	on, off := true, false
	tests := []struct {
		enabled *bool
		tty     bool
		want    bool
	}{
		{nil, true, true},
		{nil, false, false},
		{&on, false, true},
		{&off, true, false},
	}
	for _, tt := range tests {
		if got := (Console{Enabled: tt.enabled}).On(tt.tty); got != tt.want {
			t.Errorf("Console{%v}.On(%v) = %v, want %v", tt.enabled, tt.tty, got, tt.want)
		}
	}
}

// exampleEnv sets the variables config.toml.example's secrets name.
func exampleEnv(t *testing.T) {
	for _, v := range []string{"TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "ANTHROPIC_API_KEY", "SMTP_PASSWORD", "FLEETWARDEN_DASHBOARD_TOKEN"} {
		t.Setenv(v, "test-"+strings.ToLower(v))
	}
}

func TestExampleParses(t *testing.T) {
	setHome(t)
	exampleEnv(t)
	c, err := Load("../config.toml.example")
	if err != nil {
		t.Fatalf("config.toml.example: %v", err)
	}
	if len(c.Agents) != 3 || c.Telegram == nil || c.Discord == nil || len(c.Alerts.Routes) != 3 || len(c.Hosts) != 1 {
		t.Errorf("example decoded to %d agents, telegram %v, discord %v, %d routes, %d hosts; want 3, set, set, 3, 1",
			len(c.Agents), c.Telegram, c.Discord, len(c.Alerts.Routes), len(c.Hosts))
	}
	if got := c.Telegram.Token.Value(); got != "test-telegram_bot_token" {
		t.Errorf("telegram token = %q, want the value of $TELEGRAM_BOT_TOKEN", got)
	}

	// Without the variables, each secret is named in its own problem.
	for _, v := range []string{"TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "ANTHROPIC_API_KEY", "SMTP_PASSWORD", "FLEETWARDEN_DASHBOARD_TOKEN"} {
		t.Setenv(v, "")
	}
	_, err = Load("../config.toml.example")
	if n := strings.Count(err.Error(), "is empty"); n != 5 {
		t.Errorf("example without env: %d empty-variable problems, want 5:\n%v", n, err)
	}
}

// Every key of Config appears in config.toml.example, so it documents them all.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	var collect func(prefix string, v any)
	collect = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := joinKey(prefix, k)
				written[p] = true
				collect(p, e)
			}
		case []map[string]any:
			for _, e := range x {
				collect(prefix, e)
			}
		case []any:
			for _, e := range x {
				collect(prefix, e)
			}
		}
	}
	collect("", raw)

	var missing []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || t == secretType {
			return
		}
		fields, names := structFields(t)
		for _, n := range names {
			p := joinKey(prefix, n)
			if !written[p] {
				missing = append(missing, p)
			}
			walk(p, t.Field(fields[n]).Type)
		}
	}
	walk("", reflect.TypeFor[Config]())
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("config.toml.example lacks keys: %s", strings.Join(missing, ", "))
	}
}

func TestDefaultTOMLParses(t *testing.T) {
	setHome(t)
	if _, err := Parse("default.toml", defaultTOML); err != nil {
		t.Fatalf("embedded default.toml: %v", err)
	}
}

func TestLineIndex(t *testing.T) {
	src := doc(
		`# comment with key = "value"`,          // 1
		`title = """`,                           // 2
		`[fake]`,                                // 3
		`fake = 1 """`,                          // 4
		`lit = '''`,                             // 5
		`[[also.fake]]'''`,                      // 6
		`a.b . "c.d" = 1`,                       // 7
		`arr = [`,                               // 8
		`  "x", # trailing, comment ]`,          // 9
		`  { k = "v", n = { m = 1 } },`,         // 10
		`]`,                                     // 11
		`[t]`,                                   // 12
		`  s = "quote \" inside # not comment"`, // 13
		`  'lit key' = 2`,                       // 14
		`[[t.list]]`,                            // 15
		`x = 1`,                                 // 16
		`[[t.list]]`,                            // 17
		`x = 2`,                                 // 18
		`[t.list.sub]`,                          // 19
		`y = 3`,                                 // 20
		`[[t.list.sub.deep]]`,                   // 21
		`z = 4`,                                 // 22
		`date = 1979-05-27 07:32:00Z`,           // 23
		`after = true`,                          // 24
		`"esc\u0041pe" = 1`,                     // 25
	)
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatalf("test document is not valid TOML: %v", err)
	}
	idx := indexLines(src)
	tests := []struct {
		key  string
		line int
	}{
		{"title", 2},
		{"fake", 0},
		{"lit", 5},
		{"also", 0},
		{"a", 7},
		{"a.b", 7},
		{`a.b."c.d"`, 7},
		{"arr", 8},
		{"arr[0]", 9},
		{"arr[1]", 10},
		{"arr[1].k", 10},
		{"arr[1].n.m", 10},
		{"t", 12},
		{"t.s", 13},
		{`t."lit key"`, 14},
		{"t.list", 15},
		{"t.list[0]", 15},
		{"t.list[0].x", 16},
		{"t.list[1]", 17},
		{"t.list[1].x", 18},
		{"t.list[1].sub", 19},
		{"t.list[1].sub.y", 20},
		{"t.list[1].sub.deep[0].z", 22},
		{"t.list[1].sub.deep[0].date", 23},
		{"t.list[1].sub.deep[0].after", 24},
		{"t.list[1].sub.deep[0].escApe", 25},
		// Missing keys fall back to their table.
		{"t.list[1].missing", 17},
		{"t.list[0].sub", 15},
	}
	for _, tt := range tests {
		if got := idx.line(tt.key); got != tt.line {
			t.Errorf("line(%s) = %d, want %d", tt.key, got, tt.line)
		}
	}
}

func TestParentPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"agent[1].target", "agent[1]"},
		{"agent[1]", "agent"},
		{"agent", ""},
		{`agent[0].env."A.B[1]"`, "agent[0].env"},
		{`"a\"b.c".d`, `"a\"b.c"`},
	}
	for _, tt := range tests {
		if got := parentPath(tt.in); got != tt.want {
			t.Errorf("parentPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	// Seed with the example a section at a time: the fuzzer minimizes every
	// new interesting input, which takes minutes for a 10 kB one.
	example, err := os.ReadFile("../config.toml.example")
	if err != nil {
		f.Fatal(err)
	}
	for _, section := range strings.Split(string(example), "\n[") {
		f.Add([]byte("[" + section))
	}
	f.Add(defaultTOML)
	for _, s := range []string{
		doc(`[[agent]]`, `name = "a"`, `target = "s:w.1"`, `[agent.env]`, `"X.Y" = "1"`),
		doc(`[alerts]`, `route = [{ type = "email", to = ["a@b"] }, { type = "x" }]`),
		doc(`a = """`, `b = 1"""`, `c = '''x'''`, `d = [1, [2, {e = 3}]]`),
		doc(`[telegram]`, `token = "env:NOPE_NOT_SET"`, `[discord]`, `token = "file:/nonexistent"`),
		"x = \"\\u00e9\\U0001F600\\x41\"\n\"\\u00e9\" = 1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's fuzzer has no per-input time limit: a hang would only show as
		// a stall. Crash instead, so that the input is saved.
		tm := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("Parse still running after 10s on %q", data))
		})
		defer tm.Stop()
		c, err := Parse("fuzz.toml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v; want exactly one of config and error", c, err)
		}
		if err != nil {
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error %T %v, want non-empty Errors", err, err)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "fuzz.toml") {
					t.Fatalf("problem %q does not start with the file name", e)
				}
			}
		}
		idx := indexLines(string(data)) // must not panic or hang on any text

		// Every key the decoder saw has its own line in the index.
		var raw map[string]any
		if _, err := toml.Decode(string(data), &raw); err != nil {
			return
		}
		d := &decoder{p: &problems{file: "fuzz.toml", lines: idx}, defined: map[string]bool{}, bad: map[string]bool{}}
		d.decode("", raw, reflect.ValueOf(new(Config)).Elem())
		for key := range d.defined {
			if _, ok := idx.lines[key]; !ok {
				t.Errorf("key %s has no line in the index", key)
			}
		}
	})
}

// A long-lived token credential may name claude.token_file before the
// first setup-token login has written it; any other missing file is an
// error with its line.
func TestTokenFileToCome(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "oauth-token")
	src := func(tokenRef string) string {
		return fmt.Sprintf("[claude]\nlogin_method = \"setup-token\"\ntoken_file = %q\n\n[[credential]]\nname = \"ci\"\nkind = \"oauth-token\"\ntoken = %q\n",
			tokenFile, tokenRef)
	}
	c, err := Parse("fw.toml", []byte(src("file:"+tokenFile)))
	if err != nil {
		t.Fatalf("credential on the token file to come: %v", err)
	}
	if got := c.Credentials[0].Token.Ref(); got != "file:"+tokenFile {
		t.Errorf("token ref = %q", got)
	}
	_, err = Parse("fw.toml", []byte(src("file:"+filepath.Join(dir, "other"))))
	if err == nil || !strings.Contains(err.Error(), "fw.toml:8: credential[0].token:") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file that is not claude.token_file: %v, want fw.toml:8: credential[0].token: … no such file", err)
	}
}

package config

import (
	"errors"
	"strings"
	"testing"
)

// doc joins lines so that a test's line numbers are easy to count:
// the i-th argument is line i+1.
func doc(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// problemsOf parses src as "fw.toml" and returns each reported problem.
func problemsOf(t *testing.T, src string) []string {
	t.Helper()
	c, err := Parse("fw.toml", []byte(src))
	if err == nil {
		return nil
	}
	if c != nil {
		t.Errorf("Parse returned a config and an error")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T (%v), want config.Errors", err, err)
	}
	var out []string
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("element %T (%v), want *FieldError", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

// matchAll compares problems with wants; a want ending in "*" is a prefix.
func matchAll(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		w := want[i]
		if p, isPrefix := strings.CutSuffix(w, "*"); isPrefix {
			ok = strings.HasPrefix(got[i], p)
		} else {
			ok = got[i] == w
		}
	}
	if !ok {
		t.Errorf("got problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "syntax error at its line",
			src:  doc(`[watchdog]`, `interval = "10s"`, `stuck_after = `),
			want: []string{"fw.toml:3: *"},
		},
		{
			name: "duplicate key is a syntax error",
			src:  doc(`[tmux]`, `bin = "tmux"`, `bin = "tmux2"`),
			want: []string{"fw.toml:3: *"},
		},
		{
			name: "unknown key with suggestion",
			src:  doc(`[watchdog]`, `intervall = "5s"`),
			want: []string{`fw.toml:2: watchdog.intervall: unknown key; did you mean "interval"?`},
		},
		{
			name: "unknown section with suggestion",
			src:  doc(``, `[watchdgo]`, `interval = "5s"`),
			want: []string{`fw.toml:2: watchdgo: unknown key; did you mean "watchdog"?`},
		},
		{
			name: "unknown key without a close match lists the known ones",
			src:  doc(`[tmux]`, `colour = 1`),
			want: []string{`fw.toml:2: tmux.colour: unknown key (known keys: socket, discover, bin)`},
		},
		{
			name: "unknown key in an array of tables",
			src:  doc(`[[agent]]`, `name = "a"`, `target = "s"`, `[[agent]]`, `name = "b"`, `target = "t"`, `workdri = "/x"`),
			want: []string{`fw.toml:7: agent[1].workdri: unknown key; did you mean "workdir"?`},
		},
		{
			name: "string where an integer is expected",
			src:  doc(`[watchdog]`, `concurrency = "8"`),
			want: []string{`fw.toml:2: watchdog.concurrency: "8" is a string; want an integer; remove the quotes`},
		},
		{
			name: "integer where a string is expected",
			src:  doc(`[claude]`, `bin = 7`),
			want: []string{`fw.toml:2: claude.bin: 7 is an integer; want a string; write it in quotes: "7"`},
		},
		{
			name: "table where an array of tables is expected",
			src:  doc(`[agent]`, `name = "a"`),
			want: []string{`fw.toml:1: agent: got a table; want an array of tables; write [[agent]] for each entry`},
		},
		{
			name: "bad duration",
			src:  doc(`[watchdog]`, ``, `stuck_after = "5 minutes"`),
			want: []string{`fw.toml:3: watchdog.stuck_after: "5 minutes" is not a duration (use 90s, 5m, 1h30m)`},
		},
		{
			name: "duration without unit",
			src:  doc(`[watchdog]`, `interval = 10`),
			want: []string{`fw.toml:2: watchdog.interval: 10 is an integer; want a duration with a unit, e.g. "10s"`},
		},
		{
			name: "negative and zero durations",
			src:  doc(`[alerts]`, `group_wait = "-1s"`, `repeat_interval = "0s"`, `fallback_after = "0s"`),
			want: []string{
				`fw.toml:2: alerts.group_wait: "-1s" is negative`,
				`fw.toml:3: alerts.repeat_interval: must be longer than 0s`,
			},
		},
		{
			name: "bad duration in an array",
			src:  doc(`[schedule]`, `warn_before = ["24h", "soon"]`),
			want: []string{`fw.toml:2: schedule.warn_before[1]: "soon" is not a duration (use 90s, 5m, 1h30m)`},
		},
		{
			name: "duplicate agent name",
			src: doc(
				`[[agent]]`,
				`name = "builder"`,
				`target = "fleet:builder"`,
				``,
				`[[agent]]`,
				`name = "builder"`,
				`target = "fleet:other"`),
			want: []string{`fw.toml:6: agent[1].name: duplicate name "builder" (first at line 2)`},
		},
		{
			name: "bad target",
			src: doc(
				`[[agent]]`,
				`name = "a"`,
				`target = "fleet:a"`,
				``,
				`[[agent]]`,
				`name = "b"`,
				`target = "fleet:"`),
			want: []string{`fw.toml:7: agent[1].target: "fleet:" is not session[:window[.pane]]`},
		},
		{
			name: "two agents on one pane",
			src:  doc(`[[agent]]`, `name = "a"`, `target = "s:1"`, `[[agent]]`, `name = "b"`, `target = "s:1"`),
			want: []string{`fw.toml:6: agent[1].target: "s:1" is also the target of agent[0] (line 1)`},
		},
		{
			name: "agent name and command",
			src:  doc(`[[agent]]`, `name = "my agent"`, `target = "s"`, `command = ""`),
			want: []string{
				`fw.toml:2: agent[0].name: "my agent": use letters, digits, '.', '_' and '-' only`,
				`fw.toml:4: agent[0].command: must not be empty (leave the key out for the default)`,
			},
		},
		{
			name: "agent missing name and target",
			src:  doc(`[tmux]`, `bin = "tmux"`, `[[agent]]`, `workdir = "/srv"`),
			want: []string{
				`fw.toml:3: agent[0].name: required`,
				`fw.toml:3: agent[0].target: required: the tmux pane, session[:window[.pane]]`,
			},
		},
		{
			name: "unknown enum values",
			src:  doc(`[claude]`, `failover = "aut"`, `[log]`, `level = "verbose"`, `[restart]`, `resume_choice = "compact"`),
			want: []string{
				`fw.toml:2: claude.failover: "aut" is not one of "auto", "ask", "off"; did you mean "auto"?`,
				`fw.toml:4: log.level: "verbose" is not one of "debug", "info", "warn", "error"`,
				`fw.toml:6: restart.resume_choice: "compact" is not one of "summary", "full"`,
			},
		},
		{
			name: "limits",
			src:  doc(`[limits]`, `resume_prompt = "go on\nnow"`, `grace = "-1m"`, `auto_resume = "yes"`),
			want: []string{
				`fw.toml:2: limits.resume_prompt: must be one line (it is typed into the pane and sent with Enter)`,
				`fw.toml:3: limits.grace: "-1m" is negative`,
				`fw.toml:4: limits.auto_resume: "yes" is a string; want true or false`,
			},
		},
		{
			name: "limits failover names no credential",
			src:  doc(`[limits]`, `failover = "apii"`, `failover_after = "1h"`, `[[credential]]`, `name = "api"`, `kind = "api-key"`, `token = "sk-ant-api03-abcdefabcdefabcdefabcdef"`),
			want: []string{
				`fw.toml:2: limits.failover: "apii" is not a [[credential]] name; did you mean "api"?`,
			},
		},
		{
			name: "routes missing required fields",
			src: doc(
				`[alerts]`,
				`group_wait = "5s"`,
				``,
				`[[alerts.route]]`,
				`type = "webhook"`,
				``,
				`[[alerts.route]]`,
				`type = "email"`,
				`host = "smtp.example.com"`,
				``,
				`[[alerts.route]]`,
				`type = "exec"`,
				`command = []`),
			want: []string{
				`fw.toml:4: alerts.route[0].url: required for a webhook route`,
				`fw.toml:7: alerts.route[1].from: required for an email route`,
				`fw.toml:7: alerts.route[1].to: required for an email route: at least one address`,
				`fw.toml:13: alerts.route[2].command: required for an exec route: the program and its arguments, e.g. ["notify-send", "fleetwarden"]`,
			},
		},
		{
			// The alert manager knows both as webhook:backup.
			name: "routes of one name",
			src: doc(`[[alerts.route]]`, `name = "webhook:backup"`, `type = "webhook"`, `url = "http://127.0.0.1:9000/a"`,
				`[[alerts.route]]`, `name = "backup"`, `type = "webhook"`, `url = "http://127.0.0.1:9000/b"`,
				`[[alerts.route]]`, `name = "backup"`, `type = "email"`, `host = "smtp.example.com"`, `from = "a@example.com"`, `to = ["b@example.com"]`),
			want: []string{`fw.toml:6: alerts.route[1].name: "backup" is also the name of alerts.route[0] (both are webhook:backup)`},
		},
		{
			name: "route without type",
			src:  doc(`[[alerts.route]]`, `url = "http://127.0.0.1:9000/hook"`),
			want: []string{`fw.toml:1: alerts.route[0].type: required: webhook, email or exec`},
		},
		{
			name: "route of unknown type",
			src:  doc(`[[alerts.route]]`, `type = "webhook"`, `url = "http://127.0.0.1:9000/hook"`, `[[alerts.route]]`, `type = "sms"`),
			want: []string{`fw.toml:5: alerts.route[1].type: "sms" is not one of "webhook", "email", "exec"`},
		},
		{
			name: "route key of another type",
			src: doc(
				`[[alerts.route]]`,
				`type = "email"`,
				`host = "smtp.example.com"`,
				`from = "a@example.com"`,
				`to = ["b@example.com", "not an address"]`,
				`url = "http://x"`,
				`port = 70000`),
			want: []string{
				`fw.toml:5: alerts.route[0].to[1]: "not an address" is not an email address`,
				`fw.toml:6: alerts.route[0].url: not used by a route of type "email"`,
				`fw.toml:7: alerts.route[0].port: 70000 is out of range (1 to 65535)`,
			},
		},
		{
			name: "routes in an inline array",
			src: doc(
				`[alerts]`,
				`route = [`,
				`  { type = "webhook", url = "http://127.0.0.1:9000/hook" },`,
				`  { type = "sms" },`,
				`]`),
			want: []string{`fw.toml:4: alerts.route[1].type: "sms" is not one of "webhook", "email", "exec"`},
		},
		{
			name: "agent naming an unknown host and credential",
			src: doc(
				`[[host]]`,
				`name = "gpu-box"`,
				`address = "10.0.0.7"`,
				`[[agent]]`,
				`name = "a"`,
				`target = "s"`,
				`host = "gpu-bx"`,
				`credential = "max"`),
			want: []string{
				`fw.toml:7: agent[0].host: "gpu-bx" is not a [[host]] name; did you mean "gpu-box"?`,
				`fw.toml:8: agent[0].credential: "max": no [[credential]] is configured`,
			},
		},
		{
			name: "credentials",
			src: doc(
				`[[credential]]`,
				`name = "main"`,
				`kind = "oauth-file"`,
				`token = "env:X"`,
				`[[credential]]`,
				`name = "key"`,
				`kind = "api-key"`,
				`[[credential]]`,
				`name = "k2"`,
				`[[agent]]`,
				`name = "a"`,
				`target = "s"`,
				`credential = "main"`,
				`backup = "main"`),
			want: []string{
				`fw.toml:4: credential[0].token: env:X: environment variable X is not set`,
				`fw.toml:4: credential[0].token: not used by kind "oauth-file" (it reads config_dir/.credentials.json)`,
				`fw.toml:5: credential[1].token: required for kind "api-key", e.g. "env:ANTHROPIC_API_KEY"`,
				`fw.toml:8: credential[2].kind: required: oauth-file, oauth-token or api-key`,
				`fw.toml:14: agent[0].backup: is the same credential as agent.credential`,
			},
		},
		{
			name: "empty cron spec",
			src:  doc(`[schedule]`, `auth_check = "  "`, `morning_report = "off"`),
			want: []string{`fw.toml:2: schedule.auth_check: empty cron spec; write "off" to turn the job off`},
		},
		{
			name: "bad cron specs",
			src:  doc(`[schedule]`, `auth_check = "61 * * * *"`, `morning_report = "CRON_TZ=UTC"`),
			want: []string{
				`fw.toml:2: schedule.auth_check: "61 * * * *": end of range (61) above maximum (59): 61`,
				`fw.toml:3: schedule.morning_report: "CRON_TZ=UTC": missing the schedule after the time zone`,
			},
		},
		{
			name: "cron spec that never fires, in an unknown zone",
			src:  doc(`[schedule]`, `auth_check = "0 0 31 2 *"`, `morning_report = "CRON_TZ=Mars/Olympus 0 8 * * *"`),
			want: []string{
				`fw.toml:2: schedule.auth_check: "0 0 31 2 *": never fires (no date matches)`,
				`fw.toml:3: schedule.morning_report: "CRON_TZ=Mars/Olympus 0 8 * * *": bad time zone: unknown time zone Mars/Olympus`,
			},
		},
		{
			name: "bad time zone",
			src:  doc(`[schedule]`, `timezone = "Mars/Olympus"`),
			want: []string{`fw.toml:2: schedule.timezone: "Mars/Olympus" is not a time zone (e.g. "Local", "UTC", "Europe/Berlin")`},
		},
		{
			name: "dashboard on every interface without a token",
			src:  doc(`[dashboard]`, `listen = ":8787"`),
			want: []string{`fw.toml:2: dashboard.listen: ":8787" is reachable from other machines: set dashboard.token (e.g. "env:FLEETWARDEN_DASHBOARD_TOKEN") or listen on 127.0.0.1`},
		},
		{
			name: "dashboard host with a scheme",
			src:  doc(`[dashboard]`, `hosts = ["fleet.lan", "http://fleet.lan"]`),
			want: []string{`fw.toml:2: dashboard.hosts[1]: "http://fleet.lan" is not a host name (e.g. "fleet.lan", no scheme or port)`},
		},
		{
			name: "dashboard address",
			src:  doc(`[dashboard]`, `listen = "8787"`),
			want: []string{`fw.toml:2: dashboard.listen: "8787" is not host:port (e.g. "127.0.0.1:8787"; "off" disables)`},
		},
		{
			name: "telegram without token",
			src:  doc(`# chat`, `[telegram]`, `admins = [1]`),
			want: []string{`fw.toml:2: telegram.token: required: the bot token, e.g. "env:TELEGRAM_BOT_TOKEN"`},
		},
		{
			name: "telegram IDs not numeric",
			src: doc(
				`[telegram]`,
				`token = "literal-token"`,
				`admins = [`,
				`  123,`,
				`  "456",`,
				`  -5,`,
				`]`,
				`alert_chats = ["@ops"]`),
			want: []string{
				`fw.toml:5: telegram.admins[1]: "456" is a string; want an integer; remove the quotes`,
				`fw.toml:6: telegram.admins[2]: -5 is not a user ID (user IDs are positive; ask @userinfobot)`,
				`fw.toml:8: telegram.alert_chats[0]: "@ops" is a string; want an integer`,
			},
		},
		{
			name: "telegram api_url",
			src:  doc(`[telegram]`, `token = "t"`, `api_url = "api.telegram.org"`),
			want: []string{`fw.toml:3: telegram.api_url: "api.telegram.org" is not an http:// or https:// URL`},
		},
		{
			name: "discord IDs not numeric",
			src: doc(
				`[discord]`,
				`token = "t"`,
				`guild_id = "my-server"`,
				`admins = ["12a"]`,
				`alert_channels = [456]`),
			want: []string{
				`fw.toml:3: discord.guild_id: "my-server" is not a numeric Discord ID`,
				`fw.toml:4: discord.admins[0]: "12a" is not a numeric Discord ID (Developer Mode → Copy ID)`,
				`fw.toml:5: discord.alert_channels[0]: 456 is an integer; want a string; write it in quotes: "456"`,
			},
		},
		{
			name: "hosts",
			src: doc(
				`[[host]]`,
				`name = "a"`,
				`address = "10.0.0.7:ssh"`,
				`[[host]]`,
				`name = "b"`),
			want: []string{
				`fw.toml:3: host[0].address: "10.0.0.7:ssh" is not host or host:port`,
				`fw.toml:4: host[1].address: required: host or host:port`,
			},
		},
		{
			name: "nothing to watch",
			src:  doc(`[tmux]`, `discover = false`),
			want: []string{`fw.toml:2: tmux.discover: nothing to watch: no [[agent]] is configured and tmux.discover is false`},
		},
		{
			name: "ranges",
			src:  doc(`[watchdog]`, `concurrency = 0`, `[login]`, `parallel = -1`, `[state]`, `journal_max_mb = 0`),
			want: []string{
				`fw.toml:2: watchdog.concurrency: 0 is out of range (1 to 1024)`,
				`fw.toml:4: login.parallel: -1 is out of range (1 to 1024)`,
				`fw.toml:6: state.journal_max_mb: 0 is out of range (1 to 1048576)`,
			},
		},
		{
			name: "dotted keys",
			src:  doc(`log.level = "info"`, `watchdog.interval = "soon"`),
			want: []string{`fw.toml:2: watchdog.interval: "soon" is not a duration (use 90s, 5m, 1h30m)`},
		},
		{
			name: "subtable of the second agent",
			src: doc(
				`[[agent]]`,
				`name = "a"`,
				`target = "s:1"`,
				`[[agent]]`,
				`name = "b"`,
				`target = "s:2"`,
				`[agent.env]`,
				`OK = "1"`,
				`"BAD.NAME" = "2"`),
			want: []string{`fw.toml:9: agent[1].env."BAD.NAME": "BAD.NAME" is not an environment variable name`},
		},
		{
			name: "multi-line string does not confuse lines",
			src: doc(
				`[[agent]]`,
				`name = "a"`,
				`target = "s"`,
				`command = """`,
				`target = "bogus"`,
				`[[agent]]`,
				`"""`,
				`[[agent]]`,
				`name = "b"`,
				`target = "s:x.y"`),
			want: []string{`fw.toml:10: agent[1].target: "s:x.y" is not session[:window[.pane]]`},
		},
		{
			name: "a decoding error is not repeated by validation",
			src:  doc(`[[agent]]`, `name = 5`, `target = "s"`, `[telegram]`, `token = 42`),
			want: []string{
				`fw.toml:2: agent[0].name: 5 is an integer; want a string; write it in quotes: "5"`,
				`fw.toml:5: telegram.token: got an integer; want a string ("env:NAME", "file:PATH")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matchAll(t, problemsOf(t, tt.src), tt.want)
		})
	}
}

// All problems come back at once, in file order, each with its line.
func TestParseReportsEveryProblem(t *testing.T) {
	src := doc(
		`[dashboard]`,             // 1
		`listen = "0.0.0.0:8787"`, // 2
		`[watchdog]`,              // 3
		`interval = "5 minutes"`,  // 4
		`concurency = 4`,          // 5
		`[[agent]]`,               // 6
		`name = "builder"`,        // 7
		`target = "fleet:"`,       // 8
		`[[alerts.route]]`,        // 9
		`type = "pager"`,          // 10
		`[telegram]`,              // 11
		`admins = ["me"]`,         // 12
	)
	got := problemsOf(t, src)
	want := []string{
		`fw.toml:2: dashboard.listen: "0.0.0.0:8787" is reachable from other machines: set dashboard.token (e.g. "env:FLEETWARDEN_DASHBOARD_TOKEN") or listen on 127.0.0.1`,
		`fw.toml:4: watchdog.interval: "5 minutes" is not a duration (use 90s, 5m, 1h30m)`,
		`fw.toml:5: watchdog.concurency: unknown key; did you mean "concurrency"?`,
		`fw.toml:8: agent[0].target: "fleet:" is not session[:window[.pane]]`,
		`fw.toml:10: alerts.route[0].type: "pager" is not one of "webhook", "email", "exec"`,
		`fw.toml:11: telegram.token: required: the bot token, e.g. "env:TELEGRAM_BOT_TOKEN"`,
		`fw.toml:12: telegram.admins[0]: "me" is a string; want an integer`,
	}
	matchAll(t, got, want)

	_, err := Parse("fw.toml", []byte(src))
	if got, want := err.Error(), strings.Join(want, "\n"); got != want {
		t.Errorf("Errors.Error() = %q, want the problems joined by newlines %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 2 || fe.Key != "dashboard.listen" {
		t.Errorf("errors.As first *FieldError = %+v, want line 2, key dashboard.listen", fe)
	}
}

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{"fleet", true},
		{"fleet:builder", true},
		{"fleet:0", true},
		{"fleet:builder.2", true},
		{"fleet:my-window.10", true},
		{"", false},
		{"fleet:", false},
		{":builder", false},
		{"my fleet:builder", false},
		{"fleet:builder.", false},
		{"fleet:builder.x", false},
		{"fleet:.1", false},
		{"fleet.x:builder", false},
		{"fleet:a:b", false},
		{"fleet:my window", false},
	}
	for _, tt := range tests {
		err := checkTarget(tt.target)
		if got := err == nil; got != tt.ok {
			t.Errorf("checkTarget(%q) = %v, want ok=%v", tt.target, err, tt.ok)
		}
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gpu-box", "gpu-box:22"},
		{"10.0.0.7:2222", "10.0.0.7:2222"},
		{"::1", "[::1]:22"},
		{"[::1]", "[::1]:22"},
		{"[::1]:2222", "[::1]:2222"},
		{"gpu-box:", ""},
		{"gpu-box:ssh", ""},
		{":22", ""},
		{"gpu box", ""},
		{"gpu-box:0", ""},
	}
	for _, tt := range tests {
		got, err := hostPort(tt.in, "22")
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("hostPort(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"interval", "stuck_after", "input_after", "control_mode", "debounce", "concurrency"}
	tests := []struct{ in, want string }{
		{"intervall", "interval"},
		{"Interval", "interval"},
		{"stuck-after", "stuck_after"},
		{"debounse", "debounce"},
		{"colour", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func writeSecret(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
	return p
}

func TestSecrets(t *testing.T) {
	home := setHome(t)
	const value = "sk-ant-oat01-SECRETVALUE"
	dir := t.TempDir()
	good := writeSecret(t, dir, "good", "  "+value+"\n", 0o600)
	open := writeSecret(t, dir, "open", value, 0o644)
	group := writeSecret(t, dir, "group", value, 0o640)
	empty := writeSecret(t, dir, "empty", "\n", 0o600)
	writeSecret(t, home, "tok", value, 0o400)
	t.Setenv("FW_TEST_TOKEN", value+"\n")
	t.Setenv("FW_EMPTY_TOKEN", "")
	t.Setenv("FW_UNSET_TOKEN", "")
	os.Unsetenv("FW_UNSET_TOKEN")

	tests := []struct {
		name    string
		ref     string
		want    string // resolved value; "" when an error is expected
		wantRef string
		problem string // the whole message after "fw.toml:2: telegram.token: "
	}{
		{name: "env", ref: "env:FW_TEST_TOKEN", want: value, wantRef: "env:FW_TEST_TOKEN"},
		{name: "env unset", ref: "env:FW_UNSET_TOKEN", problem: "env:FW_UNSET_TOKEN: environment variable FW_UNSET_TOKEN is not set"},
		{name: "env empty", ref: "env:FW_EMPTY_TOKEN", problem: "env:FW_EMPTY_TOKEN: environment variable FW_EMPTY_TOKEN is empty"},
		{name: "env without a name", ref: "env:", problem: `"env:" names no environment variable (write env:NAME)`},
		{name: "file 0600", ref: "file:" + good, want: value, wantRef: "file:" + good},
		{name: "file under ~", ref: "file:~/tok", want: value, wantRef: "file:~/tok"},
		{name: "file readable by others", ref: "file:" + open, problem: "file:" + open + ": readable by others (mode 0644); chmod 600 it"},
		{name: "file readable by group", ref: "file:" + group, problem: "file:" + group + ": readable by others (mode 0640); chmod 600 it"},
		{name: "file empty", ref: "file:" + empty, problem: "file:" + empty + ": file is empty"},
		{name: "file missing", ref: "file:" + dir + "/nope", problem: "file:" + dir + "/nope: no such file or directory"},
		{name: "file is a directory", ref: "file:" + dir, problem: "file:" + dir + ": not a regular file"},
		{name: "literal", ref: value, want: value, wantRef: "literal"},
		{name: "prefix in the wrong case", ref: "ENV:FW_TEST_TOKEN", problem: "write the env: prefix in lower case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := doc(`[telegram]`, fmt.Sprintf("token = %q", tt.ref))
			c, err := Parse("fw.toml", []byte(src))
			if tt.problem != "" {
				if err == nil {
					t.Fatalf("Parse succeeded with token %q, want problem %q", c.Telegram.Token, tt.problem)
				}
				if got, want := err.Error(), "fw.toml:2: telegram.token: "+tt.problem; got != want {
					t.Errorf("got %q, want %q", got, want)
				}
				if strings.Contains(err.Error(), "SECRETVALUE") {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			s := c.Telegram.Token
			if s.Value() != tt.want || s.Ref() != tt.wantRef || !s.IsSet() {
				t.Errorf("Value, Ref, IsSet = %q, %q, %v; want %q, %q, true", s.Value(), s.Ref(), s.IsSet(), tt.want, tt.wantRef)
			}
		})
	}
}

// A secret never shows up in output meant for people or logs.
func TestSecretNeverLeaks(t *testing.T) {
	setHome(t)
	const value = "sk-ant-api03-LEAKCHECK"
	t.Setenv("FW_TEST_TOKEN", value)
	c := mustParse(t, doc(
		`[telegram]`,
		`token = "env:FW_TEST_TOKEN"`,
		`[discord]`,
		fmt.Sprintf("token = %q", value), // a literal
	))
	if c.Telegram.Token.Value() != value || c.Discord.Token.Value() != value {
		t.Fatalf("secrets not resolved")
	}

	var outputs []string
	for _, v := range []any{c.Telegram.Token, c.Discord.Token, c.Telegram, c.Discord, *c.Discord, c} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "tok", c.Discord.Token, "cfg", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "tok", c.Discord.Token, "discord", c.Discord)
	outputs = append(outputs, logs.String())
	var enc bytes.Buffer
	if err := toml.NewEncoder(&enc).Encode(c); err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, enc.String())

	for _, out := range outputs {
		if strings.Contains(out, "LEAKCHECK") || strings.Contains(out, "4c45414b") /* hex of LEAK */ {
			t.Errorf("output reveals the secret: %s", out)
		}
	}
	if got := fmt.Sprint(c.Telegram.Token); got != "env:FW_TEST_TOKEN" {
		t.Errorf("env secret prints as %q, want env:FW_TEST_TOKEN", got)
	}
	if got := fmt.Sprint(c.Discord.Token); got != "[redacted]" {
		t.Errorf("literal secret prints as %q, want [redacted]", got)
	}
	if !strings.Contains(string(j), `"Token":"env:FW_TEST_TOKEN"`) {
		t.Errorf("JSON %s does not show where the telegram token comes from", j)
	}
}

func TestLiteralSecret(t *testing.T) {
	s := LiteralSecret("abc")
	if s.Value() != "abc" || !s.IsSet() || s.Ref() != "literal" || s.String() != "[redacted]" {
		t.Errorf("LiteralSecret = %q %v %q %q", s.Value(), s.IsSet(), s.Ref(), s.String())
	}
	var zero Secret
	if zero.IsSet() || zero.Ref() != "" || zero.String() != "" {
		t.Errorf("zero Secret: IsSet %v, Ref %q, String %q; want false, \"\", \"\"", zero.IsSet(), zero.Ref(), zero.String())
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "90s", want: "1m30s"},
		{in: "1h30m", want: "1h30m0s"},
		{in: "0s", want: "0s"},
		{in: "5 minutes", wantErr: `"5 minutes" is not a duration (use 90s, 5m, 1h30m)`},
		{in: "5", wantErr: `"5" is not a duration (use 90s, 5m, 1h30m)`},
		{in: "-1m", wantErr: `"-1m" is negative`},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Duration(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d.String() != tt.want {
			t.Errorf("Duration(%q) = %v, %v; want %s", tt.in, d, err, tt.want)
		}
		if b, _ := d.MarshalText(); string(b) != tt.want {
			t.Errorf("MarshalText = %s, want %s", b, tt.want)
		}
	}
}

// A webhook's URL and headers and the heartbeat URL carry keys (Slack's
// path, an API key header): they may come from env: or file: like tokens,
// and count as secrets once read.
func TestURLAndHeaderSecrets(t *testing.T) {
	dir := t.TempDir()
	hookURL := "https://hooks.slack.com/services/T000/B000/XXXXSECRETPATH"
	urlFile := writeSecret(t, dir, "hook-url", hookURL+"\n", 0o600)
	t.Setenv("FW_TEST_HEARTBEAT", "https://hc-ping.com/SECRET-UUID-PING")
	t.Setenv("FW_TEST_APIKEY", "Bearer SECRET-API-KEY")
	t.Setenv("FW_TEST_BADURL", "not a url SECRETBAD")
	src := doc(`[[alerts.route]]`, `type = "webhook"`, fmt.Sprintf("url = %q", "file:"+urlFile),
		`headers = { Authorization = "env:FW_TEST_APIKEY", X-Plain = "kept" }`,
		``, `[heartbeat]`, `url = "env:FW_TEST_HEARTBEAT"`)
	c, err := Parse("fw.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := c.Alerts.Routes[0]
	if r.URL != hookURL || r.Headers["Authorization"] != "Bearer SECRET-API-KEY" || r.Headers["X-Plain"] != "kept" {
		t.Errorf("route = %q %q, want the values read", r.URL, r.Headers)
	}
	if c.Heartbeat.URL != "https://hc-ping.com/SECRET-UUID-PING" {
		t.Errorf("heartbeat.url = %q", c.Heartbeat.URL)
	}
	secrets := strings.Join(c.Secrets(), "\n")
	for _, v := range []string{hookURL, "Bearer SECRET-API-KEY", "https://hc-ping.com/SECRET-UUID-PING"} {
		if !strings.Contains(secrets, v) {
			t.Errorf("Secrets() lacks %q", v)
		}
	}
	if strings.Contains(secrets, "kept") {
		t.Errorf("Secrets() holds a plain header value")
	}

	for _, tc := range []struct{ src, want string }{
		{doc(`[heartbeat]`, `url = "env:FW_TEST_UNSET_HB"`), "fw.toml:2: heartbeat.url: env:FW_TEST_UNSET_HB: environment variable FW_TEST_UNSET_HB is not set"},
		{doc(`[heartbeat]`, `url = "env:FW_TEST_BADURL"`), "fw.toml:2: heartbeat.url: the value read by env: or file: is not an http:// or https:// URL"},
		{doc(`[[alerts.route]]`, `type = "webhook"`, `url = "file:`+dir+`/nope"`), "fw.toml:3: alerts.route[0].url: file:" + dir + "/nope: no such file or directory"},
	} {
		_, err := Parse("fw.toml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error %q reveals the secret", err)
		}
	}
}

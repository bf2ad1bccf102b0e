package claude

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 11, 22, 7, 0, 0, 0, time.UTC)

func ms(t time.Time) int64 { return t.UnixMilli() }

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	liveAccess  = "sk-ant-oat01-LIVEACCESSTOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	liveRefresh = "sk-ant-ort01-LIVEREFRESHTOKENxxxxxxxxxxxxxxxxxxxxxxxxxxx"
)

func oauthJSON(access, refresh string, exp, rexp int64, extra string) string {
	return `{"claudeAiOauth":{"accessToken":"` + access + `","refreshToken":"` + refresh +
		`","expiresAt":` + itoa(exp) + `,"refreshTokenExpiresAt":` + itoa(rexp) +
		`,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"` + extra + `}}`
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	access := now.Add(3*time.Hour + 12*time.Minute)
	refresh := now.Add(29*24*time.Hour + 5*time.Hour)
	tests := []struct {
		name       string
		body       string
		kind       TokenKind
		hasRefresh bool
		dead       bool
		loginEnded string
		status     string
	}{
		{
			name: "live", body: oauthJSON(liveAccess, liveRefresh, ms(access), ms(refresh), ""),
			kind: KindOAuth, hasRefresh: true,
			status: "oauth (max), access expires in 3h12m, refresh in 29d",
		},
		{
			name: "expired access, refresh left", body: oauthJSON(liveAccess, liveRefresh, ms(now.Add(-2*time.Hour)), ms(refresh), ""),
			kind: KindOAuth, hasRefresh: true,
			status: "oauth (max), access expired 2h ago (next use refreshes it), refresh in 29d",
		},
		{
			name: "dead after failed refresh", body: oauthJSON("", "", 0, 0, `,"loginEnded":"time_limit"`),
			kind: KindNone, dead: true, loginEnded: "time_limit",
			status: "dead: refresh token empty (login ended: time_limit) — run /login",
		},
		{
			name: "dead, no reason", body: oauthJSON("", "", 0, 0, ""),
			kind: KindNone, dead: true,
			status: "dead: refresh token empty — run /login",
		},
		{
			name: "access only, expired", body: oauthJSON(liveAccess, "", ms(now.Add(-time.Minute)), 0, ""),
			kind: KindOAuth, dead: true,
			status: "dead: refresh token empty, access expired 1m ago — run /login",
		},
		{
			name: "access only, still valid", body: oauthJSON(liveAccess, "", ms(now.Add(90*time.Minute)), 0, ""),
			kind:   KindOAuth,
			status: "oauth (max), access expires in 1h30m, no refresh token — /login needed when access expires",
		},
		{
			name: "refresh token expired", body: oauthJSON(liveAccess, liveRefresh, ms(now.Add(-time.Hour)), ms(now.Add(-26*time.Hour)), ""),
			kind: KindOAuth, hasRefresh: true,
			status: "oauth (max), access expired 1h ago (next use refreshes it), refresh expired 1d2h ago — run /login",
		},
		{
			name: "api key", body: `{"primaryApiKey":"sk-ant-api03-SECRETKEYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`,
			kind: KindAPIKey, status: "api key " + Fingerprint("sk-ant-api03-SECRETKEYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
		},
		{
			name: "empty object", body: `{}`,
			kind: KindNone, dead: true, status: "dead: refresh token empty — run /login",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".json", tt.body)
			c, err := ReadCredentials(p)
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != p || c.Kind != tt.kind || c.HasRefresh != tt.hasRefresh || c.LoginEnded != tt.loginEnded {
				t.Errorf("got path %q kind %q refresh %v ended %q, want %q %q %v %q",
					c.Path, c.Kind, c.HasRefresh, c.LoginEnded, p, tt.kind, tt.hasRefresh, tt.loginEnded)
			}
			if got := c.DeadAt(now); got != tt.dead {
				t.Errorf("DeadAt = %v, want %v", got, tt.dead)
			}
			if got := c.Status(now); got != tt.status {
				t.Errorf("Status:\n got %q\nwant %q", got, tt.status)
			}
			for _, secret := range []string{"LIVEACCESS", "LIVEREFRESH", "SECRETKEY"} {
				if strings.Contains(c.Status(now), secret) || strings.Contains(c.Fingerprint, secret) {
					t.Errorf("token text leaked: %+v", c)
				}
			}
		})
	}
}

func TestReadCredentialsDetails(t *testing.T) {
	dir := t.TempDir()
	access := now.Add(time.Hour)
	p := writeFile(t, dir, "c.json", oauthJSON(liveAccess, liveRefresh, ms(access), ms(now.Add(48*time.Hour)), ""))
	c, err := ReadCredentials(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.AccessExpires.Equal(access.Truncate(time.Millisecond)) {
		t.Errorf("AccessExpires = %v, want %v", c.AccessExpires, access)
	}
	if c.Subscription != "max" || !slices.Contains(c.Scopes, "user:inference") {
		t.Errorf("got subscription %q scopes %v", c.Subscription, c.Scopes)
	}
	if len(c.Fingerprint) != 8 || c.Fingerprint != Fingerprint(liveAccess) {
		t.Errorf("fingerprint %q, want 8 hex digits of the access token's hash", c.Fingerprint)
	}
	// A new login changes the fingerprint.
	writeFile(t, dir, "c.json", oauthJSON("sk-ant-oat01-OTHER", liveRefresh, ms(access), 0, ""))
	c2, err := ReadCredentials(p)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Fingerprint == c.Fingerprint {
		t.Errorf("fingerprint did not change with the token")
	}
}

func TestReadCredentialsErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadCredentials(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want an error wrapping fs.ErrNotExist", err)
	}
	p := writeFile(t, dir, "bad.json", `{"claudeAiOauth":{"accessToken":"sk-ant-oat01-SECRET`)
	_, err = ReadCredentials(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "parse credentials") {
		t.Errorf("malformed JSON: got %v, want a parse error", err)
	}
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error quotes the file: %v", err)
	}
	p = writeFile(t, dir, "type.json", `{"claudeAiOauth":{"expiresAt":"soon"}}`)
	if _, err := ReadCredentials(p); err == nil {
		t.Errorf("wrong field type: got no error")
	}
}

func TestCredentialsPath(t *testing.T) {
	if got, want := CredentialsPath("/home/dev/.claude"), "/home/dev/.claude/.credentials.json"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	env := map[string]string{"ANTHROPIC_API_KEY": "sk-ant-api03-KEY", "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-TOKEN"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, ok := CredentialsFromEnv(lookup)
	if !ok || c.Kind != KindEnv || c.Path != "env:CLAUDE_CODE_OAUTH_TOKEN" || c.Fingerprint != Fingerprint("sk-ant-oat01-TOKEN") {
		t.Errorf("got %+v %v, want the OAuth token from the environment", c, ok)
	}
	if c.DeadAt(now) || strings.Contains(c.Status(now), "sk-ant-oat01-TOKEN") {
		t.Errorf("env token: dead %v, status %q", c.DeadAt(now), c.Status(now))
	}
	delete(env, "CLAUDE_CODE_OAUTH_TOKEN")
	if c, _ := CredentialsFromEnv(lookup); c.Path != "env:ANTHROPIC_API_KEY" {
		t.Errorf("got %q, want the API key", c.Path)
	}
	if _, ok := CredentialsFromEnv(func(string) (string, bool) { return "", false }); ok {
		t.Errorf("empty environment reported a token")
	}
}

func TestTokenKindOf(t *testing.T) {
	tests := map[string]TokenKind{
		"sk-ant-oat01-abc": KindOAuth,
		"sk-ant-ort01-abc": KindOAuth,
		"sk-ant-api03-abc": KindAPIKey,
		"":                 KindNone,
		"  ":               KindNone,
		"ghp_abcdef":       KindUnknown,
	}
	for tok, want := range tests {
		if got := TokenKindOf(tok); got != want {
			t.Errorf("TokenKindOf(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	tests := map[time.Duration]string{
		40 * time.Second:                "40s",
		12 * time.Minute:                "12m",
		3*time.Hour + 12*time.Minute:    "3h12m",
		3 * time.Hour:                   "3h",
		26 * time.Hour:                  "1d2h",
		48 * time.Hour:                  "2d",
		29*24*time.Hour + 23*time.Hour:  "29d",
		-(3*time.Hour + 12*time.Minute): "3h12m",
	}
	for d, want := range tests {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"token sk-ant-oat01-AbCdEf_123-xyz here", "token sk-ant-oat01-…[redacted] here"},
		{"key=sk-ant-api03-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "key=sk-ant-api03-…[redacted]"},
		{`"refreshToken":"sk-ant-ort01-RRRRRRRR"`, `"refreshToken":"sk-ant-ort01-…[redacted]"`},
		{"two: sk-ant-oat01-A and sk-ant-ort01-B.", "two: sk-ant-oat01-…[redacted] and sk-ant-ort01-…[redacted]."},
		{"odd sk-ant-XYZ", "odd sk-ant-…[redacted]"},
		{"bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw ok", "bot 123456789:…[redacted] ok"},
		{"https://api.telegram.org/bot123456:AAEm-AbCdEfGhIjKlMnOpQrStUvWxYz0123/getMe", "https://api.telegram.org/bot123456:…[redacted]/getMe"},
		{"discord MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz12345 x", "discord MTIz…[redacted] x"},
		{"time 12:34:56 and port 127.0.0.1:8080", "time 12:34:56 and port 127.0.0.1:8080"},
		{"ratio 1234567:short", "ratio 1234567:short"},
		{"nothing to hide", "nothing to hide"},
		{"already sk-ant-oat01-…[redacted]", "already sk-ant-oat01-…[redacted]"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestReadSessions(t *testing.T) {
	config := t.TempDir()
	dir := filepath.Join(config, "sessions")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "4242.json", `{"pid":4242,"sessionId":"0f3c2a1e-aaaa","cwd":"/home/dev/a","tmux":"fleet:@1.%3","status":"idle","startedAt":1763794800000}`)
	writeFile(t, dir, "77.json", `{"pid":77,"sessionId":"bbbb","cwd":"/home/dev/b","tmux":"fleet:@2.%5","status":"busy"}`)
	writeFile(t, dir, "900.json", `{"sessionId":"cccc","cwd":"/home/dev/c","status":"waiting"}`) // pid from the name
	writeFile(t, dir, "1001.json", `{"pid":1001,"sessionId":"dd`)                                // torn: being written
	writeFile(t, dir, "notes.txt", `hello`)
	writeFile(t, dir, "junk.json", `{"cwd":"/x"}`) // no pid anywhere
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSessions(config)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, s := range got {
		pids = append(pids, s.PID)
	}
	if want := []int{77, 900, 4242}; !slices.Equal(pids, want) {
		t.Fatalf("got pids %v, want %v", pids, want)
	}
	if got[2].SessionID != "0f3c2a1e-aaaa" || got[2].Tmux != "fleet:@1.%3" || got[2].Status != "idle" || got[2].Cwd != "/home/dev/a" {
		t.Errorf("got %+v", got[2])
	}

	// The pane's pid is its shell; Claude is a child.
	s, ok := SessionForPID(got, 12, 77, 4242)
	if !ok || s.SessionID != "bbbb" {
		t.Errorf("SessionForPID: got %+v %v, want session bbbb (the first pid that has one)", s, ok)
	}
	if _, ok := SessionForPID(got, 1, 2); ok {
		t.Errorf("SessionForPID found a session for unknown pids")
	}

	_, err = ReadSessions(filepath.Join(config, "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: got %v, want fs.ErrNotExist", err)
	}
}

func TestIsSessionID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b01", true},
		{"5F0C2A4E-1B7D-4C55-9A63-2F1E8D7C6B01", true},
		{"x; touch pwned #", false},
		{"", false},
		{"5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b0", false},
		{"5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b01 ", false},
		{"5f0c2a4e-1b7d-4c55-9a63;2f1e8d7c6b01", false},
		{"5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6bz1", false},
	} {
		if got := IsSessionID(tc.id); got != tc.want {
			t.Errorf("IsSessionID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

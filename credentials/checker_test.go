package credentials

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/config"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	oatLive = "sk-ant-oat01-LiveAccessTokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	ortLive = "sk-ant-ort01-LiveRefreshTokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	apiKey  = "sk-ant-api03-SomeApiKeyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
)

// oauthFile is the claudeAiOauth block of .credentials.json.
type oauthFile struct {
	AccessToken           string   `json:"accessToken"`
	RefreshToken          string   `json:"refreshToken"`
	ExpiresAt             int64    `json:"expiresAt"`
	RefreshTokenExpiresAt int64    `json:"refreshTokenExpiresAt,omitempty"`
	Scopes                []string `json:"scopes,omitempty"`
	SubscriptionType      string   `json:"subscriptionType,omitempty"`
	LoginEnded            string   `json:"loginEnded,omitempty"`
}

// writeLogin writes dir/.credentials.json as Claude Code does and returns dir.
func writeLogin(t *testing.T, dir string, o *oauthFile) string {
	t.Helper()
	var v any = map[string]any{}
	if o != nil {
		v = map[string]any{"claudeAiOauth": o}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".credentials.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func liveLogin(access, refresh time.Duration) *oauthFile {
	return &oauthFile{
		AccessToken: oatLive, RefreshToken: ortLive,
		ExpiresAt: t0.Add(access).UnixMilli(), RefreshTokenExpiresAt: t0.Add(refresh).UnixMilli(),
		Scopes: []string{"user:inference"}, SubscriptionType: "max",
	}
}

func fixedClock(now *time.Time) func() time.Time { return func() time.Time { return *now } }

func TestCheckOAuthFile(t *testing.T) {
	tests := []struct {
		name       string
		login      *oauthFile // nil with noFile: no file at all
		noFile     bool
		raw        string // written instead of login when set
		healthy    bool
		reason     string
		detail     []string // substrings of Detail
		wantAccess bool
	}{
		{
			name: "live", login: liveLogin(3*time.Hour+12*time.Minute, 29*24*time.Hour),
			healthy: true, detail: []string{"oauth (max), access expires in 3h12m, refresh in 29d"}, wantAccess: true,
		},
		{
			name: "access expired, refresh left", login: liveLogin(-time.Hour, 20*24*time.Hour),
			healthy: true, detail: []string{"access expired 1h ago (next use refreshes it)", "refresh in 20d"}, wantAccess: true,
		},
		{
			name:   "dead after a failed refresh",
			login:  &oauthFile{Scopes: []string{"user:inference"}, SubscriptionType: "max"},
			reason: "expired", detail: []string{"dead: refresh token empty", "run /login"},
		},
		{
			name:   "login reached its time limit",
			login:  &oauthFile{SubscriptionType: "max", LoginEnded: "time_limit"},
			reason: "time_limit", detail: []string{"login ended: time_limit", "run /login"},
		},
		{
			name: "refresh token itself expired", login: liveLogin(-3*time.Hour, -2*24*time.Hour),
			reason: "time_limit", detail: []string{"dead: refresh token expired 2d ago — run /login"}, wantAccess: true,
		},
		{
			name: "refresh expired but access still valid", login: liveLogin(2*time.Hour, -time.Hour),
			healthy: true, detail: []string{"access expires in 2h", "refresh expired 1h ago — run /login"}, wantAccess: true,
		},
		{
			name: "no file", noFile: true,
			reason: "not_logged_in", detail: []string{"no credentials file ", ".credentials.json — run /login"},
		},
		{
			name: "file without any login", login: nil,
			reason: "not_logged_in", detail: []string{"not logged in: ", ".credentials.json holds no login — run /login"},
		},
		{
			name: "malformed file", raw: `{"claudeAiOauth":`,
			reason: "unreadable", detail: []string{"cannot read ", "unexpected end of JSON input"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "claude")
			switch {
			case tt.noFile:
			case tt.raw != "":
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, ".credentials.json"), []byte(tt.raw), 0o600); err != nil {
					t.Fatal(err)
				}
			default:
				writeLogin(t, dir, tt.login)
			}
			now := t0
			c := New(Options{
				Credentials: []config.Credential{{Name: "max", Kind: config.KindOAuthFile, ConfigDir: dir}},
				Now:         fixedClock(&now),
			})
			h := c.Check(t.Context(), "max", false)
			if h.Healthy != tt.healthy || h.Reason != tt.reason {
				t.Errorf("healthy, reason = %v, %q; want %v, %q (detail %q)", h.Healthy, h.Reason, tt.healthy, tt.reason, h.Detail)
			}
			for _, s := range tt.detail {
				if !strings.Contains(h.Detail, s) {
					t.Errorf("detail %q does not say %q", h.Detail, s)
				}
			}
			if strings.Contains(h.Detail, "\n") {
				t.Errorf("detail %q is not one line", h.Detail)
			}
			if tt.reason == "unreadable" && h.Err == "" {
				t.Errorf("Err empty for an unreadable file")
			}
			if tt.wantAccess {
				if want := time.UnixMilli(tt.login.ExpiresAt); !h.AccessExpires.Equal(want) {
					t.Errorf("AccessExpires = %v, want %v", h.AccessExpires, want)
				}
				if want := time.UnixMilli(tt.login.RefreshTokenExpiresAt); !h.RefreshExpires.Equal(want) {
					t.Errorf("RefreshExpires = %v, want %v", h.RefreshExpires, want)
				}
			}
			if h.Name != "max" || h.Kind != config.KindOAuthFile || !h.Checked.Equal(t0) || h.Probed {
				t.Errorf("got name %q kind %q checked %v probed %v", h.Name, h.Kind, h.Checked, h.Probed)
			}
			if strings.Contains(h.Detail, "LiveAccess") || strings.Contains(h.Detail, "LiveRefresh") {
				t.Errorf("detail leaks a token: %q", h.Detail)
			}
		})
	}
}

func TestCheckTokenKinds(t *testing.T) {
	tests := []struct {
		name, kind, token string
		healthy           bool
		reason            string
		detail            string
	}{
		{"oauth token", config.KindOAuthToken, oatLive, true, "", "long-lived oauth token "},
		{"api key", config.KindAPIKey, apiKey, true, "", "api key "},
		{"api-key holding an oauth token", config.KindAPIKey, oatLive, false, "wrong_kind", `use kind = "oauth-token"`},
		{"oauth-token holding an api key", config.KindOAuthToken, apiKey, false, "wrong_kind", `use kind = "api-key"`},
		{"oauth-token holding a refresh token", config.KindOAuthToken, ortLive, false, "wrong_kind", "claude setup-token"},
		{"unknown format", config.KindAPIKey, "proxy-key-123", true, "", "not an Anthropic token format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Credentials: []config.Credential{{Name: "x", Kind: tt.kind, Token: config.LiteralSecret(tt.token)}}})
			h := c.Check(t.Context(), "x", false)
			if h.Healthy != tt.healthy || h.Reason != tt.reason {
				t.Errorf("healthy, reason = %v, %q; want %v, %q (detail %q)", h.Healthy, h.Reason, tt.healthy, tt.reason, h.Detail)
			}
			if !strings.Contains(h.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", h.Detail, tt.detail)
			}
			if strings.Contains(h.Detail, tt.token) {
				t.Errorf("detail leaks the token: %q", h.Detail)
			}
		})
	}

	t.Run("unset token", func(t *testing.T) {
		c := New(Options{Credentials: []config.Credential{{Name: "x", Kind: config.KindAPIKey}}})
		if h := c.Check(t.Context(), "x", false); h.Healthy || h.Reason != ReasonNoToken {
			t.Errorf("got %v %q, want unhealthy %q", h.Healthy, h.Reason, ReasonNoToken)
		}
	})
	t.Run("unknown credential", func(t *testing.T) {
		c := New(Options{Credentials: []config.Credential{{Name: "x", Kind: config.KindAPIKey}}})
		if h := c.Check(t.Context(), "nope", false); h.Healthy || !strings.Contains(h.Err, `unknown credential "nope" (known: x)`) {
			t.Errorf("got %v %q", h.Healthy, h.Err)
		}
	})
}

// writeSecret writes a 0600 token file with the given mtime.
func writeSecret(t *testing.T, path, token string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsFromConfig goes through the real config loader: env: and
// file: tokens, and the long-lived token's expiry estimated from its file.
func TestSecretsFromConfig(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "oauth-token")
	writeSecret(t, tokFile, oatLive, t0.Add(-300*24*time.Hour))
	t.Setenv("FW_TEST_API_KEY", apiKey)
	cfg, err := config.Parse("test.toml", []byte(`
[[credential]]
name = "setup"
kind = "oauth-token"
token = "file:`+tokFile+`"

[[credential]]
name = "api"
kind = "api-key"
token = "env:FW_TEST_API_KEY"
`))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	c := New(Options{Credentials: cfg.Credentials, Now: fixedClock(&now)})

	h := c.Check(t.Context(), "setup", false)
	if !h.Healthy || !h.Estimated || !h.AccessExpires.Equal(t0.Add(65*24*time.Hour)) {
		t.Errorf("setup: healthy %v estimated %v expires %v; want healthy, estimated, %v", h.Healthy, h.Estimated, h.AccessExpires, t0.Add(65*24*time.Hour))
	}
	if want := "from file:" + tokFile + ", expires in about 65d"; !strings.Contains(h.Detail, want) {
		t.Errorf("setup detail %q does not say %q", h.Detail, want)
	}
	h = c.Check(t.Context(), "api", false)
	if !h.Healthy || !strings.Contains(h.Detail, "api key ") || !strings.Contains(h.Detail, "from env:FW_TEST_API_KEY") {
		t.Errorf("api: healthy %v detail %q", h.Healthy, h.Detail)
	}
	env, err := c.Env("api")
	if err != nil || env["ANTHROPIC_API_KEY"] != apiKey {
		t.Errorf("Env(api) = %v, %v; want the key from the environment", env["ANTHROPIC_API_KEY"] == apiKey, err)
	}

	// A new setup-token token written to the file is used at once.
	const newTok = "sk-ant-oat01-BrandNewTokenDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
	writeSecret(t, tokFile, newTok, t0)
	env, err = c.Env("setup")
	if err != nil || env["CLAUDE_CODE_OAUTH_TOKEN"] != newTok {
		t.Errorf("Env(setup) after rewrite: new token used = %v, err %v", env["CLAUDE_CODE_OAUTH_TOKEN"] == newTok, err)
	}
	if h := c.Check(t.Context(), "setup", false); !strings.Contains(h.Detail, "expires in about 365d") {
		t.Errorf("after rewrite detail %q, want about 365d", h.Detail)
	}

	// A token file older than a year holds an expired token.
	writeSecret(t, tokFile, oatLive, t0.Add(-400*24*time.Hour))
	h = c.Check(t.Context(), "setup", false)
	if h.Healthy || h.Reason != "expired" || !strings.Contains(h.Detail, "expired about 35d ago") {
		t.Errorf("old token: healthy %v reason %q detail %q; want expired about 35d ago", h.Healthy, h.Reason, h.Detail)
	}

	// The file gone: the check says so and Env refuses.
	if err := os.Remove(tokFile); err != nil {
		t.Fatal(err)
	}
	h = c.Check(t.Context(), "setup", false)
	if h.Healthy || h.Reason != ReasonNoToken || !strings.Contains(h.Detail, "no such file") {
		t.Errorf("missing token file: healthy %v reason %q detail %q", h.Healthy, h.Reason, h.Detail)
	}
	if _, err := c.Env("setup"); err == nil || !strings.Contains(err.Error(), "file:"+tokFile) {
		t.Errorf("Env with the token file gone: err %v, want one naming the file", err)
	}

	// A token file others can read is refused, as the config loader does.
	writeSecret(t, tokFile, oatLive, t0)
	if err := os.Chmod(tokFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if h := c.Check(t.Context(), "setup", false); h.Healthy || !strings.Contains(h.Detail, "chmod 600") {
		t.Errorf("world-readable token file: healthy %v detail %q", h.Healthy, h.Detail)
	}
}

func TestEnv(t *testing.T) {
	dir := t.TempDir()
	c := New(Options{
		Credentials: []config.Credential{
			{Name: "file", Kind: config.KindOAuthFile, ConfigDir: dir},
			{Name: "tok", Kind: config.KindOAuthToken, Token: config.LiteralSecret(oatLive)},
			{Name: "key", Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey)},
			{Name: "unset", Kind: config.KindAPIKey},
		},
		DefaultConfigDir: "/home/u/.claude",
	})
	tests := []struct {
		name string
		want map[string]string
	}{
		{"file", map[string]string{"CLAUDE_CONFIG_DIR": dir, "CLAUDE_CODE_OAUTH_TOKEN": "", "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": ""}},
		{"tok", map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": oatLive, "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": ""}},
		{"key", map[string]string{"ANTHROPIC_API_KEY": apiKey, "CLAUDE_CODE_OAUTH_TOKEN": "", "ANTHROPIC_AUTH_TOKEN": ""}},
		{"", map[string]string{"CLAUDE_CONFIG_DIR": "/home/u/.claude", "CLAUDE_CODE_OAUTH_TOKEN": "", "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": ""}},
		{"default", map[string]string{"CLAUDE_CONFIG_DIR": "/home/u/.claude", "CLAUDE_CODE_OAUTH_TOKEN": "", "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": ""}},
	}
	for _, tt := range tests {
		got, err := c.Env(tt.name)
		if err != nil {
			t.Errorf("Env(%q): %v", tt.name, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("Env(%q) has %d variables, want %d", tt.name, len(got), len(tt.want))
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("Env(%q)[%s] = %q (set %v), want %q", tt.name, k, g, ok, v)
			}
		}
	}
	for _, name := range []string{"unset", "nope"} {
		if _, err := c.Env(name); err == nil {
			t.Errorf("Env(%q): no error", name)
		}
	}
	if got, want := strings.Join(c.Names(), ","), "file,tok,key,unset,default"; got != want {
		t.Errorf("Names = %s, want %s", got, want)
	}
}

func TestImplicitDefault(t *testing.T) {
	dir := writeLogin(t, filepath.Join(t.TempDir(), "claude"), liveLogin(time.Hour, 10*24*time.Hour))
	now := t0
	c := New(Options{DefaultConfigDir: dir, Now: fixedClock(&now)})
	if got := c.Names(); len(got) != 1 || got[0] != DefaultName {
		t.Fatalf("Names = %v, want [default]", got)
	}
	if h := c.Check(t.Context(), "", false); !h.Healthy || h.Name != DefaultName {
		t.Errorf("Check(\"\") = %v %q, want the healthy default", h.Healthy, h.Name)
	}
	// A configured "default" wins over the implicit one.
	c = New(Options{DefaultConfigDir: dir, Credentials: []config.Credential{{Name: DefaultName, Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey)}}})
	if got := c.Names(); len(got) != 1 {
		t.Errorf("Names = %v, want only the configured default", got)
	}
	if env, _ := c.Env(""); env["ANTHROPIC_API_KEY"] != apiKey {
		t.Errorf("Env(\"\") does not use the configured default")
	}
}

func TestCheckAllAndLast(t *testing.T) {
	good := writeLogin(t, filepath.Join(t.TempDir(), "good"), liveLogin(time.Hour, 10*24*time.Hour))
	now := t0
	c := New(Options{
		Credentials: []config.Credential{
			{Name: "missing", Kind: config.KindOAuthFile, ConfigDir: filepath.Join(t.TempDir(), "none")},
			{Name: "good", Kind: config.KindOAuthFile, ConfigDir: good},
			{Name: "wrong", Kind: config.KindAPIKey, Token: config.LiteralSecret(oatLive)},
		},
		Now: fixedClock(&now),
	})
	for _, h := range c.Last() {
		if h.Detail != "not checked yet" || !h.Checked.IsZero() {
			t.Errorf("Last before any check: %+v", h)
		}
	}
	all := c.CheckAll(t.Context(), true)
	want := []struct {
		name    string
		healthy bool
	}{{"missing", false}, {"good", true}, {"wrong", false}}
	if len(all) != len(want) {
		t.Fatalf("CheckAll returned %d results, want %d", len(all), len(want))
	}
	for i, w := range want {
		if all[i].Name != w.name || all[i].Healthy != w.healthy {
			t.Errorf("CheckAll[%d] = %s healthy %v, want %s healthy %v", i, all[i].Name, all[i].Healthy, w.name, w.healthy)
		}
	}
	now = t0.Add(time.Minute)
	c.Check(t.Context(), "good", false)
	last := c.Last()
	for i := range last {
		if last[i].Name != want[i].name || last[i].Healthy != want[i].healthy {
			t.Errorf("Last[%d] = %s %v", i, last[i].Name, last[i].Healthy)
		}
	}
	if !last[1].Checked.Equal(t0.Add(time.Minute)) || !last[0].Checked.Equal(t0) {
		t.Errorf("Last checked times = %v, %v; want the latest check of each", last[0].Checked, last[1].Checked)
	}
}

func TestExpiringWithin(t *testing.T) {
	base := t.TempDir()
	tokSoon := filepath.Join(base, "tok-soon")
	writeSecret(t, tokSoon, oatLive, t0.Add(-360*24*time.Hour))
	tokLater := filepath.Join(base, "tok-later")
	writeSecret(t, tokLater, oatLive, t0.Add(-100*24*time.Hour))
	noRefresh := liveLogin(time.Hour, 0)
	noRefresh.RefreshToken = ""
	cfg, err := config.Parse("t.toml", []byte(`
[[credential]]
name = "tok-soon"
kind = "oauth-token"
token = "file:`+tokSoon+`"
[[credential]]
name = "tok-later"
kind = "oauth-token"
token = "file:`+tokLater+`"
[[credential]]
name = "lit"
kind = "oauth-token"
token = "`+oatLive+`"
[[credential]]
name = "key"
kind = "api-key"
token = "`+apiKey+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	creds := append([]config.Credential{
		{Name: "refresh-2d", Kind: config.KindOAuthFile, ConfigDir: writeLogin(t, filepath.Join(base, "a"), liveLogin(time.Hour, 2*24*time.Hour))},
		{Name: "refresh-20d", Kind: config.KindOAuthFile, ConfigDir: writeLogin(t, filepath.Join(base, "b"), liveLogin(time.Hour, 20*24*time.Hour))},
		{Name: "no-refresh", Kind: config.KindOAuthFile, ConfigDir: writeLogin(t, filepath.Join(base, "c"), noRefresh)},
		{Name: "dead", Kind: config.KindOAuthFile, ConfigDir: writeLogin(t, filepath.Join(base, "d"), &oauthFile{LoginEnded: "time_limit"})},
		{Name: "gone", Kind: config.KindOAuthFile, ConfigDir: filepath.Join(base, "none")},
	}, cfg.Credentials...)
	c := New(Options{Credentials: creds})

	got := c.ExpiringWithin(t0, 7*24*time.Hour)
	want := []Expiry{
		{Name: "no-refresh", Kind: config.KindOAuthFile, Token: "access", At: t0.Add(time.Hour)},
		{Name: "refresh-2d", Kind: config.KindOAuthFile, Token: "refresh", At: t0.Add(2 * 24 * time.Hour)},
		{Name: "tok-soon", Kind: config.KindOAuthToken, Token: "long-lived", At: t0.Add(5 * 24 * time.Hour), Estimated: true},
	}
	if len(got) != len(want) {
		t.Fatalf("ExpiringWithin(7d) = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Kind != want[i].Kind || got[i].Token != want[i].Token ||
			!got[i].At.Equal(want[i].At) || got[i].Estimated != want[i].Estimated {
			t.Errorf("ExpiringWithin[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := c.ExpiringWithin(t0, 30*time.Minute); len(got) != 0 {
		t.Errorf("ExpiringWithin(30m) = %+v, want none", got)
	}
}

// Started with CLAUDE_CONFIG_DIR set, even to ~/.claude, the CLI reads
// <dir>/.claude.json and starts as a fresh install: the default directory
// is never put in the environment, however it is written.
func TestEnvLeavesTheDefaultConfigDirAlone(t *testing.T) {
	home := t.TempDir()
	other := filepath.Join(home, "work-claude")
	c := New(Options{
		Credentials: []config.Credential{
			{Name: "tilde", Kind: config.KindOAuthFile, ConfigDir: filepath.Join(home, ".claude") + "/"},
			{Name: "other", Kind: config.KindOAuthFile, ConfigDir: other},
		},
		DefaultConfigDir: filepath.Join(home, ".claude"),
		Home:             home,
	})
	for name, want := range map[string]string{"tilde": "", "default": "", "other": other} {
		env, err := c.Env(name)
		if err != nil {
			t.Fatalf("Env(%q): %v", name, err)
		}
		got, set := env["CLAUDE_CONFIG_DIR"]
		if want == "" && set {
			t.Errorf("Env(%q) sets CLAUDE_CONFIG_DIR=%q, want it left alone (the CLI's default)", name, got)
		}
		if want != "" && got != want {
			t.Errorf("Env(%q): CLAUDE_CONFIG_DIR=%q, want %q", name, got, want)
		}
		if v, ok := env["ANTHROPIC_API_KEY"]; !ok || v != "" {
			t.Errorf("Env(%q): ANTHROPIC_API_KEY=%q (set %v), want emptied", name, v, ok)
		}
	}
}

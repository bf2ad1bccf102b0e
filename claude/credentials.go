package claude

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenKind says what sort of credential a token is.
type TokenKind string

// Token kinds.
const (
	KindOAuth   TokenKind = "oauth"   // sk-ant-oat01-… (and its refresh token sk-ant-ort01-…)
	KindAPIKey  TokenKind = "api_key" // sk-ant-api03-…
	KindEnv     TokenKind = "env"     // a token handed over in the environment
	KindNone    TokenKind = "none"    // no token at all
	KindUnknown TokenKind = "unknown" // something else
)

// TokenKindOf tells the kind of a token from its prefix, never keeping it.
func TokenKindOf(token string) TokenKind {
	t := strings.TrimSpace(token)
	switch {
	case t == "":
		return KindNone
	case strings.HasPrefix(t, "sk-ant-oat"), strings.HasPrefix(t, "sk-ant-ort"):
		return KindOAuth
	case strings.HasPrefix(t, "sk-ant-api"):
		return KindAPIKey
	}
	return KindUnknown
}

// Credentials is what fleetwarden may know about a login: kinds, dates and
// a fingerprint, never the token text.
type Credentials struct {
	Path           string
	Kind           TokenKind
	AccessExpires  time.Time // zero when unknown
	RefreshExpires time.Time // zero when unknown
	HasRefresh     bool      // false = dead login: a human must log in again
	LoginEnded     string    // e.g. "time_limit" when present
	Subscription   string    // "max", "pro", ...
	Scopes         []string
	Fingerprint    string // first 8 hex digits of sha256(access token), "" without one
}

// CredentialsPath returns where Claude Code keeps its login under configDir
// (~/.claude, or $CLAUDE_CONFIG_DIR).
func CredentialsPath(configDir string) string {
	return filepath.Join(configDir, ".credentials.json")
}

type credFile struct {
	OAuth *struct {
		AccessToken           string   `json:"accessToken"`
		RefreshToken          string   `json:"refreshToken"`
		ExpiresAt             float64  `json:"expiresAt"`
		RefreshTokenExpiresAt float64  `json:"refreshTokenExpiresAt"`
		Scopes                []string `json:"scopes"`
		SubscriptionType      string   `json:"subscriptionType"`
		LoginEnded            string   `json:"loginEnded"`
	} `json:"claudeAiOauth"`
	LoginEnded    string `json:"loginEnded"`
	PrimaryAPIKey string `json:"primaryApiKey"`
}

// ReadCredentials reads a .credentials.json. A file without any login is
// not an error: it comes back as Kind "none", which is Dead. Errors wrap the
// file system's (errors.Is(err, fs.ErrNotExist) works) or say the JSON is
// malformed; they never quote the file.
func ReadCredentials(path string) (Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials: %w", err)
	}
	var f credFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Credentials{}, fmt.Errorf("parse credentials %s: %w", path, err)
	}
	c := Credentials{Path: path, Kind: KindNone, LoginEnded: f.LoginEnded}
	if o := f.OAuth; o != nil {
		c.Kind = TokenKindOf(o.AccessToken)
		if c.Kind == KindNone {
			c.Kind = TokenKindOf(o.RefreshToken)
		}
		c.AccessExpires = epochMillis(o.ExpiresAt)
		c.RefreshExpires = epochMillis(o.RefreshTokenExpiresAt)
		c.HasRefresh = strings.TrimSpace(o.RefreshToken) != ""
		c.Subscription = o.SubscriptionType
		c.Scopes = o.Scopes
		if o.LoginEnded != "" {
			c.LoginEnded = o.LoginEnded
		}
		c.Fingerprint = Fingerprint(o.AccessToken)
		if o.AccessToken != "" || o.RefreshToken != "" {
			return c, nil
		}
	}
	if k := strings.TrimSpace(f.PrimaryAPIKey); k != "" {
		c.Kind = KindAPIKey
		c.Fingerprint = Fingerprint(k)
	}
	return c, nil
}

// CredentialsFromEnv describes a token handed to Claude Code in the
// environment (CLAUDE_CODE_OAUTH_TOKEN, then ANTHROPIC_API_KEY), which
// overrides the file. ok is false when neither is set.
func CredentialsFromEnv(lookup func(string) (string, bool)) (c Credentials, ok bool) {
	for _, name := range [...]string{"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"} {
		if v, set := lookup(name); set && strings.TrimSpace(v) != "" {
			return Credentials{Path: "env:" + name, Kind: KindEnv, Fingerprint: Fingerprint(strings.TrimSpace(v))}, true
		}
	}
	return Credentials{}, false
}

// Fingerprint returns a short, non-reversible id of a token (the first 8
// hex digits of its SHA-256), so callers can see it change without holding
// it. Empty for an empty token.
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// epochMillis reads Claude Code's millisecond timestamps; small values are
// taken as seconds, 0 as unknown.
func epochMillis(v float64) time.Time {
	switch {
	case v <= 0:
		return time.Time{}
	case v < 1e11:
		return time.Unix(int64(v), 0)
	}
	return time.UnixMilli(int64(v))
}

// Dead reports, as of now, that no usable login is left. See DeadAt.
func (c Credentials) Dead() bool { return c.DeadAt(time.Now()) }

// DeadAt reports that no usable login is left at now: no refresh token, and
// no access token or an expired one. API keys and environment tokens do not
// expire here.
func (c Credentials) DeadAt(now time.Time) bool {
	switch c.Kind {
	case KindAPIKey, KindEnv:
		return false
	case KindNone:
		return true
	}
	if c.HasRefresh {
		return false
	}
	return c.Fingerprint == "" || (!c.AccessExpires.IsZero() && !now.Before(c.AccessExpires))
}

// Status describes the login in one line, e.g.
// "oauth (max), access expires in 3h12m, refresh in 29d" or
// "dead: refresh token empty — run /login".
func (c Credentials) Status(now time.Time) string {
	switch c.Kind {
	case KindAPIKey:
		return "api key " + c.Fingerprint
	case KindEnv:
		return "token from " + strings.TrimPrefix(c.Path, "env:") + " " + c.Fingerprint
	}
	if c.DeadAt(now) {
		s := "dead: refresh token empty"
		if c.Fingerprint != "" {
			s += ", access expired " + ago(now.Sub(c.AccessExpires))
		}
		if c.LoginEnded != "" {
			s += " (login ended: " + c.LoginEnded + ")"
		}
		return s + " — run /login"
	}
	var b strings.Builder
	b.WriteString(string(c.Kind))
	if c.Subscription != "" {
		b.WriteString(" (" + c.Subscription + ")")
	}
	switch {
	case c.Fingerprint == "":
		b.WriteString(", no access token yet")
	case c.AccessExpires.IsZero():
		b.WriteString(", access expiry unknown")
	case now.Before(c.AccessExpires):
		b.WriteString(", access expires in " + ShortDuration(c.AccessExpires.Sub(now)))
	default:
		b.WriteString(", access expired " + ago(now.Sub(c.AccessExpires)) + " (next use refreshes it)")
	}
	switch {
	case !c.HasRefresh:
		b.WriteString(", no refresh token — /login needed when access expires")
	case c.RefreshExpires.IsZero():
	case now.Before(c.RefreshExpires):
		b.WriteString(", refresh in " + ShortDuration(c.RefreshExpires.Sub(now)))
	default:
		b.WriteString(", refresh expired " + ago(now.Sub(c.RefreshExpires)) + " — run /login")
	}
	return b.String()
}

func ago(d time.Duration) string { return ShortDuration(d) + " ago" }

// ShortDuration prints 29d, 1d5h, 3h12m, 3h, 12m, 40s.
func ShortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	day := 24 * time.Hour
	switch {
	case d >= 3*day:
		return fmt.Sprintf("%dd", d/day)
	case d >= day:
		if h := (d % day) / time.Hour; h > 0 {
			return fmt.Sprintf("%dd%dh", d/day, h)
		}
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour:
		if m := (d % time.Hour) / time.Minute; m > 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// AsksToUseAPIKey reports whether text shows the CLI's start-up dialog
// "Detected a custom API key in your environment … Do you want to use this
// API key?" about key (the dialog shows the key's last 20 characters), as
// the dialog open now: at the bottom of the screen, its footer the last
// thing on it. The same words higher up, in scrollback or in a
// conversation, ask nothing.
func AsksToUseAPIKey(text, key string) bool {
	if len(key) < 20 {
		return false
	}
	i := strings.LastIndex(text, "Detected a custom API key")
	if i < 0 {
		return false
	}
	box := text[i:]
	q := strings.Index(box, "Do you want to use this API key?")
	// The key's line wraps in a narrow pane: compare without the breaks.
	if q < 0 || !strings.Contains(strings.Join(strings.Fields(box[:q]), ""), key[len(key)-20:]) {
		return false
	}
	f := strings.Index(box, "Enter to confirm")
	if f < q {
		return false
	}
	// Past the footer (which a narrow pane wraps) the screen ends.
	rest := 0
	for _, l := range strings.Split(box[f:], "\n")[1:] {
		if strings.TrimSpace(l) != "" {
			rest++
		}
	}
	return rest <= 2
}

// Package credentials checks the logins agents run on ([[credential]]s:
// a Claude Code credentials file, a long-lived OAuth token, an API key),
// builds the environment an agent is started with, decides when an agent
// should fail over to its backup credential, and remembers which expiry
// warnings went out (Warnings), so none is said twice.
//
// Checks are passive by default: they read files and token prefixes and
// never spend anything. An active probe (one tiny API request) runs only
// for credentials configured with probe = "api", at most once per
// ProbeEvery. Nothing here runs `claude auth status` or any other command
// that could refresh, and so burn, the refresh token that running agents
// share.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
)

// DefaultName is the implicit oauth-file credential on Options.DefaultConfigDir,
// and what an agent with no credential configured runs on.
const DefaultName = "default"

// Reasons a check gives besides claude's auth_failed reasons (expired,
// time_limit, revoked, not_logged_in, subscription, forbidden,
// invalid_api_key).
const (
	ReasonWrongKind  = "wrong_kind" // the token is not of the credential's kind
	ReasonNoToken    = "no_token"   // the token is unset or its file cannot be read
	ReasonUnreadable = "unreadable" // the credentials file cannot be read or parsed
)

// longLived is how long a `claude setup-token` token lasts.
const longLived = 365 * 24 * time.Hour

// Health is the verdict on one credential.
type Health struct {
	Name, Kind string
	Healthy    bool
	// Detail is one line for /auth and the dashboard: the state of the
	// login, or what is wrong and what to do.
	Detail string
	// Reason is "" when healthy, else one of claude's auth_failed reasons
	// or ReasonWrongKind, ReasonNoToken, ReasonUnreadable.
	Reason string
	// AccessExpires and RefreshExpires are zero when unknown or not
	// applicable. For an oauth-token credential AccessExpires is the
	// long-lived token's estimated expiry (token file mtime + 1 year).
	AccessExpires, RefreshExpires time.Time
	Estimated                     bool   // AccessExpires is an estimate
	Fingerprint                   string // short hash of the token in use, to see it change
	Checked                       time.Time
	Probed                        bool      // an active API probe's verdict is included
	ProbedAt                      time.Time // when that probe ran (it may be cached)
	// Err is the error that kept the check or probe from finishing
	// (unreadable file, network failure), redacted. "" otherwise.
	Err string
}

// Expiry is a token that runs out soon.
type Expiry struct {
	Name, Kind string
	Token      string // "refresh", "long-lived" or "access"
	At         time.Time
	Estimated  bool // At is an estimate (a long-lived token's file mtime + 1 year)
}

// Options configure a Checker.
type Options struct {
	Credentials []config.Credential
	// DefaultConfigDir adds the implicit "default" oauth-file credential on
	// this Claude Code config directory, unless a configured credential is
	// named "default". Pass claude.config_dir when agents run on it: no
	// [[credential]] is configured, an agent has credential = "", or panes
	// are discovered. "" = no implicit credential.
	DefaultConfigDir string
	HTTPClient       *http.Client // default: 30 s timeout
	Now              func() time.Time
	ProbeEvery       time.Duration // at most one probe per credential this often; default 10m
	Log              *slog.Logger
	// Home is the home of the user the agents run as, whose ~/.claude is
	// the CLI's default directory; default $HOME.
	Home string
}

// Checker checks credentials and remembers the last verdicts. It is safe
// for concurrent use.
type Checker struct {
	creds      []*cred
	byName     map[string]*cred
	http       *http.Client
	now        func() time.Time
	probeEvery time.Duration
	log        *slog.Logger
	home       string
}

type cred struct {
	config.Credential

	mu      sync.Mutex // one check of this credential at a time
	last    Health
	checked bool
	probe   *probeResult // last probe, for the rate limit
}

// New makes a Checker.
func New(o Options) *Checker {
	c := &Checker{
		byName:     map[string]*cred{},
		http:       o.HTTPClient,
		now:        o.Now,
		probeEvery: o.ProbeEvery,
		log:        o.Log,
		home:       o.Home,
	}
	if c.home == "" {
		c.home, _ = os.UserHomeDir()
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.probeEvery <= 0 {
		c.probeEvery = 10 * time.Minute
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	add := func(cr config.Credential) {
		if _, dup := c.byName[cr.Name]; dup {
			return // config validation refuses duplicates; keep the first
		}
		x := &cred{Credential: cr}
		if x.Kind == config.KindOAuthFile && x.ConfigDir == "" {
			x.ConfigDir = o.DefaultConfigDir
		}
		c.creds = append(c.creds, x)
		c.byName[cr.Name] = x
	}
	for _, cr := range o.Credentials {
		add(cr)
	}
	if o.DefaultConfigDir != "" {
		add(config.Credential{Name: DefaultName, Kind: config.KindOAuthFile, ConfigDir: o.DefaultConfigDir})
	}
	return c
}

// Names returns the credential names in configuration order (the implicit
// "default" last).
func (c *Checker) Names() []string {
	names := make([]string, len(c.creds))
	for i, cr := range c.creds {
		names[i] = cr.Name
	}
	return names
}

// lookup finds a credential; "" means DefaultName, as for an agent without
// credential.
func (c *Checker) lookup(name string) (*cred, error) {
	if name == "" {
		name = DefaultName
	}
	if cr, ok := c.byName[name]; ok {
		return cr, nil
	}
	return nil, fmt.Errorf("unknown credential %q (known: %s)", name, strings.Join(c.Names(), ", "))
}

// Check checks one credential: passively (file, token kind, expiry, dead
// login) and, when probe is true and the credential has probe = "api", with
// one API request, rate-limited to one per ProbeEvery per token (a newer
// token, after a login, is probed at once).
func (c *Checker) Check(ctx context.Context, name string, probe bool) Health {
	cr, err := c.lookup(name)
	if err != nil {
		return Health{Name: name, Detail: err.Error(), Err: err.Error(), Checked: c.now()}
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()

	now := c.now()
	h, f := c.passive(cr, now)
	if probe && cr.Probe == "api" && h.Healthy {
		c.applyProbe(ctx, cr, &h, f, now)
	}
	h.Detail = claude.Redact(h.Detail)
	h.Err = claude.Redact(h.Err)
	cr.last, cr.checked = h, true
	c.log.Debug("credential checked", "credential", h.Name, "healthy", h.Healthy, "reason", h.Reason, "probed", h.Probed)
	return h
}

// CheckAll checks every credential, concurrently and independently.
func (c *Checker) CheckAll(ctx context.Context, probe bool) []Health {
	out := make([]Health, len(c.creds))
	var wg sync.WaitGroup
	for i, cr := range c.creds {
		wg.Go(func() { out[i] = c.Check(ctx, cr.Name, probe) })
	}
	wg.Wait()
	return out
}

// Last returns the last verdict for every credential, in Names order; one
// never checked says so (Checked is zero).
func (c *Checker) Last() []Health {
	out := make([]Health, len(c.creds))
	for i, cr := range c.creds {
		cr.mu.Lock()
		if cr.checked {
			out[i] = cr.last
		} else {
			out[i] = Health{Name: cr.Name, Kind: cr.Kind, Detail: "not checked yet"}
		}
		cr.mu.Unlock()
	}
	return out
}

// Env returns the environment for an agent started on the credential. The
// values are secrets: pass them to tmux (new-window -e) and nowhere else.
//
// tmux -e cannot unset a variable, and a window inherits the tmux server's
// environment, where an ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN may
// linger. Those would override the credential chosen here (Claude Code
// prefers them to the credentials file), so the other auth variables are
// set to "", which Claude Code treats as unset:
//
//	oauth-file   CLAUDE_CONFIG_DIR=<dir>, CLAUDE_CODE_OAUTH_TOKEN="", ANTHROPIC_API_KEY="", ANTHROPIC_AUTH_TOKEN=""
//	oauth-token  CLAUDE_CODE_OAUTH_TOKEN=<token>, ANTHROPIC_API_KEY="", ANTHROPIC_AUTH_TOKEN=""
//	api-key      ANTHROPIC_API_KEY=<key>, CLAUDE_CODE_OAUTH_TOKEN="", ANTHROPIC_AUTH_TOKEN=""
//
// CLAUDE_CONFIG_DIR is left out when dir is the CLI's default (~/.claude of
// Options.Home): set, even to that, the CLI would read its settings from
// <dir>/.claude.json and start as a fresh install.
//
// base_url is not passed on: it is where probes go, and the config fills
// it in even when nobody chose it. A token in a file: is read again, so a
// new `claude setup-token` token is used without restarting fleetwarden.
func (c *Checker) Env(name string) (map[string]string, error) {
	cr, err := c.lookup(name)
	if err != nil {
		return nil, err
	}
	env := map[string]string{"ANTHROPIC_AUTH_TOKEN": ""}
	switch cr.Kind {
	case config.KindOAuthFile:
		if cr.ConfigDir == "" {
			return nil, fmt.Errorf("credential %q: no config_dir", cr.Name)
		}
		if d := claude.ConfigDirEnv(cr.ConfigDir, c.home); d != "" {
			env["CLAUDE_CONFIG_DIR"] = d
		}
		env["CLAUDE_CODE_OAUTH_TOKEN"] = ""
		env["ANTHROPIC_API_KEY"] = ""
	case config.KindOAuthToken, config.KindAPIKey:
		tok, _, err := readSecret(cr.Token)
		if err != nil {
			return nil, fmt.Errorf("credential %q: %w", cr.Name, err)
		}
		if tok == "" {
			return nil, fmt.Errorf("credential %q: token is not set", cr.Name)
		}
		if cr.Kind == config.KindOAuthToken {
			env["CLAUDE_CODE_OAUTH_TOKEN"] = tok
			env["ANTHROPIC_API_KEY"] = ""
		} else {
			env["ANTHROPIC_API_KEY"] = tok
			env["CLAUDE_CODE_OAUTH_TOKEN"] = ""
		}
	default:
		return nil, fmt.Errorf("credential %q: unknown kind %q", cr.Name, cr.Kind)
	}
	return env, nil
}

// ExpiringWithin lists, soonest first, the tokens that run out after now
// and no later than now+d: refresh tokens of oauth-file logins, long-lived
// oauth-token tokens (estimated), and the access token of a login whose
// refresh token is gone (it cannot be renewed). Already dead logins are
// Check's business, not listed here.
func (c *Checker) ExpiringWithin(now time.Time, d time.Duration) []Expiry {
	var out []Expiry
	soon := func(t time.Time) bool { return !t.IsZero() && t.After(now) && !t.After(now.Add(d)) }
	for _, cr := range c.creds {
		cr.mu.Lock()
		h, f := c.passive(cr, now)
		cr.mu.Unlock()
		switch cr.Kind {
		case config.KindOAuthFile:
			if f.file.Kind != claude.KindOAuth {
				continue
			}
			refreshUsable := f.file.HasRefresh && (h.RefreshExpires.IsZero() || h.RefreshExpires.After(now))
			switch {
			case refreshUsable && soon(h.RefreshExpires):
				out = append(out, Expiry{Name: cr.Name, Kind: cr.Kind, Token: "refresh", At: h.RefreshExpires})
			case !refreshUsable && soon(h.AccessExpires):
				out = append(out, Expiry{Name: cr.Name, Kind: cr.Kind, Token: "access", At: h.AccessExpires})
			}
		case config.KindOAuthToken:
			if soon(h.AccessExpires) {
				out = append(out, Expiry{Name: cr.Name, Kind: cr.Kind, Token: "long-lived", At: h.AccessExpires, Estimated: h.Estimated})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Expiry) int { return a.At.Compare(b.At) })
	return out
}

// facts are what a passive check learnt that a probe needs.
type facts struct {
	file claude.Credentials // oauth-file
	// token returns the token to probe with; nil = nothing to probe. It is
	// read only when a probe runs.
	token func() string
	// bearer: send as OAuth (Authorization: Bearer); else as x-api-key.
	bearer  bool
	noProbe string // why there is nothing to probe, when token is nil
}

func (c *Checker) passive(cr *cred, now time.Time) (Health, facts) {
	h := Health{Name: cr.Name, Kind: cr.Kind, Checked: now}
	switch cr.Kind {
	case config.KindOAuthFile:
		return passiveFile(cr, h, now)
	case config.KindOAuthToken, config.KindAPIKey:
		return passiveToken(cr, h, now)
	}
	h.Reason = ReasonWrongKind
	h.Detail = fmt.Sprintf("unknown credential kind %q (use %s, %s or %s)", cr.Kind, config.KindOAuthFile, config.KindOAuthToken, config.KindAPIKey)
	return h, facts{}
}

func passiveFile(cr *cred, h Health, now time.Time) (Health, facts) {
	var f facts
	if cr.ConfigDir == "" {
		h.Reason = ReasonUnreadable
		h.Detail = "no config_dir for this oauth-file credential"
		return h, f
	}
	path := claude.CredentialsPath(cr.ConfigDir)
	cc, err := claude.ReadCredentials(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		h.Reason = string(claude.ReasonNotLoggedIn)
		h.Detail = "no credentials file " + path + " — run /login"
		return h, f
	case err != nil:
		h.Reason = ReasonUnreadable
		h.Err = err.Error()
		cause := err
		if u := errors.Unwrap(err); u != nil {
			cause = unwrapPath(u)
		}
		h.Detail = "cannot read " + path + ": " + cause.Error() + " — fix the file or run /login"
		return h, f
	}
	f.file = cc
	h.AccessExpires, h.RefreshExpires = cc.AccessExpires, cc.RefreshExpires
	h.Fingerprint = cc.Fingerprint
	switch cc.Kind {
	case claude.KindAPIKey:
		// `claude` keeps an API key entered at its prompt in the file.
		h.Healthy = true
		h.Detail = "api key " + cc.Fingerprint + " in " + path
		f.token = func() string { return fileToken(path, "primaryApiKey") }
		return h, f
	case claude.KindUnknown:
		h.Reason = ReasonWrongKind
		h.Detail = path + " holds a token of an unknown kind — run /login"
		return h, f
	}
	refreshGone := !cc.HasRefresh || (!cc.RefreshExpires.IsZero() && !now.Before(cc.RefreshExpires))
	accessGone := cc.Fingerprint == "" || (!cc.AccessExpires.IsZero() && !now.Before(cc.AccessExpires))
	if cc.DeadAt(now) || (refreshGone && accessGone) {
		switch {
		case cc.LoginEnded == "time_limit" || (cc.HasRefresh && refreshGone):
			h.Reason = string(claude.ReasonTimeLimit)
		case cc.Kind == claude.KindNone && cc.LoginEnded == "" && cc.Subscription == "" && len(cc.Scopes) == 0:
			h.Reason = string(claude.ReasonNotLoggedIn)
		default:
			h.Reason = string(claude.ReasonExpired)
		}
		h.Detail = cc.Status(now)
		if h.Reason == string(claude.ReasonNotLoggedIn) {
			h.Detail = "not logged in: " + path + " holds no login — run /login"
		}
		if cc.HasRefresh {
			// Status would still promise that the next use refreshes it.
			h.Detail = "dead: refresh token expired " + claude.ShortDuration(now.Sub(cc.RefreshExpires)) + " ago — run /login"
		}
		return h, f
	}
	h.Healthy = true
	h.Detail = cc.Status(now)
	if accessGone {
		// Only Claude Code may refresh: a refresh by us would race the
		// agents for the single-use refresh token.
		f.noProbe = "probe skipped: the access token has expired and only Claude Code refreshes it"
	} else {
		f.token, f.bearer = func() string { return fileToken(path, "accessToken") }, true
	}
	return h, f
}

func passiveToken(cr *cred, h Health, now time.Time) (Health, facts) {
	var f facts
	src := cr.Token.Ref()
	if src == "literal" {
		src = "the config file"
	}
	tok, mtime, err := readSecret(cr.Token)
	if err != nil {
		h.Reason = ReasonNoToken
		h.Err = err.Error()
		h.Detail = "cannot read the token: " + err.Error()
		return h, f
	}
	if tok == "" {
		h.Reason = ReasonNoToken
		h.Detail = "token not set — set token = \"env:NAME\" or \"file:PATH\""
		return h, f
	}
	h.Fingerprint = claude.Fingerprint(tok)
	kind := claude.TokenKindOf(tok)
	what := "long-lived oauth token"
	if cr.Kind == config.KindAPIKey {
		what = "api key"
	}
	switch {
	case cr.Kind == config.KindOAuthToken && kind == claude.KindAPIKey:
		h.Reason = ReasonWrongKind
		h.Detail = "an API key (sk-ant-api…) from " + src + " in an oauth-token credential — use kind = \"api-key\""
		return h, f
	case cr.Kind == config.KindOAuthToken && strings.HasPrefix(tok, "sk-ant-ort"):
		h.Reason = ReasonWrongKind
		h.Detail = "a refresh token (sk-ant-ort…) from " + src + " cannot be used as CLAUDE_CODE_OAUTH_TOKEN — use the token `claude setup-token` prints"
		return h, f
	case cr.Kind == config.KindAPIKey && kind == claude.KindOAuth:
		h.Reason = ReasonWrongKind
		h.Detail = "an OAuth token (sk-ant-oat…) from " + src + " in an api-key credential: Claude Code would send it as x-api-key and the API refuses that — use kind = \"oauth-token\""
		return h, f
	}
	f.token, f.bearer = func() string { return tok }, cr.Kind == config.KindOAuthToken
	detail := what + " " + h.Fingerprint + " from " + src
	if kind == claude.KindUnknown {
		detail += " (not an Anthropic token format)"
	}
	if cr.Kind == config.KindOAuthToken {
		if mtime.IsZero() {
			detail += ", expiry unknown"
		} else {
			h.AccessExpires, h.Estimated = mtime.Add(longLived), true
			if !now.Before(h.AccessExpires) {
				// The file was written after the token was made, so the
				// real expiry is no later than this estimate.
				h.Reason = string(claude.ReasonExpired)
				h.Detail = detail + ", expired about " + claude.ShortDuration(now.Sub(h.AccessExpires)) +
					" ago (setup-token tokens last a year) — run /login to make a new one"
				return h, f
			}
			detail += ", expires in about " + claude.ShortDuration(h.AccessExpires.Sub(now))
		}
	}
	h.Healthy = true
	h.Detail = detail
	return h, f
}

// readSecret returns a token, reading a file: secret again so that a
// rewritten token file takes effect, with the file's mtime. Relative
// file: paths were relative to the config file, which is not known here:
// the value read at load time is used. env: and literal secrets keep the
// value read at load time.
func readSecret(s config.Secret) (string, time.Time, error) {
	ref := s.Ref()
	p, ok := strings.CutPrefix(ref, "file:")
	if !ok {
		return s.Value(), time.Time{}, nil
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return s.Value(), time.Time{}, nil
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		return s.Value(), time.Time{}, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", ref, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return "", time.Time{}, fmt.Errorf("%s: not a regular file", ref)
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		return "", time.Time{}, fmt.Errorf("%s: readable by others (mode %04o); chmod 600 it", ref, perm)
	}
	fh, err := os.Open(p)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", ref, unwrapPath(err))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 64<<10))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", ref, unwrapPath(err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", time.Time{}, fmt.Errorf("%s: file is empty", ref)
	}
	return v, fi.ModTime(), nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

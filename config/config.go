// Package config reads fleetwarden's TOML configuration: strict decoding
// (unknown keys and wrong types are errors), defaults, secrets (env:NAME,
// file:PATH) and validation, with every problem reported as file:line.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
)

// Config is the whole configuration. See config.toml.example for every key.
type Config struct {
	Path string `toml:"-"` // file it came from, "" for the embedded default
	Raw  []byte `toml:"-"` // the file's bytes as loaded (kept as the last good config)

	refSecrets  []string     // values read by env: or file: into plain strings (webhook URL and headers)
	Tmux        Tmux         `toml:"tmux"`
	Claude      Claude       `toml:"claude"`
	Agents      []Agent      `toml:"agent"`
	Credentials []Credential `toml:"credential"`
	Telegram    *Telegram    `toml:"telegram"` // nil when the section is absent
	Discord     *Discord     `toml:"discord"`  // nil when the section is absent
	Console     Console      `toml:"console"`
	Watchdog    Watchdog     `toml:"watchdog"`
	Alerts      Alerts       `toml:"alerts"`
	Schedule    Schedule     `toml:"schedule"`
	Heartbeat   Heartbeat    `toml:"heartbeat"`
	Login       Login        `toml:"login"`
	Restart     Restart      `toml:"restart"`
	Limits      Limits       `toml:"limits"`
	Hosts       []Host       `toml:"host"`
	Dashboard   Dashboard    `toml:"dashboard"`
	State       State        `toml:"state"`
	Log         Log          `toml:"log"`
}

// Tmux is the local tmux server.
type Tmux struct {
	Socket string `toml:"socket"` // tmux -L NAME; "" = the default server
	// Discover watches every pane whose command is Claude Code, in addition
	// to the [[agent]]s. Default: true only when no [[agent]] is configured.
	Discover bool   `toml:"discover"`
	Bin      string `toml:"bin"` // default "tmux"
}

// Claude is how to run and log in Claude Code.
type Claude struct {
	Bin          string   `toml:"bin"`           // default "claude"
	ConfigDir    string   `toml:"config_dir"`    // default "~/.claude" (expanded)
	LoginMethod  string   `toml:"login_method"`  // "auth-login" (default) | "setup-token"
	LoginTimeout Duration `toml:"login_timeout"` // default 10m
	TokenFile    string   `toml:"token_file"`    // setup-token's long-lived token; default <state.dir>/oauth-token
	Failover     string   `toml:"failover"`      // "auto" | "ask" (default) | "off"
}

// Agent is one Claude Code session in a tmux pane.
type Agent struct {
	Name       string            `toml:"name"`
	Target     string            `toml:"target"`     // session[:window[.pane]]
	Command    string            `toml:"command"`    // default "claude --continue"
	Workdir    string            `toml:"workdir"`    // ~ expanded for local agents
	Host       string            `toml:"host"`       // a [[host]] name; "" = local
	Credential string            `toml:"credential"` // a [[credential]] name
	Backup     string            `toml:"backup"`     // a [[credential]] name to fail over to
	Env        map[string]string `toml:"env"`
}

// Credential kinds.
const (
	KindOAuthFile  = "oauth-file"
	KindOAuthToken = "oauth-token"
	KindAPIKey     = "api-key"
)

// Credential is one way of being logged in to Anthropic.
type Credential struct {
	Name      string `toml:"name"`
	Kind      string `toml:"kind"`       // "oauth-file" | "oauth-token" | "api-key"
	ConfigDir string `toml:"config_dir"` // oauth-file: default claude.config_dir
	Token     Secret `toml:"token"`      // oauth-token, api-key
	Probe     string `toml:"probe"`      // "" | "api"
	BaseURL   string `toml:"base_url"`   // default $ANTHROPIC_BASE_URL or https://api.anthropic.com
}

// Telegram is the Telegram bot.
type Telegram struct {
	Token      Secret  `toml:"token"`
	APIURL     string  `toml:"api_url"` // default https://api.telegram.org, no trailing slash
	Admins     []int64 `toml:"admins"`
	Operators  []int64 `toml:"operators"`
	Viewers    []int64 `toml:"viewers"`
	AlertChats []int64 `toml:"alert_chats"`
}

// Discord is the Discord bot. IDs are snowflakes written as strings.
type Discord struct {
	Token         Secret   `toml:"token"`
	APIURL        string   `toml:"api_url"` // REST base, default https://discord.com/api/v9
	GuildID       string   `toml:"guild_id"`
	Admins        []string `toml:"admins"`
	Operators     []string `toml:"operators"`
	Viewers       []string `toml:"viewers"`
	AlertChannels []string `toml:"alert_channels"`
}

// Console is the chat on fleetwarden's own terminal.
type Console struct {
	Enabled *bool `toml:"enabled"` // nil = on when stdin is a terminal
}

// On reports whether the console chat runs, given whether stdin is a terminal.
func (c Console) On(isTTY bool) bool {
	if c.Enabled != nil {
		return *c.Enabled
	}
	return isTTY
}

// Watchdog is how agents are watched.
type Watchdog struct {
	Interval    Duration `toml:"interval"`     // default 10s
	StuckAfter  Duration `toml:"stuck_after"`  // default 20m
	InputAfter  Duration `toml:"input_after"`  // default 10m
	ControlMode *bool    `toml:"control_mode"` // default true (never nil after Load)
	Debounce    Duration `toml:"debounce"`     // default 75ms
	Concurrency int      `toml:"concurrency"`  // default 8
}

// Alerts is alert timing and the routes tried when chat fails.
type Alerts struct {
	GroupWait      Duration `toml:"group_wait"`      // default 10s
	RepeatInterval Duration `toml:"repeat_interval"` // default 1h
	FallbackAfter  Duration `toml:"fallback_after"`  // default 30s
	Routes         []Route  `toml:"route"`
}

// Route types.
const (
	RouteWebhook = "webhook"
	RouteEmail   = "email"
	RouteExec    = "exec"
)

// Route is one fallback alert destination.
type Route struct {
	Type string `toml:"type"` // "webhook" | "email" | "exec"
	Name string `toml:"name"` // default type+index, e.g. "webhook0"

	// webhook
	URL     string            `toml:"url"`
	Format  string            `toml:"format"` // "json" (default) | "ntfy" | "slack"
	Headers map[string]string `toml:"headers"`

	// email
	Host     string   `toml:"host"`
	Port     int      `toml:"port"` // default 587
	Username string   `toml:"username"`
	Password Secret   `toml:"password"`
	From     string   `toml:"from"`
	To       []string `toml:"to"`
	StartTLS *bool    `toml:"starttls"` // default true (never nil after Load)

	// exec
	Command []string `toml:"command"` // argv

	Timeout Duration `toml:"timeout"` // default 10s
}

// ID is the name alerts, /status and the journal know route number i by:
// its type, then its name or its number ("webhook:ops", "email:email1").
// Two routes must not share one.
func (r Route) ID(i int) string {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("%s%d", r.Type, i)
	}
	switch {
	case name == r.Type, strings.HasPrefix(name, r.Type+":"):
		return name
	}
	return r.Type + ":" + name
}

// Schedule is the cron jobs. Cron specs are checked by the scheduler; ""
// means the job is off (written "off" in the file).
type Schedule struct {
	AuthCheck     string     `toml:"auth_check"`     // default "*/15 * * * *"
	WarnBefore    []Duration `toml:"warn_before"`    // default ["24h", "1h"]
	MorningReport string     `toml:"morning_report"` // default "CRON_TZ=UTC 0 8 * * *"
	Timezone      string     `toml:"timezone"`       // for rendering times; default "Local"
}

// Heartbeat pings a dead man's switch URL.
type Heartbeat struct {
	URL      string   `toml:"url"`      // "" = off
	Interval Duration `toml:"interval"` // default 1m
}

// Login is what happens after a login succeeds.
type Login struct {
	Restart        string   `toml:"restart"`         // "failed" (default) | "all" | "none"
	Parallel       int      `toml:"parallel"`        // default 8
	RestartTimeout Duration `toml:"restart_timeout"` // default 90s
}

// Restart is how a restart brings an agent back.
type Restart struct {
	// ResumeChoice answers the question some CLIs ask after --resume of an
	// old, long session: "summary" (default, the CLI's recommended "Resume
	// from summary") or "full" ("Resume full session as-is").
	ResumeChoice string `toml:"resume_choice"`
}

// Limits is what fleetwarden does about subscription usage limits: the
// CLI waits for the reset and continues by itself; fleetwarden checks it did.
type Limits struct {
	// AutoResume types ResumePrompt, once per reset, into an agent that
	// did not go on by itself (it was relaunched during the wait, or its
	// CLI says the task will not resume). Default true.
	AutoResume   *bool  `toml:"auto_resume"`
	ResumePrompt string `toml:"resume_prompt"` // default "continue"
	// Grace is how long after the reset agents get to go on by themselves
	// before they are reported as still waiting (or prompted). Default 2m.
	Grace Duration `toml:"grace"`
	// Failover names a [[credential]] (an API key, say) that agents move to
	// while their subscription has been limited for FailoverAfter, and back
	// from after the reset. "" = off.
	Failover      string   `toml:"failover"`
	FailoverAfter Duration `toml:"failover_after"` // default 15m
}

// Host is a machine reached over SSH whose tmux runs agents.
type Host struct {
	Name       string `toml:"name"`
	Address    string `toml:"address"`     // host[:port]; port 22 added when missing
	User       string `toml:"user"`        // default: the local user name
	KeyFile    string `toml:"key_file"`    // "" = ssh-agent / default keys
	KnownHosts string `toml:"known_hosts"` // default "~/.ssh/known_hosts"
	Socket     string `toml:"socket"`      // tmux -L NAME on that host
}

// Dashboard is the HTTP status page.
type Dashboard struct {
	Listen string   `toml:"listen"` // default "127.0.0.1:8787"; "" when off
	Token  Secret   `toml:"token"`  // required unless Listen is a loopback address
	Hosts  []string `toml:"hosts"`  // names the page answers to besides localhost and the listen address
}

// Enabled reports whether the dashboard listens at all.
func (d Dashboard) Enabled() bool { return d.Listen != "" }

// State is where fleetwarden keeps its files.
type State struct {
	Dir          string `toml:"dir"`            // default "~/.local/state/fleetwarden"
	JournalMaxMB int    `toml:"journal_max_mb"` // default 10
	JournalKeep  int    `toml:"journal_keep"`   // default 5
}

// Log is fleetwarden's own log.
type Log struct {
	Format string `toml:"format"` // "text" (default) | "json"
	Level  string `toml:"level"`  // "debug" | "info" (default) | "warn" | "error"
}

//go:embed default.toml
var defaultTOML []byte

// Default returns the configuration used when there is no file: discover
// every Claude Code pane of the default tmux server, console chat on a
// terminal, dashboard on 127.0.0.1:8787.
func Default() *Config {
	c, err := parse("default.toml", "", defaultTOML)
	if err != nil {
		// Only possible when the home directory cannot be found; the tests
		// keep default.toml itself valid.
		panic(fmt.Sprintf("config: embedded default: %v", err))
	}
	c.Path = ""
	return c
}

// Load reads the file at path, decodes it strictly, applies defaults, resolves
// secrets and validates. Config problems come back as Errors. Relative paths
// in the file are relative to the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parse(path, filepath.Dir(abs), data)
	if err != nil {
		return nil, err
	}
	c.Path = abs
	c.Raw = data
	return c, nil
}

// LoadCopy parses data, a copy of the file at source kept elsewhere (the
// last good config): relative paths resolve against source's directory, as
// they did in the file, and Path is source, so a reload reads the file again.
// Problems are reported against name.
func LoadCopy(name, source string, data []byte) (*Config, error) {
	c, err := parse(name, filepath.Dir(source), data)
	if err != nil {
		return nil, err
	}
	c.Path = source
	c.Raw = data
	return c, nil
}

// Parse is Load on bytes; name is used in messages and as Config.Path.
// Relative paths are relative to the working directory.
func Parse(name string, data []byte) (*Config, error) {
	c, err := parse(name, "", data)
	if err != nil {
		return nil, err
	}
	c.Path = name
	return c, nil
}

// Find returns the config file to use when none is given: ./config.toml,
// then $XDG_CONFIG_HOME/fleetwarden/config.toml ($XDG_CONFIG_HOME defaults to
// ~/.config). It returns "" and no error when there is none.
func Find() (string, error) {
	candidates := []string{"config.toml"}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(xdg) { // the XDG spec says to ignore relative paths
		xdg = ""
		if home, err := homeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "fleetwarden", "config.toml"))
	}
	for _, p := range candidates {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", fmt.Errorf("config: %w", err)
		case fi.IsDir():
			return "", fmt.Errorf("config: %s is a directory", p)
		}
		return p, nil
	}
	return "", nil
}

// homeDir is $HOME, or the user database's idea of it when $HOME is unset
// (system services).
func homeDir() (string, error) {
	if h, err := os.UserHomeDir(); err == nil {
		return h, nil
	}
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		return "", errors.New("cannot expand ~: $HOME is not set")
	}
	return u.HomeDir, nil
}

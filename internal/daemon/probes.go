package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/bot/discord"
	"github.com/fleetwarden/fleetwarden/bot/telegram"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// Probe is one probe `check` runs; it returns a problem or nil, and a line
// describing what was found when all is well.
type Probe struct {
	Name string
	Run  func(ctx context.Context) (ok string, err error)
	Warn bool // its error is a warning: shown, but check still passes
}

// Probes are `check`'s probes of cfg: tmux and hosts, config directories,
// the CLI, credentials (actively unless offline), and, online, the chat
// transports and how the running fleetwarden sees them.
func Probes(cfg *config.Config, log *slog.Logger, offline bool) []Probe {
	return checkProbes(newWiring(cfg, log, nil), offline)
}

func checkProbes(rt *wiring, offline bool) []Probe {
	cfg := rt.cfg
	ps := []Probe{{Name: "tmux", Run: func(ctx context.Context) (string, error) {
		panes, err := rt.tmux.ListPanes(ctx)
		if errors.Is(err, tmux.ErrNoServer) {
			if len(cfg.Agents) == 0 {
				return "no server running yet (nothing to watch)", nil
			}
			return "", fmt.Errorf("no tmux server running on %s, but %d agents are configured", SocketName(cfg), len(cfg.Agents))
		}
		if err != nil {
			return "", err
		}
		missing := 0
		for _, a := range cfg.Agents {
			if a.Host != "" {
				continue
			}
			if _, ok := tmux.FindPane(panes, a.Target); !ok {
				missing++
			}
		}
		if missing > 0 {
			return "", fmt.Errorf("%d of %d agents have no pane on %s", missing, len(cfg.Agents), SocketName(cfg))
		}
		return fmt.Sprintf("%d panes on %s", len(panes), SocketName(cfg)), nil
	}}}
	for _, h := range cfg.Hosts {
		ps = append(ps, Probe{Name: "host " + h.Name, Run: func(ctx context.Context) (string, error) {
			c, ok := rt.remote[h.Name]
			if !ok {
				return "", fmt.Errorf("cannot set up SSH to %s: %w", h.Address, rt.hostErr[h.Name])
			}
			panes, err := c.ListPanes(ctx)
			if err != nil && !errors.Is(err, tmux.ErrNoServer) {
				return "", err
			}
			return fmt.Sprintf("%d panes on %s over SSH", len(panes), h.Address), nil
		}})
	}
	ps = append(ps, configDirProbes(cfg)...)
	ps = append(ps, cliProbes(rt)...)
	for _, name := range rt.creds.Names() {
		ps = append(ps, Probe{Name: "credential " + name, Run: func(ctx context.Context) (string, error) {
			h := rt.creds.Check(ctx, name, !offline)
			if !h.Healthy {
				return "", errors.New(h.Detail)
			}
			return h.Detail, nil
		}})
	}
	if offline {
		return ps
	}
	if t := cfg.Telegram; t != nil {
		ps = append(ps, Probe{Name: "telegram", Run: func(ctx context.Context) (string, error) {
			name, err := telegram.Probe(ctx, nil, t.APIURL, t.Token.Value())
			if err != nil {
				return "", err
			}
			return "bot " + name + users(len(t.Admins), len(t.Operators), len(t.Viewers), len(t.AlertChats), "alert chat"), nil
		}})
	}
	if dc := cfg.Discord; dc != nil {
		ps = append(ps, Probe{Name: "discord", Run: func(ctx context.Context) (string, error) {
			name, err := discord.Probe(ctx, nil, dc.APIURL, dc.Token.Value())
			if err != nil {
				return "", err
			}
			return "bot " + name + users(len(dc.Admins), len(dc.Operators), len(dc.Viewers), len(dc.AlertChannels), "alert channel"), nil
		}})
	}
	return append(ps, runningProbes(cfg)...)
}

// configDirProbes warn about a Claude config directory that is not the
// CLI's default and holds no .claude.json: agents started with it (as
// CLAUDE_CONFIG_DIR) would see a fresh install, onboarding first.
func configDirProbes(cfg *config.Config) []Probe {
	home, _ := os.UserHomeDir()
	dirs := map[string]string{} // dir → the key naming it
	keys := []string{}
	add := func(key, dir string) {
		if claude.IsDefaultConfigDir(dir, home) {
			return
		}
		if _, ok := dirs[dir]; !ok {
			keys = append(keys, dir)
			dirs[dir] = key
		}
	}
	add("claude.config_dir", cfg.Claude.ConfigDir)
	for i, cr := range cfg.Credentials {
		if cr.Kind == config.KindOAuthFile {
			add(fmt.Sprintf("credential[%d].config_dir", i), cr.ConfigDir)
		}
	}
	var ps []Probe
	for _, dir := range keys {
		ps = append(ps, Probe{Name: dirs[dir], Warn: true, Run: func(context.Context) (string, error) {
			if _, err := os.Stat(filepath.Join(dir, ".claude.json")); err != nil {
				return "", fmt.Errorf("%s is not the CLI's default directory and has no .claude.json of its own: agents restarted with this directory will show the first-run onboarding (start Claude Code once with CLAUDE_CONFIG_DIR=%s and finish it)", dir, dir)
			}
			return dir + " (CLAUDE_CONFIG_DIR for the agents and logins)", nil
		}})
	}
	return ps
}

// runningProbes report the chat transports as the fleetwarden running on
// this state directory sees them. Some failures only show there: a 409
// Conflict from a second instance polling the same bot token cannot be
// probed from here without cutting the running bot's own poll short.
func runningProbes(cfg *config.Config) []Probe {
	var names []string
	if cfg.Telegram != nil {
		names = append(names, "telegram")
	}
	if cfg.Discord != nil {
		names = append(names, "discord")
	}
	if len(names) == 0 {
		return nil
	}
	running, err := audit.Running(cfg.State.Dir)
	if err != nil {
		return []Probe{{Name: "running fleetwarden", Run: func(context.Context) (string, error) {
			return "", fmt.Errorf("cannot tell whether one runs on %s: %w", cfg.State.Dir, err)
		}}}
	}
	if !running {
		return nil
	}
	recs, err := audit.ReadAll(cfg.State.Dir, time.Time{})
	if err != nil {
		return []Probe{{Name: "running fleetwarden", Run: func(context.Context) (string, error) {
			return "", fmt.Errorf("cannot read its journal: %w", err)
		}}}
	}
	states := audit.TransportStates(recs)
	var ps []Probe
	for _, n := range names {
		st := states[n]
		ps = append(ps, Probe{Name: n + " (in the running fleetwarden)", Run: func(context.Context) (string, error) {
			since := st.Since.Local().Format("2006-01-02 15:04")
			switch st.State {
			case "down":
				return "", fmt.Errorf("down since %s: %s", since, st.Error)
			case "degraded":
				return fmt.Sprintf("degraded since %s: %s", since, st.Error), nil
			case "up":
				return "up since " + since, nil
			}
			return "no trouble reported since it started", nil
		}})
	}
	return ps
}

// SocketName names cfg's local tmux server for people.
func SocketName(cfg *config.Config) string {
	if cfg.Tmux.Socket == "" {
		return "the default tmux server"
	}
	return "tmux socket " + cfg.Tmux.Socket
}

// users says who the bot answers and where it alerts: "; 1 admin, 2 viewers;
// 1 alert chat". A bot nobody may command is said so (it may be meant to
// only send alerts).
func users(admins, operators, viewers, alertTo int, alertNoun string) string {
	var who []string
	for _, r := range []struct {
		n    int
		role string
	}{{admins, "admin"}, {operators, "operator"}, {viewers, "viewer"}} {
		switch {
		case r.n == 1:
			who = append(who, "1 "+r.role)
		case r.n > 1:
			who = append(who, fmt.Sprintf("%d %ss", r.n, r.role))
		}
	}
	if len(who) == 0 {
		who = []string{"nobody may run commands (no admins, operators or viewers)"}
	}
	where := "no " + alertNoun + "s: alerts go elsewhere"
	if alertTo == 1 {
		where = "1 " + alertNoun
	} else if alertTo > 1 {
		where = fmt.Sprintf("%d %ss", alertTo, alertNoun)
	}
	return "; " + strings.Join(who, ", ") + "; " + where
}

// OpenSecrets warns when the config file holds a secret written inline and
// other users may read the file (group or other mode bits): they would read
// the bot token with it. "" when that is not so.
func OpenSecrets(cfg *config.Config) string {
	if cfg.Path == "" {
		return ""
	}
	var inline []string
	lit := func(key string, s config.Secret) {
		if s.Ref() == "literal" {
			inline = append(inline, key)
		}
	}
	if cfg.Telegram != nil {
		lit("telegram.token", cfg.Telegram.Token)
	}
	if cfg.Discord != nil {
		lit("discord.token", cfg.Discord.Token)
	}
	lit("dashboard.token", cfg.Dashboard.Token)
	for i, c := range cfg.Credentials {
		lit(fmt.Sprintf("credential[%d].token", i), c.Token)
	}
	for i, r := range cfg.Alerts.Routes {
		lit(fmt.Sprintf("alerts.route[%d].password", i), r.Password)
	}
	if len(inline) == 0 {
		return ""
	}
	fi, err := os.Stat(cfg.Path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s holds %s inline and other users can read it (mode %04o): chmod 600 %s, or give the secret as env:NAME or file:PATH",
		cfg.Path, strings.Join(inline, ", "), fi.Mode().Perm(), cfg.Path)
}

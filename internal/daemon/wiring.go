package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/bot/console"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/credentials"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// wiring is the wired program: config, tmux servers, the fleet and the
// command layer. Subcommands use as much of it as they need.
type wiring struct {
	cfg      *config.Config
	log      *slog.Logger
	tmux     *tmux.Client
	sources  map[string]fleet.Panes
	remote   map[string]*tmux.Client // tmux on other hosts, over SSH
	hostSSH  map[string]*tmux.SSH    // the SSH connections under them, for other programs (claude --version)
	hostErr  map[string]error        // hosts whose SSH could not be set up, and why
	fleet    *fleet.Fleet
	acl      *commands.ACL
	creds    *credentials.Checker
	failover *credentials.Failover // nil without [[credential]]s
	environ  []string              // for what fleetwarden starts: the user's, without secrets
}

func newWiring(cfg *config.Config, log *slog.Logger, base []string) *wiring {
	environ := userEnviron(cfg, base)
	local := tmux.New(cfg.Tmux.Socket, tmux.Exec{Bin: cfg.Tmux.Bin, Env: environ})
	sources := map[string]fleet.Panes{"": local}
	remote := map[string]*tmux.Client{}
	hostSSH := map[string]*tmux.SSH{}
	hostErr := map[string]error{}
	for _, h := range cfg.Hosts {
		ssh, err := tmux.NewSSH(tmux.SSHConfig{Address: h.Address, User: h.User, KeyFile: h.KeyFile, KnownHosts: h.KnownHosts})
		if err != nil {
			// Its agents show as unknown (host_unreachable) and check says why.
			log.Error("host", "name", h.Name, "err", err)
			hostErr[h.Name] = err
			continue
		}
		c := tmux.New(h.Socket, ssh)
		sources[h.Name] = c
		remote[h.Name] = c
		hostSSH[h.Name] = ssh
	}
	var agents []fleet.Agent
	for _, a := range cfg.Agents {
		agents = append(agents, fleet.Agent{Name: a.Name, Target: a.Target, Host: a.Host, Command: a.Command,
			Workdir: a.Workdir, Credential: a.Credential, Backup: a.Backup, Env: a.Env})
	}
	var recapture time.Duration
	if controlMode(cfg) {
		// tmux tells us when a pane writes; a quiet pane is looked at again
		// only now and then, as a safety net (a control client that died is
		// restarted and its restart scans everything). Each look is a tmux
		// process: at 500 agents a look a minute was most of the idle CPU,
		// fleetwarden's and the tmux server's.
		recapture = max(30*cfg.Watchdog.Interval.Duration, 5*time.Minute)
	}
	f := fleet.New(fleet.Options{
		Agents:      agents,
		Discover:    cfg.Tmux.Discover,
		Sources:     sources,
		Concurrency: cfg.Watchdog.Concurrency,
		Recapture:   recapture,
		Log:         log,
	})
	creds := credentials.New(credentials.Options{Credentials: cfg.Credentials, DefaultConfigDir: cfg.Claude.ConfigDir, Log: log})
	rt := &wiring{cfg: cfg, log: log, tmux: local, sources: sources, remote: remote, hostSSH: hostSSH, hostErr: hostErr, fleet: f, acl: buildACL(cfg), creds: creds,
		environ: environ}
	if len(cfg.Credentials) > 0 {
		fo, err := credentials.NewFailover(cfg.Agents, creds.Names(), cfg.Claude.Failover, filepath.Join(cfg.State.Dir, "failover.json"))
		if err != nil {
			log.Error("failover state", "err", err)
		} else {
			rt.failover = fo
		}
	}
	return rt
}

// agentNames are the configured agents' names, for /silence.
func (rt *wiring) agentNames() []string {
	var names []string
	for _, a := range rt.fleet.Agents() {
		names = append(names, a.Name)
	}
	return names
}

func buildACL(cfg *config.Config) *commands.ACL {
	acl := commands.NewACL()
	acl.Grant(console.Platform, commands.RoleAdmin, console.User)
	if t := cfg.Telegram; t != nil {
		acl.Grant("telegram", commands.RoleViewer, ids64(t.Viewers)...)
		acl.Grant("telegram", commands.RoleOperator, ids64(t.Operators)...)
		acl.Grant("telegram", commands.RoleAdmin, ids64(t.Admins)...)
	}
	if d := cfg.Discord; d != nil {
		acl.Grant("discord", commands.RoleViewer, d.Viewers...)
		acl.Grant("discord", commands.RoleOperator, d.Operators...)
		acl.Grant("discord", commands.RoleAdmin, d.Admins...)
	}
	return acl
}

// telegramRoles is each configured Telegram user's role (the highest
// grant wins), for the per-user command menus.
func telegramRoles(t *config.Telegram) map[int64]commands.Role {
	roles := map[int64]commands.Role{}
	for role, ids := range map[commands.Role][]int64{commands.RoleViewer: t.Viewers, commands.RoleOperator: t.Operators, commands.RoleAdmin: t.Admins} {
		for _, id := range ids {
			roles[id] = max(roles[id], role)
		}
	}
	return roles
}

func ids64(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}

// buildRoute makes the fallback alert route of [[alerts.route]] number i.
func buildRoute(i int, r config.Route, secrets []string) (alert.Route, error) {
	name := r.ID(i)
	switch r.Type {
	case "webhook":
		return alert.NewWebhook(name, r.URL, r.Format, r.Headers, r.Timeout.Duration, nil), nil
	case "email":
		starttls := r.StartTLS == nil || *r.StartTLS
		return alert.NewEmail(alert.EmailConfig{Name: name, Host: r.Host, Port: r.Port, Username: r.Username,
			Password: r.Password.Value(), From: r.From, To: r.To, StartTLS: starttls, Timeout: r.Timeout.Duration}), nil
	case "exec":
		return alert.NewExec(name, r.Command, r.Timeout.Duration, secrets...), nil
	}
	return nil, fmt.Errorf("alerts.route[%d]: unknown type %q", i, r.Type)
}

func controlMode(cfg *config.Config) bool {
	return cfg.Watchdog.ControlMode == nil || *cfg.Watchdog.ControlMode
}

package daemon

// Moving agents between credentials, in one place: failover when a login
// fails (failover), a human's /auth use (authUse), and the usage-limit
// failover and its way back (limits.go) all restart through restartOn,
// with each agent's environment from agentEnv; credentials.Failover
// decides and remembers who runs on what.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/credentials"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// restartOn restarts agents, each on the credential override names for it
// (else its own), and journals each restart as by's; it returns the
// results and how long they took.
func (d *daemon) restartOn(ctx context.Context, agents []string, override map[string]string, by string) ([]fleet.RestartResult, time.Duration) {
	start := time.Now()
	res := d.rt.fleet.Restart(ctx, agents, d.rt.restartOptions(override))
	took := time.Since(start)
	for _, rec := range commands.RestartRecords(res, agents, by, took) {
		_ = d.tap.Append(rec)
	}
	return res, took
}

// agentsOn lists the agents running on credential name that have a backup.
func (d *daemon) agentsOn(name string) []string {
	if d.rt.failover == nil {
		return nil
	}
	var out []string
	for _, a := range d.rt.failover.Assignments() {
		if a.Credential == name && a.Backup != "" && a.Backup != name {
			out = append(out, a.Agent)
		}
	}
	return out
}

// failover reacts to an agent's login failing: with a healthy backup it
// restarts the agent on it (auto), or tells the humans how to (ask).
func (d *daemon) failover(ctx context.Context, agent, reason string) {
	fo := d.rt.failover
	if fo == nil || fo.Mode() == credentials.ModeOff {
		return
	}
	// One at a time per agent: its pane and its credential check may both
	// report the same failure.
	if _, busy := d.failingOver.LoadOrStore(agent, true); busy {
		return
	}
	defer d.failingOver.Delete(agent)
	health := map[string]credentials.Health{}
	for _, h := range d.rt.creds.CheckAll(ctx, false) {
		health[h.Name] = h
	}
	dec := fo.Decide(agent, reason, health)
	switch dec.Action {
	case credentials.ActionNone:
		if dec.To != "" || strings.Contains(dec.Why, "backup") {
			d.notice(agent, "failover", dec.Why)
		}
		return
	case credentials.ActionAsk:
		d.notice(agent, "failover", fmt.Sprintf("%s Send /auth use %s %s to switch.", dec.Why, agent, dec.To))
		return
	}
	start := d.now()
	res := d.rt.fleet.Restart(ctx, []string{agent}, d.rt.restartOptions(map[string]string{agent: dec.To}))
	ok := len(res) == 1 && res[0].OK
	_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Agents: []string{agent}, Actor: "fleetwarden", Action: "failover",
		From: dec.From, To: dec.To, Reason: reason, OK: ptr(ok), Message: dec.Why})
	for _, rec := range commands.RestartRecords(res, []string{agent}, "fleetwarden", d.since(start)) {
		_ = d.tap.Append(rec)
	}
	if !ok {
		msg := "restart failed"
		if len(res) == 1 {
			msg = res[0].Err
		}
		d.notice(agent, "failover", fmt.Sprintf("Switching %s to %s failed: %s", agent, dec.To, msg))
		return
	}
	if err := fo.Switched(agent, dec.To); err != nil {
		d.log.Error("recording the failover", "err", err)
	}
	d.notice(agent, "failover", fmt.Sprintf("%s now runs on backup credential %s (%s). Switch back with /auth use %s %s.", agent, dec.To, dec.Why, agent, dec.From))
}

// authUse is `/auth use AGENT|all CREDENTIAL`: the human moves agents to a
// credential (back to the primary, or over) and they restart on it.
func (d *daemon) authUse(ctx context.Context, agents []string, cred, by string) (string, error) {
	if d.rt.failover == nil {
		return "", fmt.Errorf("no credentials are configured")
	}
	if err := d.rt.failover.Use(agents, cred); err != nil {
		return "", err
	}
	_ = d.tap.Append(audit.Record{Kind: audit.KindCredential, Agents: agents, Actor: by, Action: "use", To: cred})
	res, took := d.restartOn(ctx, agents, nil, by)
	d.watchdog.ScanOnce(ctx)
	return fmt.Sprintf("Switched %d agent(s) to %s.\n%s", len(agents), cred, commands.RestartReport(res, took)), nil
}

// restarter restarts agents with the configured bounds and credentials.
type restarter struct{ rt *wiring }

func (r restarter) Restart(ctx context.Context, names []string) []fleet.RestartResult {
	return r.rt.fleet.Restart(ctx, names, r.rt.restartOptions(nil))
}

// restartOptions are the configured bounds, with each agent's credential
// environment; override maps agents to another credential (failover).
func (rt *wiring) restartOptions(override map[string]string) fleet.RestartOptions {
	cfg := rt.cfg
	return fleet.RestartOptions{
		Parallel:     cfg.Login.Parallel,
		Timeout:      cfg.Login.RestartTimeout.Duration,
		ConfigDir:    cfg.Claude.ConfigDir,
		ResumeChoice: cfg.Restart.ResumeChoice,
		Env: func(a fleet.Agent) (map[string]string, error) {
			if c, ok := override[a.Name]; ok {
				return rt.creds.Env(c)
			}
			return rt.agentEnv(a)
		},
	}
}

// agentEnv is the environment a (re)started agent gets for its credential:
// the one failover says it is on. An agent that names no credential and
// was never switched keeps its own environment, plus CLAUDE_CONFIG_DIR when
// claude.config_dir is not the CLI's default (setting it even to ~/.claude
// would start the CLI as a fresh install). A remote agent's default is its
// user's ~/.claude: a config_dir that is ~/.claude here counts as that.
func (rt *wiring) agentEnv(a fleet.Agent) (map[string]string, error) {
	cur := ""
	if rt.failover != nil {
		cur = rt.failover.Current(a.Name)
	}
	if a.Credential == "" && (cur == "" || cur == credentials.DefaultName) {
		env := map[string]string{}
		if d := claude.ConfigDirEnv(rt.cfg.Claude.ConfigDir, userHome()); d != "" {
			env["CLAUDE_CONFIG_DIR"] = d
		}
		return env, nil
	}
	if cur == "" {
		cur = a.Credential
	}
	return rt.creds.Env(cur)
}

// userHome is the home directory of the user fleetwarden runs as; "" when
// unknown (then every configured directory counts as not the default).
func userHome() string {
	h, _ := os.UserHomeDir()
	return h
}

// credentialStatuses checks every credential passively (no network, no
// refresh token spent), for /auth.
func (rt *wiring) credentialStatuses(ctx context.Context) []commands.CredentialStatus {
	var out []commands.CredentialStatus
	for _, h := range rt.creds.CheckAll(ctx, false) {
		out = append(out, commands.CredentialStatus{Name: h.Name, Kind: h.Kind, Healthy: h.Healthy, Detail: h.Detail,
			StandIns: rt.standIns(h.Name)})
	}
	return out
}

// standIns lists the agents whose primary credential is name that run on
// another one now, by agent.
func (rt *wiring) standIns(name string) map[string]string {
	if rt.failover == nil {
		return nil
	}
	var out map[string]string
	for _, a := range rt.failover.Assignments() {
		if a.Primary == name && a.Credential != a.Primary {
			if out == nil {
				out = map[string]string{}
			}
			out[a.Agent] = a.Credential
		}
	}
	return out
}

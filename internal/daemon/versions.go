package daemon

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/dashboard"
)

// cliVersion is the Claude Code CLI found on one host.
type cliVersion struct {
	Host    string // "" = this machine
	Version string // "2.1.332"; "" when none was found
	Err     error  // why none was found
}

// where names the host for people: "this machine" or "host gpu-box".
func (v cliVersion) where() string {
	if v.Host == "" {
		return "this machine"
	}
	return "host " + v.Host
}

// newer says, when the CLI is newer than every release the real-CLI suite
// has passed on, what that means; "" otherwise.
func (v cliVersion) newer() string {
	if v.Version == "" || !claude.NewerThanTested(v.Version) {
		return ""
	}
	return fmt.Sprintf("Claude Code %s is newer than any release fleetwarden's real-CLI suite has passed on (newest %s): "+
		"panes may say things it does not read yet — run the suite with CLAUDE_CODE_VERSION=%s, or pin the CLI",
		v.Version, claude.LatestTested(), v.Version)
}

// cliHosts are the hosts whose CLI matters: this machine when it runs an
// agent (or discovers panes), and every configured host.
func (rt *wiring) cliHosts() []string {
	var hosts []string
	local := rt.cfg.Tmux.Discover || len(rt.cfg.Agents) == 0
	for _, a := range rt.cfg.Agents {
		local = local || a.Host == ""
	}
	if local {
		hosts = append(hosts, "")
	}
	for _, h := range rt.cfg.Hosts {
		hosts = append(hosts, h.Name)
	}
	return hosts
}

// cliVersion runs `claude --version` on host ("" = here; elsewhere over the
// host's SSH connection, in the user's login shell).
func (rt *wiring) cliVersion(ctx context.Context, host string) cliVersion {
	v := cliVersion{Host: host}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	bin := rt.cfg.Claude.Bin
	var out []byte
	var err error
	if host == "" {
		cmd := exec.CommandContext(ctx, bin, "--version")
		cmd.Env = rt.environ // the user's, without fleetwarden's secrets
		out, err = cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
	} else {
		ssh, ok := rt.hostSSH[host]
		if !ok {
			v.Err = fmt.Errorf("no SSH connection: %w", rt.hostErr[host])
			return v
		}
		out, err = ssh.Command(ctx, bin, "--version")
	}
	if err != nil {
		v.Err = fmt.Errorf("%s --version: %w", bin, err)
		return v
	}
	ver, ok := claude.ParseVersion(string(out))
	if !ok {
		v.Err = fmt.Errorf("%s --version said %q, not a Claude Code version", bin, clip(strings.TrimSpace(string(out)), 80))
		return v
	}
	v.Version = ver
	return v
}

// cliProbes are check's lines for the CLI on each host: its version, a
// warning when it is newer than the suite has seen, an error when there is
// none where agents run.
func cliProbes(rt *wiring) []Probe {
	var ps []Probe
	for _, host := range rt.cliHosts() {
		name := "claude CLI"
		if host != "" {
			name += " on " + host
		}
		ps = append(ps, Probe{Name: name, Run: func(ctx context.Context) (string, error) {
			v := rt.cliVersion(ctx, host)
			switch {
			case v.Err != nil:
				return "", v.Err
			case v.newer() != "":
				return "", Warning{errors.New(v.newer())}
			}
			return v.Version + " (a release the real-CLI suite passed on, or older)", nil
		}})
	}
	return ps
}

// Warning is a probe's problem that is shown but does not fail check.
type Warning struct{ error }

func (w Warning) Unwrap() error { return w.error }

// dashboardCLIs turns versions into the dashboard's rows.
func dashboardCLIs(vs []cliVersion) []dashboard.CLI {
	out := make([]dashboard.CLI, 0, len(vs))
	for _, v := range vs {
		c := dashboard.CLI{Host: v.Host, Version: v.Version, Warning: v.newer()}
		if v.Err != nil {
			c.Error = claude.Redact(v.Err.Error())
		}
		out = append(out, c)
	}
	return out
}

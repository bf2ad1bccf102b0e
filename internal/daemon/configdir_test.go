package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// Agents and logins start as the user's shell would: CLAUDE_CONFIG_DIR only
// for a directory that is not the CLI's default, and check warns when such
// a directory would make the CLI start as a fresh install.
func TestConfigDirReachesAgentsOnlyWhenNotTheDefault(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	other := filepath.Join(t.TempDir(), "claude-work")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir     string
		wantEnv string
	}{
		{filepath.Join(home, ".claude"), ""},
		{filepath.Join(home, ".claude") + "/", ""},
		{other, other},
	} {
		cfg := &config.Config{}
		cfg.Claude.ConfigDir = tc.dir
		rt := &wiring{cfg: cfg}
		env, err := rt.agentEnv(fleet.Agent{Name: "builder"})
		if err != nil {
			t.Fatal(err)
		}
		if got, set := env["CLAUDE_CONFIG_DIR"]; got != tc.wantEnv || set != (tc.wantEnv != "") {
			t.Errorf("config_dir %q: agent gets CLAUDE_CONFIG_DIR=%q (set %v), want %q", tc.dir, got, set, tc.wantEnv)
		}
		ps := configDirProbes(cfg)
		if tc.wantEnv == "" {
			if len(ps) != 0 {
				t.Errorf("config_dir %q is the default: %d probes, want none", tc.dir, len(ps))
			}
			continue
		}
		if len(ps) != 1 || !ps[0].Warn {
			t.Fatalf("config_dir %q: %d probes, want one warning", tc.dir, len(ps))
		}
		if _, err := ps[0].Run(t.Context()); err == nil || !strings.Contains(err.Error(), "will show the first-run onboarding") {
			t.Errorf("no .claude.json in %s: %v, want the onboarding warning", tc.dir, err)
		}
		if err := os.WriteFile(filepath.Join(other, ".claude.json"), []byte(`{"hasCompletedOnboarding":true}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ps[0].Run(t.Context()); err != nil {
			t.Errorf("with its own .claude.json: %v, want no warning", err)
		}
	}
}

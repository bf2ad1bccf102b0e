package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/config"
)

func TestCheckCannotTellWhetherOneRuns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Telegram: &config.Telegram{}}
	cfg.State.Dir = filepath.Join(file, "state")
	ps := runningProbes(cfg)
	if len(ps) != 1 {
		t.Fatalf("runningProbes gave %d probes, want 1 saying it cannot tell", len(ps))
	}
	_, err := ps[0].Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "cannot tell whether one runs on "+cfg.State.Dir) {
		t.Errorf("probe %s: err %v, want it to say it cannot tell", ps[0].Name, err)
	}
	if ps := runningProbes(&config.Config{}); len(ps) != 0 {
		t.Errorf("no chat transport configured: %d probes, want none", len(ps))
	}
}

func TestCheckSaysWhoTheBotAnswers(t *testing.T) {
	tests := []struct {
		admins, operators, viewers, alerts int
		want                               string
	}{
		{1, 2, 0, 1, "; 1 admin, 2 operators; 1 alert chat"},
		{0, 0, 0, 2, "; nobody may run commands (no admins, operators or viewers); 2 alert chats"},
		{0, 0, 3, 0, "; 3 viewers; no alert chats: alerts go elsewhere"},
	}
	for _, tt := range tests {
		if got := users(tt.admins, tt.operators, tt.viewers, tt.alerts, "alert chat"); got != tt.want {
			t.Errorf("users(%d, %d, %d, %d) = %q, want %q", tt.admins, tt.operators, tt.viewers, tt.alerts, got, tt.want)
		}
	}
}

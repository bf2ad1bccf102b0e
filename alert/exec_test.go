package alert

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExecGetsTheJSONOnStdin(t *testing.T) {
	dir := t.TempDir()
	out, env := filepath.Join(dir, "alert.json"), filepath.Join(dir, "env")
	r := NewExec("page", []string{"sh", "-c", `cat > "$1" && echo "$FLEETWARDEN_ALERT_STATUS $FLEETWARDEN_ALERT_SEVERITY" > "$2"`, "sh", out, env}, 5*time.Second)
	if r.Name() != "exec:page" {
		t.Errorf("Name() = %q", r.Name())
	}
	n := sample()
	if err := r.Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID, Status, Summary, Remedy, Text string
		Agents                            []string
	}
	if err := json.Unmarshal([]byte(readFile(t, out)), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != n.ID || got.Status != "firing" || got.Summary != n.Summary || got.Remedy != n.Remedy || got.Text != n.Text() || len(got.Agents) != 3 {
		t.Errorf("stdin JSON = %+v", got)
	}
	if e := strings.TrimSpace(readFile(t, env)); e != "firing critical" {
		t.Errorf("environment gave %q, want \"firing critical\"", e)
	}
}

func TestExecFailures(t *testing.T) {
	t.Run("non-zero exit", func(t *testing.T) {
		err := NewExec("page", []string{"sh", "-c", "cat >/dev/null; echo 'pager service refused' >&2; exit 3"}, 5*time.Second).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "pager service refused") {
			t.Fatalf("err = %v, want the exit status and stderr", err)
		}
	})
	t.Run("timeout kills the command and its children", func(t *testing.T) {
		start := time.Now()
		err := NewExec("slow", []string{"sh", "-c", "sleep 30; echo done"}, 200*time.Millisecond).Deliver(context.Background(), sample())
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v, want the timeout to end it", d)
		}
	})
	t.Run("missing program", func(t *testing.T) {
		err := NewExec("x", []string{filepath.Join(t.TempDir(), "no-such-program")}, time.Second).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "no-such-program") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no command", func(t *testing.T) {
		if err := NewExec("x", nil, time.Second).Deliver(t.Context(), sample()); err == nil {
			t.Fatal("empty argv delivered")
		}
	})
}

// The command is the user's, but fleetwarden's own secrets are not its
// business: the variables holding them are left out; the user's are kept.
func TestExecDoesNotInheritSecrets(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456789:AAbotbotbotbotbotbotbotbotbotbotbotb")
	// env: trims what it reads: the variable holds more than the secret.
	t.Setenv("SMTP_PASSWORD", "  smtp-password-of-fleetwarden\n")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-api03-keykeykeykeykeykey")
	t.Setenv("PAGER_TOKEN", "pager-secret-the-script-needs")
	out := filepath.Join(t.TempDir(), "env")
	r := NewExec("page", []string{"sh", "-c", `cat >/dev/null; env > "$1"`, "sh", out}, 5*time.Second,
		"123456789:AAbotbotbotbotbotbotbotbotbotbotbotb", "smtp-password-of-fleetwarden")
	if err := r.Deliver(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	env := readFile(t, out)
	for _, leaked := range []string{"TELEGRAM_BOT_TOKEN", "SMTP_PASSWORD", "ANTHROPIC_API_KEY"} {
		if strings.Contains(env, leaked+"=") {
			t.Errorf("the command got %s", leaked)
		}
	}
	if !strings.Contains(env, "PAGER_TOKEN=pager-secret-the-script-needs") {
		t.Errorf("the command lost the user's own PAGER_TOKEN")
	}
}

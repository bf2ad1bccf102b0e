//go:build claude_e2e

package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// A tool call in the default permission mode stops at "Do you want to
// proceed?": needs_input until someone answers; then the tool runs and the
// turn completes.
func TestPermissionPrompt(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		pane, marker, r := e.atPermissionPrompt()
		e.seen("asking", r)
		if r.State != claude.NeedsInput {
			t.Errorf("the permission prompt classified %s, want needs_input", describe(r))
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("the tool ran before anyone answered")
		}
		// "1. Yes" is preselected. The dialog ignores keys for a moment
		// after it opens (against a keypress meant for something else),
		// so a person may have to press again.
		for try := 0; ; try++ {
			if err := e.tm.SendKeys(t.Context(), pane, "Enter"); err != nil {
				t.Fatal(err)
			}
			if e.poll(pane, 2*time.Second, func(s string) bool { return !strings.Contains(s, "Do you want to proceed?") }) {
				break
			}
			if try == 5 {
				t.Fatalf("the permission prompt does not take Enter")
			}
		}
		r, _ = e.waitFor(pane, turnTimeout, "the turn to complete", func(r claude.Result, s string) bool {
			return r.State == claude.Idle && strings.Contains(s, anthropictest.DefaultAnswer)
		})
		e.seen("answered", r)
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the tool did not run after the yes: %v", err)
		}
	})
}

// A folder the CLI was never told to trust opens on the trust dialog.
func TestTrustDialog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.login()
	dir := filepath.Join(t.TempDir(), "untrusted")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := e.tm.NewSession(t.Context(), "trust", "", tmux.SpawnOptions{Dir: dir, Env: e.vars(), Command: "exec " + shellQuote(e.bin)})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.waitFor(p.ID, startTimeout, "the trust dialog", func(_ claude.Result, s string) bool {
		return strings.Contains(s, "trust")
	})
	e.seen("trust dialog", r)
	if r.State != claude.NeedsInput {
		t.Errorf("the trust dialog classified %s, want needs_input", describe(r))
	}
	// Answered as a chat button does: "Yes, I trust this folder" (2.1.328
	// lists it second, unnumbered, under "No, exit").
	f := e.fleet(p.ID)
	e.scan(f)
	sc, err := f.Look(t.Context(), p.ID)
	yes := 0
	for _, o := range sc.Dialog.Options {
		if strings.Contains(o.Label, "I trust") {
			yes = o.N
		}
	}
	if err != nil || !sc.HasDlg || yes == 0 || !strings.Contains(sc.Dialog.Question, "trust?") {
		t.Fatalf("Look = %+v, %v; want the trust dialog's options\n%s", sc.Dialog, err, sc.Text)
	}
	if _, err := f.Answer(t.Context(), p.ID, sc.Dialog.ID, yes); err != nil {
		t.Fatalf("answering the trust dialog: %v\n%s", err, e.capture(p.ID))
	}
	r, _ = e.waitFor(p.ID, startTimeout, "the prompt after the trust", func(r claude.Result, _ string) bool { return r.State == claude.Idle })
	e.seen("trusted", r)
}

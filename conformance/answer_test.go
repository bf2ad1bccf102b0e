//go:build claude_e2e

package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/claude"
)

// fleetwarden reads the real permission prompt's options and answers it as
// a chat button does: the cursor moved to the option, checked, then Enter.
// "No" (the last option) leaves the tool unrun; "Yes" runs it.
func TestPermissionPromptAnsweredByFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pick func(d claude.Dialog) int
		ran  bool
	}{
		{"no, the last option", func(d claude.Dialog) int { return len(d.Options) }, false},
		{"yes", func(claude.Dialog) int { return 1 }, true},
	} {
		for _, rd := range renderers {
			t.Run(tc.name+"/"+rd.String(), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.use(rd)
				pane, marker, _ := e.atPermissionPrompt()
				f := e.fleet(pane)
				e.scan(f)
				sc, err := f.Look(t.Context(), pane)
				if err != nil || !sc.HasDlg {
					t.Fatalf("Look = %+v, %v; want the dialog\n%s", sc.Result, err, sc.Text)
				}
				d := sc.Dialog
				if d.Question != "Do you want to proceed?" || len(d.Options) < 3 || d.Options[0].Label != "Yes" || d.Cursor != 1 ||
					!strings.HasPrefix(d.Options[len(d.Options)-1].Label, "No") || !d.Options[1].Widens {
					t.Errorf("dialog = %+v, want Yes, a widening option, …, No", d)
				}
				n := tc.pick(d)
				after, err := f.Answer(t.Context(), pane, d.ID, n)
				if err != nil {
					t.Fatalf("Answer %d: %v\n%s", n, err, e.capture(pane))
				}
				if after.HasDlg && after.Dialog.ID == d.ID {
					t.Errorf("the dialog is still open after the answer")
				}
				want := claude.Idle
				r, _ := e.waitFor(pane, turnTimeout, "the turn to end", func(r claude.Result, _ string) bool { return r.State == want })
				e.seen("answered", r)
				_, err = os.Stat(marker)
				if ran := err == nil; ran != tc.ran {
					t.Errorf("the tool ran: %v, want %v", ran, tc.ran)
				}
			})
		}
	}
}

// The first-run theme chooser (unnumbered, "❯ ✔ Auto" first) answered as a
// chat button does: the CLI goes on past it.
func TestThemeChooserAnsweredByFleet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.login()
	first, _ := json.Marshal(map[string]any{"hasCompletedOnboarding": false,
		"projects": map[string]any{e.workdir: map[string]any{"hasTrustDialogAccepted": true}}})
	for _, p := range []string{filepath.Join(e.configDir, ".claude.json"), filepath.Join(e.home, ".claude.json")} {
		if err := os.WriteFile(p, first, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pane := e.startAgent("agent")
	e.waitFor(pane, startTimeout, "the theme chooser", func(_ claude.Result, s string) bool {
		return strings.Contains(s, "Choose the text style")
	})
	f := e.fleet(pane)
	e.scan(f)
	sc, err := f.Look(t.Context(), pane)
	if err != nil || !sc.HasDlg {
		t.Fatalf("Look = %+v, %v; want the theme chooser\n%s", sc.Result, err, sc.Text)
	}
	d := sc.Dialog
	if len(d.Options) < 3 || !strings.HasPrefix(d.Options[0].Label, "Auto") || d.Options[1].Label != "Dark mode" || d.Options[0].Numbered {
		t.Fatalf("dialog = %+v, want Auto, Dark mode, … unnumbered", d)
	}
	after, err := f.Answer(t.Context(), pane, d.ID, 2)
	if err != nil {
		t.Fatalf("Answer: %v\n%s", err, e.capture(pane))
	}
	if strings.Contains(after.Text, "Choose the text style") {
		t.Errorf("still on the theme chooser:\n%s", after.Text)
	}
	e.seen("after the theme", after.Result)
	// The rest of the onboarding ("Security notes: … Press Enter to
	// continue", …) is answered the same way, up to the prompt.
	for i := 0; after.Result.State == claude.NeedsInput; i++ {
		if !after.HasDlg || i == 5 {
			t.Fatalf("onboarding screen %d without a dialog to answer:\n%s", i, after.Text)
		}
		if after, err = f.Answer(t.Context(), pane, after.Dialog.ID, 1); err != nil {
			t.Fatalf("Answer %q: %v\n%s", after.Dialog.Question, err, e.capture(pane))
		}
		e.seen("answered", after.Result)
	}
	e.waitState(pane, claude.Idle, "", startTimeout)
}

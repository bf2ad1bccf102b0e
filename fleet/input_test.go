package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// startDialog starts the fake CLI on the permission prompt; its answers
// show the busy screen (1, 2, 3), the idle one (4, Esc), and a typed line
// the busy one. It returns the file where the fake writes what it got.
func (w *world) startDialog(session, screen string, extra ...string) string {
	w.t.Helper()
	typed := filepath.Join(w.dir, session+".typed")
	e := w.env(screen)
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	e["FAKECLAUDE_DIALOG"] = "1=17-busy-7s.txt,2=17-busy-7s.txt,3=17-busy-7s.txt,4=14-main-tui.txt,esc=14-main-tui.txt"
	e["FAKECLAUDE_TYPED"] = typed
	e["FAKECLAUDE_ON_LINE"] = "17-busy-7s.txt"
	if _, err := w.tm.NewSession(w.t.Context(), session, "main", tmux.SpawnOptions{Dir: w.dir, Env: e, Command: w.claude}); err != nil {
		w.t.Fatal(err)
	}
	return typed
}

func waitTyped(t *testing.T, path, want string) {
	t.Helper()
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want), "the CLI got " + strings.TrimSpace(string(b))
	})
}

func TestAnswerDialog(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		typed string
		want  claude.State
		deaf  string // keys the dialog drops after it opens
	}{
		{"the preselected yes", 1, "answer 1", claude.Working, ""},
		{"the preselected yes, its Enter dropped", 1, "answer 1", claude.Working, "1"},
		{"esc, dropped", 0, "answer esc", claude.Idle, "1"},
		{"the third option, cursor moved down", 3, "answer 3", claude.Working, ""},
		{"no", 4, "answer 4", claude.Idle, ""},
		{"esc", 0, "answer esc", claude.Idle, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			typed := w.startDialog("a", "61-permission.txt", "FAKECLAUDE_DEAF_KEYS="+tt.deaf)
			f := w.fleet(Agent{Name: "a", Target: "a:main"})
			w.waitState(f, map[string]claude.State{"a": claude.NeedsInput})
			sc, err := f.Look(t.Context(), "a")
			if err != nil || !sc.HasDlg || len(sc.Dialog.Options) != 4 {
				t.Fatalf("Look = %+v, %v; want the permission dialog", sc.Dialog, err)
			}
			got, err := f.Answer(t.Context(), "a", sc.Dialog.ID, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result.State != tt.want || got.HasDlg {
				t.Errorf("after the answer: %s (dialog %v), want %s", got.Result.State, got.HasDlg, tt.want)
			}
			waitTyped(t, typed, tt.typed)
			if b, _ := os.ReadFile(typed); strings.Count(string(b), "answer") != 1 {
				t.Errorf("the CLI got %q, want one answer", b)
			}
		})
	}
}

// A button for one dialog must not answer the next one.
func TestAnswerRefusesAnotherDialog(t *testing.T) {
	w := newWorld(t)
	typed := w.startDialog("a", "61-permission.txt")
	f := w.fleet(Agent{Name: "a", Target: "a:main"})
	w.waitState(f, map[string]claude.State{"a": claude.NeedsInput})
	_, err := f.Answer(t.Context(), "a", "some-older-dialog", 1)
	if !errors.Is(err, ErrDialogChanged) {
		t.Fatalf("Answer of a stale dialog = %v, want ErrDialogChanged", err)
	}
	if b, _ := os.ReadFile(typed); len(b) != 0 {
		t.Errorf("the CLI got %q, want nothing", b)
	}
	if sc, _ := f.Look(t.Context(), "a"); !sc.HasDlg {
		t.Error("the dialog is gone")
	}
	// Idle: no dialog at all.
	w2 := newWorld(t)
	w2.startDialog("b", "14-main-tui.txt")
	f2 := w2.fleet(Agent{Name: "b", Target: "b:main"})
	w2.waitState(f2, map[string]claude.State{"b": claude.Idle})
	if _, err := f2.Answer(t.Context(), "b", "x", 1); !errors.Is(err, ErrNoDialog) {
		t.Errorf("Answer on an idle agent = %v, want ErrNoDialog", err)
	}
}

func TestTypeLine(t *testing.T) {
	w := newWorld(t)
	typed := w.startDialog("a", "14-main-tui.txt")
	f := w.fleet(Agent{Name: "a", Target: "a:main"})
	w.waitState(f, map[string]claude.State{"a": claude.Idle})
	if _, err := f.Type(t.Context(), "a", "run the tests; -x", claude.Working); !errors.Is(err, ErrStateChanged) {
		t.Fatalf("Type expecting working on an idle agent = %v, want ErrStateChanged", err)
	}
	if _, err := f.Type(t.Context(), "a", "run the tests; -x", claude.Idle); err != nil {
		t.Fatal(err)
	}
	waitTyped(t, typed, "line run the tests; -x")
	w.waitState(f, map[string]claude.State{"a": claude.Working})
	_ = testenv.ScreensDir
}

func TestDiscoverNamesAfterTheWindow(t *testing.T) {
	pane := func(id, session string, win int, name, cmd string) tmux.Pane {
		return tmux.Pane{ID: id, Session: session, WindowIndex: win, WindowName: name, Command: cmd}
	}
	panes := []tmux.Pane{
		pane("%1", "agents", 0, "builder", "claude"),
		pane("%2", "agents", 1, "reviewer", "claude"),
		pane("%3", "agents", 2, "claude", "claude"), // tmux named it after the program
		pane("%4", "agents", 3, "twin", "claude"),   // two windows share the name
		pane("%5", "other", 0, "twin", "2.1.328"),   // the CLI shows as its version
		pane("%6", "solo", 0, "2.1.328", "2.1.328"), // a version is no name; the session is
		pane("%7", "agents", 4, "taken", "claude"),  // a configured agent has the name
		pane("%8", "shell", 0, "bash", "bash"),      // not Claude
	}
	got := map[string]string{}
	for _, a := range discover(panes, []Agent{{Name: "taken", Target: "elsewhere:0"}}) {
		got[a.Target] = a.Name
	}
	want := map[string]string{"agents:0.0": "builder", "agents:1.0": "reviewer", "agents:2.0": "agents:2.0",
		"agents:3.0": "agents:3.0", "other:0.0": "other", "solo:0.0": "solo", "agents:4.0": "agents:4.0"}
	for target, name := range want {
		if got[target] != name {
			t.Errorf("%s named %q, want %q", target, got[target], name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("discovered %v, want %v", got, want)
	}
}

// Two answers to one dialog at once (two people, two buttons): one is
// typed, the other finds the dialog gone.
func TestConcurrentAnswersTypeOne(t *testing.T) {
	w := newWorld(t)
	typed := w.startDialog("a", "61-permission.txt")
	f := w.fleet(Agent{Name: "a", Target: "a:main"})
	w.waitState(f, map[string]claude.State{"a": claude.NeedsInput})
	sc, err := f.Look(t.Context(), "a")
	if err != nil || !sc.HasDlg {
		t.Fatalf("Look: %v", err)
	}
	errs := make(chan error, 2)
	for _, n := range []int{3, 4} {
		go func() {
			_, err := f.Answer(t.Context(), "a", sc.Dialog.ID, n)
			errs <- err
		}()
	}
	var ok, stale int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrDialogChanged) || errors.Is(err, ErrNoDialog):
			stale++
		default:
			t.Errorf("Answer: %v", err)
		}
	}
	if ok != 1 || stale != 1 {
		t.Errorf("%d answered, %d found the dialog gone; want 1 and 1", ok, stale)
	}
	waitTyped(t, typed, "answer")
	if b, _ := os.ReadFile(typed); strings.Count(string(b), "answer") != 1 {
		t.Errorf("the CLI got %q, want one answer", b)
	}
}

// A limited pane showing the /rate-limit-options dialog is limited, and its
// options are answered like any dialog's: "Stop and wait for limit to
// reset" leaves the CLI waiting at its limit.
func TestAnswerLimitDialog(t *testing.T) {
	w := newWorld(t)
	typed := filepath.Join(w.dir, "a.typed")
	e := w.env("98-limit-options-dialog.txt")
	e["FAKECLAUDE_DIALOG"] = "1=90-limit-5h-classic.txt,esc=90-limit-5h-classic.txt"
	e["FAKECLAUDE_TYPED"] = typed
	if _, err := w.tm.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Dir: w.dir, Env: e, Command: w.claude}); err != nil {
		t.Fatal(err)
	}
	f := w.fleet(Agent{Name: "a", Target: "a:main"})
	w.waitState(f, map[string]claude.State{"a": claude.Limited})
	sc, err := f.Look(t.Context(), "a")
	if err != nil || !sc.HasDlg || len(sc.Dialog.Options) != 5 || sc.Dialog.Options[0].Label != "Stop and wait for limit to reset" {
		t.Fatalf("Look = %s, %+v, %v; want limited with the limit's dialog", sc.Result.State, sc.Dialog, err)
	}
	if sc.Result.State != claude.Limited || sc.Result.Reason != claude.ReasonUsageLimit {
		t.Errorf("Look: %s/%s, want limited/usage_limit", sc.Result.State, sc.Result.Reason)
	}
	got, err := f.Answer(t.Context(), "a", sc.Dialog.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Result.State != claude.Limited || got.HasDlg {
		t.Errorf("after the answer: %s (dialog %v), want limited without a dialog", got.Result.State, got.HasDlg)
	}
	waitTyped(t, typed, "answer 1")
}

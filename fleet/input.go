package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// Typist is what typing into an agent's pane needs from its tmux server
// (local or on a host: the same send-keys either way).
type Typist interface {
	Panes
	SendKeys(ctx context.Context, target string, keys ...string) error
	SendText(ctx context.Context, target, text string) error
}

// Errors of Answer and Type: the pane is not what the caller saw.
var (
	ErrNoDialog      = errors.New("no dialog is open on the pane")
	ErrDialogChanged = errors.New("the dialog on the pane is not the one answered")
	ErrStateChanged  = errors.New("the agent's state changed")
)

// Input timing. The CLI takes a fast Enter after typed text as a newline,
// and a dialog ignores keys for a moment after it opens.
var (
	KeyGap   = 150 * time.Millisecond // between the keys of an answer
	EnterGap = 500 * time.Millisecond // between typed text and Enter
	MoveOn   = 8 * time.Second        // how long an answer waits for the pane to move on
	// RepressAfter is how long the same dialog may stay after its key
	// before the key is pressed again (it was dropped).
	RepressAfter = 2 * time.Second
)

// Screen is an agent's pane as it is now.
type Screen struct {
	Agent  string
	PaneID string
	Text   string
	Result claude.Result
	Dialog claude.Dialog // when Result is needs_input and a chooser shows, or limited and the limit's dialog shows
	HasDlg bool
}

// Look captures an agent's pane now (not the last scan) and says what it
// shows.
func (f *Fleet) Look(ctx context.Context, name string) (Screen, error) {
	src, p, err := f.pane(ctx, name)
	if err != nil {
		return Screen{}, err
	}
	return f.look(ctx, src, name, p)
}

func (f *Fleet) look(ctx context.Context, src Typist, name string, p tmux.Pane) (Screen, error) {
	sc := Screen{Agent: name, PaneID: p.ID}
	if p.Dead {
		sc.Result = claude.Result{State: claude.Exited, Reason: ReasonPaneDead}
		return sc, nil
	}
	text, err := src.Capture(ctx, p.ID, 0)
	if err != nil {
		return sc, fmt.Errorf("agent %s: %w", name, err)
	}
	sc.Text = text
	st := judge(Status{Name: name, Command: p.Command}, text)
	sc.Result = claude.Result{State: st.State, Reason: st.Reason, Evidence: st.Evidence, NoResume: st.NoResume}
	switch st.State {
	case claude.NeedsInput:
		sc.Dialog, sc.HasDlg = claude.ParseDialog(text)
	case claude.Limited:
		// The /rate-limit-options dialog: its options ("Stop and wait for
		// limit to reset", "Upgrade your plan"…) are answered like any.
		if d, ok := claude.ParseDialog(text); ok && claude.IsLimitDialog(d) {
			sc.Dialog, sc.HasDlg = d, true
		}
	}
	return sc, nil
}

// typingLock serializes what is typed into one agent's pane: two people
// pressing two buttons of one dialog at once must not both answer it (the
// second finds the dialog gone once the first is through).
func (f *Fleet) typingLock(name string) func() {
	m, _ := f.typing.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// pane finds an agent's pane and a tmux server that can type into it.
func (f *Fleet) pane(ctx context.Context, name string) (Typist, tmux.Pane, error) {
	a, ok := f.Agent(name)
	if !ok {
		return nil, tmux.Pane{}, fmt.Errorf("no agent named %q", name)
	}
	s, ok := f.opt.Sources[a.Host]
	if !ok {
		return nil, tmux.Pane{}, fmt.Errorf("agent %s: no tmux source for host %q", name, a.Host)
	}
	src, ok := s.(Typist)
	if !ok {
		return nil, tmux.Pane{}, fmt.Errorf("agent %s: its tmux source cannot type", name)
	}
	panes, err := src.ListPanes(ctx)
	if err != nil {
		return nil, tmux.Pane{}, fmt.Errorf("agent %s: %w", name, err)
	}
	p, ok := tmux.FindPane(panes, a.Target)
	if !ok {
		return nil, tmux.Pane{}, fmt.Errorf("agent %s: no tmux pane %s", name, a.Target)
	}
	return src, p, nil
}

// Answer picks option n (1-based; 0 = Esc) of the dialog dialogID on an
// agent's pane. It checks just before each key that the same dialog is
// still open (a stale button must not answer a newer dialog), then waits up
// to MoveOn for the pane to move on and returns what it shows then.
func (f *Fleet) Answer(ctx context.Context, name, dialogID string, n int) (Screen, error) {
	defer f.typingLock(name)()
	src, p, err := f.pane(ctx, name)
	if err != nil {
		return Screen{}, err
	}
	same := func() (Screen, error) {
		sc, err := f.look(ctx, src, name, p)
		if err != nil {
			return sc, err
		}
		if !sc.HasDlg {
			return sc, fmt.Errorf("agent %s: %w (it is %s)", name, ErrNoDialog, sc.Result.State)
		}
		if sc.Dialog.ID != dialogID {
			return sc, fmt.Errorf("agent %s: %w", name, ErrDialogChanged)
		}
		return sc, nil
	}
	sc, err := same()
	if err != nil {
		return sc, err
	}
	if n < 0 || n > len(sc.Dialog.Options) {
		return sc, fmt.Errorf("agent %s: the dialog has options 1 to %d", name, len(sc.Dialog.Options))
	}
	final := "Escape"
	if n > 0 {
		// Move the cursor to the option, check it landed, then Enter. A
		// dialog that has just opened may drop the first keys: try again.
		for try := 0; sc.Dialog.Cursor != n; try++ {
			if try == 3 {
				return sc, fmt.Errorf("agent %s: the dialog's cursor did not move to option %d", name, n)
			}
			key, steps := "Down", n-sc.Dialog.Cursor
			if steps < 0 {
				key, steps = "Up", -steps
			}
			for range steps {
				if err := src.SendKeys(ctx, p.ID, key); err != nil {
					return sc, fmt.Errorf("agent %s: %w", name, err)
				}
				pause(ctx, KeyGap)
			}
			if sc, err = same(); err != nil {
				return sc, err
			}
		}
		final = "Enter"
	}
	if err := src.SendKeys(ctx, p.ID, final); err != nil {
		return sc, fmt.Errorf("agent %s: %w", name, err)
	}
	return f.waitMovedOn(ctx, src, name, p, dialogID, n, final)
}

// waitMovedOn waits until the dialog is gone from the pane (or MoveOn is
// over) and returns the pane then. A dialog that has just opened can drop
// the key that answers it (the real CLI's permission prompt did, with the
// cursor already on the option): while the same dialog still shows with the
// cursor on option n after RepressAfter, the key is pressed again — only
// then, so a second dialog never gets a key meant for the first.
func (f *Fleet) waitMovedOn(ctx context.Context, src Typist, name string, p tmux.Pane, dialogID string, n int, key string) (Screen, error) {
	deadline := time.Now().Add(MoveOn)
	repress := time.Now().Add(RepressAfter)
	for {
		sc, err := f.look(ctx, src, name, p)
		if err == nil && (!sc.HasDlg || sc.Dialog.ID != dialogID) {
			return sc, nil
		}
		if err == nil && key != "" && time.Now().After(repress) && (n == 0 || sc.Dialog.Cursor == n) {
			if err := src.SendKeys(ctx, p.ID, key); err != nil {
				return sc, fmt.Errorf("agent %s: %w", name, err)
			}
			repress = time.Now().Add(RepressAfter)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("agent %s: the dialog is still open after %s", name, MoveOn)
			}
			return sc, err
		}
		pause(ctx, 200*time.Millisecond)
	}
}

// Type types text and Enter into an agent's pane, if the agent is still in
// one of the states want just before (an agent that opened a dialog
// meanwhile gets nothing).
func (f *Fleet) Type(ctx context.Context, name, text string, want ...claude.State) (Screen, error) {
	defer f.typingLock(name)()
	src, p, err := f.pane(ctx, name)
	if err != nil {
		return Screen{}, err
	}
	sc, err := f.look(ctx, src, name, p)
	if err != nil {
		return sc, err
	}
	if !slices.Contains(want, sc.Result.State) {
		return sc, fmt.Errorf("agent %s: %w: it is %s now", name, ErrStateChanged, sc.Result.State)
	}
	if err := src.SendText(ctx, p.ID, text); err != nil {
		return sc, fmt.Errorf("agent %s: %w", name, err)
	}
	pause(ctx, EnterGap)
	if err := ctx.Err(); err != nil {
		return sc, fmt.Errorf("agent %s: before Enter: %w", name, err)
	}
	if err := src.SendKeys(ctx, p.ID, "Enter"); err != nil {
		return sc, fmt.Errorf("agent %s: %w", name, err)
	}
	return sc, nil
}

package commands

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// paneUnblocker is an Unblocker over panes held as text: answers and lines
// are recorded, and an answer shows the next screen.
type paneUnblocker struct {
	mu     sync.Mutex
	screen map[string]string // agent → pane text
	after  string            // what a pane shows after an answer
	typed  []string          // "agent: answer N", "agent: line TEXT"
}

func (p *paneUnblocker) look(agent string) fleet.Screen {
	text := p.screen[agent]
	r := claude.Classify(text)
	sc := fleet.Screen{Agent: agent, Text: text, Result: r}
	if r.State == claude.NeedsInput {
		sc.Dialog, sc.HasDlg = claude.ParseDialog(text)
	}
	return sc
}

func (p *paneUnblocker) Look(_ context.Context, agent string) (fleet.Screen, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.look(agent), nil
}

func (p *paneUnblocker) Answer(_ context.Context, agent, id string, n int) (fleet.Screen, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sc := p.look(agent)
	if !sc.HasDlg {
		return sc, fleet.ErrNoDialog
	}
	if sc.Dialog.ID != id {
		return sc, fleet.ErrDialogChanged
	}
	p.typed = append(p.typed, agent+": answer "+map[bool]string{true: "esc", false: string(rune('0' + n))}[n == 0])
	p.screen[agent] = p.after
	return p.look(agent), nil
}

func (p *paneUnblocker) Type(_ context.Context, agent, text string, want ...claude.State) (fleet.Screen, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sc := p.look(agent)
	ok := false
	for _, w := range want {
		ok = ok || w == sc.Result.State
	}
	if !ok {
		return sc, fleet.ErrStateChanged
	}
	p.typed = append(p.typed, agent+": line "+text)
	return sc, nil
}

func (p *paneUnblocker) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.typed...)
}

func screenFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "claude", "testdata", "screens", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newUnblockHandler(t *testing.T) (*Handler, *memAudit, *paneUnblocker) {
	t.Helper()
	h, a := newTestHandler(t)
	u := &paneUnblocker{after: screenFile(t, "17-busy-7s.txt"), screen: map[string]string{
		"asker":   screenFile(t, "61-permission.txt"),
		"idle":    screenFile(t, "14-main-tui.txt"),
		"working": screenFile(t, "17-busy-7s.txt"),
		"limited": screenFile(t, "90-limit-5h-classic.txt"),
	}}
	f := &fakeFleet{sts: []fleet.Status{
		{Name: "asker", State: claude.NeedsInput}, {Name: "idle", State: claude.Idle}, {Name: "working", State: claude.Working},
		{Name: "limited", State: claude.Limited},
	}, pane: screenFile(t, "61-permission.txt")}
	RegisterUnblock(h, f, u)
	return h, a, u
}

// press presses a button as user and returns the replies.
func press(t *testing.T, h *Handler, user string, b Button) *recorder {
	t.Helper()
	r := &recorder{}
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: user, ChatID: "c", Private: true, Callback: b.Data}, r)
	return r
}

func send(t *testing.T, h *Handler, user, text string) *recorder {
	t.Helper()
	r := &recorder{}
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: user, ChatID: "c", Private: true, Text: text}, r)
	return r
}

func buttonNamed(t *testing.T, r *recorder, prefix string) Button {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.replies {
		for _, b := range rep.Buttons {
			if strings.HasPrefix(b.Text, prefix) {
				return b
			}
		}
	}
	t.Fatalf("no button %q in %+v", prefix, r.replies)
	return Button{}
}

func TestAnswerButtons(t *testing.T) {
	h, a, u := newUnblockHandler(t)
	r := send(t, h, "2", "/answer asker")
	for _, want := range []string{"Do you want to proceed?", "❯ 1. Yes", "4. No"} {
		if !strings.Contains(r.text(), want) {
			t.Errorf("/answer asker = %q, want %q", r.text(), want)
		}
	}
	if !r.replies[0].Stacked || len(r.replies[0].Buttons) != 5 {
		t.Fatalf("buttons = %+v, want 4 options and Esc, stacked", r.replies[0].Buttons)
	}
	yes := buttonNamed(t, r, "1. Yes")
	// A viewer may not answer: refused, journaled, nothing typed.
	if got := press(t, h, "3", yes).text(); !strings.Contains(got, "needs the operator role") {
		t.Errorf("viewer pressed: %q", got)
	}
	if len(u.got()) != 0 {
		t.Fatalf("a viewer's press typed %v", u.got())
	}
	refused := false
	for _, rec := range a.recs {
		refused = refused || rec.Kind == audit.KindRefused && rec.Action == "/answer (button)" && rec.Actor == "telegram:3"
	}
	if !refused {
		t.Errorf("the viewer's press is not journaled: %+v", a.recs)
	}
	got := press(t, h, "2", yes)
	if !strings.Contains(got.text(), "answered “1. Yes”. It is working now.") {
		t.Errorf("operator pressed: %q", got.text())
	}
	if want := []string{"asker: answer 1"}; strings.Join(u.got(), ",") != strings.Join(want, ",") {
		t.Errorf("typed %v, want %v", u.got(), want)
	}
	if got.removed != 1 {
		t.Errorf("the spent buttons were removed %d times, want 1", got.removed)
	}
	// The same button again: the dialog is gone, nothing is typed.
	if got := press(t, h, "2", yes).text(); !strings.Contains(got, "Nothing typed") {
		t.Errorf("stale press: %q", got)
	}
	if len(u.got()) != 1 {
		t.Errorf("a stale button typed: %v", u.got())
	}
	last := a.recs[len(a.recs)-1]
	if last.Action != "/answer (button)" || last.Fields["args"] != "asker 1" {
		t.Errorf("journal = %+v", last)
	}
}

// Options that widen permissions ask once more; Cancel types nothing.
func TestAnswerWideningAsksTwice(t *testing.T) {
	for _, how := range []string{"button", "text"} {
		t.Run(how, func(t *testing.T) {
			h, _, u := newUnblockHandler(t)
			var q *recorder
			if how == "button" {
				q = press(t, h, "2", buttonNamed(t, send(t, h, "2", "/answer asker"), "⚠ 3. Yes, and switch to auto mode"))
			} else {
				q = send(t, h, "2", "/answer asker 3")
			}
			if !strings.Contains(q.text(), "will not ask again") || len(u.got()) != 0 {
				t.Fatalf("first ask: %q, typed %v", q.text(), u.got())
			}
			if got := press(t, h, "2", buttonNamed(t, q, "Cancel")).text(); got != "Cancelled." || len(u.got()) != 0 {
				t.Fatalf("cancel: %q, typed %v", got, u.got())
			}
			q = send(t, h, "2", "/answer asker 3")
			if got := press(t, h, "2", buttonNamed(t, q, "Yes, do it")).text(); !strings.Contains(got, "answered “3.") {
				t.Errorf("confirmed: %q", got)
			}
			if want := "asker: answer 3"; strings.Join(u.got(), ",") != want {
				t.Errorf("typed %v, want %s", u.got(), want)
			}
		})
	}
}

func TestAnswerText(t *testing.T) {
	h, _, u := newUnblockHandler(t)
	for _, tt := range []struct{ text, want string }{
		{"/answer asker 9", "has options 1 to 4, or esc"},
		{"/answer idle 1", "idle shows no dialog to answer: it is idle."},
		{"/answer nobody 1", `no agent named "nobody"`},
		{"/answer asker esc", "answered Esc"},
	} {
		if got := send(t, h, "2", tt.text).text(); !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.text, got, tt.want)
		}
	}
	if got := strings.Join(u.got(), ","); got != "asker: answer esc" {
		t.Errorf("typed %s", got)
	}
	if got := send(t, h, "3", "/answer asker 1").text(); !strings.Contains(got, "needs the operator role") {
		t.Errorf("viewer: %q", got)
	}
	// Without an agent: the agents waiting on a dialog, as buttons.
	r := send(t, h, "2", "/answer")
	if b := buttonNamed(t, r, "🟡 asker"); press(t, h, "2", b).text() == "" {
		t.Error("the agent's button shows nothing")
	}
}

func TestSend(t *testing.T) {
	h, a, u := newUnblockHandler(t)
	if got := send(t, h, "2", "/send idle run  the tests sk-ant-api03-AAAABBBBCCCCDDDDEEEE").text(); !strings.Contains(got, "Typed into idle") {
		t.Errorf("idle: %q", got)
	}
	if got := u.got(); len(got) != 1 || got[0] != "idle: line run  the tests sk-ant-api03-AAAABBBBCCCCDDDDEEEE" {
		t.Errorf("typed %q", got)
	}
	for _, rec := range a.recs {
		if strings.Contains(rec.Fields["args"], "AAAABBBB") {
			t.Errorf("the journal holds the key: %+v", rec)
		}
	}
	// Working: asks first.
	q := send(t, h, "2", "/send working also check lint")
	if !strings.Contains(q.text(), "queues your line") || len(u.got()) != 1 {
		t.Fatalf("working: %q, typed %v", q.text(), u.got())
	}
	if got := press(t, h, "2", buttonNamed(t, q, "Yes, do it")).text(); !strings.Contains(got, "Typed into working") {
		t.Errorf("confirmed: %q", got)
	}
	// A dialog: refused, with the way to answer it.
	r := send(t, h, "2", "/send asker yes")
	if !strings.Contains(r.text(), "Not sent: asker is waiting on a dialog") {
		t.Errorf("dialog: %q", r.text())
	}
	buttonNamed(t, r, "1. Yes")
	if n := len(u.got()); n != 2 {
		t.Errorf("typed %v", u.got())
	}
	if got := send(t, h, "2", "/send idle up\x1b[A\r").text(); !strings.Contains(got, "control characters") {
		t.Errorf("escape sequence: %q", got)
	}
	if got := send(t, h, "2", "/send limited continue").text(); !strings.Contains(got, "Not sent: limited is at a usage limit") {
		t.Errorf("limited: %q", got)
	}
	if got := send(t, h, "3", "/send idle hi").text(); !strings.Contains(got, "needs the operator role") {
		t.Errorf("viewer: %q", got)
	}
	// all: every idle agent, after a confirmation.
	q = send(t, h, "2", "/send all good morning")
	if !strings.Contains(q.text(), "1 idle agent(s): idle?") {
		t.Fatalf("all: %q", q.text())
	}
	press(t, h, "2", buttonNamed(t, q, "Yes, do it"))
	if got := u.got(); got[len(got)-1] != "idle: line good morning" || len(got) != 3 {
		t.Errorf("typed %v", got)
	}
}

package tmux

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pane is one tmux pane as list-panes reports it.
//
// tmux 3.3a sometimes never learns the exit status of a program that exits
// as its terminal closes (about one in ten here): the pane is dead with no
// status or signal. DeadStatus is then -1, so it is never mistaken for a
// clean exit.
type Pane struct {
	Session     string
	WindowIndex int
	WindowName  string
	PaneIndex   int
	ID          string // pane ID, e.g. "%12"; stable for the pane's life
	PID         int    // pane_pid: the process tmux started in the pane
	Command     string // pane_current_command: the pane's foreground program
	Dead        bool   // the program exited and remain-on-exit kept the pane
	DeadStatus  int    // exit status when Dead; -1 when tmux does not know it (see below)
	DeadSignal  int    // signal that killed it when Dead by a signal, else 0
	Active      bool   // pane_active && window_active: what "session" targets
	PaneActive  bool   // pane_active: the active pane of its window
	Activity    time.Time
	Width       int
	Height      int
	Path        string // pane_current_path
}

// sep separates -F fields. tmux escapes control characters in session and
// window names (a window named "a\x1fb" lists as `a\037b`), so it cannot
// occur inside them; the free-form path comes last to absorb anything else.
const sep = "\x1f"

var paneFields = []string{
	"session_name", "window_index", "window_name", "pane_index", "pane_id",
	"pane_pid", "pane_current_command", "pane_dead", "pane_dead_status",
	"pane_dead_signal", "pane_active", "window_active", "window_activity", "pane_width",
	"pane_height", "pane_current_path",
}

var paneFormat = "#{" + strings.Join(paneFields, "}"+sep+"#{") + "}"

// parsePanes parses list-panes output printed with paneFormat.
func parsePanes(out string) ([]Pane, error) {
	panes := []Pane{}
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		p, err := parsePane(line)
		if err != nil {
			return panes, err
		}
		panes = append(panes, p)
	}
	return panes, nil
}

func parsePane(line string) (Pane, error) {
	f := strings.SplitN(line, sep, len(paneFields))
	if len(f) != len(paneFields) {
		return Pane{}, fmt.Errorf("tmux list-panes: line has %d fields, want %d: %q", len(f), len(paneFields), line)
	}
	var errs []error
	num := func(i int) int {
		if f[i] == "" && strings.HasPrefix(paneFields[i], "pane_dead_") {
			return 0 // empty while alive, and for the status of a signalled pane
		}
		n, err := strconv.Atoi(f[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", paneFields[i], err))
		}
		return n
	}
	p := Pane{
		Session:     f[0],
		WindowIndex: num(1),
		WindowName:  f[2],
		PaneIndex:   num(3),
		ID:          f[4],
		PID:         num(5),
		Command:     f[6],
		Dead:        f[7] == "1",
		DeadStatus:  num(8),
		DeadSignal:  num(9),
		PaneActive:  f[10] == "1",
		Activity:    time.Unix(int64(num(12)), 0),
		Width:       num(13),
		Height:      num(14),
		Path:        f[15],
	}
	p.Active = p.PaneActive && f[11] == "1"
	if p.Dead && f[8] == "" {
		p.DeadStatus = -1
	}
	if err := errors.Join(errs...); err != nil {
		return Pane{}, fmt.Errorf("tmux list-panes: bad line %q: %w", line, err)
	}
	return p, nil
}

// Target returns "session:windowIndex.paneIndex".
func (p Pane) Target() string {
	return p.Session + ":" + strconv.Itoa(p.WindowIndex) + "." + strconv.Itoa(p.PaneIndex)
}

// Matches reports whether p is the pane target names. target is a pane ID
// ("%12") or session[:window[.pane]], window being a name or an index. A bare
// "session" names its active pane in its active window, "session:window" the
// window's active pane. A numeric window matches an index or a name; FindPane
// prefers the index, as tmux does.
func (p Pane) Matches(target string) bool {
	if strings.HasPrefix(target, "%") {
		return p.ID == target
	}
	t, err := parseTarget(target)
	if err != nil || p.Session != t.session {
		return false
	}
	switch {
	case !t.hasWindow:
		return p.Active
	case !p.inWindow(t.window):
		return false
	case !t.hasPane:
		return p.PaneActive
	default:
		return p.PaneIndex == t.pane
	}
}

func (p Pane) inWindow(w string) bool {
	return p.WindowName == w || strconv.Itoa(p.WindowIndex) == w
}

// FindPane returns the pane in panes that target names (see Pane.Matches).
// When the session or window has no active pane in the list (a partial list),
// it falls back to the lowest-indexed pane.
func FindPane(panes []Pane, target string) (Pane, bool) {
	if strings.HasPrefix(target, "%") {
		i := slices.IndexFunc(panes, func(p Pane) bool { return p.ID == target })
		if i < 0 {
			return Pane{}, false
		}
		return panes[i], true
	}
	t, err := parseTarget(target)
	if err != nil {
		return Pane{}, false
	}
	// Candidates by position in panes: copying Pane values here was most
	// of a large fleet's scan CPU and garbage (a lookup per agent).
	var cand []int
	for i := range panes {
		if panes[i].Session == t.session {
			cand = append(cand, i)
		}
	}
	if t.hasWindow {
		// An index wins over a window that happens to be named like one.
		n, err := strconv.Atoi(t.window)
		isIndex := err == nil && strconv.Itoa(n) == t.window
		var byIndex, byName []int
		for _, i := range cand {
			switch {
			case isIndex && panes[i].WindowIndex == n:
				byIndex = append(byIndex, i)
			case panes[i].WindowName == t.window:
				byName = append(byName, i)
			}
		}
		cand = byIndex
		if len(byIndex) == 0 {
			cand = byName
		}
	}
	if len(cand) == 0 {
		return Pane{}, false
	}
	if t.hasPane {
		for _, i := range cand {
			if panes[i].PaneIndex == t.pane {
				return panes[i], true
			}
		}
		return Pane{}, false
	}
	active := func(p *Pane) bool { return p.Active }
	if t.hasWindow {
		active = func(p *Pane) bool { return p.PaneActive }
	}
	for _, i := range cand {
		if active(&panes[i]) {
			return panes[i], true
		}
	}
	low := slices.MinFunc(cand, func(a, b int) int {
		return cmp.Or(cmp.Compare(panes[a].WindowIndex, panes[b].WindowIndex), cmp.Compare(panes[a].PaneIndex, panes[b].PaneIndex))
	})
	return panes[low], true
}

// PaneIndex finds panes by target in a long list: FindPane looks through
// the whole list, and a scan that looks up every agent of a large fleet
// that way spent most of its CPU there.
type PaneIndex struct {
	byID      map[string]Pane
	bySession map[string][]Pane
}

// IndexPanes indexes panes by id and by session.
func IndexPanes(panes []Pane) PaneIndex {
	x := PaneIndex{byID: make(map[string]Pane, len(panes)), bySession: map[string][]Pane{}}
	for _, p := range panes {
		if _, dup := x.byID[p.ID]; !dup {
			x.byID[p.ID] = p
		}
		x.bySession[p.Session] = append(x.bySession[p.Session], p)
	}
	return x
}

// Find is FindPane over the indexed panes.
func (x PaneIndex) Find(target string) (Pane, bool) {
	if strings.HasPrefix(target, "%") {
		p, ok := x.byID[target]
		return p, ok
	}
	t, err := parseTarget(target)
	if err != nil {
		return Pane{}, false
	}
	return FindPane(x.bySession[t.session], target)
}

type target struct {
	session   string
	window    string
	hasWindow bool
	pane      int
	hasPane   bool
}

// ValidTarget checks that target has the form session[:window[.pane]] with a
// numeric pane index. tmux's special forms ($id, @id, =exact, {marked}) are
// refused: they are not stable names for an agent.
func ValidTarget(target string) error {
	_, err := parseTarget(target)
	return err
}

func parseTarget(s string) (target, error) {
	var t target
	if s == "" {
		return t, errors.New("empty tmux target, want session[:window[.pane]]")
	}
	if hasControl(s) {
		return t, fmt.Errorf("tmux target %q contains control characters", s)
	}
	sess, rest, hasWindow := strings.Cut(s, ":")
	switch {
	case sess == "":
		return t, fmt.Errorf("tmux target %q: missing session name before ':'", s)
	case strings.Contains(sess, "."):
		return t, fmt.Errorf("tmux target %q: session name contains '.' (want session[:window[.pane]], tmux does not allow '.' in session names)", s)
	case strings.ContainsAny(sess[:1], "$@%={"):
		return t, fmt.Errorf("tmux target %q: session name must not start with %q (tmux special target)", s, sess[:1])
	}
	t.session = sess
	if !hasWindow {
		return t, nil
	}
	win, pane, hasPane := strings.Cut(rest, ".")
	switch {
	case win == "":
		return t, fmt.Errorf("tmux target %q: missing window name or index after ':'", s)
	case strings.ContainsAny(win[:1], "@{"):
		return t, fmt.Errorf("tmux target %q: window must not start with %q (tmux special target)", s, win[:1])
	}
	t.window, t.hasWindow = win, true
	if !hasPane {
		return t, nil
	}
	n, err := strconv.Atoi(pane)
	if err != nil || n < 0 || strings.HasPrefix(pane, "+") || strings.HasPrefix(pane, "-") {
		return t, fmt.Errorf("tmux target %q: pane %q is not a pane index (want a number after '.')", s, pane)
	}
	t.pane, t.hasPane = n, true
	return t, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

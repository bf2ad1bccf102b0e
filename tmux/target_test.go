package tmux

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestValidTarget(t *testing.T) {
	tests := []struct {
		target  string
		wantErr string // "" = valid
	}{
		{"fleet", ""},
		{"fleet:builder", ""},
		{"fleet:0", ""},
		{"fleet:0.1", ""},
		{"fleet:my win.2", ""},
		{"my fleet:w", ""},
		{"", "empty"},
		{":w", "missing session"},
		{"fleet:", "missing window"},
		{"fleet:.1", "missing window"},
		{"fleet:w.", "not a pane index"},
		{"fleet:w.x", "not a pane index"},
		{"fleet:w.-1", "not a pane index"},
		{"fleet:w.+1", "not a pane index"},
		{"fle.et", "contains '.'"},
		{"$1", "tmux special target"},
		{"=fleet", "tmux special target"},
		{"%12", "tmux special target"},
		{"fleet:@3", "tmux special target"},
		{"fleet:{end}", "tmux special target"},
		{"fleet\n:w", "control characters"},
	}
	for _, tt := range tests {
		err := ValidTarget(tt.target)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidTarget(%q) = %v, want nil", tt.target, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ValidTarget(%q) = %v, want error containing %q", tt.target, err, tt.wantErr)
		}
	}
}

// fleetPanes: session "fleet" with window 0 "builder" (2 panes, pane 1
// active, window active), window 1 "2" (1 pane), window 2 "reviewer" (2
// panes, pane 0 active); session "fleet2" with one pane.
var fleetPanes = []Pane{
	{Session: "fleet", WindowIndex: 0, WindowName: "builder", PaneIndex: 0, ID: "%0"},
	{Session: "fleet", WindowIndex: 0, WindowName: "builder", PaneIndex: 1, ID: "%1", PaneActive: true, Active: true},
	{Session: "fleet", WindowIndex: 1, WindowName: "2", PaneIndex: 0, ID: "%2", PaneActive: true},
	{Session: "fleet", WindowIndex: 2, WindowName: "reviewer", PaneIndex: 0, ID: "%3", PaneActive: true},
	{Session: "fleet", WindowIndex: 2, WindowName: "reviewer", PaneIndex: 1, ID: "%4"},
	{Session: "fleet2", WindowIndex: 0, WindowName: "builder", PaneIndex: 0, ID: "%5", PaneActive: true, Active: true},
}

func TestMatches(t *testing.T) {
	tests := []struct {
		target string
		want   []string // IDs of the panes that match
	}{
		{"fleet", []string{"%1"}},
		{"fleet2", []string{"%5"}},
		{"flee", nil}, // no prefix matching
		{"fleet:builder", []string{"%1"}},
		{"fleet:0", []string{"%1"}},
		{"fleet:reviewer", []string{"%3"}},
		{"fleet:reviewer.1", []string{"%4"}},
		{"fleet:2.1", []string{"%4"}},
		{"fleet:2", []string{"%2", "%3"}}, // index 2 and the window named "2"; FindPane picks the index
		{"fleet:builder.0", []string{"%0"}},
		{"fleet:builder.7", nil},
		{"fleet:nosuch", nil},
		{"%4", []string{"%4"}},
		{"fleet:", nil}, // invalid
	}
	for _, tt := range tests {
		var got []string
		for _, p := range fleetPanes {
			if p.Matches(tt.target) {
				got = append(got, p.ID)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("panes matching %q = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestFindPane(t *testing.T) {
	noActive := []Pane{
		{Session: "s", WindowIndex: 3, WindowName: "b", PaneIndex: 1, ID: "%31"},
		{Session: "s", WindowIndex: 1, WindowName: "a", PaneIndex: 2, ID: "%12"},
		{Session: "s", WindowIndex: 1, WindowName: "a", PaneIndex: 1, ID: "%11"},
	}
	tests := []struct {
		panes  []Pane
		target string
		want   string // "" = not found
	}{
		{fleetPanes, "fleet", "%1"},
		{fleetPanes, "fleet:2", "%3"},   // index before name
		{fleetPanes, "fleet:1", "%2"},   // index
		{fleetPanes, "fleet:2.1", "%4"}, // index, pane
		{fleetPanes, "fleet:reviewer", "%3"},
		{fleetPanes, "fleet:builder.0", "%0"},
		{fleetPanes, "%5", "%5"},
		{fleetPanes, "%9", ""},
		{fleetPanes, "fleet:nosuch", ""},
		{fleetPanes, "fleet:builder.5", ""},
		{fleetPanes, "nosuch", ""},
		{fleetPanes, "", ""},
		{noActive, "s", "%11"},   // lowest window, lowest pane
		{noActive, "s:b", "%31"}, // the only pane
		{noActive, "s:a", "%11"},
		{nil, "s", ""},
	}
	for _, tt := range tests {
		p, ok := FindPane(tt.panes, tt.target)
		if got := p.ID; !ok && got != "" || ok && got != tt.want || !ok && tt.want != "" {
			t.Errorf("FindPane(%q) = %q, %v; want %q", tt.target, got, ok, tt.want)
		}
		p, ok = IndexPanes(tt.panes).Find(tt.target)
		if got := p.ID; !ok && got != "" || ok && got != tt.want || !ok && tt.want != "" {
			t.Errorf("IndexPanes().Find(%q) = %q, %v; want %q", tt.target, got, ok, tt.want)
		}
	}
}

func TestParsePanes(t *testing.T) {
	line := func(f ...string) string { return strings.Join(f, sep) + "\n" }
	out := line("fleet", "0", `we\011ird name`, "1", "%12", "4242", "claude", "0", "", "", "1", "1", "1700000000", "200", "50", "/home/u/src/app") +
		line("fleet", "3", "dead", "0", "%13", "4300", "sh", "1", "3", "", "1", "0", "1700000100", "80", "24", "/odd"+sep+"path") +
		line("fleet", "4", "killed", "0", "%14", "4301", "sh", "1", "", "9", "1", "0", "1700000100", "80", "24", "/") +
		line("fleet", "5", "unknown", "0", "%15", "4302", "sh", "1", "", "", "1", "0", "1700000100", "80", "24", "/")
	got, err := parsePanes(out)
	if err != nil {
		t.Fatalf("parsePanes: %v", err)
	}
	want := []Pane{
		{Session: "fleet", WindowIndex: 0, WindowName: `we\011ird name`, PaneIndex: 1, ID: "%12", PID: 4242,
			Command: "claude", Active: true, PaneActive: true, Activity: time.Unix(1700000000, 0), Width: 200, Height: 50, Path: "/home/u/src/app"},
		{Session: "fleet", WindowIndex: 3, WindowName: "dead", PaneIndex: 0, ID: "%13", PID: 4300, Command: "sh",
			Dead: true, DeadStatus: 3, PaneActive: true, Activity: time.Unix(1700000100, 0), Width: 80, Height: 24, Path: "/odd" + sep + "path"},
		{Session: "fleet", WindowIndex: 4, WindowName: "killed", PaneIndex: 0, ID: "%14", PID: 4301, Command: "sh",
			Dead: true, DeadStatus: -1, DeadSignal: 9, PaneActive: true, Activity: time.Unix(1700000100, 0), Width: 80, Height: 24, Path: "/"},
		{Session: "fleet", WindowIndex: 5, WindowName: "unknown", PaneIndex: 0, ID: "%15", PID: 4302, Command: "sh",
			Dead: true, DeadStatus: -1, PaneActive: true, Activity: time.Unix(1700000100, 0), Width: 80, Height: 24, Path: "/"},
	}
	if !slices.EqualFunc(got, want, func(a, b Pane) bool { return a == b }) {
		t.Errorf("parsePanes:\ngot  %+v\nwant %+v", got, want)
	}
	if got[0].Target() != "fleet:0.1" {
		t.Errorf("Target() = %q, want %q", got[0].Target(), "fleet:0.1")
	}

	for _, bad := range []string{
		line("fleet", "0", "w"),
		line("fleet", "x", "w", "1", "%12", "4242", "claude", "0", "", "", "1", "1", "1700000000", "200", "50", "/"),
	} {
		if _, err := parsePanes(bad); err == nil || !strings.Contains(err.Error(), "list-panes") {
			t.Errorf("parsePanes(%q) error = %v, want a list-panes parse error", bad, err)
		}
	}
	if got, err := parsePanes(""); err != nil || got == nil || len(got) != 0 {
		t.Errorf("parsePanes(\"\") = %#v, %v; want empty non-nil list", got, err)
	}
}

func TestEscapeArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a;", `a\;`},
		{";", `\;`},
		{`b\;`, `b\\;`},
		{"a;b", "a;b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := escapeArg(tt.in); got != tt.want {
			t.Errorf("escapeArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChunkText(t *testing.T) {
	text := strings.Repeat("abc✓日本", 1000) // multi-byte runes straddle any fixed cut
	chunks := chunkText(text, 100)
	if len(chunks) < len(text)/100 {
		t.Fatalf("got %d chunks, want at least %d", len(chunks), len(text)/100)
	}
	for i, c := range chunks {
		if len(c) > 100 || !utf8.ValidString(c) {
			t.Errorf("chunk %d: %d bytes, valid UTF-8 %v; want <= 100 and valid", i, len(c), utf8.ValidString(c))
		}
	}
	if got := strings.Join(chunks, ""); got != text {
		t.Errorf("chunks do not join back to the text")
	}
	if got := chunkText("", 100); len(got) != 0 {
		t.Errorf("chunkText(\"\") = %q, want none", got)
	}
}

func TestTrimTrailingBlank(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\n\n  \n\n", "a\nb"},
		{"a\n\nb\n", "a\n\nb"},
		{"\n\n", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := trimTrailingBlank(tt.in); got != tt.want {
			t.Errorf("trimTrailingBlank(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCommandName(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-u", "-f", "/dev/null", "-L", "x", "list-panes", "-a"}, "list-panes"},
		{[]string{"-S", "/tmp/s", "capture-pane"}, "capture-pane"},
		{[]string{"kill-server"}, "kill-server"},
		{[]string{"-u"}, "(no command)"},
	}
	for _, tt := range tests {
		if got := CommandName(tt.args); got != tt.want {
			t.Errorf("CommandName(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

type recorder struct {
	calls [][]string
	err   error
}

func (r *recorder) Run(_ context.Context, _ []byte, args ...string) ([]byte, error) {
	r.calls = append(r.calls, args)
	return nil, r.err
}

func TestGlobalArgs(t *testing.T) {
	tests := []struct {
		socket, config string
		want           []string
	}{
		{"", "", []string{"-u", "kill-pane", "-t", "%1"}},
		{"fleet", "", []string{"-u", "-L", "fleet", "kill-pane", "-t", "%1"}},
		{"/run/tmux/sock", "/dev/null", []string{"-u", "-f", "/dev/null", "-S", "/run/tmux/sock", "kill-pane", "-t", "%1"}},
	}
	for _, tt := range tests {
		r := &recorder{}
		c := New(tt.socket, r)
		if tt.config != "" {
			c = c.WithConfigFile(tt.config)
		}
		if err := c.KillPane(t.Context(), "%1"); err != nil {
			t.Fatal(err)
		}
		if len(r.calls) != 1 || !slices.Equal(r.calls[0], tt.want) {
			t.Errorf("New(%q) runs %q, want %q", tt.socket, r.calls, tt.want)
		}
		if c.Socket() != tt.socket {
			t.Errorf("Socket() = %q, want %q", c.Socket(), tt.socket)
		}
	}
}

func TestNoServerFromAnyRunner(t *testing.T) {
	// A remote runner reports the same tmux text; the client recognises it.
	r := &recorder{err: errors.New("ssh gpu-box tmux list-panes: no server running on /tmp/tmux-1000/default: exit status 1")}
	panes, err := New("", r).ListPanes(t.Context())
	if !errors.Is(err, ErrNoServer) || panes == nil || len(panes) != 0 {
		t.Errorf("ListPanes = %v, %v; want empty list and ErrNoServer", panes, err)
	}
	if err := New("", r).KillServer(t.Context()); err != nil {
		t.Errorf("KillServer with no server = %v, want nil", err)
	}
}

func TestSpawnArgsRejectBadInput(t *testing.T) {
	r := &recorder{}
	c := New("x", r)
	ctx := t.Context()
	for _, env := range []map[string]string{{"": "v"}, {"A=B": "v"}} {
		if err := c.Respawn(ctx, "s", SpawnOptions{Env: env}); err == nil || !strings.Contains(err.Error(), "environment variable") {
			t.Errorf("Respawn with env %q: err = %v, want invalid environment variable", env, err)
		}
	}
	for _, name := range []string{"", "a:b", "a.b", "a\tb"} {
		if _, err := c.NewSession(ctx, name, "w", SpawnOptions{}); err == nil || !strings.Contains(err.Error(), "session name") {
			t.Errorf("NewSession(%q): err = %v, want session name error", name, err)
		}
	}
	if _, err := c.Capture(ctx, "s", -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("Capture(history -1): err = %v, want negative history error", err)
	}
	if err := c.SendKeys(ctx, "s"); err == nil {
		t.Errorf("SendKeys with no keys: err = nil, want error")
	}
	if len(r.calls) != 0 {
		t.Errorf("bad input ran tmux: %q", r.calls)
	}
}

func TestStatPPID(t *testing.T) {
	tests := []struct {
		stat string
		want int
		ok   bool
	}{
		{"42 (bash) S 7 42 42 0", 7, true},
		{"43 (a) b (c)) R 9 1 1", 9, true},
		{"garbage", 0, false},
	}
	for _, tt := range tests {
		got, ok := statPPID(tt.stat)
		if got != tt.want || ok != tt.ok {
			t.Errorf("statPPID(%q) = %d, %v; want %d, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}

// Package tmux drives one tmux server by running the tmux command: list panes,
// capture them, type into them, respawn and kill them.
//
// Every method runs the tmux binary through a Runner, so the same code can
// later run tmux on another host over SSH. Targets are tmux targets
// (session[:window[.pane]] or a pane ID such as %12); pane IDs from ListPanes
// are the most precise, since tmux resolves names by prefix.
package tmux

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNoServer reports that no tmux server is running on the client's socket.
var ErrNoServer = errors.New("no tmux server running")

// Default size of new sessions: wide enough that Claude Code screens do not
// wrap when captured.
const (
	DefaultWidth  = 200
	DefaultHeight = 50
)

// maxSendChunk bounds one send-keys argument: tmux 3.3a refuses a command
// whose arguments exceed its 16 KiB message size ("command too long").
const maxSendChunk = 4096

// Client talks to one tmux server.
type Client struct {
	runner Runner
	socket string
	config string
}

// New returns a client for the server on socket: "" is the default server, a
// value containing "/" is a socket path (-S), anything else a socket name
// (-L). A nil r runs tmux locally.
func New(socket string, r Runner) *Client {
	if r == nil {
		r = Exec{}
	}
	return &Client{runner: r, socket: socket}
}

// WithConfigFile returns a copy of c that passes -f path, the configuration a
// server started by this client loads. Tests use "/dev/null" so a user's
// ~/.tmux.conf cannot change behaviour. It has no effect on a running server.
func (c *Client) WithConfigFile(path string) *Client {
	cp := *c
	cp.config = path
	return &cp
}

// Socket returns the socket given to New.
func (c *Client) Socket() string { return c.socket }

// run runs one tmux command with the client's global flags.
func (c *Client) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	out, err := c.runner.Run(ctx, stdin, c.fullArgs(args...)...)
	if err != nil && isNoServer(err) {
		return out, fmt.Errorf("%w: %w", ErrNoServer, err)
	}
	return out, err
}

// fullArgs puts the client's global flags before args.
func (c *Client) fullArgs(args ...string) []string {
	// -u: without a UTF-8 locale tmux turns non-ASCII names into "_".
	full := make([]string, 0, len(args)+5)
	full = append(full, "-u")
	if c.config != "" {
		full = append(full, "-f", c.config)
	}
	switch {
	case c.socket == "":
	case strings.Contains(c.socket, "/"):
		full = append(full, "-S", c.socket)
	default:
		full = append(full, "-L", c.socket)
	}
	for _, a := range args {
		if a == cmdSep {
			full = append(full, ";")
			continue
		}
		full = append(full, escapeArg(a))
	}
	return full
}

// cmdSep in an argument list separates two tmux commands run by one
// invocation (a bare ";" in tmux's argv); any other ";" is escaped.
const cmdSep = "\x00;"

// escapeArg protects an argument ending in ";": tmux's argv parser takes a
// trailing ";" as a command separator and drops it, and turns a trailing
// "\;" into ";". A backslash before the final ";" yields the argument as given.
func escapeArg(a string) string {
	if strings.HasSuffix(a, ";") {
		return a[:len(a)-1] + `\;`
	}
	return a
}

func isNoServer(err error) bool {
	s := err.Error()
	// "server exited unexpectedly": the client reached a server that was
	// shutting down (just after kill-server) or crashed.
	return strings.Contains(s, "no server running") || strings.Contains(s, "error connecting to") ||
		strings.Contains(s, "server exited unexpectedly")
}

// ListPanes lists every pane of the server in one tmux call. With no server
// running it returns an empty list and an error matching ErrNoServer.
func (c *Client) ListPanes(ctx context.Context) ([]Pane, error) {
	out, err := c.run(ctx, nil, "list-panes", "-a", "-F", paneFormat)
	if err != nil {
		return []Pane{}, err
	}
	return parsePanes(string(out))
}

// Capture returns the visible screen of target plus up to history lines of
// scrollback above it, as plain text (no escape sequences), with trailing
// blank lines and the final newline removed.
func (c *Client) Capture(ctx context.Context, target string, history int) (string, error) {
	if history < 0 {
		return "", fmt.Errorf("tmux capture %q: history %d is negative", target, history)
	}
	args := []string{"capture-pane", "-p", "-t", target}
	if history > 0 {
		args = append(args, "-S", "-"+strconv.Itoa(history))
	}
	out, err := c.run(ctx, nil, args...)
	if err != nil {
		return "", err
	}
	return trimTrailingBlank(string(out)), nil
}

func trimTrailingBlank(s string) string {
	lines := strings.Split(s, "\n")
	n := len(lines)
	for n > 0 && strings.TrimSpace(lines[n-1]) == "" {
		n--
	}
	return strings.Join(lines[:n], "\n")
}

// SendText types text into target literally (send-keys -l): key names such as
// "Enter" are typed as words, and ";" or a leading "-" are not interpreted. A
// "\n" in text reaches the program as a line feed (C-j). Long text is sent in
// several commands.
func (c *Client) SendText(ctx context.Context, target, text string) error {
	for _, chunk := range chunkText(text, maxSendChunk) {
		// "--" ends tmux's options, so text starting with "-" is not a flag.
		if _, err := c.run(ctx, nil, "send-keys", "-l", "-t", target, "--", chunk); err != nil {
			return err
		}
	}
	return nil
}

// chunkText splits s into pieces of at most max bytes without splitting a
// UTF-8 sequence.
func chunkText(s string, max int) []string {
	var chunks []string
	for len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 { // not UTF-8; cut anywhere
			cut = max
		}
		chunks = append(chunks, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		chunks = append(chunks, s)
	}
	return chunks
}

// SendKeys presses named keys (Enter, Escape, C-c, Up, …) in target.
func (c *Client) SendKeys(ctx context.Context, target string, keys ...string) error {
	if len(keys) == 0 {
		return fmt.Errorf("tmux send-keys to %q: no keys given", target)
	}
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("tmux send-keys to %q: empty key name", target)
		}
	}
	args := append([]string{"send-keys", "-t", target, "--"}, keys...)
	_, err := c.run(ctx, nil, args...)
	return err
}

// SendLine types text, waits gap, then presses Enter. Claude Code needs about
// half a second between the two or it takes the Enter as a newline in its
// input box. A cancelled ctx during the gap stops before Enter.
func (c *Client) SendLine(ctx context.Context, target, text string, gap time.Duration) error {
	if err := c.SendText(ctx, target, text); err != nil {
		return err
	}
	if gap > 0 {
		timer := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("tmux send line to %q: before Enter: %w", target, ctx.Err())
		case <-timer.C:
		}
	}
	return c.SendKeys(ctx, target, "Enter")
}

// SpawnOptions describe the program started in a new or respawned pane.
type SpawnOptions struct {
	Dir     string            // working directory; "" = tmux's default
	Env     map[string]string // extra environment variables (names: letters, digits, _)
	Command string            // shell command; "" = the default shell (Respawn: the pane's previous command)
	Width   int               // NewSession only; 0 = DefaultWidth
	Height  int               // NewSession only; 0 = DefaultHeight
}

// spawn is how a pane's program gets started: the flags and command for
// new-session, new-window or respawn-pane, and the environment that goes
// with it.
//
// The environment never goes on a command line (tmux -e KEY=VALUE would
// show a credential to every local user in ps): it is loaded into a named
// paste buffer from stdin by the same tmux invocation, and the pane's
// command reads it, deletes the buffer and execs the configured command in
// the user's shell. Commands a user runs never see the buffer: the buffer
// commands' default is the newest automatically named one.
type spawn struct {
	args   []string // -c DIR and the command
	buffer string   // the env buffer's name; "" without env
	script []byte   // what goes into it
}

func (c *Client) spawnOf(o SpawnOptions) (spawn, error) {
	var sp spawn
	if o.Dir != "" {
		sp.args = append(sp.args, "-c", o.Dir)
	}
	if len(o.Env) == 0 {
		if o.Command != "" {
			sp.args = append(sp.args, o.Command)
		}
		return sp, nil
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		if !validEnvName(k) {
			return spawn{}, fmt.Errorf("invalid environment variable name %q", k)
		}
		if strings.ContainsRune(o.Env[k], 0) {
			return spawn{}, fmt.Errorf("environment variable %s holds a NUL byte", k)
		}
		b.WriteString("export " + k + "=" + shQuote(o.Env[k]) + "\n")
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	sp.buffer = "fleetwarden-env-" + hex.EncodeToString(rnd[:])
	sp.script = []byte(b.String())
	tm := shQuote(c.bin())
	// One tmux call reads and deletes the buffer: the pane shows a shell
	// until the command runs, which a scan reads as "not running".
	get := fmt.Sprintf(`e=$(%s show-buffer -b %s \; delete-buffer -b %s) && eval "$e" && unset e || { echo "fleetwarden: the environment for this pane is missing" >&2; exit 1; }; `,
		tm, sp.buffer, sp.buffer)
	run := `if [ -n "$1" ]; then exec "${SHELL:-/bin/sh}" -c "$1"; else exec "${SHELL:-/bin/sh}"; fi`
	sp.args = append(sp.args, "exec /bin/sh -c "+shQuote(get+run)+" fleetwarden-env "+shQuote(o.Command))
	return sp, nil
}

// prefix is what runs before the spawning command in the same invocation:
// the env buffer loaded from stdin (after start-server when the command may
// start the server).
func (sp spawn) prefix(startServer bool) (args []string, stdin []byte) {
	if sp.buffer == "" {
		return nil, nil
	}
	if startServer {
		args = append(args, "start-server", cmdSep)
	}
	return append(args, "load-buffer", "-b", sp.buffer, "-", cmdSep), sp.script
}

// cleanup deletes the env buffer after a failed spawn, which may have left
// it loaded.
func (c *Client) cleanup(sp spawn) {
	if sp.buffer == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.run(ctx, nil, "delete-buffer", "-b", sp.buffer)
}

// bin is the tmux program the pane's command calls to read its environment.
func (c *Client) bin() string {
	switch r := c.runner.(type) {
	case Exec:
		if r.Bin != "" {
			return r.Bin
		}
	case *SSH:
		if r.cfg.Bin != "" {
			return r.cfg.Bin
		}
	}
	return "tmux"
}

func validEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shQuote quotes s as one word for sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Respawn kills the program in target and starts o.Command there (respawn-pane
// -k). The pane keeps its ID and place.
func (c *Client) Respawn(ctx context.Context, target string, o SpawnOptions) error {
	sp, err := c.spawnOf(o)
	if err != nil {
		return fmt.Errorf("tmux respawn %q: %w", target, err)
	}
	args, stdin := sp.prefix(false)
	args = append(args, "respawn-pane", "-k", "-t", target)
	_, err = c.run(ctx, stdin, append(args, sp.args...)...)
	if err != nil {
		c.cleanup(sp)
	}
	return err
}

// NewSession starts a detached session name whose first window is window ("" =
// tmux's automatic name), sized o.Width x o.Height (default 200x50), and
// returns its pane.
func (c *Client) NewSession(ctx context.Context, name, window string, o SpawnOptions) (Pane, error) {
	if err := validSessionName(name); err != nil {
		return Pane{}, fmt.Errorf("tmux new-session: %w", err)
	}
	w, h := o.Width, o.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if w < 0 || h < 0 {
		return Pane{}, fmt.Errorf("tmux new-session %q: invalid size %dx%d", name, w, h)
	}
	sp, err := c.spawnOf(o)
	if err != nil {
		return Pane{}, fmt.Errorf("tmux new-session %q: %w", name, err)
	}
	args, stdin := sp.prefix(true)
	args = append(args, "new-session", "-d", "-s", name)
	if window != "" {
		args = append(args, "-n", window)
	}
	args = append(args, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "-P", "-F", paneFormat)
	args = append(args, sp.args...)
	// new-session starts a server when there is none, but one that is
	// exiting (its last session just closed) takes the command and dies
	// under it: "server exited unexpectedly". A new server then starts.
	for try := 1; ; try++ {
		p, err := c.newPane(ctx, sp, stdin, args)
		if err == nil || !errors.Is(err, ErrNoServer) || try == 3 {
			return p, err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return p, err
		case <-t.C:
		}
	}
}

// NewWindow adds a window to session without making it the current window,
// and returns its pane. A new window gets the session's default size.
func (c *Client) NewWindow(ctx context.Context, session, window string, o SpawnOptions) (Pane, error) {
	if err := validSessionName(session); err != nil {
		return Pane{}, fmt.Errorf("tmux new-window: %w", err)
	}
	sp, err := c.spawnOf(o)
	if err != nil {
		return Pane{}, fmt.Errorf("tmux new-window in %q: %w", session, err)
	}
	// "=name:" is exactly this session (no prefix match), next free index.
	args, stdin := sp.prefix(false)
	args = append(args, "new-window", "-d", "-t", "="+session+":")
	if window != "" {
		args = append(args, "-n", window)
	}
	args = append(args, "-P", "-F", paneFormat)
	return c.newPane(ctx, sp, stdin, append(args, sp.args...))
}

func (c *Client) newPane(ctx context.Context, sp spawn, stdin []byte, args []string) (Pane, error) {
	out, err := c.run(ctx, stdin, args...)
	if err != nil {
		c.cleanup(sp)
		return Pane{}, err
	}
	panes, err := parsePanes(string(out))
	if err != nil {
		return Pane{}, err
	}
	if len(panes) != 1 {
		return Pane{}, fmt.Errorf("tmux %s: printed %d panes, want 1: %q", args[0], len(panes), out)
	}
	return panes[0], nil
}

func validSessionName(name string) error {
	switch {
	case name == "":
		return errors.New("empty session name")
	case strings.ContainsAny(name, ":."):
		return fmt.Errorf("session name %q contains ':' or '.', which tmux does not allow", name)
	case hasControl(name):
		return fmt.Errorf("session name %q contains control characters", name)
	}
	return nil
}

// KillPane kills the pane target and its program.
func (c *Client) KillPane(ctx context.Context, target string) error {
	_, err := c.run(ctx, nil, "kill-pane", "-t", target)
	return err
}

// KillSession kills the session named exactly name (never one it is a prefix of).
func (c *Client) KillSession(ctx context.Context, name string) error {
	if err := validSessionName(name); err != nil {
		return fmt.Errorf("tmux kill-session: %w", err)
	}
	_, err := c.run(ctx, nil, "kill-session", "-t", "="+name)
	return err
}

// KillServer kills the server and every pane in it, and returns once the
// server is gone, so a following NewSession starts a fresh one. A server that
// is not running is not an error.
func (c *Client) KillServer(ctx context.Context) error {
	_, err := c.run(ctx, nil, "kill-server")
	if errors.Is(err, ErrNoServer) {
		return nil
	}
	if err != nil {
		return err
	}
	// kill-server returns before the server has exited; a command sent in
	// between reaches the dying server.
	ctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.run(ctx, nil, "has-session")
		if errors.Is(err, ErrNoServer) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tmux kill-server: server still answering: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// killWait bounds how long KillServer waits for the server to exit.
const killWait = 5 * time.Second

// SetOption sets option name to value for target (set-option -t); tmux picks
// the option's scope (session, window or pane) from its name, so
// "remain-on-exit" sets the window option. An empty target sets the global
// value (-g).
func (c *Client) SetOption(ctx context.Context, target, name, value string) error {
	if name == "" {
		return errors.New("tmux set-option: empty option name")
	}
	args := []string{"set-option"}
	if target == "" {
		args = append(args, "-g")
	} else {
		args = append(args, "-t", target)
	}
	_, err := c.run(ctx, nil, append(args, "--", name, value)...)
	return err
}

// ShowBuffer returns the contents of the most recent paste buffer.
func (c *Client) ShowBuffer(ctx context.Context) (string, error) {
	out, err := c.run(ctx, nil, "show-buffer")
	return string(out), err
}

// SetBuffer stores text as a new paste buffer (load-buffer from stdin).
func (c *Client) SetBuffer(ctx context.Context, text string) error {
	_, err := c.run(ctx, []byte(text), "load-buffer", "-")
	return err
}

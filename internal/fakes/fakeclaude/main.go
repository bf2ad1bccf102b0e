// Command fakeclaude stands in for the Claude Code CLI in tests and in the
// benchmark: in a tmux pane it shows a captured Claude screen and switches to
// another on command; it exits on two Ctrl-C like the real CLI; `auth login`
// plays the real login flow over pipes (see auth.go).
//
// TUI mode reads its screens from FAKECLAUDE_SCREENS (a directory of captured
// panes) and starts with FAKECLAUDE_SCREEN (a file name in it, default
// "15-busy.txt"). Typed lines are commands:
//
//	:screen NAME    show another captured screen (clears first)
//	:exit           exit like /exit
//
// With FAKECLAUDE_STUBBORN set it hangs: it ignores Ctrl-C, SIGHUP and
// SIGTERM, and so does the child it starts.
//
// With FAKECLAUDE_UP_ENTER=NAME, a line that starts with the Up arrow
// (a dialog answered with Up, Enter) shows screen NAME; FAKECLAUDE_DOWN_ENTER
// the same for Down, and FAKECLAUDE_ENTER for Enter alone (an empty line:
// the preselected option).
//
// `--version` says FAKECLAUDE_VERSION (default 2.1.328).
//
// FAKECLAUDE_SESSION_ID replaces the session ID it writes into its session
// file (as anything the agent runs could).
//
// FAKECLAUDE_DEAF_KEYS=N makes its first dialog drop the first N keys, as
// the real CLI's permission prompt can just after it opens.
// With FAKECLAUDE_DIALOG="1=NAME,2=NAME,esc=NAME" it reads keys one by one
// (the terminal in non-canonical mode) like the real CLI: on a screen with
// a numbered chooser, Up and Down move the ❯ cursor (the screen is redrawn),
// Enter or a digit picks an option and shows the screen mapped to it, Esc
// shows the one mapped to "esc". Any other typed line followed by Enter
// shows FAKECLAUDE_ON_LINE, if set. FAKECLAUDE_TYPED names a file that gets
// one line per typed line ("line TEXT") and per answer ("answer N", "answer esc").
//
// On SIGUSR1 it reads a screen name from the control file FAKECLAUDE_CONTROL
// and shows that screen, so a test or the benchmark can switch state at a
// known instant without typing into the pane.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "auth" && os.Args[2] == "login" {
		os.Exit(authLogin(os.Args[3:]))
	}
	if len(os.Args) >= 2 && os.Args[1] == "setup-token" {
		os.Exit(setupToken())
	}
	if len(os.Args) >= 2 && (os.Args[1] == "--version" || os.Args[1] == "-v") {
		v := os.Getenv("FAKECLAUDE_VERSION")
		if v == "" {
			v = "2.1.328"
		}
		fmt.Println(v + " (Claude Code)")
		return
	}
	os.Exit(tui(os.Args[1:]))
}

const sessionID = "5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b01"

// tui shows captured screens in a pane until two Ctrl-C, SIGTERM, :exit
// or /exit, taking typed lines and SIGUSR1 as commands.
func tui(args []string) int {
	dir := os.Getenv("FAKECLAUDE_SCREENS")
	screen := os.Getenv("FAKECLAUDE_SCREEN")
	if screen == "" {
		screen = "15-busy.txt"
	}
	if err := show(dir, screen); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	writeSession(args)
	if os.Getenv("FAKECLAUDE_STUBBORN") != "" {
		hang()
	}

	// Raw-ish terminal: we do not switch the tty mode; Ctrl-C arrives as SIGINT.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	usr1 := make(chan os.Signal, 4)
	signal.Notify(usr1, syscall.SIGUSR1)
	dlg := newDialog(dir, screen)
	lines := input(dlg != nil)
	ctl := os.Getenv("FAKECLAUDE_CONTROL")
	interrupts := 0
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				return 143
			}
			interrupts++
			if interrupts >= 2 {
				bye()
				return 0
			}
			fmt.Print("\r\nPress Ctrl-C again to exit\r\n")
		case l, ok := <-lines:
			if !ok {
				return 0
			}
			if typedLine(dir, dlg, l) {
				bye()
				return 0
			}
		case <-usr1:
			b, err := os.ReadFile(ctl)
			if err != nil {
				fmt.Println(err)
				continue
			}
			switchTo(dir, dlg, strings.TrimSpace(string(b)))
		}
	}
}

// hang is a hung CLI: deaf to Ctrl-C, hangup and SIGTERM, with a child (a
// tool it ran) just as deaf — only SIGKILL ends them.
func hang() {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	child := exec.Command("sleep", "3600")
	if err := child.Start(); err == nil {
		fmt.Printf("\r\ntool pid %d\r\n", child.Process.Pid)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// input delivers what is typed: key by key for a dialog, else line by line.
func input(keys bool) <-chan string {
	lines := make(chan string)
	if keys {
		go readKeys(lines)
		return lines
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// typedLine acts on one typed line (or key, in a dialog); it reports
// whether the line asked to exit.
func typedLine(dir string, dlg *dialog, l string) (exit bool) {
	if dlg != nil && dlg.key(l) {
		return false
	}
	l = strings.TrimSpace(l)
	switch {
	case l == ":exit" || l == "/exit":
		return true
	case strings.HasPrefix(l, "\x1b[A") || strings.HasPrefix(l, "\x1bOA"):
		showIfSet(dir, "FAKECLAUDE_UP_ENTER")
	case strings.HasPrefix(l, "\x1b[B") || strings.HasPrefix(l, "\x1bOB"):
		showIfSet(dir, "FAKECLAUDE_DOWN_ENTER")
	case l == "":
		showIfSet(dir, "FAKECLAUDE_ENTER")
	case strings.HasPrefix(l, ":screen "):
		switchTo(dir, dlg, strings.TrimSpace(strings.TrimPrefix(l, ":screen ")))
	case dlg != nil && l != "":
		dlg.typed("line " + l)
		if next := os.Getenv("FAKECLAUDE_ON_LINE"); next != "" {
			if err := show(dir, next); err == nil {
				dlg.load(next)
			}
		}
	}
	return false
}

// switchTo shows screen name, and makes it the dialog's.
func switchTo(dir string, dlg *dialog, name string) {
	if err := show(dir, name); err != nil {
		fmt.Println(err)
	} else if dlg != nil {
		dlg.load(name)
	}
}

func bye() {
	fmt.Printf("\r\nResume this session with:\r\nclaude --resume %s\r\n", sessionID)
}

// showIfSet shows the screen the environment variable names, if any.
func showIfSet(dir, key string) {
	if next := os.Getenv(key); next != "" {
		if err := show(dir, next); err != nil {
			fmt.Println(err)
		}
	}
}

// show clears the pane and prints a captured screen.
func show(dir, name string) error {
	b, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
	if err != nil {
		return fmt.Errorf("fakeclaude: %w", err)
	}
	// Clear screen and scrollback, home the cursor; \r\n because the tty may
	// not translate newlines in every mode.
	text := strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\r\n")
	fmt.Print("\x1b[3J\x1b[2J\x1b[H" + text)
	return nil
}

// writeSession writes the session file the real CLI keeps, so restarts can
// resume the same session.
func writeSession(args []string) {
	dir := os.Getenv("CLAUDE_CONFIG_DIR")
	if dir == "" {
		return
	}
	_ = os.MkdirAll(filepath.Join(dir, "sessions"), 0o700)
	cwd, _ := os.Getwd()
	id := sessionID
	if v := os.Getenv("FAKECLAUDE_SESSION_ID"); v != "" {
		id = v
	}
	for i, a := range args {
		if a == "--resume" && i+1 < len(args) {
			id = args[i+1]
		}
	}
	body := fmt.Sprintf(`{"pid":%d,"sessionId":%q,"cwd":%q,"status":"idle"}`, os.Getpid(), id, cwd)
	_ = os.WriteFile(filepath.Join(dir, "sessions", fmt.Sprintf("%d.json", os.Getpid())), []byte(body), 0o600)
}

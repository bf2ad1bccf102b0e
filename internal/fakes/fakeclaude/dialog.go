package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Key events readKeys sends in place of a line.
const (
	keyUp    = "\x00up"
	keyDown  = "\x00down"
	keyEsc   = "\x00esc"
	keyEnter = "\x00enter"
	keyDigit = "\x00digit:"
)

// readKeys puts the terminal in non-canonical mode (Ctrl-C still signals)
// and turns bytes into key events and typed lines.
func readKeys(out chan<- string) {
	cmd := exec.Command("stty", "-icanon", "-echo", "min", "1")
	cmd.Stdin = os.Stdin
	_ = cmd.Run()
	var line []byte
	buf := make([]byte, 256)
	for {
		n, err := os.Stdin.Read(buf)
		if err != nil {
			close(out)
			return
		}
		b := buf[:n]
		for len(b) > 0 {
			switch {
			case strings.HasPrefix(string(b), "\x1b[A") || strings.HasPrefix(string(b), "\x1bOA"):
				out <- keyUp
				b = b[3:]
			case strings.HasPrefix(string(b), "\x1b[B") || strings.HasPrefix(string(b), "\x1bOB"):
				out <- keyDown
				b = b[3:]
			case b[0] == 0x1b:
				out <- keyEsc
				b = b[1:]
			case b[0] == '\r' || b[0] == '\n':
				if len(line) > 0 {
					out <- string(line)
					line = nil
				} else {
					out <- keyEnter
				}
				b = b[1:]
			case b[0] >= '1' && b[0] <= '9' && len(line) == 0 && len(b) == 1:
				out <- keyDigit + string(b[0])
				b = b[1:]
			default:
				line = append(line, b[0])
				b = b[1:]
			}
		}
	}
}

// dialog is the numbered chooser on the current screen, if any.
type dialog struct {
	dir    string
	lines  []string
	opts   []int // indexes of option lines
	cursor int   // index into opts
	next   map[string]string
	deaf   int // keys still to drop, as a dialog that has just opened does
}

var optionRE = regexp.MustCompile(`^( *)(❯ |  )(\d+)\. `)

func newDialog(dir, screen string) *dialog {
	spec := os.Getenv("FAKECLAUDE_DIALOG")
	if spec == "" {
		return nil
	}
	d := &dialog{dir: dir, next: map[string]string{}}
	d.deaf, _ = strconv.Atoi(os.Getenv("FAKECLAUDE_DEAF_KEYS"))
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		d.next[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	d.load(screen)
	return d
}

// load reads the options of a screen just shown.
func (d *dialog) load(name string) {
	d.lines, d.opts, d.cursor = nil, nil, 0
	b, err := os.ReadFile(filepath.Join(d.dir, filepath.Base(name)))
	if err != nil {
		return
	}
	d.lines = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i, l := range d.lines {
		if m := optionRE.FindStringSubmatch(l); m != nil {
			if m[2] == "❯ " {
				d.cursor = len(d.opts)
			}
			d.opts = append(d.opts, i)
		}
	}
}

// key handles a key event; false for a typed line.
func (d *dialog) key(ev string) bool {
	if !strings.HasPrefix(ev, "\x00") {
		return false
	}
	if len(d.opts) == 0 {
		return true
	}
	if d.deaf > 0 {
		d.deaf--
		return true
	}
	switch {
	case ev == keyUp && d.cursor > 0:
		d.cursor--
		d.redraw()
	case ev == keyDown && d.cursor < len(d.opts)-1:
		d.cursor++
		d.redraw()
	case ev == keyEnter:
		d.pick(strconv.Itoa(d.cursor + 1))
	case ev == keyEsc:
		d.pick("esc")
	case strings.HasPrefix(ev, keyDigit):
		n, _ := strconv.Atoi(strings.TrimPrefix(ev, keyDigit))
		if n >= 1 && n <= len(d.opts) {
			d.pick(strconv.Itoa(n))
		}
	}
	return true
}

func (d *dialog) redraw() {
	for j, i := range d.opts {
		m := optionRE.FindStringSubmatchIndex(d.lines[i])
		mark := "  "
		if j == d.cursor {
			mark = "❯ "
		}
		d.lines[i] = d.lines[i][:m[4]] + mark + d.lines[i][m[5]:]
	}
	fmt.Print("\x1b[3J\x1b[2J\x1b[H" + strings.Join(d.lines, "\r\n"))
}

func (d *dialog) pick(choice string) {
	d.typed("answer " + choice)
	next := d.next[choice]
	if next == "" {
		return
	}
	if err := show(d.dir, next); err == nil {
		d.load(next)
	}
}

func (d *dialog) typed(s string) {
	f := os.Getenv("FAKECLAUDE_TYPED")
	if f == "" {
		return
	}
	fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer fh.Close()
	fmt.Fprintln(fh, s)
}

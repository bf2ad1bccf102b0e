package claude

import (
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Dialog is a chooser the CLI shows and waits on: a permission prompt, the
// trust dialog, the theme chooser, the API-key question, any numbered list.
type Dialog struct {
	// Question is the line above the options that asks ("Do you want to
	// proceed?"), "" when there is none.
	Question string
	Options  []Option
	// Cursor is the number (1-based) of the option the ❯ points at: Enter
	// picks it.
	Cursor int
	// ID names this dialog: its question, the lines above it and its
	// options. Another dialog (the next tool call's) has another ID, so an
	// answer meant for one is never typed into the next.
	ID string
}

// Option is one choice as the CLI lists it.
type Option struct {
	N     int    // position in the list, 1-based
	Label string // "Yes, and don't ask again for npm test commands"
	// Numbered is true when the CLI shows "N." before the label.
	Numbered bool
	// Widens is true for a choice that grants more than this one answer:
	// "don't ask again", auto mode, bypassing permissions, all edits.
	Widens bool
}

// Title is the option as a button shows it: "2. Yes, and …".
func (o Option) Title() string { return strconv.Itoa(o.N) + ". " + o.Label }

// widening phrases, squeezed (lower case, no spaces).
var widening = []string{
	"don'taskagain", "donotaskagain", "automode", "auto-accept", "autoaccept",
	"bypass", "allowall", "alwaysallow", "alledits", "dangerously", "skippermissions",
	"acceptedits", "yolo",
}

// dialogLines is how far up from the bottom a dialog's options may start.
const dialogLines = 60

// ParseDialog finds the chooser open at the bottom of a pane: the last block
// of options that has the ❯ cursor. ok is false when there is none (an idle
// prompt, a working turn, plain text). It does not decide whether the agent
// waits on it; Classify does (needs_input).
func ParseDialog(text string) (d Dialog, ok bool) {
	if len(text) > maxBytes {
		text = text[len(text)-maxBytes:]
	}
	all := strings.Split(strings.ReplaceAll(text, "\r", ""), "\n")
	lines := make([]string, len(all))
	for i, l := range all {
		lines[i] = unbox(l)
	}
	end := len(lines) - 1
	for end >= 0 && isBlank(lines[end]) {
		end--
	}
	lo := max(0, end-dialogLines)
	cur := -1
	for i := end; i >= lo; i-- {
		if isCursorLine(lines[i]) {
			cur = i
			break
		}
	}
	if cur < 0 {
		return pressEnter(lines, lo, end)
	}
	first, opts, cursor := optionBlock(lines, cur, end)
	if len(opts) < 2 || cursor == 0 {
		return Dialog{}, false
	}
	d = Dialog{Options: opts, Cursor: cursor}
	// The question: the nearest text above the options that asks (has a
	// "?"), else the nearest text. The ID covers the
	// dialog's body up to a rule or box top (at most 15 lines), which holds
	// the command or file the question is about.
	h := fnv.New64a()
	var body []byte
	for i, n := first-1, 0; i >= 0 && n < 15; i, n = i-1, n+1 {
		raw := all[i]
		if t := strings.TrimLeft(raw, " "); strings.HasPrefix(t, "─") || strings.HasPrefix(t, "━") || strings.HasPrefix(t, "╭") {
			break
		}
		s := strings.TrimSpace(lines[i])
		if s == "" {
			continue
		}
		if r, col := leadRune(lines[i]); r == '❯' && col == 0 {
			break // a user turn: the dialog starts below it
		}
		if !isRule(s) && (d.Question == "" || strings.Contains(s, "?") && !strings.Contains(d.Question, "?")) {
			// The nearest line that asks, else the nearest line.
			d.Question = s
		}
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
		body = squeezeAppend(body, s)
	}
	// Accepting the bypass-permissions warning turns every check off.
	if strings.Contains(string(body), "bypasspermissions") {
		for i, o := range d.Options {
			if strings.HasPrefix(strings.ToLower(o.Label), "yes") {
				d.Options[i].Widens = true
			}
		}
	}
	for _, o := range opts {
		h.Write([]byte(o.Label))
		h.Write([]byte{'\n'})
	}
	d.ID = strconv.FormatUint(h.Sum64(), 36)
	return d, true
}

// pressEnter finds a screen that waits only for Enter ("Security notes: …
// Press Enter to continue"): a dialog of one option, Continue, with the
// cursor on it.
func pressEnter(lines []string, lo, end int) (Dialog, bool) {
	at := -1
	for i := end; i >= lo && i >= end-2; i-- {
		if strings.Contains(string(squeezeAppend(nil, lines[i])), "pressentertocontinue") {
			at = i
			break
		}
	}
	if at < 0 {
		return Dialog{}, false
	}
	d := Dialog{Options: []Option{{N: 1, Label: "Continue"}}, Cursor: 1}
	h := fnv.New64a()
	for i, n := at, 0; i >= 0 && n < 15; i, n = i-1, n+1 {
		s := strings.TrimSpace(lines[i])
		if s == "" {
			continue
		}
		if r, col := leadRune(lines[i]); r == '❯' && col == 0 || isRule(s) {
			break
		}
		if d.Question == "" && strings.HasSuffix(s, ":") {
			d.Question = s // the heading: "Security notes:"
		}
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	if d.Question == "" {
		d.Question = strings.TrimSpace(lines[at])
	}
	d.ID = strconv.FormatUint(h.Sum64(), 36)
	return d, true
}

// unbox strips a dialog box's side borders: "│ ❯ 1. Yes   │" → " ❯ 1. Yes".
func unbox(s string) string {
	s = strings.TrimRight(s, " \t\u00a0")
	t := strings.TrimLeft(s, " ")
	if strings.HasPrefix(t, "│") {
		s = strings.Repeat(" ", len(s)-len(t)) + " " + t[len("│"):]
		s = strings.TrimRight(strings.TrimSuffix(s, "│"), " \t\u00a0")
	}
	return s
}

// isCursorLine reports an option line with the chooser's cursor: "  ❯ No",
// " ❯ 1. Yes", " ❯ ✔ Auto". Column 0 is a user turn or the input line.
func isCursorLine(s string) bool {
	r, col := leadRune(s)
	if r != '❯' || col == 0 {
		return false
	}
	rest := strings.TrimLeft(strings.TrimLeft(s, " \u00a0")[len("❯"):], " \u00a0")
	return rest != ""
}

// optionLine splits an option line into its parts: the column its label
// starts at, its number (0 when unnumbered), the label, and whether it has
// the cursor.
func optionLine(s string) (col, num int, label string, cursor bool) {
	i := 0 // byte offset
	col = 0
	skip := func() {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != ' ' && r != '\u00a0' && r != '\t' {
				return
			}
			i += n
			col++
		}
	}
	skip()
	if strings.HasPrefix(s[i:], "❯") {
		cursor = true
		i += len("❯")
		col++
		skip()
	}
	for _, m := range []string{"✔", "◯", "◉", "☐", "☒", "○", "●"} {
		if strings.HasPrefix(s[i:], m) {
			i += len(m)
			col++
			skip()
			break
		}
	}
	// "12. label"
	j := i
	for j < len(s) && j-i < 2 && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j > i && j+1 < len(s) && s[j] == '.' && s[j+1] == ' ' {
		num, _ = strconv.Atoi(s[i:j])
		col += j + 1 - i
		i = j + 1
		skip()
	}
	return col, num, strings.TrimSpace(s[i:]), cursor
}

// optionBlock collects the options around the cursor line cur: numbered
// ones by their numbers (with wrapped continuation lines), unnumbered ones
// by the column their labels share.
func optionBlock(lines []string, cur, end int) (first int, opts []Option, cursor int) {
	col, num, label, _ := optionLine(lines[cur])
	if label == "" {
		return cur, nil, 0
	}
	numbered := num > 0
	// Walk up to the first option.
	first = cur
	if numbered {
		for i := cur; i >= 0 && cur-i < 40; i-- {
			_, n, _, _ := optionLine(lines[i])
			if n == 1 {
				first = i
				break
			}
			if n == 0 && isBlank(lines[i]) {
				break
			}
		}
	} else {
		for i := cur - 1; i >= 0 && cur-i < 40; i-- {
			c, n, l, _ := optionLine(lines[i])
			if isBlank(lines[i]) || n > 0 || c != col || l == "" {
				break
			}
			first = i
		}
	}
	for i := first; i <= end; i++ {
		s := lines[i]
		if isBlank(s) {
			break
		}
		c, n, l, isCur := optionLine(s)
		switch {
		case numbered && n == len(opts)+1:
			opts = append(opts, Option{N: n, Label: l, Numbered: true})
		case numbered && n == 0 && len(opts) > 0 && c >= col && !isCur:
			// A long label wrapped by the CLI under its first line.
			opts[len(opts)-1].Label += " " + l
			continue
		case !numbered && n == 0 && c == col && l != "":
			opts = append(opts, Option{N: len(opts) + 1, Label: l})
		default:
			i = end + 1 // the block ended
			continue
		}
		if isCur {
			cursor = len(opts)
		}
	}
	for i := range opts {
		q := string(squeezeAppend(nil, opts[i].Label))
		for _, w := range widening {
			if strings.Contains(q, w) {
				opts[i].Widens = true
				break
			}
		}
	}
	return first, opts, cursor
}

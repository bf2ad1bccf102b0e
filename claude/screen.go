package claude

import (
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Only the bottom of a huge scrollback is looked at: what decides a state is
// always near the end, and the classifier must stay fast on any input.
const (
	maxBytes = 256 << 10
	maxLines = 1000
)

type lineKind uint8

const (
	kText  lineKind = iota
	kBlank          // only whitespace
	kRule           // horizontal rule or box edge (─ ━ ═ ╌, ╭─╮, ╰─╯)
	kInput          // the live input line: ❯ + NBSP between rules
	kUser           // a user turn: ❯ <text> at column 0
)

type line struct {
	s        string // the line without trailing spaces, tabs and \r
	off      int    // byte offset of the line in screen.text
	sq0, sq1 int    // the line's range in screen.sq
	kind     lineKind
}

// screen is one capture split into lines, plus a "squeezed" copy of its text:
// ASCII lower-cased, whitespace (and NBSP) removed, curly apostrophes made
// straight. Phrases are matched against the squeezed text, so case, spacing
// and where a message was wrapped do not matter.
type screen struct {
	text  string
	lines []line
	sq    string
	pairs pairSet // byte pairs present in sq
	last  int     // index of the last non-blank line, -1 when there is none
	width int     // estimated pane width, computed on demand
}

// pairSet records which byte pairs occur in a text (hashed into 4096 bits).
// Most phrases are absent from any given screen; checking their pairs here
// rules them out without scanning the text.
type pairSet [64]uint64

func pairHash(a, b byte) uint { return (uint(a)*73 ^ uint(b)*151) & 4095 }

func (ps *pairSet) fill(b []byte) {
	for i := 0; i+1 < len(b); i++ {
		h := pairHash(b[i], b[i+1])
		ps[h>>6] |= 1 << (h & 63)
	}
}

// may reports whether p can occur in the text; false is certain.
func (ps *pairSet) may(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		h := pairHash(p[i], p[i+1])
		if ps[h>>6]&(1<<(h&63)) == 0 {
			return false
		}
	}
	return true
}

// index is strings.Index behind the pair filter.
func (sc *screen) index(q, p string) int {
	if !sc.pairs.may(p) {
		return -1
	}
	return strings.Index(q, p)
}

func (sc *screen) contains(q, p string) bool { return sc.index(q, p) >= 0 }

func (sc *screen) containsAny(q string, pats []string) bool {
	for _, p := range pats {
		if sc.index(q, p) >= 0 {
			return true
		}
	}
	return false
}

func (sc *screen) parse(text string) {
	if len(text) > maxBytes {
		cut := len(text) - maxBytes
		if i := strings.IndexByte(text[cut:], '\n'); i >= 0 {
			cut += i + 1
		}
		text = text[cut:]
	}
	n := strings.Count(text, "\n") + 1
	for n > maxLines {
		text = text[strings.IndexByte(text, '\n')+1:]
		n--
	}
	sc.text = text
	sc.lines = make([]line, 0, n)
	b := make([]byte, 0, min(len(text), 4096))
	sc.last = -1
	off := 0
	for off <= len(text) {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += off
		}
		s := strings.TrimRight(text[off:end], " \t\r")
		l := line{s: s, off: off, sq0: len(b)}
		switch {
		case isBlank(s):
			l.kind = kBlank
		case isRule(s):
			l.kind = kRule
		default:
			b = squeezeAppend(b, s)
			sc.last = len(sc.lines)
		}
		l.sq1 = len(b)
		sc.lines = append(sc.lines, l)
		off = end + 1
	}
	sc.pairs.fill(b)
	// b is never written again: share its bytes, as strings.Builder does.
	sc.sq = unsafe.String(unsafe.SliceData(b), len(b))
	sc.markTurns()
}

// markTurns tells the live input line from user turns. Both start with ❯ at
// column 0; the input line has a NBSP after the ❯ (a user turn a plain space)
// or sits between two rules.
func (sc *screen) markTurns() {
	for i := range sc.lines {
		l := &sc.lines[i]
		if l.kind != kText {
			continue
		}
		s := l.s
		switch {
		case strings.HasPrefix(s, "❯"):
			rest := s[len("❯"):]
			switch {
			case rest == "" || strings.HasPrefix(rest, "\u00a0"):
				l.kind = kInput
			case sc.ruleAt(i-1) && sc.ruleBelow(i, 4):
				l.kind = kInput
			case rest[0] == ' ' && !isBlank(rest):
				l.kind = kUser
			}
		case strings.HasPrefix(s, "> ") && !isBlank(s[2:]):
			// Older versions drew user turns with ">".
			l.kind = kUser
		case strings.HasPrefix(s, "│ >") || strings.HasPrefix(s, "│ ❯"):
			// Older versions boxed the input line: ╭─╮ │ > │ ╰─╯.
			if sc.ruleAt(i - 1) {
				l.kind = kInput
			}
		}
	}
}

func (sc *screen) ruleAt(i int) bool {
	return i >= 0 && i < len(sc.lines) && sc.lines[i].kind == kRule
}

func (sc *screen) ruleBelow(i, within int) bool {
	for j := i + 1; j < len(sc.lines) && j <= i+within; j++ {
		if sc.lines[j].kind == kRule {
			return true
		}
	}
	return false
}

// sqOf returns the squeezed text of lines a..b inclusive.
func (sc *screen) sqOf(a, b int) string {
	if a < 0 {
		a = 0
	}
	if b < a {
		return ""
	}
	return sc.sq[sc.lines[a].sq0:sc.lines[b].sq1]
}

// lineAt returns the index of the line holding squeezed offset pos.
func (sc *screen) lineAt(pos int) int {
	i := sort.Search(len(sc.lines), func(i int) bool { return sc.lines[i].sq1 > pos })
	if i >= len(sc.lines) {
		return len(sc.lines) - 1
	}
	return i
}

// paneWidth estimates the pane width as the widest line: a terminal never
// prints past it, and a hard-wrapped line fills it exactly.
func (sc *screen) paneWidth() int {
	if sc.width == 0 {
		w := 1
		for _, l := range sc.lines {
			// A line has at most as many runes as bytes: most need no count.
			if len(l.s) > w {
				w = max(w, utf8.RuneCountInString(l.s))
			}
		}
		sc.width = w
	}
	return sc.width
}

// hardWrapped reports whether line i filled the pane, so that the terminal
// (not the program) broke it and the next line goes on where it stopped.
func (sc *screen) hardWrapped(i int) bool {
	s := sc.lines[i].s
	if len(s) < 20 {
		return false
	}
	w := sc.paneWidth()
	return w >= 20 && len(s) >= w && utf8.RuneCountInString(s) >= w
}

// blockStart returns the first line of the block holding line i: a message
// and its indented or hard-wrapped continuation lines.
func (sc *screen) blockStart(i, lo int) int {
	for i > lo && sc.continues(i) {
		i--
	}
	return i
}

// continues reports whether line i belongs to the block of line i-1.
func (sc *screen) continues(i int) bool {
	l, p := sc.lines[i], sc.lines[i-1]
	if l.kind != kText || p.kind != kText {
		return false
	}
	r, col := leadRune(l.s)
	if col > 0 {
		return !isBullet(r)
	}
	return !isGlyph(r) && sc.hardWrapped(i-1)
}

// wrapContinues is stricter than continues: line i is the rest of line
// i-1's sentence (wrapped by Claude Code under the text column, or by the
// terminal), not a separate output line.
func (sc *screen) wrapContinues(i int) bool {
	l, p := sc.lines[i], sc.lines[i-1]
	if l.kind != kText || p.kind != kText {
		return false
	}
	r, col := leadRune(l.s)
	if col == 0 {
		return !isGlyph(r) && sc.hardWrapped(i-1)
	}
	if isGlyph(r) || col != textCol(p.s) {
		return false
	}
	if w := sc.paneWidth(); len(p.s) >= w*2/3 && utf8.RuneCountInString(p.s) >= w*2/3 {
		return true // the line above was full enough to have been wrapped
	}
	// Same indentation alone proves nothing (dialog lines, lists); it does
	// when the lines hang under a message glyph: "● a…" / "  …b" / "  …c".
	for k := i - 1; k >= 0 && k >= i-50; k-- {
		pk := sc.lines[k]
		if pk.kind != kText {
			return false
		}
		r, c := leadRune(pk.s)
		if isGlyph(r) {
			return isMessageGlyph(r) && textCol(pk.s) == col
		}
		if c != col {
			return false
		}
	}
	return false
}

// logical returns line i joined with the lines it wraps onto (up to hi),
// as evidence.
func (sc *screen) logical(i, lo, hi int) string {
	for i > lo && sc.wrapContinues(i) {
		i--
	}
	s := stripDecor(sc.lines[i].s)
	if i+1 > hi || !sc.wrapContinues(i+1) {
		return finishEvidence(s)
	}
	var b strings.Builder
	b.WriteString(s)
	for j := i + 1; j <= hi && sc.wrapContinues(j) && b.Len() < 4*maxEvidence; j++ {
		if _, col := leadRune(sc.lines[j].s); col > 0 {
			b.WriteByte(' ') // wrapped by Claude Code at a word break
		}
		b.WriteString(strings.TrimLeft(sc.lines[j].s, " \u00a0"))
	}
	return finishEvidence(b.String())
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\r':
		case c == 0xC2 && i+1 < len(s) && s[i+1] == 0xA0:
			i++
		default:
			return false
		}
	}
	return true
}

func isHoriz(r rune) bool {
	switch r {
	case '─', '━', '═', '╌', '╍', '┄', '┅', '┈', '┉', '╴', '╶':
		return true
	}
	return false
}

// isRule reports lines drawn only to separate: at least 8 horizontal box
// characters, optionally with corners (╭─╮, ╰─╯).
func isRule(s string) bool {
	t := strings.TrimLeft(s, " ")
	if len(t) < 8*3 {
		return false
	}
	r, n := utf8.DecodeRuneInString(t)
	if !isHoriz(r) && r != '╭' && r != '╰' {
		return false
	}
	if r2, _ := utf8.DecodeRuneInString(t[n:]); !isHoriz(r2) {
		return false
	}
	r3, _ := utf8.DecodeLastRuneInString(t)
	return isHoriz(r3) || r3 == '╮' || r3 == '╯'
}

// squeezeClass sorts bytes for squeezeAppend: 0 copy, 1 drop, 2 upper
// case, 3 lead byte of a sequence that may need care.
var squeezeClass = func() (t [256]uint8) {
	t[' '], t['\t'], t['\r'] = 1, 1, 1
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 2
	}
	t[0xC2], t[0xE2] = 3, 3
	return t
}()

func squeezeAppend(b []byte, s string) []byte {
	from := 0 // s[from:i] is an unchanged run not yet copied
	for i := 0; i < len(s); i++ {
		cl := squeezeClass[s[i]]
		if cl == 0 {
			continue
		}
		switch {
		case cl == 1:
			b = append(b, s[from:i]...)
		case cl == 2:
			b = append(b, s[from:i]...)
			b = append(b, s[i]+('a'-'A'))
		case s[i] == 0xC2 && i+1 < len(s) && s[i+1] == 0xA0: // NBSP
			b = append(b, s[from:i]...)
			i++
		case s[i] == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0x98 || s[i+2] == 0x99): // ‘ ’
			b = append(b, s[from:i]...)
			b = append(b, '\'')
			i += 2
		case s[i] == 0xE2 && i+2 < len(s) && s[i+1] >= 0x94 && s[i+1] <= 0x96:
			// Box drawing, block elements, shapes (U+2500–U+25BF): borders
			// and banner art, never part of a phrase.
			b = append(b, s[from:i]...)
			i += 2
		default:
			continue // any other character stays in the run
		}
		from = i + 1
	}
	return append(b, s[from:]...)
}

// leadRune returns the first non-space rune of s and its column in runes.
func leadRune(s string) (rune, int) {
	col := 0
	for _, r := range s {
		if r != ' ' && r != '\u00a0' && r != '\t' {
			return r, col
		}
		col++
	}
	return 0, col
}

// textCol returns the column (in runes) where the text of s starts, after
// indentation and a leading decoration glyph: where Claude Code aligns the
// lines it wraps.
func textCol(s string) int {
	col := 0
	glyph := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\u00a0' || r == '\t':
		case !glyph && isGlyph(r):
			glyph = true
		default:
			return col
		}
		col++
	}
	return col
}

// isBullet reports the glyphs that start a transcript message.
func isBullet(r rune) bool { return r == '●' || r == '⏺' }

// isSpinner reports the glyphs of Claude Code's status line (spinner frames
// while working, "✻ Worked for 12s" when done).
func isSpinner(r rune) bool {
	switch r {
	case '✻', '✽', '✶', '✳', '✢', '·', '*', '∗', '✺', '✹', '⋆':
		return true
	}
	return false
}

// isGlyph reports decoration glyphs that begin a line of their own.
func isGlyph(r rune) bool {
	switch r {
	case '●', '⏺', '⎿', '✘', '✗', '✔', '✓', '⚠', '❯', '▎', '│', '⏵', '◐', '›':
		return true
	}
	return isSpinner(r) && r != '*'
}

// isMessageGlyph reports the glyphs a wrapped message hangs under (not a
// chooser's ❯ cursor: its options are separate lines).
func isMessageGlyph(r rune) bool {
	switch r {
	case '●', '⏺', '⎿', '✘', '✗', '⚠', '✔', '✓':
		return true
	}
	return false
}

// Package chunk splits long chat messages: at line ends where it can and
// inside a line where it must, measuring in UTF-16 code units as Telegram
// and Discord count their limits.
package chunk

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Units is the length of s in UTF-16 code units.
func Units(s string) int {
	n := 0
	for _, r := range s {
		if u := utf16.RuneLen(r); u > 0 {
			n += u
		} else {
			n++
		}
	}
	return n
}

// Lines cuts s into pieces of at most budget units (budget ≥ 2). A line
// longer than budget is cut at the last rune that fits; safe, when not nil,
// may move that cut left (to keep "&amp;" or "\*" whole). Pieces carry no
// trailing newline.
func Lines(s string, budget int, safe func(s string, cut int) int) []string {
	var out []string
	var cur strings.Builder
	curUnits := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, strings.TrimSuffix(cur.String(), "\n"))
			cur.Reset()
			curUnits = 0
		}
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		lu := Units(line)
		if curUnits+lu <= budget {
			cur.WriteString(line)
			curUnits += lu
			continue
		}
		flush()
		// Units are counted down as pieces are cut, so a very long line
		// costs linear time, not a recount per piece.
		for lu > budget {
			cut := cutAt(line, budget)
			if safe != nil {
				if c := safe(line, cut); c > 0 {
					cut = c
				}
			}
			out = append(out, line[:cut])
			lu -= Units(line[:cut])
			line = line[cut:]
		}
		cur.WriteString(line)
		curUnits = lu
	}
	flush()
	return out
}

// cutAt is the byte index after the last rune of s that fits in n units.
// An invalid byte is one unit and one byte (not the three bytes of the
// U+FFFD it decodes to), as Units counts it.
func cutAt(s string, n int) int {
	used, cut := 0, 0
	for cut < len(s) {
		r, size := utf8.DecodeRuneInString(s[cut:])
		u := utf16.RuneLen(r)
		if u < 0 {
			u = 1
		}
		if used+u > n {
			break
		}
		used += u
		cut += size
	}
	return cut
}

package claude

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// tokensFigure is the token count on the status line ("↓ 1.2k tokens"):
// it grows while an answer streams in.
var tokensFigure = regexp.MustCompile(`[↓↑]\s*[\d.,]+k?\s*tokens`)

// Progress returns text without what Claude Code animates while a turn
// waits: the status line's spinner glyph and elapsed time, and the tips
// that rotate under it. Two screens with the same Progress show no
// progress between them, which is what "stuck" is measured by; the raw
// screen of a working agent changes several times a second.
func Progress(text string) string {
	lines := strings.Split(text, "\n")
	out := lines[:0:0]
	for _, l := range lines {
		t := strings.TrimSpace(l)
		r, size := utf8.DecodeRuneInString(t)
		switch {
		case isSpinner(r) && strings.Contains(t, "…"):
			verb, rest, _ := strings.Cut(t[size:], "…")
			l = "* " + strings.TrimSpace(verb) + "… " + strings.Join(tokensFigure.FindAllString(rest, -1), " ")
		case strings.HasPrefix(t, "⎿") && strings.Contains(t, "Tip:"):
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

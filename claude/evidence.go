package claude

import (
	"strings"
	"unicode/utf8"

	"github.com/fleetwarden/fleetwarden/internal/fold"
)

// maxEvidence caps Result.Evidence, in runes: enough for one message line,
// short enough for a chat alert.
const maxEvidence = 200

// stripDecor trims a line and drops a leading structural glyph (● ⏺ ⎿ ▎ │),
// which says where a message sits, not what it says. Glyphs that carry
// meaning (✘ ✔ ⚠ ✻) stay.
func stripDecor(s string) string {
	s = strings.Trim(s, " \t\u00a0")
	for _, g := range [...]string{"●", "⏺", "⎿", "▎", "│"} {
		if strings.HasPrefix(s, g) {
			return strings.TrimLeft(s[len(g):], " \t\u00a0")
		}
	}
	return s
}

// finishEvidence collapses runs of blanks (footers pad with dozens), hides
// secrets and the login URL's query (it goes to admins only, never into a
// status line) and caps the length.
func finishEvidence(s string) string {
	s = collapseSpaces(s)
	if i := strings.Index(s, "oauth/authorize?"); i >= 0 {
		j := i + len("oauth/authorize?")
		k := j
		for k < len(s) && s[k] != ' ' {
			k++
		}
		s = s[:j] + "…" + s[k:]
	}
	s = Redact(s)
	if utf8.RuneCountInString(s) > maxEvidence {
		n := 0
		for i := range s {
			if n == maxEvidence-1 {
				s = strings.TrimRight(s[:i], " ") + "…"
				break
			}
			n++
		}
	}
	return s
}

func collapseSpaces(s string) string {
	s = strings.Trim(s, " \t\u00a0")
	if !needsCollapse(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\u00a0' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsCollapse(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		switch c := s[i]; {
		case c == '\t', c == ' ' && s[i+1] == ' ', c == 0xC2 && s[i+1] == 0xA0:
			return true
		}
	}
	return false
}

// segmentFrom returns s from the first case-insensitive occurrence of phrase
// (lower case, single spaces) on, for footers that hold several items.
func segmentFrom(s, phrase string) string {
	c := collapseSpaces(s)
	if i := fold.Index(c, phrase); i >= 0 {
		return finishEvidence(c[i:])
	}
	return finishEvidence(c)
}

package claude

import (
	"strings"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Redact hides secrets in s (see internal/redact, the project's one
// redactor): Anthropic keys and tokens, bot tokens, login codes.
func Redact(s string) string { return redact.String(s) }

// HideLogin takes a login link (whole, or hard-wrapped across lines) and a
// login code typed at the CLI's prompt off a pane's text: they are for an
// admin in a private chat, and a peek may be read in a group.
func HideLogin(text string) string {
	text = redact.String(text)
	for range 8 {
		u := ExtractLoginURL(text)
		if u == "" {
			return text
		}
		lines := strings.Split(text, "\n")
		first := true
		for i, l := range lines {
			var b strings.Builder
			for l != "" {
				k := 0
				for k < len(l) && !isURLByte(l[k]) {
					k++
				}
				b.WriteString(l[:k])
				l = l[k:]
				n := urlPrefix(l)
				tok := l[:n]
				l = l[n:]
				// A piece of the link: its first, or a wrapped line of it.
				if len(tok) >= 8 && strings.Contains(u, strings.TrimRight(tok, ".,;:")) {
					if first {
						b.WriteString("[login link hidden: an admin gets it with /login in a private chat]")
						first = false
					}
					continue
				}
				b.WriteString(tok)
			}
			lines[i] = b.String()
		}
		text = strings.Join(lines, "\n")
	}
	return text
}

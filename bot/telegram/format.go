package telegram

import (
	"html"
	"strings"
	"unicode/utf16"

	"github.com/fleetwarden/fleetwarden/commands"
)

// MaxMessage is Telegram's limit per message. We count the HTML we send in
// UTF-16 units, tags included, which is never less than what Telegram counts.
const MaxMessage = 4096

// Format renders a reply as HTML messages of at most MaxMessage each, split
// on line boundaries; the pane text goes in <pre> blocks, each chunk closed
// and reopened so every message is valid on its own.
func Format(r commands.Reply) []string {
	var out []string
	if r.Text != "" {
		out = append(out, splitLines(html.EscapeString(r.Text), MaxMessage, "", "")...)
	}
	if r.Pre != "" {
		pre := splitLines(html.EscapeString(r.Pre), MaxMessage, "<pre>", "</pre>")
		// Join the first block onto the text when both fit in one message.
		if len(out) > 0 && len(pre) > 0 && units(out[len(out)-1])+1+units(pre[0]) <= MaxMessage {
			out[len(out)-1] += "\n" + pre[0]
			pre = pre[1:]
		}
		out = append(out, pre...)
	}
	return out
}

// splitLines cuts escaped text into chunks of at most max units including
// prefix and suffix, at line ends where it can and inside a line (never
// inside an HTML entity) where it must.
func splitLines(s string, max int, prefix, suffix string) []string {
	budget := max - units(prefix) - units(suffix)
	var chunks []string
	var cur strings.Builder
	curUnits := 0
	flush := func() {
		if cur.Len() > 0 {
			chunks = append(chunks, prefix+strings.TrimSuffix(cur.String(), "\n")+suffix)
			cur.Reset()
			curUnits = 0
		}
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		lu := units(line)
		if curUnits+lu <= budget {
			cur.WriteString(line)
			curUnits += lu
			continue
		}
		flush()
		for units(line) > budget {
			head, rest := cutUnits(line, budget)
			chunks = append(chunks, prefix+head+suffix)
			line = rest
		}
		cur.WriteString(line)
		curUnits = units(line)
	}
	flush()
	return chunks
}

// cutUnits splits s after at most n UTF-16 units, not inside an entity.
func cutUnits(s string, n int) (string, string) {
	used := 0
	cut := 0
	for i, r := range s {
		u := utf16.RuneLen(r)
		if u < 0 {
			u = 1
		}
		if used+u > n {
			break
		}
		used += u
		cut = i + len(string(r))
	}
	// Do not split "&amp;" and friends.
	if amp := strings.LastIndexByte(s[:cut], '&'); amp >= 0 && !strings.Contains(s[amp:cut], ";") && amp > 0 {
		cut = amp
	}
	return s[:cut], s[cut:]
}

func units(s string) int {
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

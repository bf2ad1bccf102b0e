package telegram

import (
	"html"
	"strings"

	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/chunk"
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
// prefix and suffix, never inside an HTML entity.
func splitLines(s string, max int, prefix, suffix string) []string {
	var out []string
	for _, body := range chunk.Lines(s, max-units(prefix)-units(suffix), entitySafe) {
		out = append(out, prefix+body+suffix)
	}
	return out
}

// entitySafe moves a cut before an "&…;" entity it would split.
func entitySafe(s string, cut int) int {
	if amp := strings.LastIndexByte(s[:cut], '&'); amp > 0 && !strings.Contains(s[amp:cut], ";") {
		return amp
	}
	return cut
}

func units(s string) int { return chunk.Units(s) }

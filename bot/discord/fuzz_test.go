package discord

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fleetwarden/fleetwarden/commands"
)

// FuzzFormat: any reply becomes messages within Discord's limit; a code
// block opened in a message is closed in it, and valid text stays valid
// UTF-8 (no rune cut in two).
func FuzzFormat(f *testing.F) {
	f.Add("**bold** _x_ `code` @everyone <@123> > quote\n# head\n1. list", "```\npane ``` text\n")
	f.Add(strings.Repeat("*_~`|>", 700), strings.Repeat("x\n", 3000))
	f.Add("", "")
	f.Add("😀 "+strings.Repeat("é", 2100), "https://example.com/a_b*c")
	f.Fuzz(func(t *testing.T, text, pre string) {
		msgs := Format(commands.Reply{Text: text, Pre: pre})
		for _, m := range msgs {
			if n := units(m); n > MaxMessage {
				t.Fatalf("message of %d units, over %d", n, MaxMessage)
			}
			// Backticks of the text are escaped and those of pane text
			// broken up: every ``` is a fence, and they come in pairs.
			if strings.Count(m, "```")%2 != 0 {
				t.Fatalf("code block not closed in %q", m)
			}
			if utf8.ValidString(text) && utf8.ValidString(pre) && !utf8.ValidString(m) {
				t.Fatalf("invalid UTF-8 in %q", m)
			}
		}
	})
}

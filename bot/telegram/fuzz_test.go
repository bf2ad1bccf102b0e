package telegram

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/commands"
)

var tag = regexp.MustCompile(`</?pre>`)

// FuzzFormat: any reply becomes messages within Telegram's limit, each with
// balanced <pre> blocks and no entity cut in two, and together they say all
// of the reply (lines may be split, nothing is lost).
func FuzzFormat(f *testing.F) {
	f.Add("status: <b>2 agents</b> & more", "pane\n<pre>\n&amp;")
	f.Add(strings.Repeat("a&b<c>d\n", 900), strings.Repeat("x", 5000))
	f.Add("", "")
	f.Add("😀 "+strings.Repeat("é", 4100), "")
	f.Fuzz(func(t *testing.T, text, pre string) {
		msgs := Format(commands.Reply{Text: text, Pre: pre})
		var all strings.Builder
		for _, m := range msgs {
			if n := units(m); n > MaxMessage {
				t.Fatalf("message of %d units, over %d", n, MaxMessage)
			}
			if strings.Count(m, "<pre>") != strings.Count(m, "</pre>") {
				t.Fatalf("unbalanced <pre> in %q", m)
			}
			body := tag.ReplaceAllString(m, "")
			for i := strings.IndexByte(body, '&'); i >= 0; i = strings.IndexByte(body, '&') {
				j := strings.IndexByte(body[i:], ';')
				if j < 0 || j > 8 {
					t.Fatalf("entity cut in %q", m)
				}
				body = body[i+j:]
			}
			all.WriteString(html.UnescapeString(tag.ReplaceAllString(m, "")))
		}
		flat := func(s string) string { return strings.ReplaceAll(s, "\n", "") }
		if got, want := flat(all.String()), flat(text+pre); got != want {
			t.Fatalf("the messages say %q, want %q", got, want)
		}
	})
}

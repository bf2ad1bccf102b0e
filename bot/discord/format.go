package discord

import (
	"regexp"
	"strings"

	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/chunk"
)

// MaxMessage is Discord's limit for a message's content. We count UTF-16
// units, which is never less than the characters Discord counts.
const MaxMessage = 2000

const (
	fenceOpen  = "```\n"
	fenceClose = "\n```"
	zwsp       = "\u200b"
)

// Format renders a reply as Discord messages of at most MaxMessage each,
// split on line boundaries. The text is escaped so Discord shows it as
// written; the pane text goes in code blocks, each chunk closed and reopened
// so every message renders on its own.
func Format(r commands.Reply) []string {
	var out []string
	if strings.TrimSpace(r.Text) != "" {
		out = append(out, splitLines(escapeMarkdown(r.Text), MaxMessage, "", "", true)...)
	}
	if r.Pre != "" {
		pre := splitLines(escapePre(r.Pre), MaxMessage, fenceOpen, fenceClose, false)
		// Join the first block onto the text when both fit in one message.
		if len(out) > 0 && len(pre) > 0 && units(out[len(out)-1])+1+units(pre[0]) <= MaxMessage {
			out[len(out)-1] += "\n" + pre[0]
			pre = pre[1:]
		}
		out = append(out, pre...)
	}
	return out
}

// urlRE matches what Discord turns into a link by itself. URLs are left as
// they are: a backslash inside one would become part of the link.
var urlRE = regexp.MustCompile(`https?://[^\s<>]+`)

// listNumber is an ordered-list marker ("12. ") at the start of a line.
var listNumber = regexp.MustCompile(`^\d+\.\s`)

// escapeMarkdown backslash-escapes what Discord's markdown would interpret
// (Discord drops the backslash before any punctuation): emphasis, code,
// spoilers, strike, mentions and masked links anywhere; headings, quotes and
// lists at the start of a line.
func escapeMarkdown(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		b.WriteString(line[:indent])
		line = line[indent:]
		switch {
		case line != "" && strings.ContainsRune("#>-", rune(line[0])):
			b.WriteByte('\\')
		case listNumber.MatchString(line):
			dot := strings.IndexByte(line, '.')
			b.WriteString(line[:dot] + `\`)
			line = line[dot:]
		}
		last := 0
		for _, loc := range urlRE.FindAllStringIndex(line, -1) {
			b.WriteString(escapeInline(line[last:loc[0]]))
			b.WriteString(line[loc[0]:loc[1]])
			last = loc[1]
		}
		b.WriteString(escapeInline(line[last:]))
	}
	return b.String()
}

var inlineEscaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`", "|", `\|`, "<", `\<`, "[", `\[`,
)

func escapeInline(s string) string { return inlineEscaper.Replace(s) }

// escapePre keeps pane text from closing its code block: a zero-width space
// after every backtick means no "```" can appear inside, while the text
// still reads the same.
func escapePre(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "`", "`"+zwsp)
}

// splitLines cuts text into chunks of at most max units including prefix
// and suffix, at line ends where it can and inside a line where it must.
// With escaped set, a cut never separates a backslash from the character it
// escapes. Chunks without visible text are dropped (Discord refuses them).
func splitLines(s string, max int, prefix, suffix string, escaped bool) []string {
	var safe func(string, int) int
	if escaped {
		safe = escapeSafe
	}
	var out []string
	for _, body := range chunk.Lines(s, max-units(prefix)-units(suffix), safe) {
		if prefix == "" && strings.TrimSpace(body) == "" {
			continue
		}
		out = append(out, prefix+body+suffix)
	}
	return out
}

// escapeSafe keeps a backslash with the character it escapes: an odd run of
// backslashes before the cut means the last one escapes the next character.
func escapeSafe(s string, cut int) int {
	if bs := cut - len(strings.TrimRight(s[:cut], `\`)); bs%2 == 1 {
		return cut - 1
	}
	return cut
}

func units(s string) int { return chunk.Units(s) }

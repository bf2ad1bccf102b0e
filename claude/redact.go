package claude

import (
	"regexp"
	"strings"
)

const redacted = "…[redacted]"

// Redact hides secrets in s, keeping enough of each to tell what it was:
//
//	sk-ant-oat01-AbC…   → sk-ant-oat01-…[redacted]   (any sk-ant- kind: oat, ort, api, admin)
//	123456789:AAH4x…    → 123456789:…[redacted]      (Telegram bot token; the bot id is public)
//	MTIz….GhIj.kLmN…    → MTIz…[redacted]            (Discord bot token)
//
// Text without anything token-like comes back unchanged, without copying.
func Redact(s string) string {
	if strings.Contains(s, "sk-ant-") {
		s = redactAnthropic(s)
	}
	if strings.IndexByte(s, ':') >= 0 {
		s = redactTelegram(s)
	}
	if strings.Count(s, ".") >= 2 {
		s = redactDiscord(s)
	}
	return s
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func redactAnthropic(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "sk-ant-")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len("sk-ant-")
		// Keep the kind ("oat01-") when there is one.
		k := j
		for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		keep := j
		if k > j && k < len(s) && s[k] == '-' && k-j <= 8 {
			keep = k + 1
		}
		end := keep
		for end < len(s) && isTokenByte(s[end]) {
			end++
		}
		b.WriteString(s[:keep])
		if end > keep || keep == j {
			b.WriteString(redacted)
		}
		s = s[end:]
	}
}

// redactTelegram hides <bot id>:<secret>: 5–12 digits, a colon, 30 or more
// token characters (also inside https://api.telegram.org/bot<token>/…).
func redactTelegram(s string) string {
	var b strings.Builder
	from := 0 // s[:from] is already in b
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		d := i
		for d > 0 && s[d-1] >= '0' && s[d-1] <= '9' {
			d--
		}
		// The id stands alone, or follows "bot" as in Bot API URLs.
		if n := i - d; n < 5 || n > 12 || (d > 0 && isTokenByte(s[d-1]) && !strings.HasSuffix(s[:d], "bot")) {
			continue
		}
		e := i + 1
		for e < len(s) && isTokenByte(s[e]) {
			e++
		}
		if e-(i+1) < 30 {
			continue
		}
		b.WriteString(s[from : i+1])
		b.WriteString(redacted)
		from = e
		i = e - 1
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

// redactDiscord hides <base64 user id>.<6+ chars>.<27+ chars>.
func redactDiscord(s string) string {
	var b strings.Builder
	from := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			continue
		}
		a := i
		for a > 0 && isTokenByte(s[a-1]) {
			a--
		}
		if i-a < 23 || i-a > 28 {
			continue
		}
		j := i + 1
		for j < len(s) && isTokenByte(s[j]) {
			j++
		}
		if j-(i+1) < 6 || j >= len(s) || s[j] != '.' {
			continue
		}
		k := j + 1
		for k < len(s) && isTokenByte(s[k]) {
			k++
		}
		if k-(j+1) < 27 {
			continue
		}
		b.WriteString(s[from:min(a+4, i)])
		b.WriteString(redacted)
		from = k
		i = k - 1
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

// loginCode is a code from the login page as typed at the CLI's prompt.
var loginCode = regexp.MustCompile(`[A-Za-z0-9_-]{16,}#[A-Za-z0-9_-]{16,}`)

// HideLogin takes a login link (whole, or hard-wrapped across lines) and a
// login code typed at the CLI's prompt off a pane's text: they are for an
// admin in a private chat, and a peek may be read in a group.
func HideLogin(text string) string {
	text = loginCode.ReplaceAllString(text, "[login code hidden]")
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

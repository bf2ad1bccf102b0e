package claude

import (
	"strings"
	"unicode/utf8"

	"github.com/fleetwarden/fleetwarden/internal/fold"
)

// ExtractLoginURL returns the last OAuth authorize URL in text, rejoined
// when the terminal or Claude Code hard-wrapped it across lines (tmux's -J
// does not help: the CLI breaks the URL itself). It returns "" when there is
// none.
//
// A line continues the URL when the line before it was as wide as the URL's
// first line (every wrapped piece but the last fills the same width, whatever
// that width is) and it holds nothing but URL characters, indented like the
// URL's start. The scheme itself may be split ("…visit: https" / "://…").
// One ambiguity remains: a URL that ends exactly at the right edge, followed
// by a line of bare URL characters, would be joined with it.
func ExtractLoginURL(text string) string {
	if !strings.Contains(text, "//") {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	found := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		start := urlStart(lines, i)
		if start < 0 {
			continue
		}
		end := start + urlPrefix(l[start:])
		u := l[start:end]
		if end == len(l) && i+1 < len(lines) {
			var b strings.Builder
			b.WriteString(u)
			indent := 0
			if strings.TrimLeft(l[:start], " ") == "" {
				indent = start
			}
			w := utf8.RuneCountInString(l)
			j := i
			for j+1 < len(lines) {
				if j > i && utf8.RuneCountInString(lines[j]) != w {
					break
				}
				nx := lines[j+1]
				if len(nx) <= indent || strings.TrimLeft(nx[:indent], " ") != "" || nx[indent] == ' ' {
					break
				}
				body := nx[indent:]
				if urlPrefix(body) != len(body) {
					break
				}
				b.WriteString(body)
				j++
			}
			i = j
			u = b.String()
		}
		u = strings.TrimRight(u, ".,;:")
		if fold.Index(u, "oauth/authorize") >= 0 {
			found = u
		}
	}
	return found
}

// urlStart returns where a URL begins on line i, or -1. It also finds a
// scheme the wrap split ("visit: htt" + "ps://…" on the next line).
func urlStart(lines []string, i int) int {
	l := lines[i]
	if k := strings.Index(l, "https://"); k >= 0 {
		return k
	}
	if k := strings.Index(l, "http://"); k >= 0 {
		return k
	}
	if i+1 >= len(lines) || l == "" || strings.IndexByte("htps:/", l[len(l)-1]) < 0 {
		return -1
	}
	next := lines[i+1]
	for _, scheme := range [...]string{"https://", "http://"} {
		for n := len(scheme) - 1; n >= 1; n-- {
			if strings.HasSuffix(l, scheme[:n]) && strings.HasPrefix(next, scheme[n:]) {
				k := len(l) - n
				if k == 0 || l[k-1] == ' ' {
					return k
				}
			}
		}
	}
	return -1
}

// urlPrefix returns how many leading bytes of s are URL characters.
func urlPrefix(s string) int {
	for i := 0; i < len(s); i++ {
		if !isURLByte(s[i]) {
			return i
		}
	}
	return len(s)
}

func isURLByte(c byte) bool { return urlBytes[c] }

var urlBytes = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~:/?#[]@!$&*+,;=%") {
		t[c] = true
	}
	return t
}()

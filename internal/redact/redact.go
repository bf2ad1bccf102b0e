// Package redact hides secrets in text before it is shown, sent, logged or
// journaled: Anthropic keys and OAuth tokens, Telegram and Discord bot tokens,
// bearer values, tokens in URLs and login codes. It is the one redactor of
// the project; every output goes through it.
//
// A pane wraps a long token over several lines (a 108-character OAuth token
// is two lines at 80 columns, three at 50), so redacting line by line would
// leave its tail readable. The redactor therefore also looks at the text with
// wrapped lines joined: a line as long as the longest line of the text is
// taken to continue on the next one (the terminal wrapped it; the text is 40
// columns or wider, or several lines have that length), and so is a
// line whose token runs to its end while the next line carries on with token
// characters after some indentation (Claude Code wraps tool output that way).
// A token found across such a break is removed whole, the break with it.
package redact

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/fleetwarden/fleetwarden/internal/fold"
)

// Mark replaces the secret part of a token.
const Mark = "…[redacted]"

// CodeMark replaces a login code (code#state from the login page).
const CodeMark = "[login code hidden]"

// String hides secrets in s, keeping enough of each to tell what it was:
//
//	sk-ant-oat01-AbC…   → sk-ant-oat01-…[redacted]   (any sk-ant- kind: oat, ort, api, admin)
//	123456789:AAH4x…    → 123456789:…[redacted]      (Telegram bot token; the bot id is public)
//	MTIz….GhIj.kLmN…    → MTIz…[redacted]            (Discord bot token)
//	Bearer abc…         → Bearer …[redacted]
//	?token=abc          → ?token=…[redacted]         (also access_token, refresh_token, api_key, key)
//	/webhooks/1/abc     → /webhooks/1/…[redacted]    (Discord webhook and interaction tokens)
//	AbCd…#EfGh…         → [login code hidden]
//
// Text without anything token-like comes back unchanged, without copying.
func String(s string) string { return Secrets(s) }

// Secrets is String that also hides each of the given literal secrets (a bot
// token, a dashboard token), wherever they appear, wrapped or not.
func Secrets(s string, secrets ...string) string {
	spans := spansOf(s, secrets)
	if len(spans) == 0 {
		return s
	}
	return apply(s, spans)
}

// InContext redacts s, a piece cut out of context (one line of a pane, the
// last lines of it): besides what String hides, any piece of a secret found
// in context goes, so the tail of a wrapped token cannot pass as ordinary
// text once its head is cut off.
func InContext(context, s string, secrets ...string) string {
	s = Secrets(s, secrets...)
	for _, sp := range spansOf(context, secrets) {
		for _, frag := range strings.Split(context[sp.start:sp.end], "\n") {
			frag = strings.TrimSpace(frag)
			if len(frag) < 3 {
				continue
			}
			s = strings.ReplaceAll(s, frag, Mark)
			// A line shortened with "…" may end in the start of one.
			if cut, ok := strings.CutSuffix(s, "…"); ok {
				for n := min(len(frag), len(cut)); n >= 3; n-- {
					if strings.HasSuffix(cut, frag[:n]) {
						s = cut[:len(cut)-n] + Mark
						break
					}
				}
			}
		}
	}
	return s
}

// spansOf returns the secrets in s as spans to replace.
func spansOf(s string, secrets []string) []span {
	if s == "" {
		return nil
	}
	var spans []span
	nl := strings.IndexByte(s, '\n') >= 0
	if mayHold(s, secrets) {
		spans = find(plain(s), secrets)
	}
	if nl {
		for _, v := range joinedViews(s) {
			if mayHold(v.text, secrets) {
				spans = append(spans, find(v, secrets)...)
			}
		}
	}
	return spans
}

// AnthropicPrefix starts every Anthropic key and token (sk-ant-oat01-,
// sk-ant-ort01-, sk-ant-api03-, sk-ant-admin01-).
const AnthropicPrefix = "sk-ant-"

// HasAnthropicToken reports whether s holds an Anthropic key or token, one
// String would hide: what must not pass to a program fleetwarden starts.
func HasAnthropicToken(s string) bool { return strings.Contains(s, AnthropicPrefix) }

// URL shortens a URL whose path, query or user info may be a key (a
// webhook, a dead man's switch, a chat API) to its scheme and host:
// "https://hc-ping.com/…". Something that is not scheme://host… becomes "…".
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "…"
	}
	host, more := rest, false
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, more = rest[:i], true
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host, more = host[i+1:], true // user:password@
	}
	if more {
		return scheme + "://" + host + "/…"
	}
	return scheme + "://" + host
}

// mayHold is a cheap test that s could hold something to hide.
func mayHold(s string, secrets []string) bool {
	for _, sec := range secrets {
		if sec != "" && len(sec) <= len(s) {
			return true
		}
	}
	return HasAnthropicToken(s) || strings.IndexByte(s, ':') >= 0 ||
		strings.IndexByte(s, '.') >= 0 || strings.IndexByte(s, '#') >= 0 ||
		strings.IndexByte(s, '=') >= 0 || strings.Contains(s, "earer") || strings.Contains(s, "EARER")
}

// view is a text to search and, per byte, where it came from in the original.
// join marks positions where a wrapped line was joined to the one before: a
// token may start there even when a token character precedes it.
type view struct {
	text string
	orig []int // orig[i] is the offset in the original of text[i]; nil: same
	join map[int]bool
}

func plain(s string) view { return view{text: s} }

func (v view) at(i int) int {
	if v.orig == nil {
		return i
	}
	return v.orig[i]
}

// boundary reports whether a token may start at i.
func (v view) boundary(i int) bool {
	return i == 0 || !isTokenByte(v.text[i-1]) || v.join[i]
}

// span is a piece of the original to replace: [start, end) with repl.
type span struct {
	start, end int
	repl       string
}

// joinedViews returns the text with wrapped lines joined, twice: once
// dropping a continuation line's indentation (a wrapping program indented
// it) and once keeping it (the text had the blank there).
func joinedViews(s string) []view {
	lines := strings.Split(s, "\n")
	width, full := 0, 0
	for _, l := range lines {
		switch n := utf8.RuneCountInString(l); {
		case n > width:
			width, full = n, 1
		case n == width:
			full++
		}
	}
	// The longest line is a wrapped one when the text is as wide as a
	// terminal, or when several lines share that width; a short excerpt's
	// longest line is not taken to go on.
	wrapped := width >= 40 || full >= 2
	soft := make([]bool, len(lines)) // soft[i]: line i continues on line i+1
	any := false
	for i := 0; i+1 < len(lines); i++ {
		l, next := lines[i], lines[i+1]
		n := utf8.RuneCountInString(l)
		rest := strings.TrimLeft(next, " \t")
		switch {
		case rest == "":
		case wrapped && n == width && l != "":
			soft[i] = true // the terminal wrapped a full line
		case isTokenByte(rest[0]) && len(rest) < len(next) && tailRun(l) >= 16:
			soft[i] = true // a long token runs to the end; the next line goes on, indented
		}
		any = any || soft[i]
	}
	if !any {
		return nil
	}
	var out []view
	for _, dropIndent := range []bool{true, false} {
		var b strings.Builder
		b.Grow(len(s))
		orig := make([]int, 0, len(s))
		join := map[int]bool{}
		off := 0
		for i, l := range lines {
			lo := off
			if i > 0 && soft[i-1] {
				if dropIndent {
					t := strings.TrimLeft(l, " \t")
					lo += len(l) - len(t)
					l = t
				}
				join[b.Len()] = true
			} else if i > 0 {
				b.WriteByte('\n')
				orig = append(orig, off-1)
			}
			b.WriteString(l)
			for k := range len(l) {
				orig = append(orig, lo+k)
			}
			off += len(lines[i]) + 1
		}
		out = append(out, view{text: b.String(), orig: orig, join: join})
	}
	return out
}

// tailRun is the length of the run of token bytes that ends l.
func tailRun(l string) int {
	n := 0
	for i := len(l) - 1; i >= 0 && isTokenByte(l[i]); i-- {
		n++
	}
	return n
}

// apply replaces the spans (offsets in s; they may overlap) in s.
func apply(s string, spans []span) string {
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		if sp.end <= at {
			continue // inside one already replaced
		}
		if sp.start < at {
			// Overlaps the last one: hide the rest of it too.
			at = sp.end
			continue
		}
		b.WriteString(s[at:sp.start])
		b.WriteString(sp.repl)
		at = sp.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// find returns the secrets in v as spans of the original text.
func find(v view, secrets []string) []span {
	var out []span
	add := func(start, end int, repl string) {
		out = append(out, span{v.at(start), v.at(end-1) + 1, repl})
	}
	s := v.text
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for i := 0; ; {
			j := strings.Index(s[i:], sec)
			if j < 0 {
				break
			}
			add(i+j, i+j+len(sec), Mark)
			i += j + len(sec)
		}
	}
	anthropic(v, add)
	telegram(v, add)
	discord(v, add)
	loginCodes(v, add)
	bearer(v, add)
	queryTokens(v, add)
	urlTokens(v, add)
	return out
}

type adder func(start, end int, repl string)

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// runEnd is the end of the run of token bytes from i.
func runEnd(s string, i int) int {
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	return i
}

// anthropic hides sk-ant-<kind>-<secret>, keeping the kind ("oat01-").
func anthropic(v view, add adder) {
	s := v.text
	for from := 0; ; {
		i := strings.Index(s[from:], AnthropicPrefix)
		if i < 0 {
			return
		}
		i += from
		j := i + len(AnthropicPrefix)
		k := j
		for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		keep := j
		if k > j && k < len(s) && s[k] == '-' && k-j <= 8 {
			keep = k + 1
		}
		end := runEnd(s, keep)
		if end > keep || keep == j {
			add(i, max(end, i+len(AnthropicPrefix)), s[i:keep]+Mark)
		}
		from = max(end, j)
	}
}

// starts returns where a run of bytes ok, ending before i, may begin: at its
// natural start and at every join inside it, nearest to i last.
func starts(v view, i int, ok func(byte) bool) []int {
	var out []int
	d := i
	for d > 0 && ok(v.text[d-1]) {
		d--
		if v.join[d] {
			out = append(out, d)
		}
	}
	if len(out) == 0 || out[len(out)-1] != d {
		out = append(out, d)
	}
	// Natural start first: the longest candidate wins when it fits.
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// separated hides tokens made of a head, a separator byte and a tail. At each
// sep, tail says where the token ends (-1: what follows does not fit); head
// is tried on each start of the run of ok bytes before sep, longest first,
// and the first that fits is replaced by what it returns.
func separated(v view, add adder, sep byte, ok func(byte) bool, tail func(i int) int, head func(d, i int) (string, bool)) {
	s := v.text
	for i := 0; i < len(s); i++ {
		if s[i] != sep {
			continue
		}
		e := tail(i)
		if e < 0 {
			continue
		}
		for _, d := range starts(v, i, ok) {
			if repl, fits := head(d, i); fits {
				add(d, e, repl)
				i = e - 1
				break
			}
		}
	}
}

// telegram hides <bot id>:<secret>: 5–12 digits, a colon, 30 or more token
// characters (also inside https://api.telegram.org/bot<token>/…).
func telegram(v view, add adder) {
	s := v.text
	separated(v, add, ':', isDigit, func(i int) int {
		if e := runEnd(s, i+1); e-(i+1) >= 30 {
			return e
		}
		return -1
	}, func(d, i int) (string, bool) {
		n := i - d
		// The id stands alone, or follows "bot" as in Bot API URLs.
		if n >= 5 && n <= 12 && (v.boundary(d) || strings.HasSuffix(s[:d], "bot")) {
			return s[d:i+1] + Mark, true
		}
		return "", false
	})
}

// discord hides <base64 user id>.<6+ chars>.<27+ chars>.
func discord(v view, add adder) {
	s := v.text
	separated(v, add, '.', isTokenByte, func(i int) int {
		j := runEnd(s, i+1)
		if j-(i+1) < 6 || j >= len(s) || s[j] != '.' {
			return -1
		}
		if k := runEnd(s, j+1); k-(j+1) >= 27 {
			return k
		}
		return -1
	}, func(a, i int) (string, bool) {
		if n := i - a; n >= 23 && n <= 28 && v.boundary(a) {
			return s[a:a+4] + Mark, true
		}
		return "", false
	})
}

// loginCodes hides a code from the login page (code#state) as typed at the
// CLI's prompt: it logs the fleet in.
func loginCodes(v view, add adder) {
	s := v.text
	separated(v, add, '#', isTokenByte, func(i int) int {
		if e := runEnd(s, i+1); e-(i+1) >= 16 {
			return e
		}
		return -1
	}, func(d, i int) (string, bool) {
		return CodeMark, i-d >= 16
	})
}

// bearer hides the value of an Authorization header copied into a message.
func bearer(v view, add adder) {
	s := v.text
	for from := 0; ; {
		i := fold.Index(s[from:], "bearer")
		if i < 0 {
			return
		}
		i += from
		from = i + len("bearer")
		if i > 0 && isTokenByte(s[i-1]) {
			continue
		}
		j := from
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j == from {
			continue
		}
		e := j
		for e < len(s) && (isTokenByte(s[e]) || strings.IndexByte("._~+/=", s[e]) >= 0) {
			e++
		}
		if e-j >= 16 {
			add(j, e, Mark)
			from = e
		}
	}
}

// queryTokens hides tokens and keys carried in URL query strings.
func queryTokens(v view, add adder) {
	s := v.text
	for _, name := range []string{"access_token=", "refresh_token=", "token=", "api_key=", "key="} {
		for from := 0; ; {
			i := fold.Index(s[from:], name)
			if i < 0 {
				break
			}
			i += from
			from = i + len(name)
			if i == 0 || (s[i-1] != '?' && s[i-1] != '&') {
				continue
			}
			e := from
			for e < len(s) && strings.IndexByte("&# \t\n\"'", s[e]) < 0 {
				e++
			}
			if e > from && !strings.HasPrefix(s[from:e], Mark) {
				add(from, e, Mark)
			}
		}
	}
}

// urlTokens hides the token part of Discord webhook and interaction URLs.
func urlTokens(v view, add adder) {
	s := v.text
	for _, p := range []string{"/webhooks/", "/interactions/"} {
		for from := 0; ; {
			i := strings.Index(s[from:], p)
			if i < 0 {
				break
			}
			i += from
			from = i + len(p)
			j := from
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j == from || j >= len(s) || s[j] != '/' {
				continue
			}
			e := j + 1
			for e < len(s) && strings.IndexByte("/ \t\n\"?", s[e]) < 0 {
				e++
			}
			if e > j+1 && !strings.HasPrefix(s[j+1:e], Mark) {
				add(j+1, e, Mark)
			}
		}
	}
}

package telegramtest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseHTML follows the Bot API's HTML parse mode (tdlib's parse_html): it
// returns the text a user sees and its entities (offsets in UTF-16 units), or
// the error Telegram gives after "can't parse entities: ". '&' that starts no
// known entity stays literal, as it does on the real server.
func parseHTML(text string) (string, []entity, error) {
	type open struct {
		tag, arg string
		utf16Pos int
		seq      int // opening order: the outer of two equal spans sorts first
	}
	var (
		out      strings.Builder
		stack    []open
		ents     []entity
		seqs     []int
		opened   int
		utf16Pos int
	)
	n := len(text)
	at := func(i int) byte { // NUL past the end, like the C string tdlib walks
		if i < n {
			return text[i]
		}
		return 0
	}
	for i := 0; i < n; i++ {
		c := text[i]
		if c == '&' {
			if r, size, ok := decodeEntity(text[i:]); ok {
				out.WriteRune(r)
				utf16Pos += utf16Len(r)
				i += size - 1
				continue
			}
		}
		if c != '<' {
			out.WriteByte(c)
			if c&0xC0 != 0x80 { // first byte of a code point
				utf16Pos++
				if c >= 0xF0 { // needs a surrogate pair
					utf16Pos++
				}
			}
			continue
		}

		begin := i
		i++
		if at(i) != '/' {
			for at(i) != 0 && !isSpace(at(i)) && at(i) != '>' {
				i++
			}
			if at(i) == 0 {
				return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
			}
			tag := strings.ToLower(text[begin+1 : i])
			if !supportedTags[tag] {
				return "", nil, fmt.Errorf("Unsupported start tag %q at byte offset %d", tag, begin)
			}
			arg := ""
			for at(i) != '>' {
				for at(i) != 0 && isSpace(at(i)) {
					i++
				}
				if at(i) == '>' {
					break
				}
				if at(i) == 0 {
					return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
				}
				nameStart := i
				for at(i) != 0 && !isSpace(at(i)) && at(i) != '=' && at(i) != '>' {
					i++
				}
				name := strings.ToLower(text[nameStart:i])
				if name == "" {
					return "", nil, fmt.Errorf("Empty attribute name in the tag %q at byte offset %d", tag, begin)
				}
				for at(i) != 0 && isSpace(at(i)) {
					i++
				}
				if at(i) != '=' {
					if at(i) == 0 {
						return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
					}
					return "", nil, fmt.Errorf("Expected equal sign in declaration of an attribute of the tag %q at byte offset %d", tag, begin)
				}
				i++
				for at(i) != 0 && isSpace(at(i)) {
					i++
				}
				if at(i) == 0 {
					return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
				}
				var value string
				if q := at(i); q == '"' || q == '\'' {
					end := strings.IndexByte(text[i+1:], q)
					if end < 0 {
						return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
					}
					value = decodeEntities(text[i+1 : i+1+end])
					i += end + 2
				} else {
					valueStart := i
					for at(i) != 0 && !isSpace(at(i)) && at(i) != '>' {
						i++
					}
					value = decodeEntities(text[valueStart:i])
				}
				switch {
				case tag == "a" && name == "href":
					arg = value
				case tag == "code" && name == "class" && strings.HasPrefix(value, "language-"):
					arg = strings.TrimPrefix(value, "language-")
				case tag == "span" && name == "class" && strings.HasPrefix(value, "tg-"):
					arg = value
				case tag == "tg-emoji" && name == "emoji-id":
					arg = value
				case tag == "blockquote" && name == "expandable":
					arg = "expandable"
				}
			}
			if tag == "span" && arg != "tg-spoiler" {
				return "", nil, fmt.Errorf("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
			}
			stack = append(stack, open{tag: tag, arg: arg, utf16Pos: utf16Pos, seq: opened})
			opened++
			continue
		}

		// An end tag.
		if len(stack) == 0 {
			return "", nil, fmt.Errorf("Unexpected end tag at byte offset %d", begin)
		}
		for at(i) != 0 && !isSpace(at(i)) && at(i) != '>' {
			i++
		}
		endName := text[begin+2 : i]
		for at(i) != 0 && isSpace(at(i)) {
			i++
		}
		if at(i) != '>' {
			return "", nil, fmt.Errorf("Unclosed end tag at byte offset %d", begin)
		}
		top := stack[len(stack)-1]
		if endName != "" && endName != top.tag {
			return "", nil, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.tag, endName)
		}
		stack = stack[:len(stack)-1]
		if length := utf16Pos - top.utf16Pos; length > 0 {
			e := entity{Type: entityType(top.tag, top.arg), Offset: top.utf16Pos, Length: length}
			switch top.tag {
			case "a":
				if top.arg == "" {
					e.Type = "url"
				} else {
					e.URL = top.arg
				}
			case "code":
				// <pre><code class="language-go"> gives the pre entity a language.
				if top.arg != "" && len(stack) > 0 && stack[len(stack)-1].tag == "pre" {
					stack[len(stack)-1].arg = top.arg
				}
			case "pre":
				e.Language = top.arg
			}
			ents = append(ents, e)
			seqs = append(seqs, top.seq)
		}
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag %q", stack[len(stack)-1].tag)
	}
	order := make([]int, len(ents))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ea, eb := ents[order[a]], ents[order[b]]
		if ea.Offset != eb.Offset {
			return ea.Offset < eb.Offset
		}
		if ea.Length != eb.Length {
			return ea.Length > eb.Length
		}
		return seqs[order[a]] < seqs[order[b]]
	})
	sorted := make([]entity, 0, len(ents))
	for _, i := range order {
		sorted = append(sorted, ents[i])
	}
	if len(sorted) == 0 {
		sorted = nil
	}
	return out.String(), sorted, nil
}

var supportedTags = map[string]bool{
	"a": true, "b": true, "strong": true, "i": true, "em": true, "s": true, "strike": true,
	"del": true, "u": true, "ins": true, "tg-spoiler": true, "tg-emoji": true, "span": true,
	"pre": true, "code": true, "blockquote": true,
}

func entityType(tag, arg string) string {
	switch tag {
	case "a":
		return "text_link"
	case "b", "strong":
		return "bold"
	case "i", "em":
		return "italic"
	case "s", "strike", "del":
		return "strikethrough"
	case "u", "ins":
		return "underline"
	case "tg-spoiler", "span":
		return "spoiler"
	case "tg-emoji":
		return "custom_emoji"
	case "pre":
		return "pre"
	case "code":
		return "code"
	case "blockquote":
		if arg == "expandable" {
			return "expandable_blockquote"
		}
		return "blockquote"
	}
	return tag
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'
}

// decodeEntity decodes the HTML entity at the start of s: the four named ones
// the Bot API knows and numeric ones.
func decodeEntity(s string) (rune, int, bool) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 12 {
		return 0, 0, false
	}
	name := s[1:end]
	switch name {
	case "lt":
		return '<', end + 1, true
	case "gt":
		return '>', end + 1, true
	case "amp":
		return '&', end + 1, true
	case "quot":
		return '"', end + 1, true
	}
	if name[0] != '#' || len(name) < 2 {
		return 0, 0, false
	}
	base, digits := 10, name[1:]
	if digits[0] == 'x' || digits[0] == 'X' {
		base, digits = 16, digits[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil || v == 0 || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
		return 0, 0, false
	}
	return rune(v), end + 1, true
}

func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '&' {
			if r, size, ok := decodeEntity(s[i:]); ok {
				b.WriteRune(r)
				i += size - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// utf16Count is how Telegram measures text: UTF-16 code units.
func utf16Count(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Len(r)
	}
	return n
}

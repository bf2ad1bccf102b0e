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
	p := &htmlParser{text: text}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '&' {
			if r, size, ok := decodeEntity(text[i:]); ok {
				p.out.WriteRune(r)
				p.utf16Pos += utf16Len(r)
				i += size - 1
				continue
			}
		}
		if c != '<' {
			p.char(c)
			continue
		}
		var err error
		if p.at(i+1) != '/' {
			i, err = p.startTag(i)
		} else {
			i, err = p.endTag(i)
		}
		if err != nil {
			return "", nil, err
		}
	}
	if len(p.stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag %q", p.stack[len(p.stack)-1].tag)
	}
	return p.out.String(), p.sorted(), nil
}

// htmlParser is parseHTML's state: the text so far, the open tags, the
// entities of the closed ones.
type htmlParser struct {
	text     string
	out      strings.Builder
	stack    []openTag
	ents     []entity
	seqs     []int // the opening order of each entity's tag
	opened   int
	utf16Pos int
}

type openTag struct {
	tag, arg string
	utf16Pos int
	seq      int // opening order: the outer of two equal spans sorts first
}

// at is the byte at i, NUL past the end, like the C string tdlib walks.
func (p *htmlParser) at(i int) byte {
	if i < len(p.text) {
		return p.text[i]
	}
	return 0
}

func (p *htmlParser) skipSpace(i int) int {
	for isSpace(p.at(i)) {
		i++
	}
	return i
}

// char copies one byte of text, counting UTF-16 units per code point.
func (p *htmlParser) char(c byte) {
	p.out.WriteByte(c)
	if c&0xC0 != 0x80 { // first byte of a code point
		p.utf16Pos++
		if c >= 0xF0 { // needs a surrogate pair
			p.utf16Pos++
		}
	}
}

func unclosedStart(begin int) error {
	return fmt.Errorf("Unclosed start tag at byte offset %d", begin)
}

// startTag reads the start tag at begin and opens it; it returns the
// offset of its '>'.
func (p *htmlParser) startTag(begin int) (int, error) {
	i := begin + 1
	for p.at(i) != 0 && !isSpace(p.at(i)) && p.at(i) != '>' {
		i++
	}
	if p.at(i) == 0 {
		return 0, unclosedStart(begin)
	}
	tag := strings.ToLower(p.text[begin+1 : i])
	if !supportedTags[tag] {
		return 0, fmt.Errorf("Unsupported start tag %q at byte offset %d", tag, begin)
	}
	arg := ""
	for {
		if i = p.skipSpace(i); p.at(i) == '>' {
			break
		}
		var name, value string
		var err error
		if i, name, value, err = p.attr(i, begin, tag); err != nil {
			return 0, err
		}
		if v, ok := tagArg(tag, name, value); ok {
			arg = v
		}
	}
	if tag == "span" && arg != "tg-spoiler" {
		return 0, fmt.Errorf("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
	}
	p.stack = append(p.stack, openTag{tag: tag, arg: arg, utf16Pos: p.utf16Pos, seq: p.opened})
	p.opened++
	return i, nil
}

// attr reads one attribute (name=value, the value quoted or not, entities
// decoded) of the tag that starts at begin.
func (p *htmlParser) attr(i, begin int, tag string) (next int, name, value string, err error) {
	if p.at(i) == 0 {
		return 0, "", "", unclosedStart(begin)
	}
	nameStart := i
	for p.at(i) != 0 && !isSpace(p.at(i)) && p.at(i) != '=' && p.at(i) != '>' {
		i++
	}
	name = strings.ToLower(p.text[nameStart:i])
	if name == "" {
		return 0, "", "", fmt.Errorf("Empty attribute name in the tag %q at byte offset %d", tag, begin)
	}
	i = p.skipSpace(i)
	if p.at(i) != '=' {
		if p.at(i) == 0 {
			return 0, "", "", unclosedStart(begin)
		}
		return 0, "", "", fmt.Errorf("Expected equal sign in declaration of an attribute of the tag %q at byte offset %d", tag, begin)
	}
	i = p.skipSpace(i + 1)
	if p.at(i) == 0 {
		return 0, "", "", unclosedStart(begin)
	}
	if q := p.at(i); q == '"' || q == '\'' {
		end := strings.IndexByte(p.text[i+1:], q)
		if end < 0 {
			return 0, "", "", unclosedStart(begin)
		}
		return i + end + 2, name, decodeEntities(p.text[i+1 : i+1+end]), nil
	}
	valueStart := i
	for p.at(i) != 0 && !isSpace(p.at(i)) && p.at(i) != '>' {
		i++
	}
	return i, name, decodeEntities(p.text[valueStart:i]), nil
}

// tagArg is what an attribute tells about its tag's entity (a link's URL,
// a code block's language, …); ok is false for an attribute that is ignored.
func tagArg(tag, name, value string) (arg string, ok bool) {
	switch {
	case tag == "a" && name == "href":
		return value, true
	case tag == "code" && name == "class" && strings.HasPrefix(value, "language-"):
		return strings.TrimPrefix(value, "language-"), true
	case tag == "span" && name == "class" && strings.HasPrefix(value, "tg-"):
		return value, true
	case tag == "tg-emoji" && name == "emoji-id":
		return value, true
	case tag == "blockquote" && name == "expandable":
		return "expandable", true
	}
	return "", false
}

// endTag reads the end tag at begin and closes the innermost open tag; it
// returns the offset of its '>'.
func (p *htmlParser) endTag(begin int) (int, error) {
	if len(p.stack) == 0 {
		return 0, fmt.Errorf("Unexpected end tag at byte offset %d", begin)
	}
	i := begin + 1
	for p.at(i) != 0 && !isSpace(p.at(i)) && p.at(i) != '>' {
		i++
	}
	endName := p.text[begin+2 : i]
	if i = p.skipSpace(i); p.at(i) != '>' {
		return 0, fmt.Errorf("Unclosed end tag at byte offset %d", begin)
	}
	top := p.stack[len(p.stack)-1]
	if endName != "" && endName != top.tag {
		return 0, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.tag, endName)
	}
	p.stack = p.stack[:len(p.stack)-1]
	p.close(top)
	return i, nil
}

// close makes the entity of a closed tag; an empty span makes none.
func (p *htmlParser) close(top openTag) {
	length := p.utf16Pos - top.utf16Pos
	if length <= 0 {
		return
	}
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
		if top.arg != "" && len(p.stack) > 0 && p.stack[len(p.stack)-1].tag == "pre" {
			p.stack[len(p.stack)-1].arg = top.arg
		}
	case "pre":
		e.Language = top.arg
	}
	p.ents = append(p.ents, e)
	p.seqs = append(p.seqs, top.seq)
}

// sorted is the entities in Telegram's order: by offset, the longer first,
// then in opening order; nil when there are none.
func (p *htmlParser) sorted() []entity {
	order := make([]int, len(p.ents))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ea, eb := p.ents[order[a]], p.ents[order[b]]
		if ea.Offset != eb.Offset {
			return ea.Offset < eb.Offset
		}
		if ea.Length != eb.Length {
			return ea.Length > eb.Length
		}
		return p.seqs[order[a]] < p.seqs[order[b]]
	})
	sorted := make([]entity, 0, len(p.ents))
	for _, i := range order {
		sorted = append(sorted, p.ents[i])
	}
	if len(sorted) == 0 {
		sorted = nil
	}
	return sorted
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

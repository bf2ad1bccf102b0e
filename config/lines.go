package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml reports positions only for syntax errors, so messages about
// values (bad target, unknown host…) need their own map from key path to line.
// lineIndex is that map, built by a small scanner over a document the TOML
// parser has already accepted. It only has to be right for valid TOML, and it
// must never loop or panic on anything.

// Key paths look like `agent[1].target`, `alerts.route[0].type` or
// `agent[0].env."MY.VAR"`: keys joined by dots, array elements by [i], keys
// that are not bare quoted.

// joinKey appends key k to path p.
func joinKey(p, k string) string {
	if !isBareKey(k) {
		k = strconv.Quote(k)
	}
	if p == "" {
		return k
	}
	return p + "." + k
}

// joinIndex appends array index i to path p.
func joinIndex(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isBareChar(k[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// parentPath drops the last key or index from p ("" when p has one part).
func parentPath(p string) string {
	last := -1 // start of the last part
	for i := 0; i < len(p); {
		switch p[i] {
		case '"':
			// Skip a quoted key, honouring backslash escapes.
			j := i + 1
			for j < len(p) && p[j] != '"' {
				if p[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case '.', '[':
			last = i
			i++
		default:
			i++
		}
	}
	if last < 0 {
		return ""
	}
	return p[:last]
}

type lineIndex struct {
	lines map[string]int
}

// line returns the line where key is written, or that of its nearest parent
// that is (a missing key is reported at its table's header), or 0.
func (x *lineIndex) line(key string) int {
	if x == nil {
		return 0
	}
	for p := key; p != ""; p = parentPath(p) {
		if n, ok := x.lines[p]; ok {
			return n
		}
	}
	return 0
}

// indexLines maps every key path in src to the line it is first written on.
func indexLines(src string) *lineIndex {
	s := &scanner{src: src, line: 1, idx: &lineIndex{lines: map[string]int{}}, arrays: map[string]int{}}
	s.document()
	return s.idx
}

type scanner struct {
	src    string
	pos    int
	line   int
	idx    *lineIndex
	arrays map[string]int // array-of-tables path → number of elements so far
	depth  int            // nesting of arrays and inline tables
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

func (s *scanner) next() {
	if s.eof() {
		return
	}
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

func (s *scanner) record(path string, line int) {
	if _, ok := s.idx.lines[path]; !ok && path != "" {
		s.idx.lines[path] = line
	}
}

// skipSpace skips blanks and comments, and newlines when nl is true.
func (s *scanner) skipSpace(nl bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.next()
		case c == '\n' && nl:
			s.next()
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.next()
			}
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
}

func (s *scanner) document() {
	table := "" // path of the current [table]
	for !s.eof() {
		start := s.pos
		s.skipSpace(true)
		if s.eof() {
			return
		}
		line := s.line
		switch {
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.next()
			s.next()
			keys := s.key()
			parent := s.resolve(keys[:max(len(keys)-1, 0)], line)
			if len(keys) > 0 {
				arr := joinKey(parent, keys[len(keys)-1])
				s.record(arr, line)
				n := s.arrays[arr]
				s.arrays[arr] = n + 1
				table = joinIndex(arr, n)
				s.record(table, line)
			}
			s.skipLine()
		case s.peek() == '[':
			s.next()
			table = s.resolve(s.key(), line)
			s.skipLine()
		default:
			keys := s.key()
			p := table
			for _, k := range keys {
				p = joinKey(p, k)
				s.record(p, line)
			}
			s.skipSpace(false)
			if s.peek() == '=' {
				s.next()
				s.skipSpace(false)
				s.value(p)
			}
			s.skipLine()
		}
		if s.pos == start {
			s.next() // never stall on input we do not understand
		}
	}
}

// resolve turns the keys of a table header into a path, stepping into the
// last element of any array of tables on the way, and records each part.
func (s *scanner) resolve(keys []string, line int) string {
	p := ""
	for _, k := range keys {
		p = joinKey(p, k)
		s.record(p, line)
		if n, ok := s.arrays[p]; ok && n > 0 {
			p = joinIndex(p, n-1)
		}
	}
	return p
}

// key reads a dotted key such as `a."b.c".d`.
func (s *scanner) key() []string {
	var keys []string
	for !s.eof() {
		s.skipSpace(false)
		var k string
		switch s.peek() {
		case '"':
			k = s.basicString()
		case '\'':
			k = s.literalString()
		default:
			start := s.pos
			for !s.eof() && isBareChar(s.peek()) {
				s.next()
			}
			k = s.src[start:s.pos]
			if k == "" {
				return keys
			}
		}
		keys = append(keys, k)
		s.skipSpace(false)
		if s.peek() != '.' {
			return keys
		}
		s.next()
	}
	return keys
}

// value reads one value and records where the elements of arrays and the keys
// of inline tables are.
func (s *scanner) value(path string) {
	if s.depth > 200 {
		s.skipLine()
		return
	}
	switch {
	case strings.HasPrefix(s.src[s.pos:], `"""`):
		s.multiline(`"""`, true)
	case strings.HasPrefix(s.src[s.pos:], `'''`):
		s.multiline(`'''`, false)
	case s.peek() == '"':
		s.basicString()
	case s.peek() == '\'':
		s.literalString()
	case s.peek() == '[':
		s.depth++
		defer func() { s.depth-- }()
		s.next()
		for i := 0; !s.eof(); i++ {
			s.skipSpace(true)
			if s.peek() == ']' {
				s.next()
				return
			}
			start := s.pos
			elem := joinIndex(path, i)
			s.record(elem, s.line)
			s.value(elem)
			s.skipSpace(true)
			if s.peek() == ',' {
				s.next()
			} else if s.pos == start {
				s.next()
			}
		}
	case s.peek() == '{':
		s.depth++
		defer func() { s.depth-- }()
		s.next()
		for !s.eof() {
			s.skipSpace(true) // TOML 1.1 allows newlines in inline tables
			if s.peek() == '}' {
				s.next()
				return
			}
			start := s.pos
			line := s.line
			p := path
			for _, k := range s.key() {
				p = joinKey(p, k)
				s.record(p, line)
			}
			s.skipSpace(true)
			if s.peek() == '=' {
				s.next()
				s.skipSpace(true)
				s.value(p)
			}
			s.skipSpace(true)
			if s.peek() == ',' {
				s.next()
			} else if s.pos == start {
				s.next()
			}
		}
	default:
		// Numbers, booleans, dates ("1979-05-27 07:32:00" has a space).
		for !s.eof() {
			switch s.peek() {
			case ',', ']', '}', '\n', '#':
				return
			}
			s.next()
		}
	}
}

// basicString reads "…" and returns its (roughly) unescaped content.
func (s *scanner) basicString() string {
	s.next() // opening quote
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		switch c {
		case '"':
			s.next()
			return b.String()
		case '\n':
			return b.String()
		case '\\':
			s.next()
			e := s.peek()
			s.next()
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'e':
				b.WriteByte(0x1b)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				end := min(s.pos+n, len(s.src))
				if r, err := strconv.ParseUint(s.src[s.pos:end], 16, 32); err == nil && utf8.ValidRune(rune(r)) {
					b.WriteRune(rune(r))
				}
				for s.pos < end && s.peek() != '\n' {
					s.next()
				}
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			s.next()
		}
	}
	return b.String()
}

func (s *scanner) literalString() string {
	s.next()
	start := s.pos
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.next()
	}
	k := s.src[start:s.pos]
	if s.peek() == '\'' {
		s.next()
	}
	return k
}

// multiline skips a """…""" or ”'…”' string, which may end in up to two
// extra quotes ("""a""""" is `a""`).
func (s *scanner) multiline(delim string, escapes bool) {
	for range 3 {
		s.next()
	}
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.next()
			s.next()
			continue
		}
		if strings.HasPrefix(s.src[s.pos:], delim) {
			for range 3 {
				s.next()
			}
			for range 2 {
				if s.peek() == delim[0] {
					s.next()
				}
			}
			return
		}
		s.next()
	}
}

package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Errors is every problem found in one config file. Load and Parse return it
// (as error) when the file is unusable; each element is a *FieldError.
type Errors []error

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (e Errors) Unwrap() []error { return e }

// FieldError is one problem at one place in a config file.
type FieldError struct {
	File string // as given to Load or Parse
	Line int    // 1-based; 0 when the problem has no single line
	Key  string // key path such as "agent[1].target"; "" for syntax errors
	Msg  string
}

// Error formats the problem as "file:line: key: what is wrong".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects FieldErrors for one document.
type problems struct {
	file  string
	lines *lineIndex
	list  []*FieldError
}

// add records a problem at the line of key (or of its nearest parent that is
// written in the file, for keys that are missing).
func (p *problems) add(key, format string, args ...any) {
	p.list = append(p.list, &FieldError{File: p.file, Line: p.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// addLine records a problem at an explicit line.
func (p *problems) addLine(line int, key, format string, args ...any) {
	p.list = append(p.list, &FieldError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// errs returns the problems sorted by line (problems without a line last),
// without duplicates, or nil when there are none.
func (p *problems) errs() error {
	if len(p.list) == 0 {
		return nil
	}
	sorted := slices.Clone(p.list)
	slices.SortStableFunc(sorted, func(a, b *FieldError) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = 1 << 30
		}
		if lb == 0 {
			lb = 1 << 30
		}
		return cmp.Compare(la, lb)
	})
	var out Errors
	seen := map[string]bool{}
	for _, e := range sorted {
		s := e.Error()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, e)
	}
	return out
}

// suggest returns the candidate closest to s when it is plausibly a typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, min(len(s), len(best))/3)
	if best == "" || bestD > limit {
		// A key with words reordered or with - for _ is also a typo.
		norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
		for _, c := range candidates {
			if norm(c) == norm(s) {
				return c
			}
		}
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // not a typo of any key we know
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

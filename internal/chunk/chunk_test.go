package chunk

import (
	"strings"
	"testing"
)

// FuzzLines: every piece is within budget and the pieces hold all of s
// (only the newlines at cuts are dropped).
func FuzzLines(f *testing.F) {
	f.Add("a\nb\xffc😀", 3)
	f.Add(strings.Repeat("\xe2\x82", 50), 7)
	f.Fuzz(func(t *testing.T, s string, budget int) {
		if budget < 2 || budget > 5000 {
			return
		}
		pieces := Lines(s, budget, nil)
		for _, p := range pieces {
			if n := Units(p); n > budget {
				t.Fatalf("piece of %d units, over %d: %q", n, budget, p)
			}
		}
		if got, want := strings.ReplaceAll(strings.Join(pieces, ""), "\n", ""), strings.ReplaceAll(s, "\n", ""); got != want {
			t.Fatalf("pieces lose text: got %q, want %q", got, want)
		}
	})
}

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		budget int
		want   []string
	}{
		{"fits", "a\nb", 10, []string{"a\nb"}},
		{"line ends", "aaaa\nbbbb\ncccc", 10, []string{"aaaa\nbbbb", "cccc"}},
		{"long line cut", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"wide runes count twice", "😀😀😀", 4, []string{"😀😀", "😀"}},
		// An invalid byte is one unit and one byte: the cut must not jump
		// over the bytes after it (a CI fuzz run found 2002-unit messages).
		{"invalid bytes", "\xff\xfeabcd", 3, []string{"\xff\xfea", "bcd"}},
	} {
		got := Lines(tc.in, tc.budget, nil)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// safe moves a cut left: never split "&amp;".
	got := Lines("xx&amp;yy", 5, func(s string, cut int) int {
		if a := strings.LastIndexByte(s[:cut], '&'); a > 0 && !strings.Contains(s[a:cut], ";") {
			return a
		}
		return cut
	})
	if strings.Join(got, "|") != "xx|&amp;|yy" {
		t.Errorf("safe cut: got %q", got)
	}
}

package chunk

import (
	"strings"
	"testing"
)

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

package fold

import "testing"

func TestIndex(t *testing.T) {
	tests := []struct {
		s, lower string
		want     int
	}{
		{"Authorization: Bearer x", "bearer", 15},
		{"BEARER", "bearer", 0},
		{"bear", "bearer", -1},
		{"", "", 0},
		{"abc", "", 0},
		{"Ünicode RESETS", "resets", 9},
		{"no match", "xyz", -1},
	}
	for _, tt := range tests {
		if got := Index(tt.s, tt.lower); got != tt.want {
			t.Errorf("Index(%q, %q) = %d, want %d", tt.s, tt.lower, got, tt.want)
		}
	}
}

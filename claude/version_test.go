package claude

import (
	"fmt"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		out, want string
		ok        bool
	}{
		{"2.1.332 (Claude Code)\n", "2.1.332", true},
		{"2.1.328 (Claude Code)", "2.1.328", true},
		{"1.0.72", "1.0.72", true},
		{"", "", false},
		{"bash: claude: command not found", "", false},
		{"Claude Code", "", false},
	} {
		got, ok := ParseVersion(tt.out)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q, %v", tt.out, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewerThanTested(t *testing.T) {
	latest := LatestTested()
	if latest == "" {
		t.Fatal("no tested version")
	}
	p, _ := versionParts(latest)
	next := []int{p[0], p[1], p[2] + 1}
	nextMinor := []int{p[0], p[1] + 1, 0}
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{latest, false},
		{"2.1.328", false},
		{"1.0.0", false},
		{join(next), true},
		{join(nextMinor), true},
		{"2.1.10", false}, // numbers compare as numbers, not text
		{"99.0.0", true},
		{"garbage", false},
	} {
		if got := NewerThanTested(tt.v); got != tt.want {
			t.Errorf("NewerThanTested(%q) = %v, want %v (tested %v)", tt.v, got, tt.want, TestedVersions)
		}
	}
}

func join(p []int) string {
	return fmt.Sprintf("%d.%d.%d", p[0], p[1], p[2])
}

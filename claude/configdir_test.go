package claude

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsDefaultConfigDir(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	other := filepath.Join(root, "data", "claude")
	for _, d := range []string{filepath.Join(home, ".claude"), other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A home reached through a symlink, and a second name for ~/.claude.
	linkedHome := filepath.Join(root, "linked-home")
	if err := os.Symlink(home, linkedHome); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(root, "alias")
	if err := os.Symlink(filepath.Join(home, ".claude"), alias); err != nil {
		t.Fatal(err)
	}
	// A home whose ~/.claude is a symlink to a directory elsewhere.
	home2 := filepath.Join(root, "home2")
	if err := os.MkdirAll(home2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(home2, ".claude")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, home string
		want      bool
	}{
		{"", home, true},
		{"~/.claude", home, true},
		{"~/.claude/", home, true},
		{"$HOME/.claude", home, true},
		{"${HOME}/.claude", home, true},
		{filepath.Join(home, ".claude"), home, true},
		{filepath.Join(home, ".claude") + "/", home, true},
		{filepath.Join(home, "x", "..", ".claude"), home, true},
		{filepath.Join(linkedHome, ".claude"), home, true},
		{filepath.Join(home, ".claude"), linkedHome, true},
		{alias, home, true},
		{other, home2, true},
		{other, home, false},
		{"~/.claude-work", home, false},
		{filepath.Join(home, ".claude-work"), home, false},
		{filepath.Join(home, "claude"), home, false},
	} {
		if got := IsDefaultConfigDir(tc.dir, tc.home); got != tc.want {
			t.Errorf("IsDefaultConfigDir(%q, %q) = %v, want %v", tc.dir, tc.home, got, tc.want)
		}
	}
	if got := ConfigDirEnv("~/.claude-work", home); got != filepath.Join(home, ".claude-work") {
		t.Errorf("ConfigDirEnv(~/.claude-work) = %q, want it expanded", got)
	}
	if got := ConfigDirEnv("~/.claude", home); got != "" {
		t.Errorf("ConfigDirEnv(~/.claude) = %q, want \"\" (leave CLAUDE_CONFIG_DIR unset)", got)
	}
}

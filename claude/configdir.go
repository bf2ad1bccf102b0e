package claude

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultConfigDir is the directory the CLI uses when CLAUDE_CONFIG_DIR is
// not set: ~/.claude of home. Its global settings (onboarding done, theme,
// trusted projects) are then in home/.claude.json, beside it.
func DefaultConfigDir(home string) string { return filepath.Join(home, ".claude") }

// IsDefaultConfigDir reports whether dir is the CLI's default directory for
// the user whose home is home, however it is written: "~/.claude",
// "$HOME/.claude", absolute, with a trailing slash, or through a symlink.
//
// This matters because setting CLAUDE_CONFIG_DIR, even to ~/.claude, makes
// the CLI read its global settings from $CLAUDE_CONFIG_DIR/.claude.json
// instead of ~/.claude.json: a fresh install, onboarding and all.
func IsDefaultConfigDir(dir, home string) bool {
	if dir == "" {
		return true
	}
	if home == "" {
		return false
	}
	dir = ExpandHome(dir, home)
	def := DefaultConfigDir(home)
	if filepath.Clean(dir) == def {
		return true
	}
	a, errA := filepath.EvalSymlinks(dir)
	b, errB := filepath.EvalSymlinks(def)
	if errA == nil && errB == nil && a == b {
		return true
	}
	// One of them may be reached through a symlinked home.
	sa, errA := os.Stat(dir)
	sb, errB := os.Stat(def)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// ExpandHome expands a leading ~, $HOME or ${HOME} of p to home.
func ExpandHome(p, home string) string {
	for _, pre := range []string{"~", "$HOME", "${HOME}"} {
		if p == pre {
			return home
		}
		if rest, ok := strings.CutPrefix(p, pre+"/"); ok {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// ConfigDirEnv is the CLAUDE_CONFIG_DIR a process started for the user of
// home needs to use dir: "" (leave the variable alone) when dir is the
// CLI's default, so the process sees the same world the user's shell does.
func ConfigDirEnv(dir, home string) string {
	if IsDefaultConfigDir(dir, home) {
		return ""
	}
	return ExpandHome(dir, home)
}

package claude

import (
	"path"
	"strings"
)

// IsClaudeCommand reports whether a pane's current command (tmux
// #{pane_current_command}) is Claude Code.
//
// The rule: the first word's base name is "claude" or starts with "claude"
// (claude, claude-code, claude.exe), or it is a bare version number such as
// "2.1.328". The native build sets process.title to its version, and tmux
// reads the process name from /proc/<pid>/cmdline, so a running Claude Code
// 2.x shows up as "2.1.328" (anthropics/claude-code#49852). "node" is not
// accepted: any Node program would match, and Claude Code sets its own title
// under node too.
func IsClaudeCommand(cmd string) bool {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return false
	}
	base := path.Base(f[0])
	if strings.HasPrefix(strings.ToLower(base), "claude") {
		return true
	}
	return isVersion(base)
}

// isVersion accepts MAJOR.MINOR.PATCH with an optional -pre or +build suffix.
func isVersion(s string) bool {
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		if i == len(s)-1 {
			return false
		}
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 6 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

package claude

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Session is one running Claude Code process, from
// <configDir>/sessions/<pid>.json.
type Session struct {
	PID       int    `json:"pid"`
	SessionID string `json:"sessionId"`
	Cwd       string `json:"cwd"`
	Tmux      string `json:"tmux"`   // "sess:@win.%pane"
	Status    string `json:"status"` // idle | busy | waiting
}

// ReadSessions reads every session file under configDir/sessions, sorted by
// PID. Files that cannot be read or parsed (a process may be writing one
// right now) are skipped. A missing directory is an error wrapping
// fs.ErrNotExist: no Claude Code has run with this config dir.
func ReadSessions(configDir string) ([]Session, error) {
	dir := filepath.Join(configDir, "sessions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	var out []Session
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var s Session
		if json.Unmarshal(data, &s) != nil {
			continue
		}
		if s.PID == 0 {
			s.PID, _ = strconv.Atoi(strings.TrimSuffix(name, ".json"))
		}
		if s.PID <= 0 {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// SessionForPID returns the session of the first pid (in the order given)
// that has one. A pane's own pid is usually its shell: pass it first, then
// its descendants.
func SessionForPID(sessions []Session, pids ...int) (Session, bool) {
	for _, pid := range pids {
		for _, s := range sessions {
			if s.PID == pid {
				return s, true
			}
		}
	}
	return Session{}, false
}

// IsSessionID reports whether id has the form of a Claude Code session ID:
// a UUID (8-4-4-4-12 hexadecimal digits).
func IsSessionID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

package config

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultStateDir is state.dir when the file does not set it.
const DefaultStateDir = "~/.local/state/fleetwarden"

// StateDirHint finds state.dir in a config file that does not load, so that
// fleetwarden can still find its last good config: from the TOML when it
// parses, else from a `dir = "…"` line under `[state]`, else the default.
// The result is expanded like state.dir ("" only when ~ cannot be expanded).
func StateDirHint(path string) string {
	data, err := os.ReadFile(path)
	dir := ""
	if abs, aerr := filepath.Abs(path); aerr == nil {
		dir = filepath.Dir(abs)
	}
	found := ""
	if err == nil {
		found = stateDirOf(data)
	}
	if found == "" {
		found = DefaultStateDir
	}
	p, err := expandPath(found, dir)
	if err != nil {
		return ""
	}
	return p
}

func stateDirOf(data []byte) string {
	var raw struct {
		State struct {
			Dir string `toml:"dir"`
		} `toml:"state"`
	}
	if _, err := toml.Decode(string(data), &raw); err == nil {
		return raw.State.Dir
	}
	// A syntax error elsewhere in the file: look for the line itself.
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.ReplaceAll(line, " ", "") == "[state]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok || strings.TrimSpace(k) != "dir" {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, " #"); i > 0 {
			v = strings.TrimSpace(v[:i])
		}
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			return v[1 : len(v)-1]
		}
	}
	return ""
}

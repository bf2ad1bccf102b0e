package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageArrows keeps DESIGN.md's package map honest: each package may
// import only the project packages below it.
func TestPackageArrows(t *testing.T) {
	const mod = "github.com/fleetwarden/fleetwarden"
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// package → project packages it may depend on (directly or not).
	allowed := map[string][]string{
		"config":       {},
		"tmux":         {},
		"claude":       {},
		"audit":        {},
		"dashboard":    {},
		"scheduler":    {},
		"fleet":        {"tmux", "claude"},
		"alert":        {"audit"},
		"credentials":  {"config", "claude"},
		"commands":     {"fleet", "tmux", "claude", "audit", "alert"},
		"bot/console":  {"commands", "fleet", "tmux", "claude", "audit", "alert"},
		"bot/telegram": {"commands", "fleet", "tmux", "claude", "audit", "alert"},
		"bot/discord":  {"commands", "fleet", "tmux", "claude", "audit", "alert"},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		rel, ok := strings.CutPrefix(pkg, mod+"/")
		if !ok {
			continue
		}
		may, ok := allowed[rel]
		if !ok {
			continue
		}
		checked++
		for _, d := range strings.Fields(deps) {
			drel, ok := strings.CutPrefix(d, mod+"/")
			if !ok || strings.HasPrefix(drel, "internal/") {
				continue
			}
			okDep := false
			for _, m := range may {
				if drel == m {
					okDep = true
				}
			}
			if !okDep {
				t.Errorf("%s depends on %s, which DESIGN.md's arrows forbid", rel, drel)
			}
		}
	}
	if checked < len(allowed) {
		t.Errorf("checked %d packages, want %d: a package moved?", checked, len(allowed))
	}
}

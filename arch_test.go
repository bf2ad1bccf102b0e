package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageArrows keeps the package table of docs/ARCHITECTURE.md honest:
// each package may import only the project packages listed for it there.
// The reasons are that file's ("Why the arrows go this way"), in short:
// knowledge flows down and wiring happens at the top, so nothing imports
// main or a transport; and the alert path must not share the failure it
// reports.
func TestPackageArrows(t *testing.T) {
	const mod = "github.com/fleetwarden/fleetwarden"
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// package → project packages it may depend on (directly or not).
	allowed := map[string][]string{
		// Leaves: each owns one outside thing (a file format, a binary, a
		// protocol) and is tested against it alone.
		"config":    {},
		"tmux":      {},                 // knows no Claude: the same code drives any pane
		"claude":    {},                 // takes text and paths, returns facts: tested on captured screens
		"audit":     {},                 // the journal must be writable whatever else is broken
		"dashboard": {},                 // reads a Snapshot the daemon builds, so it cannot reach into the fleet
		"scheduler": {},                 // runs the jobs it is given; the jobs live with their owners
		"heartbeat": {},                 // the dead man's switch must not depend on what it reports dead
		"fleet":     {"tmux", "claude"}, // joins panes and the classifier
		"login":     {"claude", "tmux"}, // drives the CLI's login, in a pane when it needs a terminal
		// The alert path must not share the failure: driven by events,
		// delivering through Routes, it cannot be stopped by a broken fleet,
		// tmux or chat library.
		"alert":       {"audit"},
		"credentials": {"config", "claude"},
		// Chat-agnostic, so all transports answer the same commands.
		"commands": {"fleet", "tmux", "claude", "audit", "alert"},
		// Transports turn chat into Requests; nothing imports them.
		"bot/console":  {"commands", "fleet", "tmux", "claude", "audit", "alert"},
		"bot/telegram": {"commands", "fleet", "tmux", "claude", "audit", "alert"},
		"bot/discord":  {"commands", "fleet", "tmux", "claude", "audit", "alert"},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		// The daemon is the wiring at the top: whatever imports it sits above
		// everything, and only the binary may.
		if pkg != mod && slices.Contains(strings.Fields(deps), mod+"/internal/daemon") {
			t.Errorf("%s depends on internal/daemon, which only the binary (package main) may import", pkg)
		}
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
				t.Errorf("%s depends on %s, which docs/ARCHITECTURE.md's package table forbids", rel, drel)
			}
		}
	}
	if checked < len(allowed) {
		t.Errorf("checked %d packages, want %d: a package moved?", checked, len(allowed))
	}
}

// TestArchitectureNamesEveryPackage keeps docs/ARCHITECTURE.md's package
// table whole: a package added without a row there fails here.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	const mod = "github.com/fleetwarden/fleetwarden"
	doc, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel := "."
		if r, ok := strings.CutPrefix(pkg, mod+"/"); ok {
			rel = r
		}
		if !strings.Contains(string(doc), "| `"+rel+"`") {
			t.Errorf("docs/ARCHITECTURE.md has no row for package %s", rel)
		}
	}
}

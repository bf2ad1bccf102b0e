// Package testenv gives tests the outside world they need: the fake Claude
// CLI built once per test process, the captured screens, config files, and
// a real SMTP server to deliver mail to.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ScreensDir holds panes captured from the real Claude Code CLI.
func ScreensDir() string { return filepath.Join(Root(), "claude", "testdata", "screens") }

// FakeClaude returns the path of the fake Claude CLI, named "claude" so that
// process-name detection sees it as Claude Code. It is built once per test
// process.
func FakeClaude(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "fw-fakeclaude-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "claude"), "./internal/fakes/fakeclaude")
		cmd.Dir = Root()
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building fakeclaude: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "claude")
}

// WriteFile writes a file under dir with mode 0600 and returns its path.
func WriteFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	fwOnce sync.Once
	fwPath string
	fwErr  error
	fwOut  []byte
)

// Fleetwarden returns the path of the fleetwarden binary built from the
// repository root, once per test process.
func Fleetwarden(t testing.TB) string {
	t.Helper()
	fwOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fw-bin-")
		if err != nil {
			fwErr = err
			return
		}
		fwPath = filepath.Join(dir, "fleetwarden")
		cmd := exec.Command("go", "build", "-race", "-o", fwPath, ".")
		cmd.Dir = Root()
		fwOut, fwErr = cmd.CombinedOutput()
	})
	if fwErr != nil {
		t.Fatalf("building fleetwarden: %v\n%s", fwErr, fwOut)
	}
	return fwPath
}

// Location loads a time zone or fails the test.
func Location(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

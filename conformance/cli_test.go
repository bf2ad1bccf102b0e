//go:build claude_e2e

package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	start := time.Now()
	code := m.Run()
	v := cli.version
	if v == "" {
		v = "(not run)"
	}
	fmt.Fprintf(os.Stderr, "conformance: Claude Code %s, suite ran %v\n", v, time.Since(start).Round(time.Millisecond))
	if u := unserved.String(); u != "" {
		fmt.Fprintf(os.Stderr, "conformance: requests the fake Anthropic API does not serve (answered 404): %s\n", u)
	}
	os.Exit(code)
}

// pinnedVersion is the Claude Code release the suite is written against
// and CI runs. CLAUDE_CODE_VERSION picks another ("2.1.332", or "latest":
// what npm has now).
const pinnedVersion = "2.1.328"

var version struct {
	once sync.Once
	v    string
	err  error
}

// wantVersion is the release to test: $CLAUDE_CODE_VERSION, "latest"
// resolved with npm view, or the pinned one.
func wantVersion() (string, error) {
	version.once.Do(func() {
		v := strings.TrimSpace(os.Getenv("CLAUDE_CODE_VERSION"))
		switch v {
		case "", "pinned":
			version.v = pinnedVersion
		case "latest":
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "npm", "view", "@anthropic-ai/claude-code@latest", "version").Output()
			if err != nil {
				version.err = fmt.Errorf("CLAUDE_CODE_VERSION=latest: npm view: %w", err)
				return
			}
			version.v = strings.TrimSpace(string(out))
		default:
			version.v = v
		}
		if !validVersion(version.v) {
			version.err = fmt.Errorf("CLAUDE_CODE_VERSION=%q: want a release like 2.1.332, or latest", version.v)
		}
	})
	return version.v, version.err
}

func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

var cli struct {
	once    sync.Once
	bin     string
	version string
	err     error
}

// claudeBin returns the CLI to test, installing the pinned one on first use.
func claudeBin(t testing.TB) string {
	t.Helper()
	cli.once.Do(func() {
		start := time.Now()
		cli.bin, cli.err = findOrInstall()
		if cli.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, cli.bin, "--version").CombinedOutput()
		if err != nil {
			cli.err = fmt.Errorf("%s --version: %w: %s", cli.bin, err, out)
			return
		}
		cli.version = strings.TrimSpace(string(out))
		fmt.Fprintf(os.Stderr, "conformance: Claude Code %s (%s), ready in %v\n", cli.version, cli.bin, time.Since(start).Round(time.Millisecond))
	})
	if cli.err != nil {
		t.Fatalf("no Claude Code CLI to test: %v", cli.err)
	}
	return cli.bin
}

func cacheDir(v string) (string, error) {
	if d := os.Getenv("FLEETWARDEN_CLAUDE_CACHE"); d != "" {
		return filepath.Join(d, "claude-code-"+v), nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", fmt.Errorf("no cache directory (%v) and no home (%v): set FLEETWARDEN_CLAUDE_CACHE", err, herr)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "fleetwarden", "claude-code-"+v), nil
}

func findOrInstall() (string, error) {
	if b := os.Getenv("CLAUDE_BIN"); b != "" {
		p, err := exec.LookPath(b)
		if err != nil {
			return "", fmt.Errorf("CLAUDE_BIN=%s: %w", b, err)
		}
		return p, nil
	}
	v, err := wantVersion()
	if err != nil {
		return "", err
	}
	dir, err := cacheDir(v)
	if err != nil {
		return "", err
	}
	if b, err := installedBin(dir, v); err == nil {
		return b, nil
	}
	if err := npmInstall(dir, v); err != nil {
		return "", err
	}
	return installedBin(dir, v)
}

// installedBin finds a working CLI of version v under an npm
// prefix. The package's bin/claude.exe is a stub until its postinstall
// copies the native binary over it; when npm skipped the script, the
// binary of the platform package is used directly.
func installedBin(prefix, v string) (string, error) {
	cands := []string{filepath.Join(prefix, "node_modules", ".bin", "claude")}
	native, _ := filepath.Glob(filepath.Join(prefix, "node_modules", "@anthropic-ai", "claude-code-*", "claude"))
	cands = append(cands, native...)
	var errs []error
	for _, c := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, c, "--version").CombinedOutput()
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
		case !strings.HasPrefix(strings.TrimSpace(string(out)), v+" "):
			errs = append(errs, fmt.Errorf("%s is %q, want %s", c, strings.TrimSpace(string(out)), v))
		default:
			return c, nil
		}
	}
	return "", fmt.Errorf("no working Claude Code %s under %s: %w", v, prefix, errors.Join(errs...))
}

// npmInstall installs CLI version v into prefix: into a sibling directory
// first, renamed into place when complete, so an interrupted install is
// never taken for a cached one.
func npmInstall(prefix, v string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm is needed to install @anthropic-ai/claude-code@%s (or set CLAUDE_BIN): %w", v, err)
	}
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(prefix), filepath.Base(prefix)+".partial-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Fprintf(os.Stderr, "conformance: installing @anthropic-ai/claude-code@%s into %s\n", v, prefix)
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--loglevel=error", "@anthropic-ai/claude-code@"+v)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm install @anthropic-ai/claude-code@%s: %w\n%s", v, err, out)
	}
	if _, err := installedBin(tmp, v); err != nil {
		return fmt.Errorf("after npm install: %w", err)
	}
	if err := os.Rename(tmp, prefix); err != nil {
		if _, berr := installedBin(prefix, v); berr == nil {
			return nil // another run installed it meanwhile
		}
		return fmt.Errorf("moving the install into place (remove %s if it is a broken install): %w", prefix, err)
	}
	return nil
}

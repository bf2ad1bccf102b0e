package main

import (
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

func TestEverySubcommandHelpExitsZero(t *testing.T) {
	for _, sub := range []string{"run", "reload", "check", "status", "classify", "timeline", "version"} {
		for _, h := range []string{"--help", "-h"} {
			t.Run(sub+h, func(t *testing.T) {
				out, errOut, code := runMain(t, sub, h)
				if code != 0 {
					t.Errorf("exit %d, want 0 (stderr %q)", code, errOut)
				}
				if want := "Usage: fleetwarden " + sub; !strings.HasPrefix(out, want) {
					t.Errorf("stdout %q, want it to start with %q", out, want)
				}
				if errOut != "" {
					t.Errorf("stderr %q, want nothing", errOut)
				}
			})
		}
	}
}

func TestBadFlagIsAUsageError(t *testing.T) {
	for _, sub := range []string{"run", "reload", "check", "status", "classify", "timeline", "version"} {
		t.Run(sub, func(t *testing.T) {
			out, errOut, code := runMain(t, sub, "--no-such-flag")
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut, "no-such-flag") || !strings.Contains(errOut, "usage: fleetwarden "+sub) {
				t.Errorf("stderr %q, want the bad flag and the usage line", errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{fmt.Errorf("wrapped: %w", flag.ErrHelp), 0},
		{usageError{errors.New("flag provided but not defined: -x")}, 2},
		{errors.New("config.toml:3: tmux.socket: not a string"), 1},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestResolveVersion(t *testing.T) {
	info := func(v string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/fleetwarden/fleetwarden", Version: v}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name    string
		stamped string
		read    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"stamped wins", "v1.4.0", info("v1.3.0"), "v1.4.0"},
		{"module version", "dev", info("v1.3.0"), "v1.3.0"},
		{"pseudo-version of a checkout", "dev", info("v0.0.0-20261203114000-0123456789ab+dirty"), "v0.0.0-20261203114000-0123456789ab+dirty"},
		{"vcs revision when the go command recorded no version", "dev",
			info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "dev-0123456789ab+dirty"},
		{"nothing known", "dev", info("(devel)"), "dev"},
		{"no build info", "dev", none, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveVersion(tc.stamped, tc.read); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

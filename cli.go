package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes. Every subcommand's outcome becomes one of these in exitCode,
// so scripts and supervisors can tell a usage mistake from a failure.
const (
	exitOK      = 0 // done, or help asked for
	exitFailure = 1 // the command ran and something is wrong (config, check, daemon)
	exitUsage   = 2 // the command line itself is wrong
)

// usageError is a command line that cannot be run as written.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to the process's exit code: the one place that
// decides it.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitFailure
}

// parseArgs parses a subcommand's flags. --help (-h) prints the
// subcommand's usage on stdout and returns flag.ErrHelp (exit 0); a bad flag
// is reported on the flag set's output (stderr) with the usage line and
// returned as a usageError (exit 2).
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.Usage = func() {} // printed below, on the right stream
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, fs)
		return err
	case err != nil:
		fmt.Fprintf(fs.Output(), "usage: %s\n", synopsis(fs.Name()))
		return usageError{err}
	}
	return nil
}

// printHelp prints a subcommand's synopsis and flags.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n", synopsis(fs.Name()))
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "\nFlags:")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// synopsis is the subcommand's line of the top-level usage, so the two
// never disagree.
func synopsis(name string) string {
	for _, l := range strings.Split(usage, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "fleetwarden" && f[1] == name {
			return strings.Join(f, " ")
		}
	}
	return "fleetwarden " + name
}

// versionString is the version stamped at link time (-X main.version=…),
// else the module version the go command recorded in the binary (a tag, or
// a pseudo-version from the VCS revision for `go build` in a checkout, with
// "+dirty" for local changes), else "dev".
func versionString() string {
	return resolveVersion(version, debug.ReadBuildInfo)
}

func resolveVersion(stamped string, read func() (*debug.BuildInfo, bool)) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	bi, ok := read()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		return "dev-" + rev[:min(12, len(rev))] + dirty
	}
	return "dev"
}

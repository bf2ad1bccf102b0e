// Command fleetwarden watches a fleet of Claude Code agents running in tmux,
// alerts when they stop (above all when their login dies), and brings them
// back from a chat.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/fleetwarden/fleetwarden/tmux"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/internal/daemon"
)

// version is set by -ldflags "-X main.version=…" in release builds.
var version = "dev"

const usage = `fleetwarden — watch Claude Code agents in tmux, alert, and recover them

Usage:
  fleetwarden run      [--config FILE] [--safe] run the daemon (--safe: only the core)
  fleetwarden reload   [--config FILE] [--yes]  make the running daemon read its config again
  fleetwarden check    [--config FILE] [--offline]  validate the config, probe credentials and channels
  fleetwarden status   [--config FILE] [--json] one scan, printed
  fleetwarden classify [--json] [FILE|-]        classify one captured pane
  fleetwarden timeline [--config FILE] [--since 24h]  what happened, in plain words
  fleetwarden version

Without --config: ./config.toml, then $XDG_CONFIG_HOME/fleetwarden/config.toml,
else the embedded default (every Claude Code pane of the default tmux server,
console chat on the terminal, dashboard on 127.0.0.1:8787).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	debugPprof()
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs one subcommand and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdin, stdout, stderr)
	case "reload":
		return cmdReload(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "classify":
		return cmdClassify(rest, stdin, stdout, stderr)
	case "timeline":
		return cmdTimeline(rest, stdout, stderr)
	case "version", "--version", "-v":
		if err := parseArgs(newFlags("version", stderr), rest, stdout); err != nil {
			return exitCode(err)
		}
		fmt.Fprintf(stdout, "fleetwarden %s\n", versionString())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "fleetwarden: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// loadConfig loads the config named by --config, or finds one, or returns
// the embedded default.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		found, err := config.Find()
		if err != nil {
			return nil, err
		}
		if found == "" {
			return config.Default(), nil
		}
		path = found
	}
	return config.Load(path)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseConfig adds --config to fs, parses args and loads the config. A nil
// config comes with the exit code: 0 after --help, 2 for bad flags, 1 for a
// bad config.
func parseConfig(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (*config.Config, int) {
	path := fs.String("config", "", "config file")
	if err := parseArgs(fs, args, stdout); err != nil {
		return nil, exitCode(err)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		printConfigError(stderr, err)
		return nil, exitCode(err)
	}
	return cfg, exitOK
}

func printConfigError(stderr io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		return
	}
	fmt.Fprintln(stderr, err)
}

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file")
	safe := fs.Bool("safe", false, "safe mode: only the tmux watch, the console, the dashboard and the alert routes that pass their check")
	if err := parseArgs(fs, args, stdout); err != nil {
		return exitCode(err)
	}
	cfg, notes, code := loadDaemonConfig(*path, stderr)
	if cfg == nil {
		return code
	}
	return runDaemon(ctx, cfg, daemon.Options{Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Safe: *safe, Notes: notes, CaptureCrashes: true})
}

// loadDaemonConfig loads run's config, or the last good one in its stead
// (then the notes say why, on stderr too); nil with the exit code when
// neither loads.
func loadDaemonConfig(path string, stderr io.Writer) (*config.Config, []string, int) {
	cfg, notes, err := daemon.Load(path)
	var lerr *daemon.LoadError
	switch {
	case errors.As(err, &lerr):
		printConfigError(stderr, lerr.Config)
		fmt.Fprintf(stderr, "fleetwarden: %v\n", lerr.LastGood)
		return nil, nil, exitFailure
	case err != nil:
		printConfigError(stderr, err)
		return nil, nil, exitFailure
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, n)
	}
	return cfg, notes, exitOK
}

// runDaemon runs the daemon on cfg until ctx ends and returns the exit code.
func runDaemon(ctx context.Context, cfg *config.Config, o daemon.Options) int {
	o.Version = versionString()
	d, err := daemon.New(cfg, o)
	if err == nil {
		err = d.Run(ctx)
	}
	if err != nil {
		fmt.Fprintf(o.Stderr, "fleetwarden: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// cmdReload is `fleetwarden reload [--config FILE] [--yes]`: it asks the
// daemon running on the config's state.dir to reload, and prints its answer.
func cmdReload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", stderr)
	path := fs.String("config", "", "config file (default: the one the daemon runs on)")
	yes := fs.Bool("yes", false, "apply changes that need an admin's confirmation too")
	if err := parseArgs(fs, args, stdout); err != nil {
		return exitCode(err)
	}
	text, err := daemon.RequestReload(ctx, *path, *yes)
	if err != nil {
		printConfigError(stderr, err)
		return exitFailure
	}
	fmt.Fprintln(stdout, text)
	return exitOK
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	cfg, code := parseConfig(fs, args, stdout, stderr)
	if cfg == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sts, terr, err := daemon.Scan(ctx, cfg, daemon.NewLogger(cfg, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "fleetwarden: scan: %v\n", err)
		return exitFailure
	}
	// With no agent to show it, a tmux that cannot be asked must not look
	// like an empty fleet.
	if len(sts) == 0 && terr != nil && !errors.Is(terr, tmux.ErrNoServer) {
		fmt.Fprintf(stderr, "fleetwarden: cannot list the panes of %s: %v\n", daemon.SocketName(cfg), terr)
		return exitFailure
	}
	if *asJSON {
		if sts == nil {
			sts = sts[:0]
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sts); err != nil {
			return exitFailure
		}
		return exitOK
	}
	if len(sts) == 0 {
		if errors.Is(terr, tmux.ErrNoServer) {
			fmt.Fprintf(stdout, "no agents found: no tmux server is running (%s)\n", daemon.SocketName(cfg))
			return exitOK
		}
		fmt.Fprintln(stdout, "no agents found")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTARGET\tSTATE\tREASON\tSINCE\tEVIDENCE")
	now := time.Now()
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Target, s.State, dash(string(s.Reason)),
			ago(now.Sub(s.Since)), clip(s.Evidence, 80))
	}
	tw.Flush()
	return exitOK
}

func cmdClassify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("classify", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args, stdout); err != nil {
		return exitCode(err)
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: fleetwarden classify [--json] [FILE|-]")
		return exitUsage
	}
	var in io.Reader = stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "fleetwarden: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, 16<<20))
	if err != nil {
		fmt.Fprintf(stderr, "fleetwarden: reading pane: %v\n", err)
		return exitFailure
	}
	// A limit's reset time on screen is read against when the pane was
	// captured: the file's modification time, or now for stdin.
	at := time.Now()
	if f, ok := in.(*os.File); ok && f != stdin {
		if fi, err := f.Stat(); err == nil {
			at = fi.ModTime()
		}
	}
	r := claude.ClassifyAt(string(data), at, nil)
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return exitFailure
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "state:    %s\n", r.State)
	if r.Reason != "" {
		fmt.Fprintf(stdout, "reason:   %s (%s)\n", r.Reason, r.Reason.Describe())
	}
	if r.Evidence != "" {
		fmt.Fprintf(stdout, "evidence: %s\n", r.Evidence)
	}
	if r.LoginURL != "" {
		fmt.Fprintf(stdout, "login:    %s\n", r.LoginURL)
	}
	if r.ResetsAt != "" {
		fmt.Fprintf(stdout, "resets:   %s\n", r.ResetsAt)
	}
	return exitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Second).String()
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func cmdTimeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("timeline", stderr)
	since := fs.Duration("since", 24*time.Hour, "how far back")
	cfg, code := parseConfig(fs, args, stdout, stderr)
	if cfg == nil {
		return code
	}
	now := time.Now()
	recs, err := audit.ReadAll(cfg.State.Dir, now.Add(-*since))
	if err != nil && len(recs) == 0 {
		if errors.Is(err, iofs.ErrNotExist) {
			fmt.Fprintf(stdout, "No journal yet in %s.\n", cfg.State.Dir)
			return exitOK
		}
		fmt.Fprintf(stderr, "fleetwarden: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, audit.Timeline(recs, daemon.Location(cfg.Schedule.Timezone), now))
	return exitOK
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/daemon"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	offline := fs.Bool("offline", false, "validate only: probe no channel over the network")
	cfg, code := parseConfig(fs, args, stdout, stderr)
	if cfg == nil {
		if code == 1 {
			daemon.LastGoodInstead(fs.Lookup("config").Value.String(), stderr)
		}
		return code
	}
	name := cfg.Path
	if name == "" {
		name = "embedded default"
	}
	fmt.Fprintf(stdout, "✓ config %s is valid (%d agents)\n", name, len(cfg.Agents))
	if w := daemon.OpenSecrets(cfg); w != "" {
		fmt.Fprintf(stderr, "⚠ config: %s\n", w)
	}
	if cfg.Path != "" {
		if lg := daemon.CheckLastGood(cfg.State.Dir, cfg); lg != "" {
			fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(lg, "\n", "\n  "))
		}
	}
	problems := 0
	for _, p := range daemon.Probes(cfg, daemon.NewLogger(cfg, io.Discard), *offline) {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		ok, err := p.Run(pctx)
		cancel()
		var w daemon.Warning
		if err != nil && (p.Warn || errors.As(err, &w)) {
			fmt.Fprintf(stderr, "⚠ %s: %v\n", p.Name, err)
			continue
		}
		if err != nil {
			problems++
			fmt.Fprintf(stderr, "✗ %s: %v\n", p.Name, err)
			continue
		}
		fmt.Fprintf(stdout, "✓ %s: %s\n", p.Name, ok)
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "%d problem(s) found\n", problems)
		return exitFailure
	}
	return exitOK
}

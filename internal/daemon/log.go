package daemon

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/fleet"
)

// NewLogger is the logger the config's [log] section asks for, writing to
// w; every string and error it logs is redacted.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redactAttr keeps tokens out of every log line, whatever logged them.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); s != "" {
			a.Value = slog.StringValue(claude.Redact(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(claude.Redact(err.Error()))
		}
	}
	return a
}

// Scan is one scan of cfg's fleet, for `status`: the agents, and what the
// local tmux server answered when it could not list its panes.
func Scan(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]fleet.Status, error, error) {
	rt := newWiring(cfg, log, nil)
	sts, err := rt.fleet.Scan(ctx)
	return sts, rt.fleet.TmuxErrors()[""], err
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

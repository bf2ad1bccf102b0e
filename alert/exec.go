package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

type execRoute struct {
	name    string
	argv    []string
	timeout time.Duration
	hide    []string
}

// NewExec makes a route that runs argv with the notification as JSON on
// stdin (the webhook json shape) and FLEETWARDEN_ALERT_* variables in the
// environment. A non-zero exit is a failure carrying the command's stderr.
// timeout bounds one run (default 30s). Its Name is "exec:"+name. The
// command inherits fleetwarden's environment but for the variables that
// hold one of hide (fleetwarden's own secrets) or an Anthropic key.
func NewExec(name string, argv []string, timeout time.Duration, hide ...string) Route {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &execRoute{name: prefixed("exec", name), argv: append([]string(nil), argv...), timeout: timeout, hide: hide}
}

// environ is os.Environ without the secrets. A secret read with env: is
// trimmed, so a variable is compared trimmed too ("token\n" holds "token").
func (e *execRoute) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		_, v, _ := strings.Cut(kv, "=")
		if v = strings.TrimSpace(v); v != "" && (slices.Contains(e.hide, v) || redact.HasAnthropicToken(v)) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (e *execRoute) Name() string { return e.name }

func (e *execRoute) Deliver(ctx context.Context, n Notification) error {
	if len(e.argv) == 0 || e.argv[0] == "" {
		return fmt.Errorf("%s: no command configured", e.name)
	}
	body, err := jsonPayload(n)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", e.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	stderr := &capped{max: 2048}
	cmd.Stderr = stderr
	cmd.Env = append(e.environ(),
		"FLEETWARDEN_ALERT_ID="+n.ID,
		"FLEETWARDEN_ALERT_STATUS="+n.Status,
		"FLEETWARDEN_ALERT_SEVERITY="+string(n.Severity),
		"FLEETWARDEN_ALERT_KIND="+string(n.Kind),
		"FLEETWARDEN_ALERT_SUMMARY="+n.Summary,
	)
	// Children that keep stderr open must not hold the route forever.
	cmd.WaitDelay = 2 * time.Second
	killGroup(cmd)
	err = cmd.Run()
	if err == nil {
		return nil
	}
	msg := redact.String(strings.TrimSpace(stderr.String()))
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", e.timeout, errors.Join(ctx.Err(), err))
	}
	if msg != "" {
		return fmt.Errorf("%s: %w: %s", e.name, err, msg)
	}
	return fmt.Errorf("%s: %w", e.name, err)
}

// capped keeps the first max bytes written to it.
type capped struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	if c.buf.Len() >= c.max {
		c.cut = true
	}
	return len(p), nil
}

func (c *capped) String() string {
	if c.cut {
		return c.buf.String() + "…"
	}
	return c.buf.String()
}

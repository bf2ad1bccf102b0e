package tmux

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Runner runs one tmux invocation. args excludes the binary. A failed run
// returns an error whose text carries tmux's stderr, because that text
// ("can't find pane: x", "no server running on …") is the only diagnosis
// tmux gives.
type Runner interface {
	Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
}

// Exec runs tmux on this machine.
type Exec struct {
	Bin string // "" means "tmux" from $PATH
	// Env is the environment of the tmux commands, and so of a server one of
	// them starts (its global environment, which every pane inherits); nil
	// = this process's.
	Env []string
}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	bin := e.Bin
	if bin == "" {
		bin = "tmux"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.Env
	// A pane process that inherited our pipes must not hold Run open forever.
	cmd.WaitDelay = 2 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return stdout.Bytes(), fmt.Errorf("tmux %s: %w", CommandName(args), err)
		}
		return stdout.Bytes(), fmt.Errorf("tmux %s: %s: %w", CommandName(args), msg, err)
	}
	return stdout.Bytes(), nil
}

// CommandName returns the tmux command in args (e.g. "list-panes"), skipping
// the global flags that precede it, so runners can name the failed command.
func CommandName(args []string) string {
	// Of several commands in one invocation, the last is the one that matters.
	for i := len(args) - 1; i >= 0; i-- {
		if args[i] == ";" {
			return CommandName(args[i+1:])
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-f" || a == "-L" || a == "-S" || a == "-c" || a == "-T":
			i++ // flag with a value
		case strings.HasPrefix(a, "-") && len(a) > 1:
		default:
			return a
		}
	}
	return "(no command)"
}

package tmux

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Streamer starts a long-running tmux invocation and hands back its output
// as it comes: control mode (`tmux -C`) needs it. wait returns when the
// process has ended.
type Streamer interface {
	Stream(ctx context.Context, args ...string) (out io.ReadCloser, wait func() error, err error)
}

// Stream implements Streamer for the local tmux.
func (e Exec) Stream(ctx context.Context, args ...string) (io.ReadCloser, func() error, error) {
	bin := e.Bin
	if bin == "" {
		bin = "tmux"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.Env
	cmd.WaitDelay = 2 * time.Second
	// A control client exits when its stdin closes: hold it open until ctx ends.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("tmux %s: %w", CommandName(args), err)
	}
	wait := func() error {
		err := cmd.Wait()
		stdin.Close()
		if err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return fmt.Errorf("tmux %s: %s: %w", CommandName(args), msg, err)
			}
			return fmt.Errorf("tmux %s: %w", CommandName(args), err)
		}
		return nil
	}
	return out, wait, nil
}

// ErrNoStream is returned by Watch when the runner cannot stream.
var ErrNoStream = errors.New("tmux: this runner cannot run a control-mode client")

// Watch attaches a control-mode client to session and calls onOutput with
// the pane id (%12) of every pane that writes. The client neither resizes
// windows nor sends keys (ignore-size, read-only). Watch returns when ctx
// ends (nil) or the client exits: the session closed, the server died.
func (c *Client) Watch(ctx context.Context, session string, onOutput func(paneID string)) error {
	st, ok := c.runner.(Streamer)
	if !ok {
		return ErrNoStream
	}
	args := c.fullArgs("-C", "attach-session", "-f", "ignore-size,read-only", "-t", "="+session)
	out, wait, err := st.Stream(ctx, args...)
	if err != nil {
		return err
	}
	readErr := readControl(out, onOutput)
	err = wait()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = readErr
	}
	if err == nil {
		err = fmt.Errorf("tmux control client for session %s exited", session)
	}
	return err
}

// readControl reads control-mode notifications until the stream ends.
func readControl(r io.Reader, onOutput func(paneID string)) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An enormous %output line: we need only its head; skip the rest.
			if id, ok := outputPane(line); ok {
				onOutput(id)
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 {
			if id, ok := outputPane(line); ok {
				onOutput(id)
			} else if strings.HasPrefix(string(line), "%exit") {
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// outputPane returns the pane of "%output %12 …" or "%extended-output %12 …".
func outputPane(line []byte) (string, bool) {
	s := string(line[:min(len(line), 64)])
	var rest string
	switch {
	case strings.HasPrefix(s, "%output "):
		rest = s[len("%output "):]
	case strings.HasPrefix(s, "%extended-output "):
		rest = s[len("%extended-output "):]
	default:
		return "", false
	}
	id, _, _ := strings.Cut(rest, " ")
	id = strings.TrimRight(id, "\r\n")
	if !strings.HasPrefix(id, "%") || len(id) < 2 || strings.Trim(id[1:], "0123456789") != "" {
		return "", false // a pane ID is % and digits: "%output %" or "%\r0" is no pane
	}
	return id, true
}

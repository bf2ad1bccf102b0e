package login

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// AuthOptions configure a `claude auth login` run over pipes.
type AuthOptions struct {
	Bin       string   // the claude executable; default "claude"
	Args      []string // default: auth login
	ConfigDir string   // CLAUDE_CONFIG_DIR for the login; "" = the CLI's default (see ConfigDirEnv)
	Environ   []string // the base environment (KEY=VALUE); nil = this process's
	Env       []string // extra environment (KEY=VALUE)
	Timeout   time.Duration
}

// AuthLogin is one running `claude auth login`. The process is killed
// when the timeout passes, when Cancel is called or when the context of
// StartAuth ends: no login process outlives its AuthLogin.
type AuthLogin struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // closed and replaced on every output or exit
	exited  bool
	exitErr error
	// how it ended: out of time, or cancelled by us
	timedOut, cancelled bool
	done                chan struct{}
	cancel              context.CancelFunc
}

// ErrLoginExited is returned when the login process ended before doing what
// was asked.
var ErrLoginExited = errors.New("the login process ended")

// StartAuth starts `claude auth login` and waits until it prints the URL.
func StartAuth(ctx context.Context, o AuthOptions) (*AuthLogin, error) {
	if o.Bin == "" {
		o.Bin = "claude"
	}
	if len(o.Args) == 0 {
		o.Args = []string{"auth", "login"}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	// The login lives at most Timeout, independent of the request that began it.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
	cmd := exec.CommandContext(lctx, o.Bin, o.Args...)
	base := o.Environ
	if base == nil {
		base = os.Environ()
	}
	cmd.Env = append(slices.Clone(base), o.Env...)
	cmd.Env = append(cmd.Env, "BROWSER=true") // never open a browser on the host
	if o.ConfigDir != "" {
		cmd.Env = append(cmd.Env, "CLAUDE_CONFIG_DIR="+o.ConfigDir)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	l := &AuthLogin{cmd: cmd, stdin: stdin, changed: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	w := loginWriter{l}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s %s: %w", o.Bin, strings.Join(o.Args, " "), err)
	}
	go func() {
		err := cmd.Wait()
		l.mu.Lock()
		l.exited, l.exitErr = true, err
		l.timedOut = errors.Is(lctx.Err(), context.DeadlineExceeded)
		l.signalLocked()
		l.mu.Unlock()
		cancel()
		close(l.done)
	}()
	// Wait for the URL, at most a minute.
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	err = l.waitFor(wctx, func(out string) bool {
		l.url = claude.ExtractLoginURL(out)
		return l.url != "" && strings.Contains(out, "Paste code")
	})
	if err != nil {
		out := l.Output()
		l.Cancel()
		return nil, fmt.Errorf("no login URL from %s: %w; it said: %s", o.Bin, err, loginTail(out, 3))
	}
	return l, nil
}

type loginWriter struct{ l *AuthLogin }

func (w loginWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.out.Write(p)
	w.l.signalLocked()
	return len(p), nil
}

func (l *AuthLogin) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor waits until cond holds on the output, or the process exits.
func (l *AuthLogin) waitFor(ctx context.Context, cond func(out string) bool) error {
	for {
		l.mu.Lock()
		out, exited, ch := l.out.String(), l.exited, l.changed
		l.mu.Unlock()
		if cond(out) {
			return nil
		}
		if exited {
			return ErrLoginExited
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// URL is the login page to open.
func (l *AuthLogin) URL() string { return l.url }

// Output is everything the CLI printed so far, tokens redacted.
func (l *AuthLogin) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return claude.Redact(l.out.String())
}

// Done is closed when the login process has ended.
func (l *AuthLogin) Done() <-chan struct{} { return l.done }

// EndReason says why the login process ended by itself — its exit and its
// last words, the login link left out — or "" when it has not ended, ran
// out of time, or was cancelled.
func (l *AuthLogin) EndReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.exited || l.timedOut || l.cancelled {
		return ""
	}
	out := claude.Redact(l.out.String())
	if l.url != "" {
		out = strings.ReplaceAll(out, l.url, "[login link]")
	}
	status := "it exited"
	if l.exitErr != nil {
		status = l.exitErr.Error()
	}
	return status + ": " + loginTail(out, 2)
}

// Cancel kills the login process (and its children) and waits for it.
func (l *AuthLogin) Cancel() {
	l.mu.Lock()
	l.cancelled = true
	l.mu.Unlock()
	l.cancel()
	<-l.done
}

// Submit types the code into the login and waits for the CLI's verdict.
func (l *AuthLogin) Submit(ctx context.Context, code string) (claude.LoginOutcome, error) {
	if err := claude.ValidateCode(code); err != nil {
		return claude.LoginOutcome{}, err
	}
	l.mu.Lock()
	mark := l.out.Len()
	l.mu.Unlock()
	if _, err := io.WriteString(l.stdin, code+"\n"); err != nil {
		return claude.LoginOutcome{}, fmt.Errorf("typing the code: %w", err)
	}
	err := l.waitFor(ctx, func(out string) bool {
		tail := out[mark:]
		for _, v := range []string{"Login successful", "Couldn't log in", "OAuth error", "Login interrupted"} {
			if strings.Contains(tail, v) {
				return true
			}
		}
		return claude.RefusedLocally(tail)
	})
	if err != nil && !errors.Is(err, ErrLoginExited) {
		return claude.LoginOutcome{}, err
	}
	l.mu.Lock()
	verdict := l.out.String()[mark:]
	l.mu.Unlock()
	verdict = claude.Redact(strings.TrimSpace(verdict))
	switch {
	case strings.Contains(verdict, "Login successful"):
		// The CLI writes the credentials file and exits; wait for that.
		select {
		case <-l.done:
		case <-ctx.Done():
		}
		return claude.LoginOutcome{OK: true, Message: "Login successful."}, nil
	case claude.RefusedLocally(verdict) && !strings.Contains(verdict, "Couldn't log in"):
		return claude.LoginOutcome{Retry: true, Message: loginTail(verdict, 2), Advice: claude.LoginAdvice(verdict)}, nil
	default:
		if verdict == "" {
			verdict = "the login process ended without a verdict"
		}
		return claude.LoginOutcome{Message: loginTail(verdict, 2), Advice: claude.LoginAdvice(verdict)}, nil
	}
}

func loginTail(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.TrimSpace(strings.Join(ls, "\n"))
}

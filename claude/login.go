package claude

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
	"unicode"
)

// LoginOptions configure a `claude auth login` run over pipes.
type LoginOptions struct {
	Bin       string   // the claude executable; default "claude"
	Args      []string // default: auth login
	ConfigDir string   // CLAUDE_CONFIG_DIR for the login; "" = the CLI's default (see ConfigDirEnv)
	Environ   []string // the base environment (KEY=VALUE); nil = this process's
	Env       []string // extra environment (KEY=VALUE)
	Timeout   time.Duration
}

// Login is one running `claude auth login`. The process is killed when the
// timeout passes, when Cancel is called or when the context of StartLogin
// ends: no login process outlives its Login.
type Login struct {
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

// StartLogin starts the login and waits until it prints the URL.
func StartLogin(ctx context.Context, o LoginOptions) (*Login, error) {
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
	l := &Login{cmd: cmd, stdin: stdin, changed: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
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
		l.url = ExtractLoginURL(out)
		return l.url != "" && strings.Contains(out, "Paste code")
	})
	if err != nil {
		out := l.Output()
		l.Cancel()
		return nil, fmt.Errorf("no login URL from %s: %w; it said: %s", o.Bin, err, loginTail(out, 3))
	}
	return l, nil
}

type loginWriter struct{ l *Login }

func (w loginWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.out.Write(p)
	w.l.signalLocked()
	return len(p), nil
}

func (l *Login) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor waits until cond holds on the output, or the process exits.
func (l *Login) waitFor(ctx context.Context, cond func(out string) bool) error {
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
func (l *Login) URL() string { return l.url }

// Output is everything the CLI printed so far, tokens redacted.
func (l *Login) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Redact(l.out.String())
}

// Done is closed when the login process has ended.
func (l *Login) Done() <-chan struct{} { return l.done }

// EndReason says why the login process ended by itself — its exit and its
// last words, the login link left out — or "" when it has not ended, ran
// out of time, or was cancelled.
func (l *Login) EndReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.exited || l.timedOut || l.cancelled {
		return ""
	}
	out := Redact(l.out.String())
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
func (l *Login) Cancel() {
	l.mu.Lock()
	l.cancelled = true
	l.mu.Unlock()
	l.cancel()
	<-l.done
}

// LoginOutcome is what the CLI said about a submitted code.
type LoginOutcome struct {
	OK      bool
	Retry   bool   // the CLI refused the code locally and waits for another
	Message string // the CLI's words, redacted
	Advice  string // what the human should do
}

// Submit types the code into the login and waits for the CLI's verdict.
func (l *Login) Submit(ctx context.Context, code string) (LoginOutcome, error) {
	if err := ValidateCode(code); err != nil {
		return LoginOutcome{}, err
	}
	l.mu.Lock()
	mark := l.out.Len()
	l.mu.Unlock()
	if _, err := io.WriteString(l.stdin, code+"\n"); err != nil {
		return LoginOutcome{}, fmt.Errorf("typing the code: %w", err)
	}
	err := l.waitFor(ctx, func(out string) bool {
		tail := out[mark:]
		for _, v := range []string{"Login successful", "Couldn't log in", "OAuth error", "Login interrupted"} {
			if strings.Contains(tail, v) {
				return true
			}
		}
		return refusedLocally(tail)
	})
	if err != nil && !errors.Is(err, ErrLoginExited) {
		return LoginOutcome{}, err
	}
	l.mu.Lock()
	verdict := l.out.String()[mark:]
	l.mu.Unlock()
	verdict = Redact(strings.TrimSpace(verdict))
	switch {
	case strings.Contains(verdict, "Login successful"):
		// The CLI writes the credentials file and exits; wait for that.
		select {
		case <-l.done:
		case <-ctx.Done():
		}
		return LoginOutcome{OK: true, Message: "Login successful."}, nil
	case refusedLocally(verdict) && !strings.Contains(verdict, "Couldn't log in"):
		return LoginOutcome{Retry: true, Message: loginTail(verdict, 2), Advice: LoginAdvice(verdict)}, nil
	default:
		if verdict == "" {
			verdict = "the login process ended without a verdict"
		}
		return LoginOutcome{Message: loginTail(verdict, 2), Advice: LoginAdvice(verdict)}, nil
	}
}

// localRefusals are what the CLI says when it refuses a pasted code
// without asking Anthropic, and waits for another.
var localRefusals = []string{
	"doesn't look like the full code",
	"That code is not from this sign-in",
	"That's a web address, not the code",
	"That looks like a verification code",
	"That address only works in a browser on this machine",
}

func refusedLocally(out string) bool {
	for _, v := range localRefusals {
		if strings.Contains(out, v) {
			return true
		}
	}
	return false
}

// ValidateCode checks the shape of a pasted code#state before it is typed.
func ValidateCode(code string) error {
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	switch {
	case code == "":
		return errors.New("the code is empty: paste the whole code shown after you log in")
	case strings.HasPrefix(code, "http://") || strings.HasPrefix(code, "https://"):
		return errors.New("that is a web address, not the code: open the login link, log in, and send the code the last page shows")
	case len(digits) >= 4 && len(digits) <= 10 && strings.Trim(digits, "0123456789") == "":
		return errors.New("that looks like the e-mail verification code: type it into the login page; send the longer code the page shows after it")
	case strings.IndexFunc(code, unicode.IsSpace) >= 0:
		return errors.New("the code has spaces in it: paste it exactly as shown, in one piece")
	case !strings.Contains(code, "#"):
		return errors.New("that is not the whole code: it has two parts joined by # (code#state); copy all of it")
	case len(code) < 8:
		return errors.New("the code is too short: copy all of it, including the part after #")
	case len(code) > 512:
		return errors.New("the code is too long: paste only the code shown on the login page")
	}
	return nil
}

// LoginAdvice says in plain words what the CLI's login texts mean and what
// to do next: refusals, "OAuth error: …", "Login interrupted".
func LoginAdvice(out string) string {
	low := strings.ToLower(out)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(low, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("is on hold"):
		return "The account is on hold: a new login will not help. The CLI's message links to the details and the appeal."
	case has("wasn't accepted", "invalid_grant", "invalid 'code'", "invalid code"):
		return "The code was refused: it may be incomplete, already used, or from an older login. Send /login again and use the new link."
	case has("doesn't look like the full code"):
		return "Copy the whole code, including the # in the middle, and send /code again."
	case has("not from this sign-in"):
		return "That code belongs to another login link: open the link of this login, log in, and send the code it shows with /code."
	case has("that's a web address, not the code", "only works in a browser on this machine"):
		return "That is a link, not the code: open the login link, log in, and send the code the last page shows with /code."
	case has("looks like a verification code"):
		return "That is the e-mail verification code: type it into the login page, then send the longer code the page shows with /code."
	case has("timeout", "timed out"):
		return "The sign-in timed out: the host waited too long for Anthropic (or for the code). Check the host's network, then send /login again and send the code within a few minutes."
	case has("login interrupted", "sign-in was interrupted"):
		return "The login was interrupted before it finished (cancelled, or the CLI was stopped). Send /login to start again."
	case has("oauth error"):
		return "The login page refused the sign-in (the CLI's words are above). Send /login to try again; if it repeats, log in to claude.ai in the browser first."
	case has("expired"):
		return "The code expired. Send /login again and paste the new code within a few minutes."
	case has("unable to connect", "econnrefused", "econnreset", "enotfound", "eai_again", "getaddrinfo", "fetch failed", "network"):
		return "The host could not reach Anthropic. Check its network, then send /login again."
	}
	return "Send /login to try again."
}

func loginTail(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.TrimSpace(strings.Join(ls, "\n"))
}

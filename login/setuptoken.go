package login

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// loginSession is the tmux session where `claude setup-token` runs: it
// needs a terminal, so it cannot run over pipes like `claude auth login`.
const loginSession = "fleetwarden-login"

var longLivedToken = regexp.MustCompile(`sk-ant-oat01-[A-Za-z0-9_\-]{8,}`)

// setupTokenLogin drives `claude setup-token` in a tmux window: it reads
// the (hard-wrapped) URL off the screen, types the code, takes the printed
// long-lived token off the screen into the token file, and destroys the
// window so the token does not linger in tmux's scrollback.
type setupTokenLogin struct {
	tm        *tmux.Client
	paneID    string
	url       string
	tokenFile string

	once   sync.Once
	done   chan struct{}
	cancel context.CancelFunc
}

func (d *Driver) startSetupToken(ctx context.Context) (*setupTokenLogin, error) {
	tm := d.o.Tmux
	bin := d.o.Bin
	if bin == "" {
		bin = "claude"
	}
	env := map[string]string{"BROWSER": "true"}
	if dir := claude.ConfigDirEnv(d.o.ConfigDir, d.o.Home); dir != "" {
		env["CLAUDE_CONFIG_DIR"] = dir
	}
	// A leftover window from a crashed run must not hold an old token.
	_ = tm.KillSession(ctx, loginSession)
	p, err := tm.NewSession(ctx, loginSession, "setup-token", tmux.SpawnOptions{Command: bin + " setup-token", Env: env, Width: 200, Height: 50})
	if err != nil {
		return nil, fmt.Errorf("opening a tmux window for claude setup-token: %w", err)
	}
	// Keep the screen after the CLI exits: the token is printed just before.
	if err := tm.SetOption(ctx, p.ID, "remain-on-exit", "on"); err != nil {
		_ = tm.KillSession(ctx, loginSession)
		return nil, err
	}
	timeout := d.o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	l := &setupTokenLogin{tm: tm, paneID: p.ID, tokenFile: d.o.TokenFile, done: make(chan struct{}), cancel: cancel}
	go func() {
		<-lctx.Done()
		l.finish()
	}()
	// Wait for the URL and the code prompt.
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	var last string
	err = poll(wctx, func() bool {
		text, err := l.tm.Capture(wctx, l.paneID, 0)
		if err != nil {
			return false
		}
		last = text
		l.url = claude.ExtractLoginURL(text)
		return l.url != "" && strings.Contains(text, "Paste code")
	})
	if err != nil {
		l.Cancel()
		return nil, fmt.Errorf("no login URL from claude setup-token: %w; the window showed: %s", err, tailLines(claude.Redact(last), 3))
	}
	return l, nil
}

func (l *setupTokenLogin) URL() string           { return l.url }
func (l *setupTokenLogin) Done() <-chan struct{} { return l.done }
func (l *setupTokenLogin) Cancel()               { l.cancel(); <-l.done }

// finish destroys the window (and with it the screen holding the token).
func (l *setupTokenLogin) finish() {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.tm.KillSession(ctx, loginSession)
		close(l.done)
	})
}

func (l *setupTokenLogin) Submit(ctx context.Context, code string) (claude.LoginOutcome, error) {
	if err := claude.ValidateCode(code); err != nil {
		return claude.LoginOutcome{}, err
	}
	if err := l.tm.SendLine(ctx, l.paneID, code, 500*time.Millisecond); err != nil {
		return claude.LoginOutcome{}, fmt.Errorf("typing the code: %w", err)
	}
	var text string
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := poll(wctx, func() bool {
		t, err := l.tm.Capture(wctx, l.paneID, 200)
		if err != nil {
			return false
		}
		text = t
		return strings.Contains(t, "token created") || strings.Contains(t, "OAuth error") || strings.Contains(t, "✘")
	})
	defer l.finish()
	if err != nil {
		return claude.LoginOutcome{Message: "claude setup-token gave no answer", Advice: claude.LoginAdvice(text)}, nil
	}
	if !strings.Contains(text, "token created") {
		msg := tailLines(claude.Redact(text), 2)
		return claude.LoginOutcome{Message: msg, Advice: claude.LoginAdvice(text)}, nil
	}
	tok := longLivedToken.FindString(text)
	if tok == "" {
		return claude.LoginOutcome{Message: "the token was created but could not be read off the screen", Advice: "Run claude setup-token by hand."}, nil
	}
	if err := writeSecretFile(l.tokenFile, tok); err != nil {
		return claude.LoginOutcome{}, fmt.Errorf("storing the token: %w", err)
	}
	return claude.LoginOutcome{OK: true, Message: "Long-lived token created and stored."}, nil
}

// writeSecretFile replaces path with content, mode 0600, atomically.
func writeSecretFile(path, content string) error {
	if path == "" {
		return errors.New("claude.token_file is not set")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// verifySetupToken checks the stored long-lived token passively.
func (d *Driver) verifySetupToken(_ context.Context) (string, error) {
	b, err := os.ReadFile(d.o.TokenFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if claude.TokenKindOf(tok) != claude.KindOAuth {
		return "", fmt.Errorf("%s does not hold an OAuth token", d.o.TokenFile)
	}
	return fmt.Sprintf("long-lived token %s stored in %s (valid about a year)", claude.Fingerprint(tok), d.o.TokenFile), nil
}

// poll checks cond every 200ms until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func tailLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " / ")
}

// Package login runs a Claude Code login for a person in chat: it starts
// the CLI's login, hands its link over (Session.URL), types the code the
// person pastes back (Session.Submit), and checks the result passively.
// Two drivers, chosen by claude.login_method: `claude auth login` over
// pipes (StartAuth) and `claude setup-token`, which needs a terminal and so
// runs in a tmux window. What the CLI's words mean is package claude's.
package login

import (
	"context"
	"errors"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// MethodSetupToken is claude.login_method for a long-lived token from
// `claude setup-token`; anything else is `claude auth login`.
const MethodSetupToken = "setup-token"

// Options say how to log in.
type Options struct {
	Method    string        // claude.login_method
	Bin       string        // the claude executable; "" = claude
	ConfigDir string        // claude.config_dir
	Home      string        // the user's home ("" unknown): a ConfigDir that is its ~/.claude is the CLI's default
	Environ   []string      // for the CLI: the user's environment, without fleetwarden's secrets
	Timeout   time.Duration // how long a login may wait for its code; 0 = 10 minutes
	TokenFile string        // setup-token: where the long-lived token goes
	Tmux      *tmux.Client  // setup-token: the tmux server its window opens on
	Now       func() time.Time
}

// Session is one running login.
type Session interface {
	URL() string
	Submit(ctx context.Context, code string) (claude.LoginOutcome, error)
	Cancel()
	Done() <-chan struct{}
}

// Driver starts and verifies logins as its Options say.
type Driver struct{ o Options }

// New returns the driver of o.
func New(o Options) *Driver {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Driver{o: o}
}

// Start starts a login.
func (d *Driver) Start(ctx context.Context) (Session, error) {
	if d.o.Method == MethodSetupToken {
		return d.startSetupToken(ctx)
	}
	l, err := StartAuth(ctx, AuthOptions{
		Bin:       d.o.Bin,
		ConfigDir: claude.ConfigDirEnv(d.o.ConfigDir, d.o.Home),
		Environ:   d.o.Environ,
		Timeout:   d.o.Timeout,
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Verify checks, passively, what the login left behind: the long-lived
// token, or the credentials file `claude auth login` wrote (no refresh
// token is spent).
func (d *Driver) Verify(ctx context.Context) (string, error) {
	if d.o.Method == MethodSetupToken {
		return d.verifySetupToken(ctx)
	}
	c, err := claude.ReadCredentials(claude.CredentialsPath(d.o.ConfigDir))
	if err != nil {
		return "", err
	}
	now := d.o.Now()
	switch {
	case !c.HasRefresh:
		return "", errors.New("the refresh token is empty")
	case c.AccessExpires.IsZero() || !c.AccessExpires.After(now):
		return "", errors.New("the access token is already expired")
	}
	return c.Status(now), nil
}

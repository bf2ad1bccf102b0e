package sshdtest_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
)

func dial(t *testing.T, srv *sshdtest.Server, user string) (*ssh.Client, error) {
	t.Helper()
	data, err := os.ReadFile(srv.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(srv.KnownHosts())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestExec(t *testing.T) {
	srv := sshdtest.New(t)
	c, err := dial(t, srv, srv.User())
	if err != nil {
		t.Fatalf("dial with the generated key and known_hosts: %v", err)
	}
	tests := []struct {
		name, cmd, stdin string
		stdout, stderr   string
		status           int
		signal           string
	}{
		{"stdout and status 0", "printf '%s|' 'a b' c", "", "a b|c|", "", 0, ""},
		{"stdin to stdout", "tr a-z A-Z", "quiet\n", "QUIET\n", "", 0, ""},
		{"stderr and status", "echo oops >&2; exit 3", "", "", "oops\n", 3, ""},
		{"killed", "kill -TERM $$", "", "", "", -1, "TERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			var stdout, stderr bytes.Buffer
			sess.Stdin = strings.NewReader(tt.stdin)
			sess.Stdout, sess.Stderr = &stdout, &stderr
			err = sess.Run(tt.cmd)
			var exit *ssh.ExitError
			switch {
			case tt.status == 0 && err != nil:
				t.Errorf("Run = %v, want success", err)
			case tt.status != 0 && !errors.As(err, &exit):
				t.Errorf("Run = %v, want an exit error", err)
			case tt.status > 0 && exit.ExitStatus() != tt.status:
				t.Errorf("exit status %d, want %d", exit.ExitStatus(), tt.status)
			case tt.signal != "" && exit.Signal() != tt.signal:
				t.Errorf("signal %q, want %q", exit.Signal(), tt.signal)
			}
			if stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Errorf("got stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
		})
	}
	if got := srv.Execs(); got != len(tests) {
		t.Errorf("Execs() = %d, want %d", got, len(tests))
	}
}

func TestRefusesOtherUser(t *testing.T) {
	srv := sshdtest.New(t)
	if _, err := dial(t, srv, "root"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("dial as root = %v, want an authentication failure", err)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("Connections() = %d, want 0", n)
	}
}

func TestMaxSessions(t *testing.T) {
	srv := sshdtest.New(t)
	srv.SetMaxSessions(1)
	c, err := dial(t, srv, srv.User())
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.NewSession()
	var open *ssh.OpenChannelError
	if !errors.As(err, &open) || open.Reason != ssh.ConnectionFailed || open.Message != "open failed" {
		t.Errorf("second session = %v, want OpenSSH's refusal (connect failed: open failed)", err)
	}
	first.Close()
}

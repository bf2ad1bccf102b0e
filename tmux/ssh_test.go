package tmux_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// sshConfig is the configuration that reaches srv as its one user.
func sshConfig(srv *sshdtest.Server) tmux.SSHConfig {
	return tmux.SSHConfig{
		Address:    srv.Addr(),
		User:       srv.User(),
		KeyFile:    srv.KeyFile(),
		KnownHosts: srv.KnownHosts(),
	}
}

func newSSH(t *testing.T, cfg tmux.SSHConfig) *tmux.SSH {
	t.Helper()
	r, err := tmux.NewSSH(cfg)
	if err != nil {
		t.Fatalf("NewSSH: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// overSSH returns a client for a private tmux server reached through a fake
// sshd, and a client for the same server run locally. The fake runs
// commands on this machine, so both see one server.
func overSSH(t *testing.T, edit func(*tmux.SSHConfig)) (remote, local *tmux.Client, srv *sshdtest.Server, r *tmux.SSH) {
	t.Helper()
	local = tmuxtest.Server(t)
	srv = sshdtest.New(t)
	cfg := sshConfig(srv)
	if edit != nil {
		edit(&cfg)
	}
	r = newSSH(t, cfg)
	return tmux.New(local.Socket(), r).WithConfigFile("/dev/null"), local, srv, r
}

func wantErrContaining(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestSSHSendTextRoundTrip(t *testing.T) {
	remote, _, _, _ := overSSH(t, nil)
	ctx := t.Context()
	dir := realDir(t)
	if _, err := remote.NewSession(ctx, "ssh", "main", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatalf("NewSession over SSH: %v", err)
	}
	tests := []struct{ name, text string }{
		{"shell syntax", `it's "quoted" $HOME $(id) ` + "`id`" + ` \$ \\ a\b; ls & | > < * ? ~ !x {a,b} #c`},
		{"single quotes", `'''a'b''`},
		{"trailing semicolon", `echo done;`},
		{"escaped semicolon", `a \;`},
		{"leading dash", "-t %0 -l"},
		{"key names", "Enter C-c Escape"},
		{"unicode", "héllo 日本語 ✓"},
		{"lines", "line one\n  line 'two'\n\nlast"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("typed%d", i))
			// -echo: cat alone writes the text, exactly as the terminal got it.
			p, err := remote.NewWindow(ctx, "ssh", "", tmux.SpawnOptions{Command: "stty -echo; exec cat > '" + out + "'"})
			if err != nil {
				t.Fatalf("NewWindow over SSH: %v", err)
			}
			if err := remote.SendText(ctx, p.ID, tt.text+"\n"); err != nil {
				t.Fatalf("SendText over SSH: %v", err)
			}
			want := tt.text + "\n"
			tmuxtest.WaitFor(t, wait, func() (bool, string) {
				got, err := os.ReadFile(out)
				return string(got) == want, fmt.Sprintf("got %q, want %q (%v)", got, want, err)
			})
		})
	}
}

func TestSSHListPanesAndCapture(t *testing.T) {
	remote, local, _, _ := overSSH(t, nil)
	ctx := t.Context()
	p, err := remote.NewSession(ctx, "fleet", "agent one", tmux.SpawnOptions{Command: "cat", Width: 120, Height: 30})
	if err != nil {
		t.Fatalf("NewSession over SSH: %v", err)
	}
	text := `ready: it's "$HOME" \ ; ok`
	if err := remote.SendText(ctx, p.ID, text); err != nil {
		t.Fatalf("SendText over SSH: %v", err)
	}
	tmuxtest.WaitFor(t, wait, captured(t, remote, p.ID, 0, func(s string) bool { return s == text }))
	localText, err := local.Capture(ctx, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if localText != text {
		t.Errorf("local capture %q, want %q", localText, text)
	}

	// The shell tmux starts takes a moment to become cat.
	var got []tmux.Pane
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		got, err = remote.ListPanes(ctx)
		if err != nil {
			return false, "ListPanes over SSH: " + err.Error()
		}
		return len(got) == 1 && got[0].Command == "cat", fmt.Sprintf("panes over SSH: %+v", got)
	})
	want, err := local.ListPanes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(want) != 1 {
		t.Fatalf("got %d panes over SSH and %d locally, want 1 each", len(got), len(want))
	}
	g, w := got[0], want[0]
	if g.ID != p.ID || g.Session != "fleet" || g.WindowName != "agent one" || g.Width != 120 || g.Height != 30 || g.Command != "cat" {
		t.Errorf("pane over SSH = %+v, want %s fleet/agent one 120x30 running cat", g, p.ID)
	}
	if g.ID != w.ID || g.PID != w.PID || g.Path != w.Path {
		t.Errorf("pane over SSH = %+v, locally = %+v: want the same pane", g, w)
	}
}

func TestSSHRunPassesArgumentsAndStdinExactly(t *testing.T) {
	remote, local, _, r := overSSH(t, nil)
	ctx := t.Context()
	if _, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	values := []string{
		`it's`,
		`'`,
		`"$HOME" $(id) ` + "`id`",
		`\ \\ \'`,
		"two\nlines\n",
		"tab\there",
		"-leading dash",
		"a; b && c || d > /tmp/x",
		"日本語",
		"*",
	}
	for _, v := range values {
		// Through the runner itself: set-buffer takes the data as an argument.
		if _, err := r.Run(ctx, nil, "-L", local.Socket(), "set-buffer", "-b", "arg", "--", v); err != nil {
			t.Fatalf("set-buffer %q over SSH: %v", v, err)
		}
		got, err := r.Run(ctx, nil, "-L", local.Socket(), "show-buffer", "-b", "arg")
		if err != nil {
			t.Fatalf("show-buffer over SSH: %v", err)
		}
		if string(got) != v {
			t.Errorf("argument round trip: got %q, want %q", got, v)
		}
	}

	// Through stdin, larger than one SSH window packet.
	big := strings.Repeat("line with 'quotes' and $vars\n", 20000)
	if err := remote.SetBuffer(ctx, big); err != nil {
		t.Fatalf("SetBuffer over SSH: %v", err)
	}
	got, err := local.ShowBuffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != big {
		t.Errorf("stdin round trip: got %d bytes, want %d", len(got), len(big))
	}

	if _, err := r.Run(ctx, nil, "display-message", "a\x00b"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("argument with NUL: got %v, want an error about the NUL byte", err)
	}
}

func TestSSHErrorsCarryTmuxStderr(t *testing.T) {
	remote, _, srv, r := overSSH(t, nil)
	ctx := t.Context()
	if _, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	_, err := remote.Capture(ctx, "%999", 0)
	wantErrContaining(t, err, "tmux capture-pane on "+srv.User()+"@"+srv.Addr(), "can't find pane", "exited with status 1")

	// No server on that socket: the client recognizes tmux's complaint.
	none := tmux.New(tmuxtest.SocketName(t.Name()), r)
	_, err = none.ListPanes(ctx)
	if !errors.Is(err, tmux.ErrNoServer) {
		t.Errorf("ListPanes with no server = %v, want ErrNoServer", err)
	}
	wantErrContaining(t, err, srv.Addr())

	// No tmux on the host: the remote shell says so.
	cfg := sshConfig(srv)
	cfg.Bin = "/nonexistent/tmux"
	_, err = newSSH(t, cfg).Run(ctx, nil, "list-sessions")
	wantErrContaining(t, err, "tmux list-sessions on "+srv.User()+"@"+srv.Addr(), "/nonexistent/tmux", "not found")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 127 {
		t.Errorf("error %v: want exit status 127 from the remote shell", err)
	}
}

// writeKnownHosts writes lines to a known_hosts file and returns its path.
func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSSHRefusesUnverifiedHostKey(t *testing.T) {
	srv := sshdtest.New(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := knownhosts.Normalize(srv.Addr())
	hostFP := ssh.FingerprintSHA256(srv.HostKey())
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"empty file", nil, []string{"is not in known_hosts file", hostFP, "ssh-keyscan -p"}},
		{"key listed for another host", []string{knownhosts.Line([]string{"gpu-box"}, srv.HostKey())},
			[]string{"is not in known_hosts file", hostFP}},
		{"key changed", []string{"# old key", knownhosts.Line([]string{addr}, other)},
			[]string{"HOST KEY MISMATCH", hostFP, ":2 has " + ssh.FingerprintSHA256(other)}},
		{"key revoked", []string{knownhosts.Line([]string{addr}, srv.HostKey()), "@revoked * " + string(ssh.MarshalAuthorizedKey(srv.HostKey()))},
			[]string{"@revoked", hostFP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKnownHosts(t, tt.lines...)
			cfg := sshConfig(srv)
			cfg.KnownHosts = path
			_, err := newSSH(t, cfg).Run(t.Context(), nil, "list-sessions")
			wantErrContaining(t, err, append([]string{path, srv.Addr()}, tt.want...)...)
			var keyErr *knownhosts.KeyError
			var revoked *knownhosts.RevokedError
			if !errors.As(err, &keyErr) && !errors.As(err, &revoked) {
				t.Errorf("error %v wraps neither knownhosts.KeyError nor RevokedError", err)
			}
		})
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections accepted, want 0", n)
	}
	if n := srv.Execs(); n != 0 {
		t.Errorf("%d commands ran on an unverified host, want 0", n)
	}
}

// writeKey writes a new ed25519 private key and returns its path.
func writeKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_other")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeEncryptedKey writes a passphrase-protected key in the PEM format
// older ssh-keygen wrote (OpenSSH's own format takes seconds to encrypt
// under -race). Its body is never decrypted, so random bytes do.
func writeEncryptedKey(t *testing.T) string {
	t.Helper()
	body := make([]byte, 1200)
	_, _ = rand.Read(body)
	block := &pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,0123456789ABCDEF0123456789ABCDEF"},
		Bytes:   body,
	}
	path := filepath.Join(t.TempDir(), "id_encrypted")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSSHRefusesWrongKey(t *testing.T) {
	srv := sshdtest.New(t)
	cfg := sshConfig(srv)
	cfg.KeyFile = writeKey(t)
	_, err := newSSH(t, cfg).Run(t.Context(), nil, "list-sessions")
	wantErrContaining(t, err, srv.Addr(), "refused the key in "+cfg.KeyFile)
	if n := srv.Execs(); n != 0 {
		t.Errorf("%d commands ran with a refused key, want 0", n)
	}
}

func TestNewSSHRejectsBadConfig(t *testing.T) {
	srv := sshdtest.New(t)
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	tests := []struct {
		name string
		edit func(*tmux.SSHConfig)
		want string
	}{
		{"no address", func(c *tmux.SSHConfig) { c.Address = "" }, "no address"},
		{"bad address", func(c *tmux.SSHConfig) { c.Address = "a:b:c" }, `address "a:b:c"`},
		{"no host", func(c *tmux.SSHConfig) { c.Address = ":22" }, "no host"},
		{"no user", func(c *tmux.SSHConfig) { c.User = "" }, "no user"},
		{"no known_hosts", func(c *tmux.SSHConfig) { c.KnownHosts = "" }, "host key must be verified"},
		{"missing known_hosts", func(c *tmux.SSHConfig) { c.KnownHosts = "/nonexistent/known_hosts" }, "/nonexistent/known_hosts"},
		{"malformed known_hosts", func(c *tmux.SSHConfig) { c.KnownHosts = garbage }, garbage},
		{"missing key file", func(c *tmux.SSHConfig) { c.KeyFile = "/nonexistent/id" }, "/nonexistent/id"},
		{"not a key", func(c *tmux.SSHConfig) { c.KeyFile = garbage }, garbage},
		{"encrypted key", func(c *tmux.SSHConfig) { c.KeyFile = writeEncryptedKey(t) }, "passphrase"},
		{"no key and no agent", func(c *tmux.SSHConfig) { c.KeyFile = "" }, "SSH_AUTH_SOCK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sshConfig(srv)
			tt.edit(&cfg)
			r, err := tmux.NewSSH(cfg)
			if err == nil {
				r.Close()
			}
			wantErrContaining(t, err, tt.want)
		})
	}
}

func TestNewSSHAddsDefaultPort(t *testing.T) {
	srv := sshdtest.New(t)
	cfg := sshConfig(srv)
	cfg.Address = "127.0.0.1"
	r := newSSH(t, cfg)
	// Port 22 is closed here, or something else: either way the error names it.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := r.Run(ctx, nil, "list-sessions")
	wantErrContaining(t, err, "@127.0.0.1:22")
}

func TestSSHAgent(t *testing.T) {
	local := tmuxtest.Server(t)
	srv := sshdtest.New(t)
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t, srv.KeyFile()))
	cfg := sshConfig(srv)
	cfg.KeyFile = ""
	remote := tmux.New(local.Socket(), newSSH(t, cfg)).WithConfigFile("/dev/null")
	if _, err := remote.NewSession(t.Context(), "agent", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatalf("NewSession with the agent's key: %v", err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// serveAgent runs an SSH agent holding the key in keyFile and returns its socket.
func serveAgent(t *testing.T, keyFile string) string {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "fwagent") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			})
		}
	})
	return sock
}

func TestSSHReconnectsAfterDrop(t *testing.T) {
	remote, local, srv, r := overSSH(t, nil)
	ctx := t.Context()
	p, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}

	srv.Drop()
	panes, err := remote.ListPanes(ctx)
	if err != nil {
		t.Fatalf("ListPanes after the connection dropped: %v", err)
	}
	if len(panes) != 1 || panes[0].ID != p.ID {
		t.Errorf("ListPanes after reconnecting = %+v, want pane %s", panes, p.ID)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (one redial)", n)
	}

	// A command running when the connection drops fails, naming the host;
	// the next one reconnects.
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, nil, "-L", local.Socket(), "wait-for", "never-signalled")
		errc <- err
	}()
	tmuxtest.WaitFor(t, wait, func() (bool, string) { return srv.Running() == 1, "wait-for not running" })
	srv.Drop()
	select {
	case err := <-errc:
		wantErrContaining(t, err, "tmux wait-for on "+srv.User()+"@"+srv.Addr())
	case <-time.After(wait):
		t.Fatal("a command kept running after its connection dropped")
	}
	if err := remote.SendText(ctx, p.ID, "back"); err != nil {
		t.Fatalf("SendText after the second drop: %v", err)
	}
	tmuxtest.WaitFor(t, wait, captured(t, remote, p.ID, 0, func(s string) bool { return s == "back" }))
	if n := srv.Connections(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

func TestSSHSharesOneConnection(t *testing.T) {
	remote, _, srv, _ := overSSH(t, nil)
	ctx := t.Context()
	if _, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	srv.Drop() // the callers below race to dial
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := remote.ListPanes(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent ListPanes: %v", err)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2: the concurrent callers must share one", n)
	}
	if n := srv.Execs(); n != 9 {
		t.Errorf("%d commands ran, want 9", n)
	}
}

func TestSSHCancelClosesSession(t *testing.T) {
	remote, local, srv, r := overSSH(t, nil)
	ctx := t.Context()
	if _, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(cctx, nil, "-L", local.Socket(), "wait-for", "never-signalled")
		errc <- err
	}()
	tmuxtest.WaitFor(t, wait, func() (bool, string) { return srv.Running() == 1, "wait-for not running" })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
		wantErrContaining(t, err, "wait-for", srv.Addr())
	case <-time.After(wait):
		t.Fatal("Run did not return when its context was cancelled")
	}
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		return srv.Running() == 0, "the remote command outlived its session"
	})
	// The shared connection is unharmed.
	if _, err := remote.ListPanes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestSSHWatch(t *testing.T) {
	remote, _, srv, _ := overSSH(t, nil)
	ctx := t.Context()
	p, err := remote.NewSession(ctx, "w", "main", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1000)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- remote.Watch(wctx, "w", func(id string) { seen <- id }) }()
	// The client needs a moment to attach; keep typing until output is seen.
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		if err := remote.SendText(ctx, p.ID, "x"); err != nil {
			return false, err.Error()
		}
		for {
			select {
			case id := <-seen:
				if id == p.ID {
					return true, ""
				}
			default:
				return false, "no %output for " + p.ID
			}
		}
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel = %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("Watch did not return when its context was cancelled")
	}
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		return srv.Running() == 0, fmt.Sprintf("%d remote commands still running", srv.Running())
	})

	// tmux -C reports a missing session inside the control protocol, not on stderr.
	err = remote.Watch(ctx, "nosuch", func(string) {})
	wantErrContaining(t, err, "tmux attach-session on "+srv.User()+"@"+srv.Addr(), "status 1")
}

func TestSSHOpensAnotherConnectionWhenSessionsRunOut(t *testing.T) {
	remote, _, srv, _ := overSSH(t, nil)
	srv.SetMaxSessions(2)
	ctx := t.Context()
	for _, s := range []string{"a", "b"} {
		if _, err := remote.NewSession(ctx, s, "", tmux.SpawnOptions{Command: "cat"}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ended := make(chan error, 2)
	for _, s := range []string{"a", "b"} {
		wg.Go(func() { ended <- remote.Watch(wctx, s, func(string) {}) })
	}
	// The two control clients hold both sessions the connection allows.
	tmuxtest.WaitFor(t, wait, func() (bool, string) {
		return srv.Running() == 2, fmt.Sprintf("%d control clients running, want 2", srv.Running())
	})
	for range 3 {
		panes, err := remote.ListPanes(ctx)
		if err != nil {
			t.Fatalf("ListPanes with the first connection full: %v", err)
		}
		if len(panes) != 2 {
			t.Errorf("ListPanes = %d panes, want 2", len(panes))
		}
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	// The refusal was an answer, not a dead connection: the first one,
	// and the control clients on it, live on.
	select {
	case err := <-ended:
		t.Errorf("a control client ended when a session was refused: %v", err)
	default:
	}
	if n := srv.Running(); n != 2 {
		t.Errorf("%d control clients running after the refusal, want 2", n)
	}
}

func TestSSHKeepAliveReplacesStalledConnection(t *testing.T) {
	remote, _, srv, _ := overSSH(t, func(c *tmux.SSHConfig) { c.KeepAlive = 250 * time.Millisecond })
	ctx := t.Context()
	p, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stall() // the host vanishes without a word; TCP would take minutes to notice
	panes, err := remote.ListPanes(ctx)
	if err != nil {
		t.Fatalf("ListPanes after the connection stalled: %v", err)
	}
	if len(panes) != 1 || panes[0].ID != p.ID {
		t.Errorf("ListPanes = %+v, want pane %s", panes, p.ID)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestSSHClose(t *testing.T) {
	remote, _, srv, r := overSSH(t, nil)
	ctx := t.Context()
	if _, err := remote.NewSession(ctx, "s", "", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := remote.ListPanes(ctx); !errors.Is(err, tmux.ErrClosed) {
		t.Errorf("ListPanes after Close = %v, want ErrClosed", err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: a closed runner must not redial", n)
	}
}

func TestSSHCommandRunsAProgramOnTheHost(t *testing.T) {
	// A login shell runs the command: keep this machine's profile out.
	t.Setenv("SHELL", "/bin/sh")
	t.Setenv("HOME", t.TempDir())
	srv := sshdtest.New(t)
	r := newSSH(t, sshConfig(srv))
	ctx := t.Context()
	got, err := r.Command(ctx, "printf", "%s|", `it's`, `$HOME $(id)`, "a b")
	if err != nil {
		t.Fatal(err)
	}
	if want := `it's|$HOME $(id)|a b|`; string(got) != want {
		t.Errorf("got %q, want %q: arguments must arrive as given", got, want)
	}
	_, err = r.Command(ctx, "/nonexistent/claude", "--version")
	wantErrContaining(t, err, "/nonexistent/claude on ", "not found", "status 127")
	if _, err := r.Command(ctx); err == nil {
		t.Error("no program: want an error")
	}
}

// Package sshdtest is an in-process SSH server for tests.
//
// It listens on 127.0.0.1 with a freshly generated ed25519 host key, accepts
// exactly one user with one generated client key (public-key auth, nothing
// else), and runs every "exec" request with `sh -c` on this machine, stdin,
// stdout and stderr wired to the channel and the exit status sent back, the
// way OpenSSH's sshd does. Because commands run locally, a test's private
// tmux server is reachable both directly and "over SSH".
//
// Like OpenSSH it allows at most 10 sessions per connection (MaxSessions) and
// refuses more as OpenSSH does: a channel open failure with reason "connect
// failed" and the message "open failed". Tests break it on purpose
// with Drop (every connection closed) and Stall (every connection silent).
package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"
)

// DefaultMaxSessions is OpenSSH's default MaxSessions.
const DefaultMaxSessions = 10

// user is the only account the server knows.
const user = "fleetwarden"

// Server is a running fake sshd. It stops in t.Cleanup.
type Server struct {
	ln         net.Listener
	config     *ssh.ServerConfig
	hostKey    ssh.Signer
	clientKey  ssh.PublicKey
	keyFile    string
	knownHosts string
	wg         sync.WaitGroup

	mu          sync.Mutex
	conns       map[*conn]struct{}
	closed      bool
	maxSessions int
	execs       int
	sendKeys    int // exec requests that typed into a pane (tmux send-keys)
	accepted    int
	running     int
}

// New starts a server on 127.0.0.1:0. Its client key is written, unencrypted
// in OpenSSH format, to KeyFile, and a known_hosts file listing its host key
// for Addr to KnownHosts.
func New(t testing.TB) *Server {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshd: host key: %v", err)
	}
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatalf("sshd: host key: %v", err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshd: client key: %v", err)
	}
	sshClientPub, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatalf("sshd: client key: %v", err)
	}
	s := &Server{
		hostKey:     hostKey,
		clientKey:   sshClientPub,
		conns:       map[*conn]struct{}{},
		maxSessions: DefaultMaxSessions,
	}
	s.config = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.config.AddHostKey(hostKey)

	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshd: listen: %v", err)
	}
	dir := t.TempDir()
	s.keyFile = filepath.Join(dir, "id_ed25519")
	block, err := ssh.MarshalPrivateKey(clientPriv, "fleetwarden test client")
	if err != nil {
		t.Fatalf("sshd: client key: %v", err)
	}
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	s.knownHosts = filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, hostKey.PublicKey()) + "\n"
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o600); err != nil {
		t.Fatalf("sshd: %v", err)
	}

	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// User is the user name the server accepts.
func (s *Server) User() string { return user }

// KeyFile is the path of the client's private key.
func (s *Server) KeyFile() string { return s.keyFile }

// KnownHosts is the path of a known_hosts file that lists the host key for Addr.
func (s *Server) KnownHosts() string { return s.knownHosts }

// HostKey is the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Execs counts the exec requests the server has run.
func (s *Server) Execs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs
}

// SendKeys counts the exec requests that typed into a pane (tmux send-keys).
func (s *Server) SendKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendKeys
}

// Connections counts the connections that completed the handshake and
// authentication.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Running counts the commands still running.
func (s *Server) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// SetMaxSessions changes how many sessions one connection may have open at a
// time (OpenSSH's MaxSessions), for connections made from now on.
func (s *Server) SetMaxSessions(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxSessions = n
}

// Drop closes every open connection, as a reboot or a network cut noticed
// by TCP would. Their commands are killed. New connections are accepted.
func (s *Server) Drop() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Stall makes every open connection go silent without closing it, as a host
// that vanished from the network: nothing the client sends is read or
// answered from now on. New connections are served normally.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.stallOnce.Do(func() { close(c.stalled) })
	}
}

func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if meta.User() != user {
		return nil, fmt.Errorf("sshd: unknown user %q", meta.User())
	}
	if !bytes.Equal(key.Marshal(), s.clientKey.Marshal()) {
		return nil, fmt.Errorf("sshd: key %s is not authorized", ssh.FingerprintSHA256(key))
	}
	return nil, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		c := &conn{Conn: nc, stalled: make(chan struct{}), closed: make(chan struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c *conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	// A client that never finishes the handshake must not hold the server.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return // refused host key or client key: the client reports it
	}
	_ = c.SetDeadline(time.Time{})
	s.mu.Lock()
	s.accepted++
	limit := s.maxSessions
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs) // keepalives get "false", as from OpenSSH
	}()

	var smu sync.Mutex
	sessions := 0
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		smu.Lock()
		full := sessions >= limit
		if !full {
			sessions++
		}
		smu.Unlock()
		if full {
			_ = nch.Reject(ssh.ConnectionFailed, "open failed") // OpenSSH's words for "no more sessions"
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			smu.Lock()
			sessions--
			smu.Unlock()
			continue
		}
		// The slot frees when the server closes the channel (the command
		// ended) or sees the client close it, whichever comes first. The
		// client may reuse the slot as soon as it sees our close, so it
		// must be free by then, as in OpenSSH's single-threaded loop.
		release := sync.OnceFunc(func() {
			smu.Lock()
			sessions--
			smu.Unlock()
		})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(ch, creqs, release)
			release()
		}()
	}
	_ = sc.Close()
}

// session serves one session channel until both sides have closed it.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request, release func()) {
	var cmd *exec.Cmd
	started := false
	exited := make(chan struct{})
	for req := range reqs {
		if req.Type != "exec" || started {
			// env, pty-req, shell, signal…: not needed by anything tested.
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		// Like OpenSSH, answer before the command can write or exit: a
		// client must see the reply before the output and the exit status.
		_ = req.Reply(true, nil)
		started = true
		cmd = s.start(ch, payload.Command, exited, release)
	}
	// The client closed the channel (or the connection died): like a
	// command whose connection is gone, it must not outlive it here.
	if cmd != nil {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	_ = ch.Close()
}

// start runs command with sh -c, wired to ch, and reports its end on ch;
// release frees the session's slot.
func (s *Server) start(ch ssh.Channel, command string, exited chan<- struct{}, release func()) *exec.Cmd {
	cmd := exec.Command("sh", "-c", command)
	// Its own process group, so that closing the channel kills the whole command.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// A daemon started by the command (the tmux server) must not hold Wait open.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		// As sshd's child does when exec fails: a message and status 127.
		fmt.Fprintf(ch.Stderr(), "sshd: %v\n", err)
		_ = ch.CloseWrite()
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{127}))
		release()
		_ = ch.Close()
		close(exited)
		return nil
	}
	s.mu.Lock()
	s.execs++
	if strings.Contains(command, "send-keys") {
		s.sendKeys++
	}
	s.running++
	s.mu.Unlock()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	go func() {
		defer s.wg.Done()
		defer close(exited)
		_ = cmd.Wait() // the exit status travels in ProcessState
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
		release()
		_ = ch.CloseWrite()
		sendExit(ch, cmd)
		_ = ch.Close()
	}()
	return cmd
}

// sendExit sends "exit-status", or "exit-signal" for a killed command, as
// RFC 4254 section 6.10 describes.
func sendExit(ch ssh.Channel, cmd *exec.Cmd) {
	var ws syscall.WaitStatus
	if cmd.ProcessState != nil {
		ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	switch {
	case cmd.ProcessState == nil:
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{255}))
	case ws.Signaled():
		name := strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: name, CoreDumped: ws.CoreDump()}))
	default:
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ws.ExitStatus())}))
	}
}

func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.Drop()
	s.wg.Wait()
}

// conn is a server-side connection that can be stalled.
type conn struct {
	net.Conn
	stallOnce sync.Once
	stalled   chan struct{} // closed by Stall
	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

func (c *conn) Read(p []byte) (int, error) {
	select {
	case <-c.stalled:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	n, err := c.Conn.Read(p)
	select {
	case <-c.stalled:
		// Arrived after the stall: never seen, never answered.
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return n, err
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

package tmux

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

var (
	_ Runner   = (*SSH)(nil)
	_ Streamer = (*SSH)(nil)
)

// ErrClosed is returned by an SSH runner after Close.
var ErrClosed = errors.New("ssh runner closed")

// SSH defaults.
const (
	DefaultSSHTimeout   = 10 * time.Second
	DefaultSSHKeepAlive = 30 * time.Second
)

const (
	// maxSessions is OpenSSH's default MaxSessions: sessions one connection
	// may have open at once. Control-mode clients hold theirs for good, so
	// a busy host needs more than one connection. A server with a lower
	// limit refuses the extra sessions, and the limit is learnt.
	maxSessions = 10
	// sshCloseWait is how long a closed session may take to end before its
	// connection is taken for dead and closed.
	sshCloseWait = 2 * time.Second
)

// SSHConfig says how to reach tmux on another host.
type SSHConfig struct {
	Address    string        // host:port; ":22" is added when the port is missing
	User       string        // remote user name
	KeyFile    string        // private key, OpenSSH format, unencrypted; "" = the SSH agent at $SSH_AUTH_SOCK
	KnownHosts string        // known_hosts file that must list the host's key
	Bin        string        // remote tmux binary; default "tmux" (a leading "~/" is the remote home)
	Timeout    time.Duration // bound on dialling plus the SSH handshake; default 10s
	// KeepAlive is how often an SSH connection is probed; one whose probe is
	// unanswered for as long is closed, so a host that vanished from the
	// network is noticed without waiting for TCP. Default 30s; < 0 turns
	// probing off.
	KeepAlive time.Duration
}

// SSH runs tmux on another host over SSH. It implements Runner and Streamer:
// every command gets its own session on a shared connection, which is dialled
// on first use and again after it drops. It is safe for concurrent use.
type SSH struct {
	cfg       SSHConfig
	target    string     // user@host:port, for errors
	signer    ssh.Signer // nil: use the agent
	agentSock string

	dialing chan struct{} // one-slot lock: one dial at a time, callers waiting share it

	mu     sync.Mutex
	conns  []*sshConn
	closed bool
}

// sshConn is one SSH connection and the sessions it carries.
type sshConn struct {
	client *ssh.Client
	done   chan struct{} // closed when the connection has ended

	// Guarded by SSH.mu.
	sessions int
	limit    int
	broken   bool
}

func (c *sshConn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return !c.broken
	}
}

// NewSSH checks c, reads the key file and returns a runner for the host. It
// does not connect: the first command does.
func NewSSH(c SSHConfig) (*SSH, error) {
	if c.Address == "" {
		return nil, errors.New("ssh: no address given (host or host:port)")
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		if !strings.Contains(err.Error(), "missing port") {
			return nil, fmt.Errorf("ssh: address %q: %w", c.Address, err)
		}
		c.Address = net.JoinHostPort(strings.Trim(c.Address, "[]"), "22")
	}
	if host, _, _ := net.SplitHostPort(c.Address); host == "" {
		return nil, fmt.Errorf("ssh: address %q has no host", c.Address)
	}
	if c.User == "" {
		return nil, fmt.Errorf("ssh %s: no user given", c.Address)
	}
	s := &SSH{cfg: c, target: c.User + "@" + c.Address, dialing: make(chan struct{}, 1)}
	if c.KnownHosts == "" {
		return nil, fmt.Errorf("ssh %s: no known_hosts file given: the host key must be verified", s.target)
	}
	// Read now so a missing or malformed file is reported at start-up; it
	// is read again at every dial, so an edit takes effect without a restart.
	if _, err := knownhosts.New(c.KnownHosts); err != nil {
		return nil, fmt.Errorf("ssh %s: known_hosts file: %w", s.target, err)
	}
	if c.KeyFile != "" {
		signer, err := readKey(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %w", s.target, err)
		}
		s.signer = signer
	} else {
		s.agentSock = os.Getenv("SSH_AUTH_SOCK")
		if s.agentSock == "" {
			return nil, fmt.Errorf("ssh %s: no key file given and no SSH agent ($SSH_AUTH_SOCK is empty)", s.target)
		}
	}
	if s.cfg.Bin == "" {
		s.cfg.Bin = "tmux"
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultSSHTimeout
	}
	if s.cfg.KeepAlive == 0 {
		s.cfg.KeepAlive = DefaultSSHKeepAlive
	}
	return s, nil
}

func readKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("key file %s is protected by a passphrase, which fleetwarden cannot type: add it to ssh-agent and leave key_file empty", path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return signer, nil
}

// Run implements Runner: it runs tmux args on the host in a new session.
// Cancelling ctx closes the session.
func (s *SSH) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	name := CommandName(args)
	line, err := s.command(args)
	if err != nil {
		return nil, fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
	}
	sess, c, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
	}
	defer s.release(c)
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout = &stdout
	sess.Stderr = &stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	runErr := s.run(ctx, sess, c, line)
	if runErr != nil {
		return stdout.Bytes(), s.tmuxError(name, stderr.String(), runErr)
	}
	return stdout.Bytes(), nil
}

// run runs line in sess; when ctx ends first it abandons the session (and
// its connection) and returns ctx's error wrapped with the run's.
func (s *SSH) run(ctx context.Context, sess *ssh.Session, c *sshConn, line string) error {
	exited := make(chan struct{})
	var runErr error
	go func() {
		runErr = sess.Run(line)
		close(exited)
	}()
	select {
	case <-exited:
		return runErr
	case <-ctx.Done():
		s.abandon(sess, c, exited)
		<-exited
		return fmt.Errorf("%w (%w)", ctx.Err(), runErr)
	}
}

// Command runs a program other than tmux on the host (`claude --version`),
// in the user's login shell so that it finds what an agent's pane finds on
// its PATH, and returns its standard output. A leading "~/" in argv[0] is
// the remote home.
func (s *SSH) Command(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("command: no program")
	}
	var b strings.Builder
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("%s on %s: argument %d contains a NUL byte", argv[0], s.target, i)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if rest, ok := strings.CutPrefix(a, "~/"); ok && i == 0 {
			b.WriteString("~/" + shellQuote(rest))
		} else {
			b.WriteString(shellQuote(a))
		}
	}
	line := `exec "${SHELL:-/bin/sh}" -lc ` + shellQuote(b.String())
	sess, c, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", argv[0], s.target, err)
	}
	defer s.release(c)
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	runErr := s.run(ctx, sess, c, line)
	if runErr != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s on %s: %s: %w", argv[0], s.target, msg, runErr)
		}
		return stdout.Bytes(), fmt.Errorf("%s on %s: %w", argv[0], s.target, runErr)
	}
	return stdout.Bytes(), nil
}

// Stream implements Streamer: it starts tmux args on the host and returns
// its stdout. Its stdin stays open until the command ends, since a control
// client exits when stdin closes. Cancelling ctx, or closing out, closes the
// session.
func (s *SSH) Stream(ctx context.Context, args ...string) (io.ReadCloser, func() error, error) {
	name := CommandName(args)
	line, err := s.command(args)
	if err != nil {
		return nil, nil, fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
	}
	sess, c, err := s.open(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
	}
	fail := func(err error) (io.ReadCloser, func() error, error) {
		sess.Close()
		s.release(c)
		return nil, nil, fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return fail(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	var stderr bytes.Buffer // written until Wait returns, read after
	sess.Stderr = &stderr
	if err := sess.Start(line); err != nil {
		return fail(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = sess.Wait()
		stdin.Close()
		sess.Close()
		s.release(c)
		close(exited)
	}()
	stop := context.AfterFunc(ctx, func() { s.abandon(sess, c, exited) })
	wait := sync.OnceValue(func() error {
		<-exited
		stop()
		if waitErr == nil {
			return nil
		}
		err := waitErr
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return s.tmuxError(name, stderr.String(), err)
	})
	return &streamOut{Reader: out, sess: sess}, wait, nil
}

type streamOut struct {
	io.Reader
	sess *ssh.Session
}

func (o *streamOut) Close() error {
	err := o.sess.Close()
	if errors.Is(err, io.EOF) { // already closed
		return nil
	}
	return err
}

// Close closes every connection. Commands still running fail, and later
// calls return ErrClosed.
func (s *SSH) Close() error {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.closed = true
	s.mu.Unlock()
	var errs []error
	for _, c := range conns {
		if err := c.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ssh %s: close: %w", s.target, err)
	}
	return nil
}

// tmuxError words a failed command like Exec does, naming the host.
func (s *SSH) tmuxError(name, stderr string, err error) error {
	if msg := strings.TrimSpace(stderr); msg != "" {
		return fmt.Errorf("tmux %s on %s: %s: %w", name, s.target, msg, err)
	}
	return fmt.Errorf("tmux %s on %s: %w", name, s.target, err)
}

// command is the command line for the remote shell: sshd hands it to the
// user's shell, so every argument is quoted.
func (s *SSH) command(args []string) (string, error) {
	var b strings.Builder
	if rest, ok := strings.CutPrefix(s.cfg.Bin, "~/"); ok {
		b.WriteString("~/" + shellQuote(rest))
	} else {
		b.WriteString(shellQuote(s.cfg.Bin))
	}
	for i, a := range args {
		if strings.ContainsRune(a, 0) {
			return "", fmt.Errorf("argument %d contains a NUL byte, which no command line can carry", i+1)
		}
		b.WriteByte(' ')
		b.WriteString(shellQuote(a))
	}
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell, leaving plainly safe words bare.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// open starts a session on a connection with room for it, dialling one
// when there is none. The caller releases the slot when done.
func (s *SSH) open(ctx context.Context) (*ssh.Session, *sshConn, error) {
	var lastErr error
	for range 3 {
		c, err := s.acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		sess, gaveUp, err := s.newSession(ctx, c)
		if err == nil {
			return sess, c, nil
		}
		if gaveUp {
			return nil, nil, err // newSession releases the slot later
		}
		// A refused open is an answer: the connection lives, and the
		// server allows fewer sessions than we assumed. OpenSSH refuses
		// with "connect failed" ("no more sessions" in its log), others
		// with "administratively prohibited".
		var oce *ssh.OpenChannelError
		full := errors.As(err, &oce)
		s.mu.Lock()
		if full {
			// The server allows fewer sessions than we assumed.
			c.limit = max(1, c.sessions-1)
		} else {
			// The connection is dead (EOF, reset): retry on a new one.
			c.broken = true
		}
		s.mu.Unlock()
		if !full {
			c.client.Close()
		}
		s.release(c)
		lastErr = err
	}
	return nil, nil, fmt.Errorf("opening an SSH session: %w", lastErr)
}

// newSession opens a session on c. When ctx ends first it gives up, and
// releases c's slot once the abandoned attempt is over.
func (s *SSH) newSession(ctx context.Context, c *sshConn) (sess *ssh.Session, gaveUp bool, err error) {
	type result struct {
		sess *ssh.Session
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		sess, err := c.client.NewSession()
		ch <- result{sess, err}
	}()
	select {
	case r := <-ch:
		return r.sess, false, r.err
	case <-c.done:
		// x/crypto never answers an open sent just after the connection
		// ended (the open is written, nobody reads the reply): stop
		// waiting. The stuck goroutine ends only if an answer comes.
		go func() {
			if r := <-ch; r.sess != nil {
				r.sess.Close()
			}
		}()
		return nil, false, errors.New("ssh: connection lost")
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.sess != nil {
				r.sess.Close()
			}
			s.release(c)
		}()
		return nil, true, fmt.Errorf("opening an SSH session: %w", ctx.Err())
	}
}

// acquire takes a session slot on a live connection, dialling a new one
// when all are full or dead.
func (s *SSH) acquire(ctx context.Context) (*sshConn, error) {
	if c, err := s.take(); c != nil || err != nil {
		return c, err
	}
	select {
	case s.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the SSH connection: %w", ctx.Err())
	}
	defer func() { <-s.dialing }()
	// Someone else may have dialled while we waited.
	if c, err := s.take(); c != nil || err != nil {
		return c, err
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.client.Close()
		return nil, ErrClosed
	}
	s.conns = append(s.conns, c)
	c.sessions++
	return c, nil
}

// take takes a slot on an existing connection, if one has room.
func (s *SSH) take() (*sshConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.conns = slices.DeleteFunc(s.conns, func(c *sshConn) bool { return !c.alive() })
	for _, c := range s.conns {
		if c.sessions < c.limit {
			c.sessions++
			return c, nil
		}
	}
	return nil, nil
}

func (s *SSH) release(c *sshConn) {
	s.mu.Lock()
	c.sessions--
	s.mu.Unlock()
}

// abandon closes a session whose caller gave up. A connection that cannot
// even close a session within sshCloseWait is taken for dead.
func (s *SSH) abandon(sess *ssh.Session, c *sshConn, exited <-chan struct{}) {
	sess.Close()
	t := time.NewTimer(sshCloseWait)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		s.mu.Lock()
		c.broken = true
		s.mu.Unlock()
		c.client.Close()
	}
}

// dial connects and authenticates, verifying the host key.
func (s *SSH) dial(ctx context.Context) (*sshConn, error) {
	hostKeys, err := knownhosts.New(s.cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: known_hosts file: %w", s.target, err)
	}
	keyErr := make(chan error, 1)
	verify := func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := hostKeys(host, remote, key); err != nil {
			err = s.hostKeyError(err, key)
			select { // the first failure is the one the handshake reports
			case keyErr <- err:
			default:
			}
			return err
		}
		return nil
	}
	auth, authDone, err := s.auth()
	if err != nil {
		return nil, err
	}
	defer authDone()
	cfg := &ssh.ClientConfig{
		User:              s.cfg.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyCallback:   verify,
		HostKeyAlgorithms: knownAlgorithms(hostKeys, s.cfg.Address),
		Timeout:           s.cfg.Timeout,
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", s.target, err)
	}
	// The handshake knows no ctx: a deadline bounds it and cancellation
	// closes the socket under it.
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(nc, s.cfg.Address, cfg)
	if !stop() {
		if err == nil {
			cc.Close()
		}
		return nil, fmt.Errorf("ssh %s: handshake: %w", s.target, ctx.Err())
	}
	if err != nil {
		nc.Close()
		select {
		case kerr := <-keyErr:
			return nil, kerr
		default:
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh %s: the server refused %s: %w", s.target, s.authName(), err)
		}
		return nil, fmt.Errorf("ssh %s: %w", s.target, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &sshConn{client: ssh.NewClient(cc, chans, reqs), done: make(chan struct{}), limit: maxSessions}
	go func() {
		_ = c.client.Wait()
		close(c.done)
	}()
	if s.cfg.KeepAlive > 0 {
		go s.keepAlive(c)
	}
	return c, nil
}

// auth returns the key file's key or the agent's keys; done ends the
// agent connection once the handshake is over.
func (s *SSH) auth() (m ssh.AuthMethod, done func(), err error) {
	if s.signer != nil {
		return ssh.PublicKeys(s.signer), func() {}, nil
	}
	conn, err := net.Dial("unix", s.agentSock)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh %s: SSH agent: %w", s.target, err)
	}
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers), func() { conn.Close() }, nil
}

func (s *SSH) authName() string {
	if s.signer != nil {
		return "the key in " + s.cfg.KeyFile
	}
	return "the SSH agent's keys ($SSH_AUTH_SOCK=" + s.agentSock + ")"
}

// hostKeyError explains a host key the known_hosts file does not vouch for.
func (s *SSH) hostKeyError(err error, key ssh.PublicKey) error {
	offered := fmt.Sprintf("%s (%s)", ssh.FingerprintSHA256(key), key.Type())
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("ssh %s: host key %s is marked @revoked in %s:%d: %w",
			s.target, offered, revoked.Revoked.Filename, revoked.Revoked.Line, err)
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		host, port, _ := net.SplitHostPort(s.cfg.Address)
		scan := "ssh-keyscan " + host
		if port != "22" {
			scan = "ssh-keyscan -p " + port + " " + host
		}
		return fmt.Errorf("ssh %s: host key %s is not in known_hosts file %s; if that fingerprint is the host's, add its key (%s >> %s): %w",
			s.target, offered, s.cfg.KnownHosts, scan, s.cfg.KnownHosts, err)
	case errors.As(err, &keyErr):
		var known []string
		for _, k := range keyErr.Want {
			known = append(known, fmt.Sprintf("%s:%d has %s (%s)", k.Filename, k.Line, ssh.FingerprintSHA256(k.Key), k.Key.Type()))
		}
		return fmt.Errorf("ssh %s: HOST KEY MISMATCH: the server offered %s but known_hosts file %s; someone may be intercepting the connection, and if the key really changed, replace that line: %w",
			s.target, offered, strings.Join(known, ", "), err)
	}
	return fmt.Errorf("ssh %s: checking host key %s against %s: %w", s.target, offered, s.cfg.KnownHosts, err)
}

// probeKey is a key no host has: checking it reveals which keys the
// known_hosts file holds for a host.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// knownAlgorithms lists the host key algorithms of the keys known for addr
// first, then the rest: a server with several host keys must present the
// one known_hosts has (as OpenSSH arranges), not the first it prefers. Nil
// when none is known.
func knownAlgorithms(hostKeys ssh.HostKeyCallback, addr string) []string {
	var keyErr *knownhosts.KeyError
	if err := hostKeys(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey); !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		if t := k.Key.Type(); t == ssh.KeyAlgoRSA {
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		} else {
			algos = append(algos, t)
		}
	}
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos
}

// keepAlive probes c until it ends, and closes it when a probe goes
// unanswered for a whole interval.
func (s *SSH) keepAlive(c *sshConn) {
	tick := time.NewTicker(s.cfg.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		timeout := time.NewTimer(s.cfg.KeepAlive)
		select {
		case err := <-answered:
			timeout.Stop()
			if err != nil {
				c.client.Close()
				return
			}
		case <-timeout.C:
			c.client.Close()
			return
		case <-c.done:
			timeout.Stop()
			return
		}
	}
}

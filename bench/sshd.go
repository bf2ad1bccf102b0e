package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sshServer is a real OpenSSH sshd on a loopback port, run by the bench
// as the current user: its own host key, one authorized user key, and a
// known_hosts line for fleetwarden's [[host]].
type sshServer struct {
	name       string // the [[host]] name
	addr       string // 127.0.0.1:port
	user       string
	keyFile    string
	knownHosts string
	cmd        *exec.Cmd
	log        string
	paused     []int      // sshd processes stopped by pause
	exited     chan error // Wait's result
}

// findSSHD locates OpenSSH's sshd (not on PATH for most users).
func findSSHD() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("sshd not found: -ssh needs OpenSSH's server (apt-get install openssh-server)")
}

// startSSHD starts sshd name in its own directory under dir and waits
// until it accepts connections. The caller stops it (b.cleanup does).
func startSSHD(ctx context.Context, dir, name string) (*sshServer, error) {
	bin, err := findSSHD()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// Run as root, sshd insists on its privilege separation directory,
		// which the system service creates at boot.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshd as root needs /run/sshd: %w", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	d := filepath.Join(dir, "sshd-"+name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	s := &sshServer{name: name, user: u.Username, keyFile: filepath.Join(d, "id_ed25519"),
		knownHosts: filepath.Join(d, "known_hosts"), log: filepath.Join(d, "sshd.log")}
	if s.addr, err = freePort(); err != nil {
		return nil, err
	}
	cfgFile, err := s.writeConfig(ctx, d)
	if err != nil {
		return nil, err
	}
	if err := s.launch(ctx, bin, cfgFile); err != nil {
		return nil, err
	}
	log.Printf("sshd %s on %s", name, s.addr)
	return s, nil
}

// writeConfig generates the host key and the user's key in d, authorizes
// the user's, writes the known_hosts line fleetwarden checks, and the
// sshd_config; it returns the config's path.
func (s *sshServer) writeConfig(ctx context.Context, d string) (string, error) {
	hostKey := filepath.Join(d, "host_ed25519")
	for _, k := range []string{hostKey, s.keyFile} {
		if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fwbench", "-f", k).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ssh-keygen: %w: %s", err, out)
		}
	}
	pub, err := os.ReadFile(s.keyFile + ".pub")
	if err != nil {
		return "", err
	}
	auth := filepath.Join(d, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(s.addr)
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(s.knownHosts, fmt.Appendf(nil, "[127.0.0.1]:%s %s", port, hostPub), 0o600); err != nil {
		return "", err
	}
	// The account's shell start-up is kept out of the figures: bash run by
	// sshd reads ~/.bashrc only at shell level 1 (SHLVL=1 makes it 2), and
	// every tmux command is a `bash -c`; `claude --version` runs in
	// "${SHELL:-/bin/sh}" -lc, which with SHELL=/bin/sh skips ~/.bashrc. A
	// heavy .bashrc (pyenv init…) would be measured instead of fleetwarden.
	cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
SetEnv SHLVL=1 SHELL=/bin/sh
LogLevel ERROR
`, s.addr, hostKey, auth, filepath.Join(d, "sshd.pid"))
	cfgFile := filepath.Join(d, "sshd_config")
	return cfgFile, os.WriteFile(cfgFile, []byte(cfg), 0o600)
}

// launch starts sshd on cfgFile and waits until it listens.
func (s *sshServer) launch(ctx context.Context, bin, cfgFile string) error {
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	// sshd wants an absolute path to re-execute itself.
	s.cmd = exec.Command(bin, "-D", "-e", "-f", cfgFile)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(s.log)
			s.cmd = nil
			return fmt.Errorf("sshd exited (%v): %s", err, strings.TrimSpace(string(out)))
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			s.stopWith(exited)
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			s.stopWith(exited)
			return fmt.Errorf("sshd did not listen on %s within 10 s (log: %s)", s.addr, s.log)
		}
	}
	s.exited = exited
	return nil
}

// processes lists every process on the machine with its parent, command
// name and CPU ticks.
type proc struct {
	ppid  int
	comm  string
	ticks float64
}

func processes() map[int]proc {
	out := map[int]proc{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		ticks, ppid, err := procCPU(st)
		if err != nil {
			continue
		}
		out[pid] = proc{ppid: ppid, comm: s[open+1 : end], ticks: ticks}
	}
	return out
}

// tree returns root and every process descended from it.
func tree(ps map[int]proc, root int) []int {
	children := map[int][]int{}
	for pid, p := range ps {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if _, ok := ps[pid]; !ok {
			continue
		}
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// treeCPU is the CPU time, in seconds, of root and all its descendants,
// with the children they reaped.
func treeCPU(root int) float64 {
	ps := processes()
	var ticks float64
	for _, pid := range tree(ps, root) {
		ticks += ps[pid].ticks
	}
	return ticks / 100 // USER_HZ
}

// pid is the listening sshd's process id.
func (s *sshServer) pid() int { return s.cmd.Process.Pid }

// pause stops every sshd process of this server with SIGSTOP — the
// listener and each connection's — as a host that hangs: connections stay
// open, nothing is answered. The shells and tmux commands under them are
// the host's own and keep running.
func (s *sshServer) pause() error {
	ps := processes()
	s.paused = nil
	for _, pid := range tree(ps, s.pid()) {
		if ps[pid].comm != "sshd" {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return fmt.Errorf("SIGSTOP sshd %d: %w", pid, err)
		}
		s.paused = append(s.paused, pid)
	}
	log.Printf("sshd %s paused (%d processes stopped)", s.name, len(s.paused))
	return nil
}

// resume continues what pause stopped.
func (s *sshServer) resume() {
	for _, pid := range s.paused {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	s.paused = nil
}

// stop ends the sshd and every connection it forked (they outlive the
// listener otherwise), continuing them first if paused.
func (s *sshServer) stop() {
	if s == nil || s.cmd == nil {
		return
	}
	s.stopWith(s.exited)
}

func (s *sshServer) stopWith(exited chan error) {
	s.resume()
	ps := processes()
	pids := tree(ps, s.pid())
	for _, pid := range pids {
		if ps[pid].comm == "sshd" {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-exited
	}
	// Connection processes still there (new pids are not ours: only those seen).
	now := processes()
	for _, pid := range pids {
		if p, ok := now[pid]; ok && p.comm == "sshd" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	s.cmd = nil
}

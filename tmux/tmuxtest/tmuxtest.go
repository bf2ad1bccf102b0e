// Package tmuxtest gives tests a private, real tmux server.
package tmuxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/tmux"
)

// Server returns a client for a private tmux server (-L with a unique short
// name, -f /dev/null so no user config applies). The server starts with the
// first session the test creates and is killed, socket and all, in
// t.Cleanup. Without tmux installed the test is skipped, unless env CI is
// "true": there a missing tmux fails the test.
func Server(t testing.TB) *tmux.Client {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tmux is not installed, and CI=true requires it: %v", err)
		}
		t.Skipf("skipping: this test needs a real tmux binary (%v)", err)
	}
	name := SocketName(t.Name())
	c := tmux.New(name, nil).WithConfigFile("/dev/null")
	t.Cleanup(func() {
		// t.Context is already cancelled here.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.KillServer(ctx); err != nil {
			t.Errorf("tmuxtest: kill server %s: %v", name, err)
		}
		// tmux 3.3a leaves the socket file behind after kill-server.
		if err := os.Remove(socketPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("tmuxtest: remove socket: %v", err)
		}
	})
	return c
}

// SocketName returns a short unique -L name for a test: socket paths are
// limited to about 100 bytes, and test names can be long.
func SocketName(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		if b.Len() >= 20 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("fwt-%s-%s", b.String(), hex.EncodeToString(rnd[:]))
}

// socketPath mirrors where tmux puts a -L socket.
func socketPath(name string) string {
	dir := os.Getenv("TMUX_TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), name)
}

// WaitFor polls cond every few milliseconds until it returns true, and fails
// the test with cond's last description if timeout passes first. It is the
// way to wait for a pane to change; never sleep instead.
func WaitFor(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, desc)
		}
		<-tick.C
	}
}

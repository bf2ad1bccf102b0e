package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

// Addr is where the running generation's dashboard listens: the real port
// of a dashboard.listen on port 0, "" before Run and after it returns.
func TestAddrIsTheRunningDashboard(t *testing.T) {
	dir := t.TempDir()
	tm := tmuxtest.Server(t)
	path := testenv.WriteFile(t, dir, "config.toml", fmt.Sprintf(
		"[tmux]\nsocket = %q\n\n[state]\ndir = %q\n\n[dashboard]\nlisten = \"127.0.0.1:0\"\n", tm.Socket(), filepath.Join(dir, "state")))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	d, err := New(cfg, Options{Stderr: &log, Hup: make(chan os.Signal)})
	if err != nil {
		t.Fatal(err)
	}
	if a := d.Addr(); a != "" {
		t.Errorf("Addr before Run = %q, want empty", a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tmuxtest.WaitFor(t, 30*time.Second, func() (bool, string) {
		return strings.HasPrefix(d.Addr(), "127.0.0.1:") && !strings.HasSuffix(d.Addr(), ":0"), "Addr = " + d.Addr()
	})
	resp, err := http.Get("http://" + d.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("/healthz at Addr = %q, want ok", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return after its context ended\n%s", log.String())
	}
	if a := d.Addr(); a != "" {
		t.Errorf("Addr after Run = %q, want empty", a)
	}
}

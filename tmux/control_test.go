package tmux_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/tmux"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

func TestWatchReportsPaneOutput(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	p, err := c.NewSession(ctx, "w", "main", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.NewWindow(ctx, "w", "other", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(wctx, "w", func(id string) {
			mu.Lock()
			seen[id]++
			mu.Unlock()
		})
	}()
	count := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[id]
	}
	// The client needs a moment to attach; keep writing until output is seen.
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		_ = c.SendText(ctx, q.ID, "x")
		return count(q.ID) > 0, "no %output for the second window's pane"
	})
	if err := c.SendText(ctx, p.ID, "hello"); err != nil {
		t.Fatal(err)
	}
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) { return count(p.ID) > 0, "no %output for the first pane" })

	// The watch client must not shrink the session's windows.
	panes, err := c.ListPanes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range panes {
		if pn.Width != 200 {
			t.Errorf("pane %s width %d after attaching the control client, want 200", pn.ID, pn.Width)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch after cancel = %v, want nil", err)
	}
}

func TestWatchEndsWhenSessionCloses(t *testing.T) {
	c := tmuxtest.Server(t)
	ctx := t.Context()
	if _, err := c.NewSession(ctx, "keep", "main", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	p, err := c.NewSession(ctx, "gone", "main", tmux.SpawnOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, "gone", func(string) { got <- struct{}{} }) }()
	tmuxtest.WaitFor(t, 10*time.Second, func() (bool, string) {
		_ = c.SendText(ctx, p.ID, "x")
		return len(got) > 0, "no output seen"
	})
	if err := c.KillSession(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "gone") {
			t.Errorf("Watch ended with %v, want an error naming the session", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not end when its session closed")
	}
}

func TestWatchMissingSession(t *testing.T) {
	c := tmuxtest.Server(t)
	if _, err := c.NewSession(t.Context(), "a", "main", tmux.SpawnOptions{Command: "cat"}); err != nil {
		t.Fatal(err)
	}
	err := c.Watch(t.Context(), "nosuch", func(string) {})
	if err == nil {
		t.Fatal("watching a missing session succeeded")
	}
}

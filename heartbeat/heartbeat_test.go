package heartbeat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestHideURL(t *testing.T) {
	raw := "https://hc-ping.com/5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b01"
	err := fmt.Errorf(`Get "%s": dial tcp: lookup hc-ping.com: no such host`, raw)
	got := hideURL(err, raw)
	if strings.Contains(got, "5f0c2a4e") || !strings.Contains(got, "https://hc-ping.com/…") {
		t.Errorf("hideURL = %q, want the host without the key", got)
	}
}

// roundTrip answers every request 200 in memory and records it.
type roundTrip struct {
	mu  sync.Mutex
	got []string
}

func (r *roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	body := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		body = string(b)
	}
	r.mu.Lock()
	r.got = append(r.got, strings.TrimSpace(req.Method+" "+req.URL.Path+" "+body))
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func (r *roundTrip) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// The switch hears a ping every interval while the scan loop is alive and
// none while it is not (so it alerts), and /fail for an undeliverable
// alert. Minutes pass in the synctest bubble's clock.
func TestPingsWhileAliveAndFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &roundTrip{}
		var alive atomic.Bool
		alive.Store(true)
		s := New(Options{URL: "https://hc.example/ping/key", Every: time.Minute, Alive: alive.Load, Client: &http.Client{Transport: rt}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		count := func(want int, when string) {
			t.Helper()
			synctest.Wait()
			if got := rt.requests(); len(got) != want {
				t.Errorf("%s: %d requests %q, want %d", when, len(got), got, want)
			}
		}
		count(1, "at start")
		time.Sleep(2*time.Minute + time.Second)
		count(3, "two minutes on")
		alive.Store(false)
		time.Sleep(3 * time.Minute)
		count(3, "three minutes of a hung scan loop")
		alive.Store(true)
		time.Sleep(time.Minute)
		count(4, "alive again")
		s.Fail("Login expired on alpha")
		got := rt.requests()
		if want := "POST /ping/key/fail undeliverable alert: Login expired on alpha"; got[len(got)-1] != want {
			t.Errorf("after Fail: %q, want %q last", got, want)
		}
		if got[0] != "GET /ping/key" {
			t.Errorf("a ping is %q, want GET /ping/key", got[0])
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// Without a URL there is no switch: nothing is sent.
func TestNoURLNoRequests(t *testing.T) {
	rt := &roundTrip{}
	s := New(Options{Client: &http.Client{Transport: rt}})
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Fail("x")
	if got := rt.requests(); len(got) != 0 {
		t.Errorf("requests %q, want none", got)
	}
}

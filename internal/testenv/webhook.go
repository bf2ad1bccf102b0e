package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Webhook is a real HTTP receiver of webhook alerts (JSON bodies) that can
// be made to fail: Failing set, it answers 503.
type Webhook struct {
	*httptest.Server
	Failing atomic.Bool

	mu      sync.Mutex
	got     []map[string]any
	changed chan struct{} // closed and replaced on each alert received
}

// NewWebhook starts a receiver; it stops with the test.
func NewWebhook(t testing.TB) *Webhook {
	h := &Webhook{changed: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// Summaries lists the alerts received as "status: summary", oldest first.
func (h *Webhook) Summaries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.got {
		out = append(out, fmt.Sprint(m["status"], ": ", m["summary"]))
	}
	return out
}

// WaitEvidence waits up to 30 s for an alert whose summary holds summary
// and whose evidence holds evidence; otherwise it fails t with what came.
func (h *Webhook) WaitEvidence(t testing.TB, summary, evidence string) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		h.mu.Lock()
		var got []string
		for _, m := range h.got {
			s, e := fmt.Sprint(m["summary"]), fmt.Sprint(m["evidence"])
			if strings.Contains(s, summary) && strings.Contains(e, evidence) {
				h.mu.Unlock()
				return
			}
			got = append(got, s+" | "+e)
		}
		wake := h.changed
		h.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			t.Fatalf("no webhook alert %q with evidence %q within 30s; got %q", summary, evidence, got)
			return
		}
	}
}

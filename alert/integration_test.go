package alert

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// TestRealRoutesBehindTheManager runs the manager on the real clock with a
// failing chat route, a failing command and a working ntfy webhook.
func TestRealRoutesBehindTheManager(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	chat := newRoute("telegram")
	chat.set(errors.New("network is unreachable"), false)
	j := &memJournal{}
	m, err := New(Options{
		GroupWait: 20 * time.Millisecond, FallbackAfter: 5 * time.Second,
		Primary: []Route{chat},
		Fallback: []Route{
			NewExec("pager", []string{"sh", "-c", "cat >/dev/null; echo 'pager unreachable' >&2; exit 1"}, 5*time.Second),
			NewWebhook("phone", srv.URL+"/fleet", "ntfy", nil, 5*time.Second, nil),
		},
		QueueDir: t.TempDir(), Journal: j, RetryMin: time.Hour, RetryMax: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	m.Observe(Event{Agent: "builder", Kind: KindAuthFailed, Reason: "subscription", Evidence: "API Error: 403 subscription", Active: true})

	select {
	case got := <-ch:
		var dec mime.WordDecoder
		title, _ := dec.DecodeHeader(got.header.Get("Title"))
		if title != "Subscription refused (403) on builder" || !strings.Contains(got.body, "Re-login will not help") {
			t.Errorf("ntfy got title %q body %q", title, got.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook got nothing within 10s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The shutdown flush retries the failed routes, maybe before the
	// webhook's record is written: look at the first attempts and counts.
	got := deliveries(j.of(audit.KindDelivery))
	if len(got) < 3 || got[0] != "telegram failed: telegram: network is unreachable" ||
		got[1] != "exec:pager failed: exec:pager: exit status 1: pager unreachable" {
		t.Errorf("deliveries %q, want telegram failed, then the command failed with its stderr", got)
	}
	if n := countOf(got, "webhook:phone ok"); n != 1 {
		t.Errorf("webhook delivered %d times, want 1: %q", n, got)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

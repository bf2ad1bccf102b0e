package alert

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sample is a firing notification as the manager makes them.
func sample() Notification {
	start := time.Date(2026, 3, 4, 2, 14, 0, 0, time.Local)
	agents := []string{"builder", "tester", "docs"}
	return Notification{
		ID: "auth_failed_expired.0a1b2c3d.1.firing", AlertKey: "auth_failed/expired", Status: StatusFiring,
		Severity: SeverityCritical, Kind: KindAuthFailed, Reason: "expired", Agents: agents,
		Summary:  summary(KindAuthFailed, "expired", StatusFiring, agents),
		Remedy:   remedy(KindAuthFailed, "expired", "", agents, true),
		Evidence: "Please run /login · API Error: 401", StartsAt: start, Time: start.Add(10 * time.Second),
	}
}

type captured struct {
	header http.Header
	body   string
}

// receiver is a webhook endpoint answering status; it hands over what it got.
func receiver(t *testing.T, status int) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		ch <- captured{header: r.Header.Clone(), body: string(b)}
		w.WriteHeader(status)
		io.WriteString(w, "upstream says no")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestWebhookJSON(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	r := NewWebhook("ops", srv.URL+"/hook", "json", map[string]string{"Authorization": "Bearer s3cr3t-token-value-xyz"}, time.Second, nil)
	if r.Name() != "webhook:ops" {
		t.Errorf("Name() = %q, want webhook:ops", r.Name())
	}
	n := sample()
	if err := r.Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if a := got.header.Get("Authorization"); a != "Bearer s3cr3t-token-value-xyz" {
		t.Errorf("Authorization header %q not passed", a)
	}
	var body struct {
		ID, Status, Summary, Remedy, Text string
		AlertKey                          string    `json:"alert_key"`
		Agents                            []string  `json:"agents"`
		StartsAt                          time.Time `json:"starts_at"`
	}
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	if body.ID != n.ID || body.Status != "firing" || body.Summary != n.Summary || body.AlertKey != "auth_failed/expired" ||
		len(body.Agents) != 3 || body.Text != n.Text() || !body.StartsAt.Equal(n.StartsAt) {
		t.Errorf("body = %+v", body)
	}
	if strings.Contains(got.body, "ends_at") {
		t.Errorf("a firing notification carries ends_at: %s", got.body)
	}
}

func TestWebhookNtfy(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	r := NewWebhook("phone", srv.URL+"/fleet", "ntfy", nil, time.Second, nil)
	n := sample()
	if err := r.Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	var dec mime.WordDecoder
	title, err := dec.DecodeHeader(got.header.Get("Title"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"Title", title, n.Summary},
		{"Priority", got.header.Get("Priority"), "5"},
		{"Tags", got.header.Get("Tags"), "rotating_light,fleetwarden,auth_failed"},
		{"Content-Type", got.header.Get("Content-Type"), "text/plain; charset=utf-8"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !strings.Contains(got.body, n.Remedy) || !strings.Contains(got.body, "since 02:14") || strings.HasPrefix(got.body, "{") {
		t.Errorf("ntfy body = %q, want plain text with remedy and since", got.body)
	}

	res := n
	res.Status, res.EndsAt = StatusResolved, n.StartsAt.Add(42*time.Minute)
	res.Summary = summary(res.Kind, res.Reason, StatusResolved, res.Agents)
	if err := r.Deliver(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	got = <-ch
	if p, tags := got.header.Get("Priority"), got.header.Get("Tags"); p != "3" || !strings.HasPrefix(tags, "white_check_mark") {
		t.Errorf("resolved: priority %q tags %q", p, tags)
	}
	if !strings.Contains(got.body, "lasted 42m") {
		t.Errorf("resolved body %q", got.body)
	}
}

func TestWebhookSlack(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	r := NewWebhook("team", srv.URL+"/services/T000/B000/XXXX", "slack", nil, time.Second, nil)
	n := sample()
	if err := r.Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	var body map[string]any
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	if len(body) != 1 || body["text"] != n.Text() {
		t.Errorf("slack body = %v, want only text = Text()", body)
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Run("non-2xx", func(t *testing.T) {
		srv, _ := receiver(t, http.StatusInternalServerError)
		r := NewWebhook("team", srv.URL+"/services/T000/B000/SECRETPART", "slack", nil, time.Second, nil)
		err := r.Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "upstream says no") {
			t.Fatalf("err = %v, want HTTP 500 with the body", err)
		}
		if strings.Contains(err.Error(), "SECRETPART") {
			t.Errorf("error leaks the URL: %v", err)
		}
	})
	t.Run("redirect-free 3xx", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) }))
		defer srv.Close()
		if err := NewWebhook("x", srv.URL, "", nil, time.Second, nil).Deliver(t.Context(), sample()); err == nil {
			t.Fatal("304 counted as delivered")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/hook?token=SECRETTOKEN"
		srv.Close()
		err := NewWebhook("x", url, "json", nil, time.Second, nil).Deliver(t.Context(), sample())
		if err == nil || strings.Contains(err.Error(), "SECRETTOKEN") {
			t.Fatalf("err = %v, want a connection error without the URL", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		start := time.Now()
		err := NewWebhook("x", srv.URL, "json", nil, 100*time.Millisecond, nil).Deliver(context.Background(), sample())
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %v, want a timeout", err, time.Since(start))
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		err := NewWebhook("x", "http://127.0.0.1:1/", "teams", nil, time.Second, nil).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), `unknown format "teams"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

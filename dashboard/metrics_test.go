package dashboard

import (
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics through the dashboard and parses it as Prometheus
// does.
func scrape(t *testing.T, s *Server, hdr ...string) map[string]*dto.MetricFamily {
	t.Helper()
	w := get(t, s.Handler(), "/metrics", hdr...)
	if w.Code != 200 {
		t.Fatalf("GET /metrics: got %d, want 200", w.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	m := NewMetrics("v1.2.3")
	s := newServer(t, newFleet(), func(o *Options) { o.Metrics = m })

	// Before anything happens every state is there at 0, and the counters
	// alerts are written against exist.
	fams := scrape(t, s)
	for _, st := range agentStates {
		if v, ok := value(t, fams, "fleetwarden_agents", map[string]string{"state": st}); !ok || v != 0 {
			t.Errorf("fresh fleetwarden_agents{state=%q}: got %v (present %v), want 0", st, v, ok)
		}
	}
	if _, ok := value(t, fams, "fleetwarden_auth_failures_total", map[string]string{"reason": "expired"}); !ok {
		t.Errorf("fresh fleetwarden_auth_failures_total{reason=expired} missing")
	}

	m.SetAgentStates(map[string]int{"working": 3, "auth_failed": 2, "bogus": 1})
	m.SetAgentStates(map[string]int{"working": 4, "idle": 1}) // auth_failed and bogus drop to 0
	m.AuthFailure("expired")
	m.AuthFailure("expired")
	m.AuthFailure("subscription")
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	m.credExpiry.now = func() time.Time { return now }
	m.SetCredentialExpiry("default", "oauth", "access", now.Add(7500*time.Second))
	m.SetCredentialExpiry("default", "oauth", "refresh", now.Add(2.5e6*time.Second))
	m.AlertFired("auth_failed")
	m.Delivery("telegram", false)
	m.Delivery("webhook", true)
	m.Delivery("webhook", true)
	m.Restart(true)
	m.Restart(false)
	m.Restart(true)
	m.ObserveScan(12 * time.Millisecond)
	m.ObserveScan(3 * time.Second)
	m.SetTransportUp("telegram", false)
	m.SetTransportUp("discord", true)
	m.SetLimitResets(map[string]LimitReset{"gone": {Reason: "usage_limit", At: now}})
	m.SetLimitResets(map[string]LimitReset{"builder": {Reason: "weekly_limit", At: now.Add(time.Hour)}}) // gone drops out

	fams = scrape(t, s)
	if _, ok := value(t, fams, "fleetwarden_limit_resets_timestamp_seconds", map[string]string{"agent": "gone", "reason": "usage_limit"}); ok {
		t.Errorf("an agent no longer limited still has a reset time")
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fleetwarden_agents", map[string]string{"state": "working"}, 4},
		{"fleetwarden_agents", map[string]string{"state": "idle"}, 1},
		{"fleetwarden_agents", map[string]string{"state": "auth_failed"}, 0},
		{"fleetwarden_agents", map[string]string{"state": "logging_in"}, 0},
		{"fleetwarden_agents", map[string]string{"state": "bogus"}, 0},
		{"fleetwarden_agents", map[string]string{"state": "limited"}, 0},
		{"fleetwarden_limit_resets_timestamp_seconds", map[string]string{"agent": "builder", "reason": "weekly_limit"}, float64(now.Add(time.Hour).Unix())},
		{"fleetwarden_auth_failures_total", map[string]string{"reason": "expired"}, 2},
		{"fleetwarden_auth_failures_total", map[string]string{"reason": "subscription"}, 1},
		{"fleetwarden_auth_failures_total", map[string]string{"reason": "revoked"}, 0},
		{"fleetwarden_credential_expiry_seconds", map[string]string{"credential": "default", "kind": "oauth", "token": "access"}, 7500},
		{"fleetwarden_credential_expiry_seconds", map[string]string{"credential": "default", "kind": "oauth", "token": "refresh"}, 2.5e6},
		{"fleetwarden_alerts_fired_total", map[string]string{"kind": "auth_failed"}, 1},
		{"fleetwarden_alert_deliveries_total", map[string]string{"route": "telegram", "result": "failed"}, 1},
		{"fleetwarden_alert_deliveries_total", map[string]string{"route": "webhook", "result": "ok"}, 2},
		{"fleetwarden_restarts_total", map[string]string{"result": "ok"}, 2},
		{"fleetwarden_restarts_total", map[string]string{"result": "failed"}, 1},
		{"fleetwarden_scan_duration_seconds", nil, 2}, // sample count
		{"fleetwarden_transport_up", map[string]string{"transport": "telegram"}, 0},
		{"fleetwarden_transport_up", map[string]string{"transport": "discord"}, 1},
		{"fleetwarden_build_info", map[string]string{"version": "v1.2.3", "goversion": runtime.Version()}, 1},
	}
	for _, tt := range tests {
		got, ok := value(t, fams, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s%v: got %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	// The seconds left count down between checks, at every scrape.
	now = now.Add(100 * time.Second)
	if got, _ := value(t, scrape(t, s), "fleetwarden_credential_expiry_seconds", map[string]string{"credential": "default", "kind": "oauth", "token": "access"}); got != 7400 {
		t.Errorf("access expiry 100 s later: got %v, want 7400", got)
	}
	if h := fams["fleetwarden_scan_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleSum() < 3.01 || h.GetSampleSum() > 3.02 {
		t.Errorf("scan duration sum: got %v, want 3.012", h.GetSampleSum())
	}
	// The Go and process collectors are registered.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	var names []string
	for n := range fams {
		if strings.HasPrefix(n, "fleetwarden_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	t.Logf("fleetwarden series: %v", names)
}

// Two Metrics in one process do not share state (no global registry).
func TestMetricsArePrivate(t *testing.T) {
	a, b := NewMetrics("a"), NewMetrics("b")
	a.Restart(true)
	sa := newServer(t, newFleet(), func(o *Options) { o.Metrics = a })
	sb := newServer(t, newFleet(), func(o *Options) { o.Metrics = b })
	if v, _ := value(t, scrape(t, sa), "fleetwarden_restarts_total", map[string]string{"result": "ok"}); v != 1 {
		t.Errorf("a restarts: got %v, want 1", v)
	}
	if v, _ := value(t, scrape(t, sb), "fleetwarden_restarts_total", map[string]string{"result": "ok"}); v != 0 {
		t.Errorf("b restarts: got %v, want 0", v)
	}
	var nilM *Metrics // a nil *Metrics records nothing and does not panic
	nilM.Restart(true)
	nilM.SetAgentStates(map[string]int{"idle": 1})
}

func TestMetricsNeedToken(t *testing.T) {
	const token = "scrape-token-0123456789"
	s := newServer(t, newFleet(), func(o *Options) { o.Metrics = NewMetrics("x"); o.Token = token })
	if w := get(t, s.Handler(), "/metrics"); w.Code != 401 {
		t.Errorf("/metrics without token: got %d, want 401", w.Code)
	}
	if fams := scrape(t, s, "Authorization", "Bearer "+token); fams["fleetwarden_build_info"] == nil {
		t.Errorf("/metrics with bearer token: build info missing")
	}
}

package dashboard

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// authReasons are the auth_failed reasons of DESIGN.md. Their counters exist
// from the start at 0 so that rate() and alerts on them work before the first
// failure.
var authReasons = []string{"expired", "time_limit", "revoked", "not_logged_in", "subscription", "forbidden", "invalid_api_key"}

// Metrics are fleetwarden's Prometheus metrics in a private registry (no
// global state: tests and several servers in one process do not collide).
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg *prometheus.Registry

	agents       *prometheus.GaugeVec
	limitResets  *prometheus.GaugeVec
	authFailures *prometheus.CounterVec
	credExpiry   *expiryCollector
	alertsFired  *prometheus.CounterVec
	deliveries   *prometheus.CounterVec
	restarts     *prometheus.CounterVec
	scan         prometheus.Histogram
	transportUp  *prometheus.GaugeVec

	mu         sync.Mutex
	seenStates map[string]bool // states ever set, so a state that disappears drops to 0
}

// NewMetrics registers every fleetwarden series plus the Go and process
// collectors.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleetwarden_agents",
			Help: "Agents by state at the last scan.",
		}, []string{"state"}),
		limitResets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleetwarden_limit_resets_timestamp_seconds",
			Help: "When a limited agent's usage limit resets (Unix time), as its screen says; present only while it is limited.",
		}, []string{"agent", "reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetwarden_auth_failures_total",
			Help: "Agents seen entering auth_failed, by reason.",
		}, []string{"reason"}),
		credExpiry: &expiryCollector{
			desc: prometheus.NewDesc("fleetwarden_credential_expiry_seconds",
				"Seconds until a credential's access or refresh token expires (negative: expired), as of the scrape.",
				[]string{"credential", "kind", "token"}, nil),
			at: map[[3]string]time.Time{}, now: time.Now,
		},
		alertsFired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetwarden_alerts_fired_total",
			Help: "Alerts fired, by kind.",
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetwarden_alert_deliveries_total",
			Help: "Alert delivery attempts, by route and result (ok or failed).",
		}, []string{"route", "result"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetwarden_restarts_total",
			Help: "Agent restarts, by result (ok or failed).",
		}, []string{"result"}),
		scan: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fleetwarden_scan_duration_seconds",
			Help: "Time one scan of every agent pane took.",
			// 5 ms … 10 s: a local scan takes milliseconds, a remote host seconds.
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		transportUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleetwarden_transport_up",
			Help: "1 when a transport (chat channel or route) is up, else 0.",
		}, []string{"transport"}),
		seenStates: map[string]bool{},
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwarden_build_info",
		Help: "Always 1; labels carry the fleetwarden and Go versions.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.reg.MustRegister(
		m.agents, m.limitResets, m.authFailures, m.credExpiry, m.alertsFired, m.deliveries,
		m.restarts, m.scan, m.transportUp, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, s := range agentStates {
		m.agents.WithLabelValues(s).Set(0)
		m.seenStates[s] = true
	}
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.restarts.WithLabelValues(r)
	}
	return m
}

// Registry is the private registry, for a caller that adds its own collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveScan records how long one scan took.
func (m *Metrics) ObserveScan(d time.Duration) {
	if m == nil {
		return
	}
	m.scan.Observe(d.Seconds())
}

// SetAgentStates sets fleetwarden_agents from counts by state. Every state of
// DESIGN.md is always present (0 when no agent is in it), and a state missing
// from counts drops to 0.
func (m *Metrics) SetAgentStates(counts map[string]int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range counts {
		m.seenStates[s] = true
	}
	for s := range m.seenStates {
		m.agents.WithLabelValues(s).Set(float64(counts[s]))
	}
}

// SetLimitResets sets fleetwarden_limit_resets_timestamp_seconds to the
// limited agents' reset times (agent → reason and time); others drop out.
func (m *Metrics) SetLimitResets(resets map[string]LimitReset) {
	if m == nil {
		return
	}
	m.limitResets.Reset()
	for agent, r := range resets {
		m.limitResets.WithLabelValues(agent, r.Reason).Set(float64(r.At.Unix()))
	}
}

// LimitReset is one limited agent's limit: its reason and reset time.
type LimitReset struct {
	Reason string
	At     time.Time
}

// AuthFailure counts one agent entering auth_failed with reason.
func (m *Metrics) AuthFailure(reason string) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "unknown"
	}
	m.authFailures.WithLabelValues(reason).Inc()
}

// SetCredentialExpiry records when the access or refresh token of a
// credential expires (token is "access" or "refresh"); scrapes report the
// seconds left then, not as of the last check.
func (m *Metrics) SetCredentialExpiry(name, kind, token string, at time.Time) {
	if m == nil {
		return
	}
	m.credExpiry.mu.Lock()
	m.credExpiry.at[[3]string{name, kind, token}] = at
	m.credExpiry.mu.Unlock()
}

// expiryCollector computes the seconds left at each scrape.
type expiryCollector struct {
	desc *prometheus.Desc
	now  func() time.Time
	mu   sync.Mutex
	at   map[[3]string]time.Time
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for l, at := range c.at {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, at.Sub(now).Seconds(), l[0], l[1], l[2])
	}
}

// AlertFired counts one alert of kind.
func (m *Metrics) AlertFired(kind string) {
	if m == nil {
		return
	}
	m.alertsFired.WithLabelValues(kind).Inc()
}

// Delivery counts one delivery attempt of an alert on route.
func (m *Metrics) Delivery(route string, ok bool) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(route, result(ok)).Inc()
}

// Restart counts one agent restart.
func (m *Metrics) Restart(ok bool) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(result(ok)).Inc()
}

// SetTransportUp records whether a transport is up.
func (m *Metrics) SetTransportUp(name string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.transportUp.WithLabelValues(name).Set(v)
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "failed"
}

// Package heartbeat pings a dead man's switch (healthchecks.io style) while
// the daemon's scan loop is alive: a switch that stops hearing from us
// alerts someone even when fleetwarden itself is dead. It also tells the
// switch at once when an alert could not be delivered on any route.
package heartbeat

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Options configure a Switch.
type Options struct {
	URL   string        // the ping URL; "" = no switch, Run and Fail do nothing
	Every time.Duration // between pings; 0 = a minute
	// Alive says whether the scan loop is alive; no ping goes out while it
	// is not, so the switch notices.
	Alive func() bool
	Log   *slog.Logger
	// Client makes the requests; nil: one with a 15 s timeout.
	Client *http.Client
}

// Switch is the dead man's switch at URL.
type Switch struct {
	o      Options
	client *http.Client
}

// New returns the switch of o.
func New(o Options) *Switch {
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Alive == nil {
		o.Alive = func() bool { return true }
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 15 * time.Second}
	}
	return &Switch{o: o, client: o.Client}
}

// Run pings every o.Every while the loop is alive, until ctx ends.
func (s *Switch) Run(ctx context.Context) error {
	if s.o.URL == "" {
		return nil
	}
	t := time.NewTicker(s.o.Every)
	defer t.Stop()
	for {
		if s.o.Alive() {
			s.ping(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Switch) ping(ctx context.Context) {
	url := s.o.URL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.o.Log.Warn("heartbeat", "err", hideURL(err, url))
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.o.Log.Warn("heartbeat", "err", hideURL(err, url))
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.o.Log.Warn("heartbeat: the dead man's switch refused the ping", "status", resp.Status)
	}
}

// Fail tells the switch that an alert could not be delivered on any route.
func (s *Switch) Fail(summary string) {
	url := s.o.URL
	if url == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/fail", strings.NewReader("undeliverable alert: "+summary))
	if err != nil {
		return
	}
	if resp, err := s.client.Do(req); err == nil {
		resp.Body.Close()
	} else {
		s.o.Log.Warn("heartbeat /fail", "err", hideURL(err, strings.TrimRight(url, "/")+"/fail"))
	}
}

// hideURL takes the heartbeat URL (its path is the switch's key) out of an
// error, keeping the host.
func hideURL(err error, raw string) string {
	return strings.ReplaceAll(err.Error(), raw, redact.URL(raw))
}

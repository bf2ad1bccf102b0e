package credentials

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// TestProbeAgainstFakeAnthropic runs the probe against the project's fake
// of the API, whose tokens live, expire and get revoked as the real ones
// do, and checks that no check ever touches the OAuth token endpoint (a
// refresh there would burn the agents' shared refresh token).
func TestProbeAgainstFakeAnthropic(t *testing.T) {
	api := anthropictest.New(t)
	dir := filepath.Join(t.TempDir(), "claude")
	if _, err := api.WriteCredentials(dir, api.Login()); err != nil {
		t.Fatal(err)
	}
	const key = "sk-ant-api03-FakeServerKeyFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
	api.AddAPIKey(key)

	now := time.Now()
	c := New(Options{
		Credentials: []config.Credential{
			{Name: "max", Kind: config.KindOAuthFile, ConfigDir: dir, Probe: "api", BaseURL: api.URL()},
			{Name: "key", Kind: config.KindAPIKey, Token: config.LiteralSecret(key), Probe: "api", BaseURL: api.URL()},
			{Name: "stale-key", Kind: config.KindAPIKey, Token: config.LiteralSecret(apiKey), Probe: "api", BaseURL: api.URL()},
		},
		Now: fixedClock(&now), ProbeEvery: time.Minute,
	})
	check := func(name string, healthy bool, reason string) {
		t.Helper()
		h := c.Check(t.Context(), name, true)
		if h.Healthy != healthy || h.Reason != reason || !h.Probed {
			t.Errorf("%s: healthy %v reason %q probed %v; want %v %q after a probe (detail %q)", name, h.Healthy, h.Reason, h.Probed, healthy, reason, h.Detail)
		}
	}
	check("max", true, "")
	check("key", true, "")
	check("stale-key", false, "invalid_api_key")

	api.RevokeAll()
	now = now.Add(time.Minute)
	check("max", false, "revoked")

	api.Script(anthropictest.Subscription())
	now = now.Add(time.Minute)
	check("key", false, "forbidden")

	if n := api.Count(anthropictest.Messages); n != 5 {
		t.Errorf("%d probes reached the API, want 5", n)
	}
	if n := api.Count(func(r anthropictest.Request) bool { return strings.Contains(r.Path, "oauth") }); n != 0 {
		t.Errorf("%d requests to OAuth endpoints; a check must never refresh:\n%s", n, api.Dump())
	}
}

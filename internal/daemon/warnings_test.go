package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/credentials"
)

// Expiry warnings go out once per threshold crossed — the tightest one
// only, when a token is found already close to its end — and a restart
// (a new warnings loaded from the same directory) repeats none of them.
func TestExpiryWarningsOnce(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ths := []time.Duration{24 * time.Hour, time.Hour}
	refreshEnd := t0.Add(20 * time.Hour)
	tokens := []credentials.Expiry{
		{Name: "primary", Token: "refresh", At: refreshEnd},
		{Name: "ci", Token: "long-lived", At: t0.Add(30 * time.Minute)}, // found late: within both
	}
	expiring := func(now time.Time) func(time.Duration) []credentials.Expiry {
		return func(within time.Duration) []credentials.Expiry {
			var out []credentials.Expiry
			for _, e := range tokens {
				if e.At.After(now) && !e.At.After(now.Add(within)) {
					out = append(out, e)
				}
			}
			return out
		}
	}
	names := func(es []credentials.Expiry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	steps := []struct {
		at      time.Duration
		restart bool
		want    []string
	}{
		{0, false, []string{"ci", "primary"}},                      // ci: the 1 h warning only; primary: 24 h
		{15 * time.Minute, false, nil},                             // nothing new
		{20 * time.Minute, true, nil},                              // a restart repeats nothing
		{19*time.Hour + 5*time.Minute, false, []string{"primary"}}, // primary within 1 h now
		{19*time.Hour + 30*time.Minute, true, nil},
	}
	w := loadWarnings(dir)
	for i, s := range steps {
		if s.restart {
			w = loadWarnings(dir)
		}
		now := t0.Add(s.at)
		got, err := w.due(now, ths, expiring(now))
		if err != nil {
			t.Fatal(err)
		}
		if g := names(got); len(g) != len(s.want) || (len(g) > 0 && !equalSets(g, s.want)) {
			t.Errorf("step %d (+%v): warned %v, want %v", i, s.at, g, s.want)
		}
	}

	// Health: told when it changes, also across a restart.
	w = loadWarnings(dir)
	for i, s := range []struct {
		healthy, restart, want bool
	}{{true, false, true}, {true, false, false}, {false, false, true}, {false, true, false}, {true, true, true}} {
		if s.restart {
			w = loadWarnings(dir)
		}
		if got, _, err := w.health("primary", s.healthy); err != nil || got != s.want {
			t.Errorf("health step %d (healthy %v): changed %v, %v; want %v", i, s.healthy, got, err, s.want)
		}
	}
}

func equalSets(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestHideURL(t *testing.T) {
	raw := "https://hc-ping.com/5f0c2a4e-1b7d-4c55-9a63-2f1e8d7c6b01"
	err := fmt.Errorf(`Get "%s": dial tcp: lookup hc-ping.com: no such host`, raw)
	got := hideURL(err, raw)
	if strings.Contains(got, "5f0c2a4e") || !strings.Contains(got, "https://hc-ping.com/…") {
		t.Errorf("hideURL = %q, want the host without the key", got)
	}
}

func TestWarningOnce(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(24 * time.Hour)
	w := loadWarnings(dir)
	if first, err := w.once("footer/default/1", at); !first || err != nil {
		t.Fatalf("first: %v %v, want true", first, err)
	}
	if again, _ := w.once("footer/default/1", at); again {
		t.Error("the same warning twice")
	}
	// Remembered across a restart of fleetwarden.
	if again, _ := loadWarnings(dir).once("footer/default/1", at); again {
		t.Error("the same warning again after a restart")
	}
	if other, _ := w.once("footer/team/1", at); !other {
		t.Error("another login's warning was taken for this one")
	}
}

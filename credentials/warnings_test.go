package credentials

import (
	"testing"
	"time"
)

// Expiry warnings go out once per threshold crossed — the tightest one
// only, when a token is found already close to its end — and a restart
// (a new warnings loaded from the same directory) repeats none of them.
func TestExpiryWarningsOnce(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ths := []time.Duration{24 * time.Hour, time.Hour}
	refreshEnd := t0.Add(20 * time.Hour)
	tokens := []Expiry{
		{Name: "primary", Token: "refresh", At: refreshEnd},
		{Name: "ci", Token: "long-lived", At: t0.Add(30 * time.Minute)}, // found late: within both
	}
	expiring := func(now time.Time) func(time.Duration) []Expiry {
		return func(within time.Duration) []Expiry {
			var out []Expiry
			for _, e := range tokens {
				if e.At.After(now) && !e.At.After(now.Add(within)) {
					out = append(out, e)
				}
			}
			return out
		}
	}
	names := func(es []Expiry) []string {
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
	w := LoadWarnings(dir, nil)
	for i, s := range steps {
		if s.restart {
			w = LoadWarnings(dir, nil)
		}
		now := t0.Add(s.at)
		got, err := w.Due(now, ths, expiring(now))
		if err != nil {
			t.Fatal(err)
		}
		if g := names(got); len(g) != len(s.want) || (len(g) > 0 && !equalSets(g, s.want)) {
			t.Errorf("step %d (+%v): warned %v, want %v", i, s.at, g, s.want)
		}
	}

	// Health: told when it changes, also across a restart.
	w = LoadWarnings(dir, nil)
	for i, s := range []struct {
		healthy, restart, want bool
	}{{true, false, true}, {true, false, false}, {false, false, true}, {false, true, false}, {true, true, true}} {
		if s.restart {
			w = LoadWarnings(dir, nil)
		}
		if got, _, err := w.Health("primary", s.healthy); err != nil || got != s.want {
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

func TestWarningOnce(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(24 * time.Hour)
	w := LoadWarnings(dir, nil)
	if first, err := w.Once("footer/default/1", at); !first || err != nil {
		t.Fatalf("first: %v %v, want true", first, err)
	}
	if again, _ := w.Once("footer/default/1", at); again {
		t.Error("the same warning twice")
	}
	// Remembered across a restart of fleetwarden.
	if again, _ := LoadWarnings(dir, nil).Once("footer/default/1", at); again {
		t.Error("the same warning again after a restart")
	}
	if other, _ := w.Once("footer/team/1", at); !other {
		t.Error("another login's warning was taken for this one")
	}
}

package credentials

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/atomicfile"
)

// Warnings remembers, on disk, which expiry warnings went out and how each
// credential was at its last check, so that neither a later check nor a
// restart of fleetwarden says the same thing twice.
type Warnings struct {
	path   string
	report func(what string, err error) // hears every save; nil: nobody

	mu      sync.Mutex
	Sent    map[string]time.Time `json:"sent"`    // warning key → the expiry it warned of
	Healthy map[string]bool      `json:"healthy"` // by credential
}

const warningsFile = "warnings.json"

// LoadWarnings reads the state kept in dir; a missing or damaged file
// starts empty (the worst case is a warning said again). report, when not
// nil, hears how every save went (the file's name and the error, nil when
// it worked).
func LoadWarnings(dir string, report func(what string, err error)) *Warnings {
	w := &Warnings{path: filepath.Join(dir, warningsFile), report: report}
	if b, err := os.ReadFile(w.path); err == nil {
		_ = json.Unmarshal(b, w)
	}
	if w.Sent == nil {
		w.Sent = map[string]time.Time{}
	}
	if w.Healthy == nil {
		w.Healthy = map[string]bool{}
	}
	return w
}

func (w *Warnings) saveLocked() error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	err = atomicfile.Write(w.path, b, 0o600)
	if w.report != nil {
		w.report(warningsFile, err)
	}
	if err != nil {
		return fmt.Errorf("saving %s: %w", warningsFile, err)
	}
	return nil
}

// Health records a credential's health and reports whether it changed
// (or was never seen: then seen is false).
func (w *Warnings) Health(name string, healthy bool) (changed, seen bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	was, seen := w.Healthy[name]
	if seen && was == healthy {
		return false, true, nil
	}
	w.Healthy[name] = healthy
	return true, seen, w.saveLocked()
}

// Due returns the warnings to send now: for each token running out within
// a threshold, one warning at the tightest threshold it is within — a
// token found an hour from its end gets the 1 h warning, not the 24 h one
// as well — unless that was sent. It marks them sent.
func (w *Warnings) Due(now time.Time, thresholds []time.Duration, expiring func(time.Duration) []Expiry) ([]Expiry, error) {
	ths := slices.Clone(thresholds)
	slices.Sort(ths) // tightest first
	type token struct {
		name, kind string
		at         int64
	}
	var out []Expiry
	seen := map[token]bool{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, at := range w.Sent {
		if at.Before(now.Add(-24 * time.Hour)) {
			delete(w.Sent, k) // long gone
		}
	}
	changed := false
	for _, th := range ths {
		for _, e := range expiring(th) {
			t := token{e.Name, e.Token, e.At.Unix()}
			if seen[t] {
				continue // within a tighter threshold already
			}
			seen[t] = true
			key := fmt.Sprintf("%s/%s/%d/%s", e.Name, e.Token, e.At.Unix(), th)
			if _, done := w.Sent[key]; done {
				continue
			}
			// This one, and the wider ones it makes moot.
			for _, wider := range ths {
				if wider >= th {
					w.Sent[fmt.Sprintf("%s/%s/%d/%s", e.Name, e.Token, e.At.Unix(), wider)] = e.At
				}
			}
			changed = true
			out = append(out, e)
		}
	}
	if changed {
		return out, w.saveLocked()
	}
	return out, nil
}

// Once reports whether the warning key is new, and marks it sent: it is
// forgotten a day after at, the moment it warns of.
func (w *Warnings) Once(key string, at time.Time) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, done := w.Sent[key]; done {
		return false, nil
	}
	w.Sent[key] = at
	return true, w.saveLocked()
}

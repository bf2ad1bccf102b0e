package alert

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"time"
)

// The alerts announced and still firing are kept on disk, so that a restart
// of fleetwarden neither announces them again as new nor forgets to say when
// they resolve (the cause may clear while fleetwarden is down).
//
// A restored alert waits until the caller says the conditions it observed
// are complete again (Synced, after the first scan), or for settleMax: only
// then can it tell "still firing" from "cleared meanwhile".

const firingFile = "firing.json"

// settleMax bounds how long restored alerts wait for Synced.
const settleMax = time.Minute

// transportSettleMax bounds how long a restored chat-transport alert waits
// for its transport to say up or down. A poller that times out takes
// minutes to call its transport down (several long polls with backoff), so
// this is longer than that; a transport that says up ends the wait at once.
const transportSettleMax = 10 * time.Minute

type firingFileV1 struct {
	Alerts []savedAlert `json:"alerts"`
}

type savedAlert struct {
	Key          string       `json:"key"`
	Kind         Kind         `json:"kind"`
	Reason       string       `json:"reason,omitempty"`
	Episode      string       `json:"episode"`
	Seq          int          `json:"seq"`
	StartsAt     time.Time    `json:"starts_at"`
	NextRepeat   time.Time    `json:"next_repeat"`
	Notified     []string     `json:"notified,omitempty"`
	Announced    []string     `json:"announced,omitempty"`
	Audible      []string     `json:"audible,omitempty"`
	Evidence     string       `json:"evidence,omitempty"`
	ReloginFixes bool         `json:"relogin_fixes,omitempty"`
	Last         Notification `json:"last"`
}

// Synced tells the manager that the conditions observed so far are the
// whole truth (the first scan after a start has been fed in): restored
// alerts whose conditions did not come back are resolved now.
func (m *Manager) Synced() {
	m.mu.Lock()
	m.synced = true
	m.mu.Unlock()
	m.poke()
}

// settlingLocked reports whether a restored alert must still wait; it
// gives the time to look again. Agent alerts wait for the first scan. A
// chat transport's waits for its transport to report (a scan says nothing
// about it): down again holds it, up ends it; transportSettleMax at most.
func (m *Manager) settlingLocked(st *alertState, holds bool, now time.Time) (bool, time.Time) {
	if st.kind == KindTransport {
		by := m.restoredAt.Add(transportSettleMax)
		if holds || st.endSeen || !now.Before(by) {
			return false, time.Time{}
		}
		return true, by
	}
	if !now.Before(m.settleBy) || m.synced {
		return false, time.Time{}
	}
	return true, m.settleBy
}

// endSeenLocked notes an explicit end of a transport condition for the
// restored alerts it concerns: they may resolve now.
func (m *Manager) endSeenLocked(kind Kind, reason string) {
	for _, st := range m.alerts {
		if st.restored && st.kind == kind && (reason == "" || reason == st.reason) {
			st.endSeen = true
		}
	}
}

func (m *Manager) loadFiring() error {
	var f firingFileV1
	if err := m.q.readState(m.log, firingFile, &f); err != nil {
		return err
	}
	now := m.now()
	m.restoredAt = now
	for _, s := range f.Alerts {
		if s.Key == "" || m.alerts[s.Key] != nil {
			continue
		}
		st := &alertState{
			key: s.Key, kind: s.Kind, reason: s.Reason, episode: s.Episode, seq: s.Seq,
			startsAt: s.StartsAt, fired: true, restored: true, nextRepeat: s.NextRepeat,
			notified: set(s.Notified), announced: set(s.Announced),
			evidence: s.Evidence, reloginFixes: s.ReloginFixes, last: s.Last,
			audible: s.Audible,
		}
		m.alerts[s.Key] = st
	}
	if len(f.Alerts) > 0 {
		m.settleBy = now.Add(max(m.o.GroupWait, settleMax))
		m.log.Info("alert: restored firing alerts; waiting for the first scan to tell which still hold", "alerts", len(f.Alerts))
	}
	b, _ := json.Marshal(f)
	m.savedFiring = b
	return nil
}

// saveFiring writes the fired alerts when they changed since the last save.
// Only Run calls it.
func (m *Manager) saveFiring() {
	m.mu.Lock()
	var f firingFileV1
	for _, st := range m.alerts {
		if !st.fired || st.oneShot {
			continue
		}
		f.Alerts = append(f.Alerts, savedAlert{
			Key: st.key, Kind: st.kind, Reason: st.reason, Episode: st.episode, Seq: st.seq,
			StartsAt: st.startsAt, NextRepeat: st.nextRepeat,
			Notified: slices.Sorted(maps.Keys(st.notified)), Announced: slices.Sorted(maps.Keys(st.announced)), Audible: st.audible,
			Evidence: st.evidence, ReloginFixes: st.reloginFixes, Last: st.last,
		})
	}
	sort.Slice(f.Alerts, func(i, j int) bool { return f.Alerts[i].Key < f.Alerts[j].Key })
	m.mu.Unlock()
	// Only Run calls this, so savedFiring needs no lock, and the disk
	// write (an fsync) holds up no Observe.
	b, _ := json.Marshal(f)
	if bytes.Equal(b, m.savedFiring) {
		return
	}
	if err := m.q.write(firingFile, f); err != nil {
		m.log.Warn("alert: cannot save the firing alerts; a restart may announce them again", "err", err)
		return
	}
	m.savedFiring = b
}

func set(xs []string) map[string]bool {
	out := make(map[string]bool, len(xs))
	for _, x := range xs {
		out[x] = true
	}
	return out
}

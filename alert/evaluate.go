package alert

import (
	"sort"
	"time"
)

// member is one agent holding an alert's condition.
type member struct {
	since, seen  time.Time
	evidence     string
	reloginFixes bool
}

// held is what the conditions say about one alert key: who holds it.
type held struct {
	kind    Kind
	reason  string
	members map[string]member // nil: nobody holds it any more
}

// round is one evaluation: its clock, its muting, what it decided.
type round struct {
	now     time.Time
	silence Muter // silences only: a notice ignores inhibitions
	mute    Muter // silences and inhibitions
	out     []Notification
	next    time.Time
}

// wake asks for another evaluation no later than at (zero: no wish).
func (r *round) wake(at time.Time) { r.next = earliest(r.next, at) }

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// evaluate brings the alerts up to date at now. It returns the
// notifications to send, when it wants to run next (zero: not before
// something happens) and the silences that just ended.
//
// The phases: expire silences, collect the conditions into alerts, merge
// them into the alert states (who is audible), then one step per alert
// by its state: a notice, a restored alert settling, a pending one, a
// firing one whose condition cleared, a firing one.
func (m *Manager) evaluate(now time.Time) (out []Notification, next time.Time, ended []Silence) {
	m.mu.Lock()
	defer m.mu.Unlock()

	r := &round{now: now}
	ended = m.expireSilencesLocked(r)
	holding, has := m.collectLocked()
	r.silence = silencer{m: m, now: now}
	r.mute = muters{r.silence, has}
	m.mergeLocked(r, holding)

	keys := make([]string, 0, len(m.alerts))
	for k := range m.alerts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		st, members := m.alerts[key], holding[key].members
		switch {
		case st.oneShot:
			m.stepNotice(r, key, st)
		case st.restored && m.stepSettling(r, st, members):
			// still waiting for the first scan to say whether it holds
		case !st.fired:
			m.stepPending(r, key, st, members)
		case len(members) == 0:
			m.stepResolved(r, key, st)
		default:
			m.stepFiring(r, st, members)
		}
	}
	return r.out, r.next, ended
}

// expireSilencesLocked drops the silences that ended by r.now and returns
// them; the next evaluation is due when the first remaining one ends.
func (m *Manager) expireSilencesLocked(r *round) (ended []Silence) {
	kept := m.silences[:0:0]
	for _, s := range m.silences {
		if !r.now.Before(s.End) {
			ended = append(ended, s)
			continue
		}
		kept = append(kept, s)
		r.wake(s.End)
	}
	m.silences = kept
	return ended
}

// collectLocked groups the conditions by alert key, and notes which kinds
// each agent has (for inhibition).
func (m *Manager) collectLocked() (map[string]held, inhibitor) {
	holding := map[string]held{}
	has := inhibitor{}
	for k, c := range m.conds {
		key := alertKey(k.kind, c.reason)
		h, ok := holding[key]
		if !ok {
			h = held{kind: k.kind, reason: c.reason, members: map[string]member{}}
			holding[key] = h
		}
		h.members[k.agent] = member{since: c.since, seen: c.seen, evidence: c.evidence, reloginFixes: c.reloginFixes}
		if has[k.agent] == nil {
			has[k.agent] = map[Kind]bool{}
		}
		has[k.agent][k.kind] = true
	}
	return holding, has
}

// mergeLocked brings the alert states in line with who holds them: an
// alert for every audible condition, its audible agents, evidence and
// relogin hint. A muted agent is taken off the alert: it is named in
// nothing, resolved included, and told again as new if it is unmuted.
func (m *Manager) mergeLocked(r *round, holding map[string]held) {
	for key, h := range holding {
		var audible []string
		for a := range h.members {
			if !r.mute.Mutes(a, h.kind) {
				audible = append(audible, a)
			}
		}
		sort.Strings(audible)
		st := m.alerts[key]
		if st == nil {
			if len(audible) == 0 {
				continue // nobody to tell
			}
			start := time.Time{}
			for _, a := range audible {
				start = earliest(start, h.members[a].since)
			}
			st = m.newAlert(key, h.kind, h.reason, r.now, start)
			m.alerts[key] = st
		}
		st.audible = audible
		for a := range h.members {
			if r.mute.Mutes(a, st.kind) {
				delete(st.notified, a)
				delete(st.announced, a)
			}
		}
		for _, a := range audible {
			if mb := h.members[a]; !mb.seen.Before(st.evidenceSeen) && mb.evidence != "" {
				st.evidence, st.evidenceSeen = mb.evidence, mb.seen
			}
			st.reloginFixes = st.reloginFixes || h.members[a].reloginFixes
		}
	}
}

// stepNotice sends a notice (info) once its group wait is over, to the
// agents no silence covers, and forgets it.
func (m *Manager) stepNotice(r *round, key string, st *alertState) {
	if r.now.Before(st.groupUntil) {
		r.wake(st.groupUntil)
		return
	}
	var agents []string
	for a := range st.members {
		if !r.silence.Mutes(a, st.kind) {
			agents = append(agents, a)
		}
	}
	sort.Strings(agents)
	if len(agents) > 0 {
		r.out = append(r.out, m.note(st, StatusFiring, agents, nil, r.now))
		m.stats.Fired++
	}
	delete(m.alerts, key)
}

// stepSettling holds an alert restored from before a restart until the
// first scan could say whether it still holds; it reports whether the
// alert is still waiting.
func (m *Manager) stepSettling(r *round, st *alertState, members map[string]member) bool {
	if wait, at := m.settlingLocked(st, len(members) > 0, r.now); wait {
		r.wake(at)
		return true
	}
	st.restored = false
	return false
}

// stepPending fires an alert whose group wait is over, or drops it when
// it cleared or was muted during the wait.
func (m *Manager) stepPending(r *round, key string, st *alertState, members map[string]member) {
	switch {
	case len(members) == 0 || len(st.audible) == 0:
		delete(m.alerts, key) // cleared or muted during the group wait: nothing to say
	case !r.now.Before(st.groupUntil):
		r.out = append(r.out, m.note(st, StatusFiring, st.audible, nil, r.now))
		m.stats.Fired++
		st.fired = true
		m.told(st, st.audible, r.now)
		if m.o.RepeatInterval > 0 {
			r.wake(st.nextRepeat)
		}
	default:
		r.wake(st.groupUntil)
	}
}

// stepResolved tells the agents named in a firing alert whose condition
// cleared that it did, and ends the alert.
func (m *Manager) stepResolved(r *round, key string, st *alertState) {
	var agents []string
	for a := range st.announced {
		// An agent that went from this into a bigger failure (stuck,
		// then its login failed) is not "making progress again".
		if !r.mute.Mutes(a, st.kind) {
			agents = append(agents, a)
		}
	}
	sort.Strings(agents)
	if len(agents) > 0 {
		r.out = append(r.out, m.note(st, StatusResolved, agents, nil, r.now))
		m.stats.Resolved++
	}
	delete(m.alerts, key)
}

// stepFiring keeps a firing alert current: newcomers are told after a
// group wait of their own, the rest is repeated every RepeatInterval.
func (m *Manager) stepFiring(r *round, st *alertState, members map[string]member) {
	for a := range st.notified {
		if _, ok := members[a]; !ok {
			delete(st.notified, a)
		}
	}
	var added []string
	for _, a := range st.audible {
		if !st.notified[a] {
			added = append(added, a)
		}
	}
	switch {
	case len(added) == 0:
		st.updateAt = time.Time{}
	case st.updateAt.IsZero():
		st.updateAt = r.now.Add(m.o.GroupWait)
	}
	switch {
	case !st.updateAt.IsZero() && !r.now.Before(st.updateAt):
		r.out = append(r.out, m.note(st, StatusFiring, st.audible, added, r.now))
		m.stats.Fired++
		m.told(st, st.audible, r.now)
	case m.o.RepeatInterval > 0 && !r.now.Before(st.nextRepeat):
		if len(st.audible) > 0 {
			r.out = append(r.out, m.note(st, StatusRepeat, st.audible, nil, r.now))
			m.stats.Repeated++
			m.told(st, st.audible, r.now)
		} else {
			st.nextRepeat = r.now.Add(m.o.RepeatInterval)
		}
	}
	r.wake(st.updateAt)
	if m.o.RepeatInterval > 0 {
		r.wake(st.nextRepeat)
	}
}

package alert

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// Silence mutes the alerts of one agent, or of everything ("all"), until End.
type Silence struct {
	ID     string    `json:"id"`
	Target string    `json:"target"` // an agent name or "all"
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// TargetAll silences every alert, fleet-level ones included.
const TargetAll = "all"

const silencesFile = "silences.json"

type silenceFile struct {
	Seq      int       `json:"seq"`
	Silences []Silence `json:"silences"`
}

// Silence mutes target (an agent name or "all") for d. An agent silenced is
// left out of every notification; what was announced about it is not taken
// back. The silence is kept on disk and lifts by itself at its end.
func (m *Manager) Silence(target string, d time.Duration, reason, by string) (Silence, error) {
	target = strings.TrimSpace(target)
	switch {
	case target == "":
		return Silence{}, errors.New(`alert: silence what? give an agent name or "all"`)
	case strings.ContainsAny(target, " \t\n"):
		return Silence{}, fmt.Errorf("alert: silence target %q has spaces; give one agent name or \"all\"", target)
	case d <= 0:
		return Silence{}, fmt.Errorf("alert: silence duration must be positive, got %v", d)
	}
	if strings.EqualFold(target, TargetAll) {
		target = TargetAll
	}
	now := m.now()
	m.mu.Lock()
	m.silSeq++
	s := Silence{ID: fmt.Sprintf("s%d", m.silSeq), Target: target, Reason: strings.TrimSpace(reason), By: by, Start: now, End: now.Add(d)}
	next := append(m.activeLocked(now), s)
	if err := m.saveSilencesLocked(next); err != nil {
		m.silSeq--
		m.mu.Unlock()
		return Silence{}, err
	}
	m.silences = next
	m.mu.Unlock()
	m.journal(audit.Record{Time: now, Kind: audit.KindSilence, Action: "added", Agents: silenceAgents(target), Actor: by,
		Reason: s.Reason, Fields: map[string]string{"id": s.ID, "until": s.End.UTC().Format(time.RFC3339)}})
	m.poke()
	return s, nil
}

// silenceAgents is the journal's Agents for a target: none for "all".
func silenceAgents(target string) []string {
	if target == TargetAll {
		return nil
	}
	return []string{target}
}

// Unsilence lifts one silence by ID. It reports whether there was one.
func (m *Manager) Unsilence(id string) bool {
	now := m.now()
	m.mu.Lock()
	var gone *Silence
	var keep []Silence
	for _, s := range m.activeLocked(now) {
		if s.ID == strings.TrimSpace(id) && gone == nil {
			gone = &s
			continue
		}
		keep = append(keep, s)
	}
	if gone == nil {
		m.mu.Unlock()
		return false
	}
	m.silences = keep
	if err := m.saveSilencesLocked(keep); err != nil {
		m.log.Warn("alert: cannot save silences; the lifted one may come back after a restart", "err", err)
	}
	m.mu.Unlock()
	m.journal(audit.Record{Time: now, Kind: audit.KindSilence, Action: "removed", Agents: silenceAgents(gone.Target),
		Fields: map[string]string{"id": gone.ID}})
	m.poke()
	return true
}

// ClearSilences lifts every silence and says how many there were.
func (m *Manager) ClearSilences() int {
	now := m.now()
	m.mu.Lock()
	gone := m.activeLocked(now)
	m.silences = nil
	if err := m.saveSilencesLocked(nil); err != nil {
		m.log.Warn("alert: cannot save silences; the lifted ones may come back after a restart", "err", err)
	}
	m.mu.Unlock()
	for _, s := range gone {
		m.journal(audit.Record{Time: now, Kind: audit.KindSilence, Action: "removed", Agents: silenceAgents(s.Target),
			Fields: map[string]string{"id": s.ID}})
	}
	m.poke()
	return len(gone)
}

// Silences lists the active silences, the one ending first first.
func (m *Manager) Silences() []Silence {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.activeLocked(m.now())
	sort.SliceStable(out, func(i, j int) bool { return out[i].End.Before(out[j].End) })
	return out
}

// activeLocked returns a copy of the silences that have not ended at now.
func (m *Manager) activeLocked(now time.Time) []Silence {
	var out []Silence
	for _, s := range m.silences {
		if now.Before(s.End) {
			out = append(out, s)
		}
	}
	return out
}

func (m *Manager) silencedLocked(agent string, now time.Time) bool {
	for _, s := range m.silences {
		if now.Before(s.End) && (s.Target == TargetAll || (agent != "" && s.Target == agent)) {
			return true
		}
	}
	return false
}

func (m *Manager) saveSilencesLocked(ss []Silence) error {
	if err := m.q.write(silencesFile, silenceFile{Seq: m.silSeq, Silences: ss}); err != nil {
		return fmt.Errorf("alert: save silences: %w", err)
	}
	return nil
}

// silencesEnded records silences that lifted by themselves.
func (m *Manager) silencesEnded(ended []Silence) {
	m.mu.Lock()
	err := m.saveSilencesLocked(m.silences)
	m.mu.Unlock()
	if err != nil {
		m.log.Warn("alert: cannot save silences", "err", err)
	}
	for _, s := range ended {
		m.journal(audit.Record{Time: s.End, Kind: audit.KindSilence, Action: "expired", Agents: silenceAgents(s.Target),
			Actor: s.By, Reason: s.Reason, Fields: map[string]string{"id": s.ID}})
	}
}

// loadSilences reads the silences kept on disk; those that ended while
// fleetwarden was down are journaled as expired.
func (m *Manager) loadSilences() error {
	var f silenceFile
	if err := m.q.readState(m.log, silencesFile, &f); err != nil {
		return err
	}
	m.silSeq = f.Seq
	now := m.now()
	var ended []Silence
	for _, s := range f.Silences {
		if now.Before(s.End) {
			m.silences = append(m.silences, s)
		} else {
			ended = append(ended, s)
		}
	}
	if len(ended) > 0 {
		m.silencesEnded(ended)
	}
	return nil
}

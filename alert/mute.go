package alert

import "time"

// Muter says whether to keep quiet about an agent's condition of kind k.
// As in Alertmanager (types.Muter, answered by its silencer and its
// inhibitor), each step of an evaluation asks this one question and does
// not care why the answer is yes. The agent "" is a condition of no agent
// (a transport); only a silence of all agents mutes it.
type Muter interface {
	Mutes(agent string, k Kind) bool
}

// silencer mutes what an active silence covers.
type silencer struct {
	m   *Manager // m.mu held
	now time.Time
}

func (s silencer) Mutes(agent string, _ Kind) bool { return s.m.silencedLocked(agent, s.now) }

// inhibitors: a condition of the key kind is muted while the same agent has
// one of these. The bigger failure explains the smaller one.
var inhibitors = map[Kind][]Kind{
	KindExited:     {KindAuthFailed},
	KindStuck:      {KindAuthFailed},
	KindAPIError:   {KindAuthFailed},
	KindNeedsInput: {KindSilent},
}

// inhibitor mutes a condition while the same agent has one of its
// inhibitors. It maps an agent to the kinds it has now.
type inhibitor map[string]map[Kind]bool

func (in inhibitor) Mutes(agent string, k Kind) bool {
	if agent == "" {
		return false
	}
	for _, by := range inhibitors[k] {
		if in[agent][by] {
			return true
		}
	}
	return false
}

// muters mutes what any of them mutes.
type muters []Muter

func (ms muters) Mutes(agent string, k Kind) bool {
	for _, m := range ms {
		if m.Mutes(agent, k) {
			return true
		}
	}
	return false
}

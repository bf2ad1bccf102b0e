package fleet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// LimitOptions is the usage-limit policy ([limits] in the config).
type LimitOptions struct {
	AutoResume bool          // type Prompt into an agent that will not go on by itself
	Prompt     string        // what to type, "continue"
	Grace      time.Duration // after the reset, before an agent counts as still waiting
	// Failover: an agent limited for FailoverAfter, whose reset is still
	// ahead, moves to the failover credential (LimitFailover) and back once
	// the reset and Grace are past and it is not in the middle of a turn
	// (LimitFailback). Which credential is the caller's business.
	Failover      bool
	FailoverAfter time.Duration
}

// LimitKind is what the limit policy has to say or do.
type LimitKind string

const (
	LimitNotice  LimitKind = "limit_notice"  // agents hit a limit: they continue by themselves
	LimitBack    LimitKind = "limit_back"    // agents went on after their limit
	LimitResume  LimitKind = "limit_resume"  // type the prompt: the agent will not go on by itself
	LimitWaiting LimitKind = "limit_waiting" // still limited after the reset and the grace
	// LimitFailover: move the agents to the failover credential (then call
	// FailoverDone). LimitFailback: their limit has reset; move them back
	// (then call FailbackDone).
	LimitFailover LimitKind = "limit_failover"
	LimitFailback LimitKind = "limit_failback"
)

// LimitAction is one thing the policy decided, for the agents named.
type LimitAction struct {
	Kind     LimitKind
	Agents   []string
	Reason   claude.Reason
	ResetsAt time.Time     // zero when the screen did not say
	Lost     time.Duration // LimitBack: the longest time limited among Agents
}

// Limits follows the agents through usage limits: one notice per limit
// window, a report when they are back, and once per reset the resume
// prompt for an agent whose CLI will not go on by itself; with failover on,
// a move to the failover credential and back. It is fed every scan; it
// holds no clock of its own. It is safe for concurrent use (the moves
// report back from their own goroutines).
type Limits struct {
	mu        sync.Mutex
	o         LimitOptions
	episodes  map[string]*limitEpisode
	announced map[string]bool // limit windows already told, by reason and reset
	// moved are the agents sent to the failover credential, by name: left
	// to the failback rule until their reset has passed.
	moved map[string]*limitEpisode
}

// Moved is an agent on the failover credential, kept across restarts of
// fleetwarden so that it still comes back after its reset.
type Moved struct {
	Reason   claude.Reason `json:"reason"`
	Since    time.Time     `json:"since"`
	ResetsAt time.Time     `json:"resets_at"`
	From     string        `json:"from"` // the credential to go back to
}

type limitEpisode struct {
	since    time.Time
	reason   claude.Reason
	resetsAt time.Time
	prompted bool   // the resume prompt went in for this reset
	told     bool   // "still waiting" was said for this reset
	failover bool   // the move to the failover credential was decided
	from     string // moved: the credential it came from
	leaving  bool   // moved: the move back was decided
}

// NewLimits returns the policy with options o.
func NewLimits(o LimitOptions) *Limits {
	return &Limits{o: o, episodes: map[string]*limitEpisode{}, announced: map[string]bool{},
		moved: map[string]*limitEpisode{}}
}

// FailoverDone reports how a LimitFailover of agent went: ok, it left
// credential from. After a move that failed (or that the caller declined:
// not a configured agent, already on that credential) the agent is
// followed as before, and not moved again in this episode.
func (l *Limits) FailoverDone(agent, from string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ep := l.moved[agent]
	switch {
	case ep == nil:
	case ok:
		ep.from = from
	default:
		delete(l.moved, agent)
		l.episodes[agent] = ep
	}
}

// FailbackDone reports how a LimitFailback of agent went; after a failure
// the move back is tried again on a later scan.
func (l *Limits) FailbackDone(agent string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ep := l.moved[agent]; ep != nil {
		if ok {
			delete(l.moved, agent)
		} else {
			ep.leaving = false
		}
	}
}

// Moved returns the agents on the failover credential.
func (l *Limits) Moved() map[string]Moved {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Moved, len(l.moved))
	for n, ep := range l.moved {
		out[n] = Moved{Reason: ep.reason, Since: ep.since, ResetsAt: ep.resetsAt, From: ep.from}
	}
	return out
}

// Restore takes back the agents on the failover credential, as Moved
// returned them before fleetwarden restarted.
func (l *Limits) Restore(m map[string]Moved) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n, mv := range m {
		l.moved[n] = &limitEpisode{since: mv.Since, reason: mv.Reason, resetsAt: mv.ResetsAt, from: mv.From, failover: true}
	}
}

func windowKey(r claude.Reason, at time.Time) string {
	if at.IsZero() {
		return string(r) + "|?"
	}
	return string(r) + "|" + at.UTC().Format(time.RFC3339)
}

// Observe takes a scan's statuses at now and returns what to say and do.
func (l *Limits) Observe(sts []Status, now time.Time) []LimitAction {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := &observed{groups: map[LimitKind]map[string]*limitGroup{}}
	seen := map[string]bool{}
	for _, s := range sts {
		seen[s.Name] = true
		switch {
		case l.moved[s.Name] != nil:
			l.failback(s, now, o)
		case s.State != claude.Limited:
			l.ended(s, now, o)
		default:
			l.limited(s, now, o)
		}
	}
	l.forget(seen, now)
	return o.actions()
}

// observed collects one scan's actions, grouped by kind and limit window.
type observed struct {
	groups map[LimitKind]map[string]*limitGroup
	resume []LimitAction
	back   []string
	lost   time.Duration
}

type limitGroup struct {
	reason claude.Reason
	at     time.Time
	agents []string
}

func (o *observed) add(k LimitKind, r claude.Reason, at time.Time, agent string) {
	m := o.groups[k]
	if m == nil {
		m = map[string]*limitGroup{}
		o.groups[k] = m
	}
	key := windowKey(r, at)
	g := m[key]
	if g == nil {
		g = &limitGroup{reason: r, at: at}
		m[key] = g
	}
	g.agents = append(g.agents, agent)
}

// actions in a fixed order: notices, moves, the resume prompts, who is
// still waiting, moves back, who is back.
func (o *observed) actions() []LimitAction {
	var out []LimitAction
	grouped := func(k LimitKind) {
		for _, key := range sortedKeys(o.groups[k]) {
			g := o.groups[k][key]
			out = append(out, LimitAction{Kind: k, Agents: g.agents, Reason: g.reason, ResetsAt: g.at})
		}
	}
	grouped(LimitNotice)
	grouped(LimitFailover)
	out = append(out, o.resume...)
	grouped(LimitWaiting)
	grouped(LimitFailback)
	if len(o.back) > 0 {
		out = append(out, LimitAction{Kind: LimitBack, Agents: o.back, Lost: o.lost})
	}
	return out
}

// ended: an agent not limited (now); one that was and is healthy is back.
func (l *Limits) ended(s Status, now time.Time, o *observed) {
	if ep := l.episodes[s.Name]; ep != nil && s.Healthy() {
		o.back = append(o.back, s.Name)
		o.lost = max(o.lost, now.Sub(ep.since))
		delete(l.episodes, s.Name)
	}
}

// limited follows an agent at its limit: told once per window, moved to
// the failover credential when it has waited long enough, prompted or
// reported once the reset and the grace are past.
func (l *Limits) limited(s Status, now time.Time, o *observed) {
	at, _ := time.Parse(time.RFC3339, s.ResetsAt)
	ep := l.episodes[s.Name]
	if ep == nil {
		ep = &limitEpisode{since: now, reason: s.Reason, resetsAt: at}
		l.episodes[s.Name] = ep
		if k := windowKey(s.Reason, at); !l.announced[k] {
			l.announced[k] = true
			o.add(LimitNotice, s.Reason, at, s.Name)
		} else if g := o.groups[LimitNotice][k]; g != nil {
			g.agents = append(g.agents, s.Name)
		}
	}
	if ep.resetsAt.IsZero() && !at.IsZero() {
		ep.resetsAt = at
	}
	// The CLI shows the reset to the minute ("resets 11:50am"), cut down:
	// the real reset may come up to a minute after that. Typing before it
	// would meet the limit again.
	if ep.resetsAt.IsZero() || now.Before(ep.resetsAt.Add(time.Minute+l.o.Grace)) {
		// A move only pays while the reset is still ahead; without a reset
		// time there is no telling when to move back.
		if l.o.Failover && !ep.failover && !ep.resetsAt.IsZero() &&
			now.Sub(ep.since) >= l.o.FailoverAfter && now.Before(ep.resetsAt) {
			ep.failover = true
			delete(l.episodes, s.Name)
			l.moved[s.Name] = ep
			o.add(LimitFailover, ep.reason, ep.resetsAt, s.Name)
		}
		return
	}
	// Past the reset and the grace, and still limited.
	switch {
	case s.NoResume && l.o.AutoResume && !ep.prompted:
		ep.prompted = true
		o.resume = append(o.resume, LimitAction{Kind: LimitResume, Agents: []string{s.Name}, Reason: ep.reason, ResetsAt: ep.resetsAt})
	case !ep.told && !(s.NoResume && ep.prompted):
		ep.told = true
		o.add(LimitWaiting, ep.reason, ep.resetsAt, s.Name)
	}
}

// failback: an agent on the failover credential goes back once its reset
// and the grace are past, between turns (a restart would cut a turn off;
// a dialog would be lost).
func (l *Limits) failback(s Status, now time.Time, o *observed) {
	ep := l.moved[s.Name]
	if ep.leaving || now.Before(ep.resetsAt.Add(time.Minute+l.o.Grace)) || s.State == claude.Working || s.State == claude.NeedsInput {
		return
	}
	ep.leaving = true
	o.add(LimitFailback, ep.reason, ep.resetsAt, s.Name)
}

// forget drops agents no longer scanned and limit windows long past, so
// that nothing grows for ever. Moved agents stay: one missing from a scan
// (its host unreachable a moment) must still come back after its reset.
func (l *Limits) forget(seen map[string]bool, now time.Time) {
	for name := range l.episodes {
		if !seen[name] {
			delete(l.episodes, name)
		}
	}
	for k := range l.announced {
		if at, err := time.Parse(time.RFC3339, k[len(k)-min(len(k), 20):]); err == nil && now.Sub(at) > 8*24*time.Hour {
			delete(l.announced, k)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ResumeLimited types text and Enter into a limited agent whose CLI says it
// will not go on by itself, after looking once more: a pane that is still
// waiting for its limit (or shows anything else now) gets nothing.
func (f *Fleet) ResumeLimited(ctx context.Context, name, text string) error {
	defer f.typingLock(name)()
	src, p, err := f.pane(ctx, name)
	if err != nil {
		return err
	}
	sc, err := f.look(ctx, src, name, p)
	if err != nil {
		return err
	}
	if sc.Result.State != claude.Limited || !sc.Result.NoResume {
		return fmt.Errorf("agent %s: %w: it is %s now", name, ErrStateChanged, sc.Result.State)
	}
	if err := src.SendText(ctx, p.ID, text); err != nil {
		return fmt.Errorf("agent %s: %w", name, err)
	}
	pause(ctx, EnterGap)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("agent %s: before Enter: %w", name, err)
	}
	if err := src.SendKeys(ctx, p.ID, "Enter"); err != nil {
		return fmt.Errorf("agent %s: %w", name, err)
	}
	return nil
}

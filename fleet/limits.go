package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
)

// LimitOptions is the usage-limit policy ([limits] in the config).
type LimitOptions struct {
	AutoResume bool          // type Prompt into an agent that will not go on by itself
	Prompt     string        // what to type, "continue"
	Grace      time.Duration // after the reset, before an agent counts as still waiting
}

// LimitKind is what the limit policy has to say or do.
type LimitKind string

const (
	LimitNotice  LimitKind = "limit_notice"  // agents hit a limit: they continue by themselves
	LimitBack    LimitKind = "limit_back"    // agents went on after their limit
	LimitResume  LimitKind = "limit_resume"  // type the prompt: the agent will not go on by itself
	LimitWaiting LimitKind = "limit_waiting" // still limited after the reset and the grace
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
// prompt for an agent whose CLI will not go on by itself. It is fed every
// scan; it holds no clock of its own.
type Limits struct {
	o         LimitOptions
	episodes  map[string]*limitEpisode
	announced map[string]bool // limit windows already told, by reason and reset
}

type limitEpisode struct {
	since    time.Time
	reason   claude.Reason
	resetsAt time.Time
	prompted bool // the resume prompt went in for this reset
	told     bool // "still waiting" was said for this reset
}

// NewLimits returns the policy with options o.
func NewLimits(o LimitOptions) *Limits {
	return &Limits{o: o, episodes: map[string]*limitEpisode{}, announced: map[string]bool{}}
}

func windowKey(r claude.Reason, at time.Time) string {
	if at.IsZero() {
		return string(r) + "|?"
	}
	return string(r) + "|" + at.UTC().Format(time.RFC3339)
}

// Observe takes a scan's statuses at now and returns what to say and do.
func (l *Limits) Observe(sts []Status, now time.Time) []LimitAction {
	type group struct {
		reason claude.Reason
		at     time.Time
		agents []string
	}
	notices := map[string]*group{}
	waiting := map[string]*group{}
	var back []string
	var lost time.Duration
	var out []LimitAction
	seen := map[string]bool{}
	for _, s := range sts {
		seen[s.Name] = true
		ep := l.episodes[s.Name]
		if s.State != claude.Limited {
			if ep != nil && s.Healthy() {
				back = append(back, s.Name)
				lost = max(lost, now.Sub(ep.since))
				delete(l.episodes, s.Name)
			}
			continue
		}
		at, _ := time.Parse(time.RFC3339, s.ResetsAt)
		if ep == nil {
			ep = &limitEpisode{since: now, reason: s.Reason, resetsAt: at}
			l.episodes[s.Name] = ep
			if k := windowKey(s.Reason, at); !l.announced[k] {
				g := notices[k]
				if g == nil {
					g = &group{reason: s.Reason, at: at}
					notices[k] = g
				}
				g.agents = append(g.agents, s.Name)
			}
		}
		if ep.resetsAt.IsZero() && !at.IsZero() {
			ep.resetsAt = at
		}
		// The CLI shows the reset to the minute ("resets 11:50am"), cut
		// down: the real reset may come up to a minute after that. Typing
		// before it would meet the limit again.
		if ep.resetsAt.IsZero() || now.Before(ep.resetsAt.Add(time.Minute+l.o.Grace)) {
			continue
		}
		// Past the reset and the grace, and still limited.
		switch {
		case s.NoResume && l.o.AutoResume && !ep.prompted:
			ep.prompted = true
			out = append(out, LimitAction{Kind: LimitResume, Agents: []string{s.Name}, Reason: ep.reason, ResetsAt: ep.resetsAt})
		case !ep.told && !(s.NoResume && ep.prompted):
			ep.told = true
			k := windowKey(ep.reason, ep.resetsAt)
			g := waiting[k]
			if g == nil {
				g = &group{reason: ep.reason, at: ep.resetsAt}
				waiting[k] = g
			}
			g.agents = append(g.agents, s.Name)
		}
	}
	for name := range l.episodes {
		if !seen[name] {
			delete(l.episodes, name)
		}
	}
	for _, k := range sortedKeys(notices) {
		g := notices[k]
		l.announced[k] = true
		out = append(out, LimitAction{Kind: LimitNotice, Agents: g.agents, Reason: g.reason, ResetsAt: g.at})
	}
	for _, k := range sortedKeys(waiting) {
		g := waiting[k]
		out = append(out, LimitAction{Kind: LimitWaiting, Agents: g.agents, Reason: g.reason, ResetsAt: g.at})
	}
	if len(back) > 0 {
		out = append(out, LimitAction{Kind: LimitBack, Agents: back, Lost: lost})
	}
	// Forget windows long past, so that the set does not grow for ever.
	for k := range l.announced {
		if at, err := time.Parse(time.RFC3339, k[len(k)-min(len(k), 20):]); err == nil && now.Sub(at) > 8*24*time.Hour {
			delete(l.announced, k)
		}
	}
	return out
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

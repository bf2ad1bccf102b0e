// Package fleet knows the agents: the registry built from the config, the
// scan that finds each agent's pane and classifies it (the Watchdog runs it
// on a ticker or on tmux control-mode output), the state each agent is in
// since when, restarts, and typing answers into a pane.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/redact"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// Panes is what the fleet needs from one tmux server (local or on a host).
type Panes interface {
	ListPanes(ctx context.Context) ([]tmux.Pane, error)
	Capture(ctx context.Context, target string, history int) (string, error)
}

// Agent is one Claude Code session the fleet watches.
type Agent struct {
	Name       string
	Target     string // tmux session[:window[.pane]]
	Host       string // "" = local tmux server
	Command    string // how a restart starts it
	Workdir    string
	Credential string
	Backup     string
	Env        map[string]string
	Discovered bool // found by discovery, not named in the config
}

// Exited reasons: why an agent is not running Claude Code.
const (
	ReasonPaneMissing claude.Reason = "pane_missing"
	ReasonPaneDead    claude.Reason = "pane_dead"
	ReasonNotRunning  claude.Reason = "not_running"
	ReasonHostDown    claude.Reason = "host_unreachable"
)

// Status is what one scan found about one agent.
type Status struct {
	Name     string        `json:"name"`
	Target   string        `json:"target"`
	State    claude.State  `json:"state"`
	Reason   claude.Reason `json:"reason"`
	Since    time.Time     `json:"since"`
	Evidence string        `json:"evidence"`
	// ResetsAt is when a limited agent's usage limit resets (RFC 3339),
	// resolved from the time on screen; "" when unknown or not limited.
	ResetsAt string `json:"resets_at"`
	// NoResume: a limited agent's CLI says it will not go on by itself
	// after the reset (relaunched during the wait, continue cancelled).
	NoResume bool `json:"-"`

	Host     string    `json:"-"`
	Session  string    `json:"-"` // tmux session holding the pane
	LoginURL string    `json:"-"`
	PaneID   string    `json:"-"`
	PID      int       `json:"-"`
	Command  string    `json:"-"` // the pane's current command
	Changed  time.Time `json:"-"` // last time the pane's text changed
	Working  bool      `json:"-"` // was working before it left a healthy state (mid-task)
	// LoginExpiresInDays: the pane's footer says the login runs out in this
	// many days ("Your login expires in 1 day"); 0 when it does not.
	LoginExpiresInDays int `json:"-"`

	unconfirmed bool   // a failure without the CLI's "Once fixed" placeholder
	resetText   string // a limited pane's reset time as on screen
}

// Healthy reports whether the agent is doing its job or ready for one.
func (s Status) Healthy() bool {
	return s.State == claude.Working || s.State == claude.Idle
}

// Options configure a Fleet.
type Options struct {
	Agents      []Agent
	Discover    bool             // also watch every pane whose command is Claude Code
	Sources     map[string]Panes // by host name; "" is the local server
	Now         func() time.Time // injected clock; nil = time.Now
	Concurrency int              // captures in flight at once; default 8
	History     int              // scrollback lines captured beyond the screen; default 0
	// Recapture, when set, lets ScanDirty skip capturing a pane that is not
	// dirty, has not changed identity and was captured less than Recapture
	// ago (tmux activity events tell us when a pane writes).
	Recapture time.Duration
	// HostWait bounds how long a scan waits for one tmux server's pane list
	// (default 2s). A server that does not answer in time, or whose last
	// list failed, is not waited for again until a list of it comes back:
	// its agents keep their last state (or show the last error) and the
	// others are scanned without it, so one hung host does not hold up
	// detection on the rest.
	HostWait time.Duration
	Log      *slog.Logger
}

// hostListTimeout bounds one pane list, which may outlive the scan that
// started it (a later scan takes its answer).
const hostListTimeout = 30 * time.Second

// paneList is one pane list of a tmux server, in flight or done.
type paneList struct {
	done  chan struct{}
	panes []tmux.Pane
	err   error
}

// hostLists is what the fleet knows of one server's pane lists.
type hostLists struct {
	cur     *paneList // in flight, or done and not yet taken; nil: start one
	lastErr error     // of the last list that came back
	slow    bool      // the last list was late or failed: do not wait for this server
}

// Fleet holds the registry and the last known state of every agent.
type Fleet struct {
	opt Options
	log *slog.Logger

	cacheMu sync.Mutex
	cache   map[string]captured // by agent

	resMu   sync.Mutex
	resumed map[string]resumedError // by agent

	rsMu       sync.Mutex
	restarting map[string]*restarting // by agent

	typing sync.Map // agent → *sync.Mutex: one answer or line at a time per pane

	listMu sync.Mutex
	lists  map[string]*hostLists // by host

	mu      sync.Mutex
	tmuxErr map[string]error // by host, as of the last scan; tmux.ErrNoServer when none runs
	agents  []Agent          // configured plus discovered, as of the last scan
	last    map[string]Status
	hash    map[string]uint64
	order   []string
}

// New returns a fleet; it scans nothing until Scan is called.
func New(o Options) *Fleet {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HostWait <= 0 {
		o.HostWait = 2 * time.Second
	}
	return &Fleet{opt: o, log: o.Log, lists: map[string]*hostLists{}, last: map[string]Status{}, hash: map[string]uint64{}, cache: map[string]captured{}, resumed: map[string]resumedError{},
		restarting: map[string]*restarting{}}
}

// TmuxErrors returns, by host ("" is this one), why the last scan could
// not list that host's panes: tmux.ErrNoServer when no server runs there.
func (f *Fleet) TmuxErrors() map[string]error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.tmuxErr)
}

// Agents returns the configured agents plus those discovered by the last scan.
func (f *Fleet) Agents() []Agent {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.agents == nil {
		return slices.Clone(f.opt.Agents)
	}
	return slices.Clone(f.agents)
}

// Agent returns the agent with this name, configured or discovered.
func (f *Fleet) Agent(name string) (Agent, bool) {
	for _, a := range f.Agents() {
		if a.Name == name {
			return a, true
		}
	}
	return Agent{}, false
}

// Snapshot returns the state of every agent as of the last scan, in a stable order.
func (f *Fleet) Snapshot() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, 0, len(f.order))
	for _, n := range f.order {
		out = append(out, f.last[n])
	}
	return out
}

// Scan lists the panes of every tmux server once, captures each agent's pane
// and classifies it. It returns the new states; transitions are the
// differences to the previous Snapshot.
func (f *Fleet) Scan(ctx context.Context) ([]Status, error) { return f.ScanDirty(ctx, nil) }

// ScanDirty is Scan when tmux reports activity: with Options.Recapture set,
// only panes in dirty (by PaneKey) and panes that changed identity are
// captured, and only the hosts of those panes are listed; the others keep
// their last verdict. An empty, non-nil dirty is the periodic safety scan:
// it captures the panes not captured for Recapture, a sixth of the fleet at
// most.
func (f *Fleet) ScanDirty(ctx context.Context, dirty map[string]bool) ([]Status, error) {
	return f.scan(ctx, dirty, nil)
}

// ScanSafety is the periodic safety scan (ScanDirty with an empty dirty
// set) giving way to events: once yield says a pane wrote, it stops
// waiting for a slow host and, after its first round of looks
// (Concurrency at once), starts no more (those panes keep their last
// verdict until the next safety scan), so the event scan waiting behind
// it starts within about one capture.
func (f *Fleet) ScanSafety(ctx context.Context, yield func() bool) ([]Status, error) {
	return f.scan(ctx, map[string]bool{}, yield)
}

// PaneKey names a pane across hosts in a dirty set: pane ids repeat from
// one tmux server to the next.
func PaneKey(host, paneID string) string {
	if host == "" {
		return paneID
	}
	return host + "\x00" + paneID
}

// dirtyHosts are the hosts of the panes in dirty; nil (every host) when
// dirty names none.
func dirtyHosts(dirty map[string]bool) map[string]bool {
	if len(dirty) == 0 {
		return nil
	}
	hosts := map[string]bool{}
	for k := range dirty {
		host, _, remote := strings.Cut(k, "\x00")
		if !remote {
			host = ""
		}
		hosts[host] = true
	}
	return hosts
}

func (f *Fleet) scan(ctx context.Context, dirty map[string]bool, yield func() bool) ([]Status, error) {
	now := f.opt.Now()
	l := f.list(ctx, dirtyHosts(dirty), yield)
	agents := slices.Clone(f.opt.Agents)
	if f.opt.Discover {
		agents = append(agents, discover(l.panes[""], agents)...)
	}
	results, texts, carried := f.capture(ctx, agents, l, dirty, now, yield)
	for i := range results {
		if !carried[i] {
			results[i] = f.resumedHistory(results[i], now)
		}
	}
	return f.merge(results, texts, carried, l.index, agents, now), nil
}

// listing is what the tmux servers said in one scan, by host ("" is the
// local server).
type listing struct {
	panes    map[string][]tmux.Pane
	index    map[string]tmux.PaneIndex
	hostErr  map[string]error // the host could not be listed
	noServer map[string]bool  // the host runs no tmux server
	pending  map[string]bool  // the host was not listed or did not answer in time: its agents keep their state
}

// list lists the panes of every tmux server the agents are on (only those
// in only, when set), and keeps what went wrong per host for TmuxErrors.
func (f *Fleet) list(ctx context.Context, only map[string]bool, yield func() bool) listing {
	hosts := map[string]bool{"": true}
	for _, a := range f.opt.Agents {
		hosts[a.Host] = true
	}
	l := listing{panes: map[string][]tmux.Pane{}, hostErr: map[string]error{}, noServer: map[string]bool{}, pending: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for h := range hosts {
		src, ok := f.opt.Sources[h]
		if !ok {
			if h != "" {
				l.hostErr[h] = fmt.Errorf("no tmux source for host %q", h)
			}
			continue
		}
		if only != nil && !only[h] {
			l.pending[h] = true // no pane of it wrote: nothing to look at
			continue
		}
		// Every server at once: one slow host costs the scan HostWait at
		// most, once, not its own timeout.
		wg.Go(func() {
			ps, err, late := f.listPanes(ctx, h, src, yield)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case late && err == nil:
				l.pending[h] = true
			case err != nil && !errors.Is(err, tmux.ErrNoServer):
				l.hostErr[h] = err
			default:
				if err != nil {
					l.noServer[h] = true
				}
				l.panes[h] = ps
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	old := f.tmuxErr
	f.tmuxErr = map[string]error{}
	for h := range l.pending {
		if err, ok := old[h]; ok {
			f.tmuxErr[h] = err // not heard from: as it was
		}
	}
	for h, err := range l.hostErr {
		f.tmuxErr[h] = err
	}
	for h := range l.noServer {
		f.tmuxErr[h] = tmux.ErrNoServer
	}
	f.mu.Unlock()

	l.index = make(map[string]tmux.PaneIndex, len(l.panes))
	for h, ps := range l.panes {
		l.index[h] = tmux.IndexPanes(ps)
	}
	return l
}

// capture judges every agent: from its listing alone when its host or
// pane is gone, from the last capture when reuse allows, else from a new
// capture (Concurrency at a time), or as the last scan saw it when its
// host is late. It returns the verdicts, the texts they were read from,
// and which verdicts are the last scan's (carried).
func (f *Fleet) capture(ctx context.Context, agents []Agent, l listing, dirty map[string]bool, now time.Time, yield func() bool) ([]Status, []string, []bool) {
	// Panes due a safety look are spread over scans: at most a sixth of the
	// fleet per scan, so one big batch never delays an event scan.
	due := max(8, len(agents)/6)
	results := make([]Status, len(agents))
	carried := make([]bool, len(agents))
	var texts = make([]string, len(agents))
	sem := make(chan struct{}, f.opt.Concurrency)
	var wg sync.WaitGroup
	var looks atomic.Int32 // safety looks begun
	f.mu.Lock()
	prev := f.last
	f.mu.Unlock()
	for i, a := range agents {
		if l.pending[a.Host] {
			if p, ok := prev[a.Name]; ok {
				results[i], carried[i] = p, true
				continue
			}
			results[i] = Status{Name: a.Name, Target: a.Target, Host: a.Host, State: claude.Unknown, Reason: ReasonHostDown,
				Evidence: fmt.Sprintf("tmux on %s has not answered within %s", a.Host, f.opt.HostWait)}
			continue
		}
		st, p, live := locate(a, l)
		results[i] = st
		if !live {
			continue
		}
		c, ok, safety := f.reuse(a, p, dirty, now, &due)
		if ok {
			texts[i] = c.text
			results[i] = judgeCached(st, c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// The first round of looks (Concurrency of them) is always
			// taken, so a fleet that never stops writing still gets its
			// safety looks, a round per scan.
			if safety && yield != nil && looks.Add(1) > int32(f.opt.Concurrency) && yield() {
				// A pane wrote: this look can wait for the next safety scan.
				texts[i] = c.text
				results[i] = judgeCached(st, c)
				return
			}
			text, err := f.opt.Sources[a.Host].Capture(ctx, p.ID, f.opt.History)
			if err != nil {
				results[i].State, results[i].Reason = claude.Unknown, ""
				results[i].Evidence = claude.Redact(err.Error())
				return
			}
			texts[i] = text
			results[i] = judge(results[i], text)
			results[i].resolveReset(now)
			f.remember(a.Name, p, text, results[i], now)
		}()
	}
	wg.Wait()
	return results, texts, carried
}

// locate finds an agent's pane in the listing. live is false when there is
// nothing to capture (host down, pane missing or dead); st then says why.
func locate(a Agent, l listing) (st Status, p tmux.Pane, live bool) {
	st = Status{Name: a.Name, Target: a.Target, Host: a.Host}
	if err := l.hostErr[a.Host]; err != nil {
		st.State, st.Reason = claude.Unknown, ReasonHostDown
		st.Evidence = claude.Redact(err.Error())
		return st, p, false
	}
	p, ok := l.index[a.Host].Find(a.Target)
	if !ok {
		st.State, st.Reason = claude.Exited, ReasonPaneMissing
		st.Evidence = fmt.Sprintf("no tmux pane %s", a.Target)
		if l.noServer[a.Host] {
			st.Evidence += " (no tmux server is running)"
		}
		return st, p, false
	}
	st.PaneID, st.PID, st.Command, st.Session = p.ID, p.PID, p.Command, p.Session
	if p.Dead {
		st.State, st.Reason = claude.Exited, ReasonPaneDead
		st.Evidence = fmt.Sprintf("pane %s is dead (exit status %d)", p.ID, p.DeadStatus)
		return st, p, false
	}
	return st, p, true
}

// merge sets each verdict's Since, Changed and Working against the last
// scan and makes the results the fleet's snapshot.
func (f *Fleet) merge(results []Status, texts []string, carried []bool, index map[string]tmux.PaneIndex, agents []Agent, now time.Time) []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	order := make([]string, 0, len(results))
	last := make(map[string]Status, len(results))
	for i, st := range results {
		if carried[i] {
			// Nothing new was seen: as it was, progress hash and all.
			last[st.Name] = st
			order = append(order, st.Name)
			continue
		}
		prev, seen := f.last[st.Name]
		// Changed means progress: the spinner and its clock animate on a stalled turn.
		h := hashText(claude.Progress(texts[i]))
		switch {
		case !seen:
			st.Since = now
			if p, ok := index[st.Host].Find(st.Target); ok && !p.Activity.IsZero() && p.Activity.Before(now) {
				// The pane's last activity is the best guess of when it entered this state.
				st.Since = p.Activity
			}
			st.Changed = st.Since
		case prev.State != st.State || prev.Reason != st.Reason:
			st.Since = now
			st.Changed = now
			st.Working = prev.State == claude.Working || (prev.Working && !prev.Healthy())
		default:
			st.Since = prev.Since
			st.Working = prev.Working
			st.Changed = prev.Changed
			if f.hash[st.Name] != h {
				st.Changed = now
			}
		}
		f.hash[st.Name] = h
		last[st.Name] = st
		order = append(order, st.Name)
		results[i] = st
	}
	f.last, f.order, f.agents = last, order, agents
	return results
}

// listPanes lists host's panes, waiting HostWait at most, and not at all
// for a host that was late or failed last time until it answers again.
// late says no answer came in time: err is then the host's last error (nil
// when its last list worked), and the list goes on for a later scan.
// A yield that says a pane wrote ends the wait early, without taking the
// host for slow.
func (f *Fleet) listPanes(ctx context.Context, host string, src Panes, yield func() bool) (panes []tmux.Pane, err error, late bool) {
	f.listMu.Lock()
	hl := f.lists[host]
	if hl == nil {
		hl = &hostLists{}
		f.lists[host] = hl
	}
	l := hl.cur
	if l == nil {
		l = &paneList{done: make(chan struct{})}
		hl.cur = l
		// Not the scan's context: the list may be taken by a later scan.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hostListTimeout)
		go func() {
			defer cancel()
			l.panes, l.err = src.ListPanes(lctx)
			close(l.done)
		}()
	}
	slow := hl.slow
	f.listMu.Unlock()

	yielded := false
	if !slow {
		t := time.NewTimer(f.opt.HostWait)
		defer t.Stop()
		var poll <-chan time.Time
		if yield != nil {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			poll = tick.C
		}
	wait:
		for {
			select {
			case <-l.done:
				break wait
			case <-t.C:
				break wait
			case <-ctx.Done():
				break wait
			case <-poll:
				if yielded = yield(); yielded {
					break wait
				}
			}
		}
	}
	f.listMu.Lock()
	defer f.listMu.Unlock()
	select {
	case <-l.done:
		if hl.cur == l {
			hl.cur = nil
		}
		hl.lastErr = l.err
		hl.slow = l.err != nil && !errors.Is(l.err, tmux.ErrNoServer)
		return l.panes, l.err, false
	default:
		if yielded {
			return nil, hl.lastErr, true // not its fault: wait for it next time
		}
		if !slow {
			f.log.Warn("tmux server did not answer in time; not waiting for it until it does", "host", host, "wait", f.opt.HostWait)
		}
		hl.slow = true
		return nil, hl.lastErr, true
	}
}

// resolveReset fills ResetsAt of a limited agent from its screen, read at now.
func (st *Status) resolveReset(now time.Time) {
	if st.State != claude.Limited {
		return
	}
	r := claude.Result{State: claude.Limited, ResetText: st.resetText}
	r.Resolve(now, nil)
	st.ResetsAt = r.ResetsAt
}

// judge decides the state of a live pane from its command and text.
func judge(st Status, text string) Status {
	if isShell(st.Command) {
		st.State, st.Reason = claude.Exited, ReasonNotRunning
		st.Evidence = lastLine(text)
		if st.Evidence == "" {
			st.Evidence = fmt.Sprintf("%s is running, not Claude Code", st.Command)
		}
		return st
	}
	r := claude.Classify(text)
	st.State, st.Reason, st.Evidence, st.LoginURL = r.State, r.Reason, r.Evidence, r.LoginURL
	st.unconfirmed = r.Unconfirmed
	st.LoginExpiresInDays = r.LoginExpiresInDays
	st.resetText = r.ResetText
	st.NoResume = r.NoResume
	return st
}

// resumedError marks an agent a restart started on a resumed conversation
// (`claude --resume`, `--continue`): the classic renderer draws the error
// that conversation stopped on again, right above the empty input box,
// where it looks like the last turn. A CLI that has just started has run no
// turn: the first error it shows is that history (evidence remembers it)
// until the agent runs a new turn. Only an error seen within resumeGrace of
// the start is history: the CLI draws it at once, and a later one, with no
// turn seen in between, is a new failure that came quickly.
type resumedError struct {
	paneID, evidence string
	at               time.Time // when the new process was started
}

const resumeGrace = time.Minute

func (f *Fleet) markResumed(agent, paneID string) {
	f.resMu.Lock()
	defer f.resMu.Unlock()
	f.resumed[agent] = resumedError{paneID: paneID, at: f.opt.Now()}
}

// resumedHistory turns a resumed agent's old error back into what it is
// (idle, ready for work) and forgets the mark once a new turn shows. seen
// is when the screen was looked at: one captured before the restart says
// nothing about the resumed process.
func (f *Fleet) resumedHistory(st Status, seen time.Time) Status {
	f.resMu.Lock()
	defer f.resMu.Unlock()
	m, ok := f.resumed[st.Name]
	if !ok || seen.Before(m.at) {
		return st
	}
	failed := st.State == claude.AuthFailed || st.State == claude.APIError
	switch {
	case st.PaneID != m.paneID || st.State == claude.Working || failed && !st.unconfirmed:
		delete(f.resumed, st.Name)
	case m.evidence == "" && seen.Sub(m.at) > resumeGrace:
		delete(f.resumed, st.Name) // it showed no old error: what comes now is new
	case failed && (m.evidence == "" || st.Evidence == m.evidence):
		m.evidence = st.Evidence
		f.resumed[st.Name] = m
		st.State, st.Reason, st.unconfirmed = claude.Idle, "", false
		st.Evidence = "resumed; earlier: " + m.evidence
	}
	return st
}

var shells = map[string]bool{"bash": true, "sh": true, "zsh": true, "fish": true, "dash": true, "ksh": true, "tcsh": true, "csh": true, "login": true}

func isShell(cmd string) bool {
	return shells[strings.TrimPrefix(path.Base(cmd), "-")]
}

// peekMargin is how many lines above a peek are read to find tokens wrapped
// into it: a 108-character token at 20 columns.
const peekMargin = 6

func lastLine(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n "), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return redact.InContext(text, l)
		}
	}
	return ""
}

func hashText(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// discover returns an agent for every local pane running Claude Code that no
// configured agent already watches. Names are the window's name when no
// other such pane has it ("builder", not "agents:0.0"), else the session
// name when it holds one such pane, else the pane's target. A window tmux
// named after its program ("claude", "node") names nothing.
func discover(panes []tmux.Pane, configured []Agent) []Agent {
	taken := map[string]bool{}
	for _, a := range configured {
		if a.Host != "" {
			continue
		}
		if p, ok := tmux.FindPane(panes, a.Target); ok {
			taken[p.ID] = true
		}
	}
	var found []tmux.Pane
	perSession := map[string]int{}
	perWindow := map[string]int{}
	for _, p := range panes {
		if taken[p.ID] || !claude.IsClaudeCommand(p.Command) {
			continue
		}
		found = append(found, p)
		perSession[p.Session]++
		perWindow[p.WindowName]++
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Target() < found[j].Target() })
	names := map[string]bool{}
	for _, a := range configured {
		names[a.Name] = true
	}
	var out []Agent
	for _, p := range found {
		name := p.Target()
		switch w := p.WindowName; {
		case perWindow[w] == 1 && !names[w] && windowNames(w, p.Command):
			name = w
		case perSession[p.Session] == 1 && !names[p.Session]:
			name = p.Session
		}
		names[name] = true
		out = append(out, Agent{Name: name, Target: p.Target(), Discovered: true})
	}
	return out
}

// windowNames reports whether a window's name can name an agent: one word
// a person chose, not the program tmux renamed the window after.
func windowNames(w, command string) bool {
	if w == "" || strings.ContainsAny(w, " \t/") || strings.HasPrefix(w, "-") || w == "all" {
		return false
	}
	if w == command || strings.EqualFold(w, "claude") || w == "node" || isShell(w) ||
		(w[0] >= '0' && w[0] <= '9' && claude.IsClaudeCommand(w)) {
		return false
	}
	for _, r := range w {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Transition is one agent changing state between two scans.
type Transition struct {
	Agent string
	From  Status
	To    Status
}

// Diff returns the transitions from prev to next (agents new in next count as
// a transition from unknown only when they are not healthy).
func Diff(prev, next []Status) []Transition {
	old := make(map[string]Status, len(prev))
	for _, s := range prev {
		old[s.Name] = s
	}
	var out []Transition
	for _, s := range next {
		p, ok := old[s.Name]
		if !ok {
			if s.Healthy() {
				continue
			}
			p = Status{Name: s.Name, Target: s.Target, State: claude.Unknown}
		} else if p.State == s.State && p.Reason == s.Reason {
			continue
		}
		out = append(out, Transition{Agent: s.Name, From: p, To: s})
	}
	return out
}

// Peek returns the last lines of an agent's pane, secrets redacted.
func (f *Fleet) Peek(ctx context.Context, name string, lines int) (string, error) {
	a, ok := f.Agent(name)
	if !ok {
		return "", fmt.Errorf("no agent named %q", name)
	}
	src, ok := f.opt.Sources[a.Host]
	if !ok {
		return "", fmt.Errorf("agent %s: no tmux source for host %q", name, a.Host)
	}
	panes, err := src.ListPanes(ctx)
	if err != nil {
		return "", fmt.Errorf("agent %s: %w", name, err)
	}
	p, ok := tmux.FindPane(panes, a.Target)
	if !ok {
		return "", fmt.Errorf("agent %s: no tmux pane %s", name, a.Target)
	}
	// Some lines more than shown, to see whole any token wrapped over the cut.
	text, err := src.Capture(ctx, p.ID, lines+peekMargin)
	if err != nil {
		return "", fmt.Errorf("agent %s: %w", name, err)
	}
	ls := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	// Redacted against the whole capture: a token wrapped over the cut
	// keeps no tail below it.
	return redact.InContext(text, strings.Join(ls, "\n")), nil
}

// captured is the last capture of an agent's pane and its verdict.
type captured struct {
	paneID string
	pid    int
	cmd    string
	text   string
	st     Status
	at     time.Time
}

// reuse returns the agent's last capture when it still stands (ok). When
// the pane is due a safety look instead, safety is set and c is the last
// capture, which the look may fall back on.
func (f *Fleet) reuse(a Agent, p tmux.Pane, dirty map[string]bool, now time.Time, due *int) (c captured, ok, safety bool) {
	if f.opt.Recapture <= 0 || dirty == nil || dirty[PaneKey(a.Host, p.ID)] {
		return captured{}, false, false
	}
	f.cacheMu.Lock()
	c, ok = f.cache[a.Name]
	f.cacheMu.Unlock()
	if !ok || c.paneID != p.ID || c.pid != p.PID || c.cmd != p.Command {
		return captured{}, false, false
	}
	// Safety looks belong to the periodic scan (an empty dirty set): an
	// event scan captures what wrote and nothing else, to answer at once.
	if len(dirty) == 0 && c.at.Before(lookDue(now, a.Name, f.opt.Recapture)) && *due > 0 {
		*due--
		return c, false, true
	}
	return c, true, false
}

// lookDue is when the agent's latest safety look fell due: once every
// period, at a phase of its own (from its name), so the fleet's looks are
// spread over the period instead of coming due together, from the start.
func lookDue(now time.Time, agent string, period time.Duration) time.Time {
	since := (now.UnixNano() - int64(hashText(agent)%uint64(period))) % int64(period)
	if since < 0 {
		since += int64(period)
	}
	return now.Add(-time.Duration(since))
}

func (f *Fleet) remember(agent string, p tmux.Pane, text string, st Status, now time.Time) {
	if f.opt.Recapture <= 0 {
		return
	}
	f.cacheMu.Lock()
	f.cache[agent] = captured{paneID: p.ID, pid: p.PID, cmd: p.Command, text: text, st: st, at: now}
	f.cacheMu.Unlock()
}

func judgeCached(st Status, c captured) Status {
	st.State, st.Reason, st.Evidence, st.LoginURL = c.st.State, c.st.Reason, c.st.Evidence, c.st.LoginURL
	st.unconfirmed = c.st.unconfirmed
	return st
}

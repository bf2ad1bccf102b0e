package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
)

// Failover modes (claude.failover).
const (
	ModeAuto = "auto" // switch at once
	ModeAsk  = "ask"  // ask an admin first
	ModeOff  = "off"  // never
)

// Decision actions.
const (
	ActionSwitch = "switch" // restart the agent on To, then call Switched
	ActionAsk    = "ask"    // ask an admin whether to switch to To
	ActionNone   = "none"   // do nothing automatically; Why says why
)

// Assignment is the credential an agent runs on.
type Assignment struct {
	Agent      string
	Credential string // in use
	Primary    string // agent.credential ("default" when unset)
	Backup     string // agent.backup, "" = none
	OnBackup   bool
}

// Decision is what to do about an agent whose credential failed.
type Decision struct {
	Action   string // ActionSwitch, ActionAsk or ActionNone
	From, To string
	Why      string // plain words for the alert or the question
}

// Failover tracks which credential each agent runs on and decides when to
// move an agent to its backup. It only decides and records: the caller
// restarts agents and sends alerts. It is safe for concurrent use.
//
// The rule: an agent on its primary credential moves to its backup when
// the primary failed in a way a quick re-login does not fix and the backup
// is healthy. That is
//
//   - the pane's reason is subscription, forbidden or invalid_api_key; or
//   - the pane's reason is expired, time_limit, revoked or not_logged_in
//     (or there is no pane reason, the check alone failed) and the
//     primary's check confirms it is unhealthy: the login is dead and needs
//     a human, so the backup keeps the agent working until then.
//
// A reason /login fixes while the check still finds the login alive is
// left to /login. Moves go only from primary to backup, never back: an
// agent that is not on its primary (after a switch, or after /auth use) is
// never switched automatically, so there is no loop. A human moves it with
// Use.
type Failover struct {
	mu     sync.Mutex
	mode   string
	file   string
	known  map[string]bool // credential names
	order  []string        // agents in config order
	agents map[string]*assignment
}

type assignment struct {
	primary, backup string
	current         string
}

// stateFile is what Failover keeps on disk: the agents that are not on
// their primary credential.
type stateFile struct {
	Version int               `json:"version"`
	Agents  map[string]string `json:"agents"` // agent → credential in use
}

// NewFailover builds the tracker. credentials are the names that exist
// (Checker.Names); mode is claude.failover ("" = "ask"); stateFile keeps
// the agents that are not on their primary across restarts of fleetwarden
// ("" = memory only). Saved entries for agents or credentials no longer
// configured, or naming the agent's primary, are dropped.
func NewFailover(agents []config.Agent, credentials []string, mode, stateFile string) (*Failover, error) {
	switch mode {
	case "":
		mode = ModeAsk
	case ModeAuto, ModeAsk, ModeOff:
	default:
		return nil, fmt.Errorf("failover mode %q: use %s, %s or %s", mode, ModeAuto, ModeAsk, ModeOff)
	}
	f := &Failover{mode: mode, file: stateFile, known: map[string]bool{}, agents: map[string]*assignment{}}
	for _, n := range credentials {
		f.known[n] = true
	}
	for _, a := range agents {
		if _, dup := f.agents[a.Name]; dup {
			return nil, fmt.Errorf("failover: agent %q appears twice", a.Name)
		}
		primary := a.Credential
		if primary == "" {
			primary = DefaultName
		}
		if a.Credential != "" && !f.known[a.Credential] {
			return nil, fmt.Errorf("failover: agent %q: credential %q is not one of %s", a.Name, a.Credential, f.knownList())
		}
		if a.Backup != "" && !f.known[a.Backup] {
			return nil, fmt.Errorf("failover: agent %q: backup %q is not one of %s", a.Name, a.Backup, f.knownList())
		}
		f.order = append(f.order, a.Name)
		f.agents[a.Name] = &assignment{primary: primary, backup: a.Backup, current: primary}
	}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Failover) knownList() string {
	names := make([]string, 0, len(f.known))
	for n := range f.known {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "(none configured)"
	}
	return strings.Join(names, ", ")
}

// Mode returns the failover mode in force.
func (f *Failover) Mode() string { return f.mode }

// Current returns the credential an agent runs on; "" for an unknown agent.
func (f *Failover) Current(agent string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.agents[agent]; ok {
		return a.current
	}
	return ""
}

// Decide says what to do for an agent whose credential failed. reason is
// the pane's auth_failed reason, or "" when only the credential check
// failed; health holds the latest checks by credential name (Checker.Last
// or CheckAll). See Failover for the rule.
func (f *Failover) Decide(agent, reason string, health map[string]Health) Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[agent]
	if !ok {
		return Decision{Action: ActionNone, Why: fmt.Sprintf("unknown agent %q", agent)}
	}
	d := Decision{Action: ActionNone, From: a.current, To: a.backup}
	if a.current != a.primary {
		d.To = ""
		if a.current == a.backup {
			d.Why = fmt.Sprintf("%s already runs on its backup %s; no further automatic switch — /auth use %s <credential> moves it", agent, a.current, agent)
		} else {
			d.Why = fmt.Sprintf("%s runs on %s, set by /auth use; no automatic switch — /auth use %s <credential> moves it", agent, a.current, agent)
		}
		return d
	}
	if a.backup == "" {
		d.Why = fmt.Sprintf("%s has no backup credential (agent.backup)", agent)
		return d
	}
	cur, curKnown := health[a.current]
	r := claude.Reason(reason)
	var failed string // what went wrong with the current credential, in words
	switch {
	case r == claude.ReasonSubscription || r == claude.ReasonForbidden || r == claude.ReasonInvalidAPIKey || r == claude.ReasonAccountDisabled:
		failed = r.Describe() + " — re-login does not fix it"
	case r == "" || r.ReloginFixes():
		if !curKnown || cur.Checked.IsZero() {
			d.Why = fmt.Sprintf("%s's credential %s has not been checked; not switching", agent, a.current)
			if r != "" {
				d.Why = fmt.Sprintf("%s: %s; /login fixes it and %s's check has not confirmed a dead login", agent, r.Describe(), a.current)
			}
			return d
		}
		if cur.Healthy {
			d.Why = fmt.Sprintf("%s's credential %s checks healthy; not switching", agent, a.current)
			if r != "" {
				d.Why = fmt.Sprintf("%s: %s, but %s still checks healthy (%s); /login fixes it", agent, r.Describe(), a.current, cur.Detail)
			}
			return d
		}
		failed = "its check fails: " + cur.Detail
		if r != "" {
			failed = r.Describe() + " and " + failed
		}
	default:
		d.Why = fmt.Sprintf("%s: %s is not a credential failure; not switching", agent, r.Describe())
		return d
	}
	b, bKnown := health[a.backup]
	switch {
	case !bKnown || b.Checked.IsZero():
		d.Why = fmt.Sprintf("both may be bad: %s's credential %s failed (%s) and its backup %s has not been checked", agent, a.current, failed, a.backup)
		return d
	case !b.Healthy:
		d.Why = fmt.Sprintf("both are bad: %s's credential %s failed (%s) and its backup %s is unhealthy too (%s)", agent, a.current, failed, a.backup, b.Detail)
		return d
	}
	why := fmt.Sprintf("%s's credential %s failed (%s); its backup %s is healthy", agent, a.current, failed, a.backup)
	switch f.mode {
	case ModeAuto:
		d.Action, d.Why = ActionSwitch, why
	case ModeAsk:
		d.Action, d.Why = ActionAsk, why+": switch it to "+a.backup+"?"
	default:
		d.Why = why + ", but failover is off (claude.failover)"
	}
	return d
}

// Switched records that agent now runs on credential to (call it once the
// restart on to succeeded). The change stays in memory even when saving it
// fails; the error says so.
func (f *Failover) Switched(agent, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[agent]
	if !ok {
		return fmt.Errorf("unknown agent %q", agent)
	}
	if !f.known[to] && to != a.primary {
		return fmt.Errorf("unknown credential %q (known: %s)", to, f.knownList())
	}
	a.current = to
	return f.save()
}

// Use moves agents (names, or "all") to credential: `/auth use`. Moving an
// agent back to its primary re-arms automatic failover for it. Nothing
// changes when an agent or the credential is unknown. The caller restarts
// the agents.
func (f *Failover) Use(agents []string, credential string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(agents) == 0 {
		return errors.New("no agent named (give agent names or \"all\")")
	}
	var targets []string
	for _, n := range agents {
		if n == "all" {
			targets = append(targets, f.order...)
			continue
		}
		if _, ok := f.agents[n]; !ok {
			return fmt.Errorf("unknown agent %q (known: %s)", n, strings.Join(f.order, ", "))
		}
		targets = append(targets, n)
	}
	for _, n := range targets {
		if !f.known[credential] && credential != f.agents[n].primary {
			return fmt.Errorf("unknown credential %q (known: %s)", credential, f.knownList())
		}
	}
	for _, n := range targets {
		f.agents[n].current = credential
	}
	return f.save()
}

// Assignments returns every agent's assignment, in config order.
func (f *Failover) Assignments() []Assignment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Assignment, 0, len(f.order))
	for _, n := range f.order {
		a := f.agents[n]
		out = append(out, Assignment{
			Agent: n, Credential: a.current, Primary: a.primary, Backup: a.backup,
			OnBackup: a.backup != "" && a.current == a.backup,
		})
	}
	return out
}

func (f *Failover) load() error {
	if f.file == "" {
		return nil
	}
	b, err := os.ReadFile(f.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("failover state %s: %w (delete it to start every agent on its primary)", f.file, err)
	}
	for agent, cred := range s.Agents {
		a, ok := f.agents[agent]
		if !ok || !f.known[cred] {
			continue // the config changed since
		}
		a.current = cred
	}
	return nil
}

// save writes the agents not on their primary, atomically. Callers hold f.mu.
func (f *Failover) save() error {
	if f.file == "" {
		return nil
	}
	s := stateFile{Version: 1, Agents: map[string]string{}}
	for n, a := range f.agents {
		if a.current != a.primary {
			s.Agents[n] = a.current
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.file), 0o700); err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.file), ".failover-*")
	if err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("failover state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("failover state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.file); err != nil {
		return fmt.Errorf("failover state: %w", err)
	}
	return nil
}

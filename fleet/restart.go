package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/internal/redact"
	"github.com/fleetwarden/fleetwarden/tmux"
)

// Controller is what a restart needs from a tmux server.
type Controller interface {
	Panes
	SendKeys(ctx context.Context, target string, keys ...string) error
	Respawn(ctx context.Context, target string, o tmux.SpawnOptions) error
	NewSession(ctx context.Context, name, window string, o tmux.SpawnOptions) (tmux.Pane, error)
	NewWindow(ctx context.Context, session, window string, o tmux.SpawnOptions) (tmux.Pane, error)
	SetOption(ctx context.Context, target, name, value string) error
}

// pidTree is optional: a local server can map a pane to its processes, which
// finds the Claude session to resume.
type pidTree interface {
	PanePIDTree(ctx context.Context, pid int) ([]int, error)
}

// RestartOptions tune a restart.
type RestartOptions struct {
	Parallel    int                                      // agents restarted at once; default 8
	Timeout     time.Duration                            // per agent, from its restart's start until idle/working; default 90s
	StopTimeout time.Duration                            // graceful stop before the process is killed; default 5s
	DialogAfter time.Duration                            // a dialog still open this long after the restart fails it; default 3s
	Poll        time.Duration                            // how often the pane is looked at while waiting; default 200ms
	ConfigDir   string                                   // Claude config dir holding sessions/, to resume the same session
	Env         func(a Agent) (map[string]string, error) // credential environment for the agent
	// ResumeChoice answers the CLI's "Resume from summary / Resume full
	// session as-is" question after --resume: claude.ResumeSummary (default,
	// the CLI's recommended option) or claude.ResumeFull.
	ResumeChoice string
}

// RestartResult is the outcome for one agent.
type RestartResult struct {
	Agent      string
	OK         bool
	State      claude.State // state it came back in, or was last seen in
	Err        string
	LastLines  string // last pane lines when it failed
	WasWorking bool   // the agent was mid-task when it failed: re-check its work
	SessionID  string // resumed Claude session, if one was found
	Took       time.Duration
}

// Restart restarts the named agents in parallel (bounded) and reports each.
func (f *Fleet) Restart(ctx context.Context, names []string, o RestartOptions) []RestartResult {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 5 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.DialogAfter <= 0 {
		o.DialogAfter = 3 * time.Second
	}
	prev := map[string]Status{}
	for _, s := range f.Snapshot() {
		prev[s.Name] = s
	}
	out := make([]RestartResult, len(names))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := f.opt.Now()
			r := f.restartOnce(ctx, name, o)
			r.Took = f.opt.Now().Sub(start)
			p := prev[name]
			r.WasWorking = p.State == claude.Working || p.Working
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

// restarting is a restart of one agent in progress; a second request for
// the same agent waits for it and shares its outcome, rather than killing
// the CLI the first one is bringing up.
type restarting struct {
	done chan struct{}
	res  RestartResult
}

func (f *Fleet) restartOnce(ctx context.Context, name string, o RestartOptions) RestartResult {
	f.rsMu.Lock()
	if cur, ok := f.restarting[name]; ok {
		f.rsMu.Unlock()
		select {
		case <-cur.done:
			return cur.res
		case <-ctx.Done():
			return RestartResult{Agent: name, Err: fmt.Sprintf("waiting for the restart already in progress: %v", ctx.Err())}
		}
	}
	cur := &restarting{done: make(chan struct{})}
	f.restarting[name] = cur
	f.rsMu.Unlock()
	cur.res = f.restartOne(ctx, name, o)
	f.rsMu.Lock()
	delete(f.restarting, name)
	f.rsMu.Unlock()
	close(cur.done)
	return cur.res
}

func (f *Fleet) restartOne(ctx context.Context, name string, o RestartOptions) RestartResult {
	res := RestartResult{Agent: name}
	a, ok := f.Agent(name)
	if !ok {
		res.Err = "no such agent"
		return res
	}
	src, ok := f.opt.Sources[a.Host].(Controller)
	if !ok {
		res.Err = fmt.Sprintf("cannot control tmux for host %q", a.Host)
		return res
	}
	// The whole restart of one agent, stop included, fits in Timeout: its
	// ✓ or ✗ is due by then.
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	env, err := restartEnv(a, o)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	command := a.Command
	if command == "" {
		command = "claude --continue"
	}

	panes, err := src.ListPanes(ctx)
	if err != nil && !errors.Is(err, tmux.ErrNoServer) {
		res.Err = err.Error()
		return res
	}
	spawn := tmux.SpawnOptions{Dir: a.Workdir, Env: env}
	p, found := tmux.FindPane(panes, a.Target)
	if !found {
		// The pane is gone: make it again where the target says.
		spawn.Command = command
		if p, err = createTarget(ctx, src, panes, a.Target, spawn); err != nil {
			res.Err = err.Error()
			return res
		}
		_ = src.SetOption(ctx, p.ID, "remain-on-exit", "on")
	} else {
		if res.SessionID, command, err = f.respawnInPlace(ctx, src, p, command, spawn, o); err != nil {
			res.Err = err.Error()
			return res
		}
	}
	// Marked once the new process runs: a scan of the old screen (its live
	// failure) would take the mark off again.
	if resumes(command) {
		f.markResumed(name, p.ID)
	}
	return f.waitUp(ctx, src, p.ID, env["ANTHROPIC_API_KEY"], res, o)
}

// restartEnv is the environment an agent restarts with: its own env, then
// what o.Env adds (its credential).
func restartEnv(a Agent, o RestartOptions) (map[string]string, error) {
	env := map[string]string{}
	for k, v := range a.Env {
		env[k] = v
	}
	if o.Env != nil {
		extra, err := o.Env(a)
		if err != nil {
			return nil, err
		}
		for k, v := range extra {
			env[k] = v
		}
	}
	return env, nil
}

// respawnInPlace stops what runs in the agent's pane and starts command
// there, resuming the pane's session when one is found (its ID is returned
// with the command that resumes it).
func (f *Fleet) respawnInPlace(ctx context.Context, src Controller, p tmux.Pane, command string, spawn tmux.SpawnOptions, o RestartOptions) (sid, cmd string, err error) {
	if sid = f.sessionOf(ctx, src, p, o.ConfigDir); sid != "" {
		command = resumeCommand(command, sid)
	}
	// Keep the pane when Claude exits, so it can be respawned in place
	// (and a later crash shows as a dead pane, not a vanished one).
	if err := src.SetOption(ctx, p.ID, "remain-on-exit", "on"); err != nil {
		return sid, command, err
	}
	var stubborn []proc // the old processes, when they would not stop
	if !p.Dead && !isShell(p.Command) && !f.stopGracefully(ctx, src, p, o) {
		stubborn = processTree(ctx, src, p)
	}
	spawn.Command = command
	if err := src.Respawn(ctx, p.ID, spawn); err != nil {
		return sid, command, err
	}
	// Last resort: respawn-pane's hangup lets the CLI save its
	// conversation; what is deaf to it too (and whatever it started)
	// is killed.
	killSurvivors(ctx, stubborn, 2*time.Second)
	return sid, command, nil
}

// proc is a process as it was listed: a PID and its start time.
type proc struct {
	pid   int
	start string
}

// processTree lists the pane's processes where their tree can be read (a
// local tmux server); nil elsewhere.
func processTree(ctx context.Context, src Controller, p tmux.Pane) []proc {
	pt, ok := src.(pidTree)
	if !ok {
		return nil
	}
	pids, err := pt.PanePIDTree(ctx, p.PID)
	if err != nil {
		return nil
	}
	out := make([]proc, len(pids))
	for i, pid := range pids {
		out[i] = proc{pid, started(pid)}
	}
	return out
}

// killSurvivors waits up to grace for procs to end, then kills those left,
// children first. A PID that now belongs to a process started since (PIDs
// are reused, quickly where pid_max is 32768) is left alone.
func killSurvivors(ctx context.Context, procs []proc, grace time.Duration) {
	if len(procs) == 0 {
		return
	}
	left := func(p proc) bool { return alive(p.pid) && started(p.pid) == p.start }
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && slices.ContainsFunc(procs, left) {
		pause(ctx, 100*time.Millisecond)
	}
	for _, p := range slices.Backward(procs) {
		if left(p) {
			kill(p.pid)
		}
	}
}

// stopGracefully asks Claude Code to exit (Escape, then Ctrl-C twice) and
// waits for it, and reports whether it did.
func (f *Fleet) stopGracefully(ctx context.Context, src Controller, p tmux.Pane, o RestartOptions) bool {
	ctx, cancel := context.WithTimeout(ctx, o.StopTimeout)
	defer cancel()
	_ = src.SendKeys(ctx, p.ID, "Escape")
	// ESC directly followed by ^C reads as one Alt-chord to the CLI, which
	// then does not exit: give the Escape a moment on its own.
	pause(ctx, 200*time.Millisecond)
	_ = src.SendKeys(ctx, p.ID, "C-c")
	_ = src.SendKeys(ctx, p.ID, "C-c")
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		panes, err := src.ListPanes(ctx)
		if err == nil {
			q, ok := tmux.FindPane(panes, p.ID)
			if !ok || q.Dead || isShell(q.Command) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// waitUp waits until the pane shows Claude idle or working. A dialog that
// stays open (onboarding, trust, login, a question no one here answers)
// fails the restart at once: the agent is not usable until a human answers
// it, and waiting out the timeout would only delay saying so.
func (f *Fleet) waitUp(ctx context.Context, src Controller, paneID, apiKey string, res RestartResult, o RestartOptions) RestartResult {
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	var last string
	var st claude.Result
	var answered time.Time
	var dialog string         // the open dialog's evidence
	var dialogSince time.Time // since when it shows; zero: no dialog
	for {
		text, err := src.Capture(ctx, paneID, 0)
		if err == nil {
			last = text
			st = f.judgeRestarted(res.Agent, paneID, text)
			resume := st.State == claude.NeedsInput && claude.AsksResumeChoice(text)
			if resume && time.Since(answered) > 5*time.Second {
				// Asked because this restart resumed the session: the
				// configured answer (the CLI's recommended one by default).
				answered = time.Now()
				for i, k := range claude.ResumeKeys(o.ResumeChoice) {
					if i > 0 {
						pause(ctx, 200*time.Millisecond)
					}
					_ = src.SendKeys(ctx, paneID, k)
				}
			}
			ours := st.State == claude.NeedsInput && claude.AsksToUseAPIKey(text, apiKey)
			if ours && time.Since(answered) > 5*time.Second {
				// The CLI asks whether to use the API key in its environment:
				// the one this restart put there, so yes ("No" is preselected).
				// Once per 5 s: keys landing after the dialog closed would
				// recall and resend the last prompt.
				answered = time.Now()
				_ = src.SendKeys(ctx, paneID, "Up")
				pause(ctx, 200*time.Millisecond)
				_ = src.SendKeys(ctx, paneID, "Enter")
			}
			// A CLI back at its usage limit runs: it waits for the reset,
			// which no restart can bring forward.
			if st.State == claude.Idle || st.State == claude.Working || st.State == claude.Limited {
				res.OK, res.State = true, st.State
				return res
			}
			switch {
			case ours || resume || (st.State != claude.NeedsInput && st.State != claude.LoggingIn):
				dialogSince = time.Time{}
			case st.Evidence != dialog || dialogSince.IsZero():
				dialog, dialogSince = st.Evidence, time.Now()
			case time.Since(dialogSince) >= o.DialogAfter:
				res.State = st.State
				res.Err = fmt.Sprintf("stuck on %s: %s", claude.DialogName(st), claude.Redact(clipLine(st.Evidence, 60)))
				res.LastLines = tail(last, 8)
				return res
			}
		}
		select {
		case <-ctx.Done():
			res.State = st.State
			res.Err = fmt.Sprintf("not back after %s (state %s)", o.Timeout, st.State)
			if st.Reason != "" {
				res.Err += ": " + st.Reason.Describe()
			}
			res.LastLines = tail(last, 8)
			return res
		case <-t.C:
		}
	}
}

// clipLine shortens s to n characters, marking the cut with "…".
func clipLine(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func (f *Fleet) sessionOf(ctx context.Context, src Controller, p tmux.Pane, configDir string) string {
	if configDir == "" || p.Dead {
		return ""
	}
	pt, ok := src.(pidTree)
	if !ok {
		return ""
	}
	pids, err := pt.PanePIDTree(ctx, p.PID)
	if err != nil {
		return ""
	}
	sessions, err := claude.ReadSessions(configDir)
	if err != nil {
		return ""
	}
	s, ok := claude.SessionForPID(sessions, pids...)
	// The session file is written by the agent (and anything it runs): its
	// sessionId goes onto a shell command line, so only a UUID is taken.
	if !ok || !claude.IsSessionID(s.SessionID) {
		return ""
	}
	return s.SessionID
}

// resumeCommand turns the configured command into one that resumes session
// id: --continue (or -c) is taken out, everything else is kept as written
// (quotes, spacing), since the shell runs it. id must be a UUID: it is put
// on a command line.
func resumeCommand(command, id string) string {
	words := shellWords(command)
	for _, w := range words {
		if w.raw == "--resume" || w.raw == "-r" || strings.HasPrefix(w.raw, "--resume=") {
			return command // already resuming something: keep the configured choice
		}
	}
	var b strings.Builder
	last := 0
	for _, w := range words {
		if w.raw == "--continue" || w.raw == "-c" {
			b.WriteString(strings.TrimRight(command[last:w.start], " \t"))
			last = w.end
		}
	}
	b.WriteString(command[last:])
	return strings.TrimRight(b.String(), " \t") + " --resume " + id
}

// word is one shell word of a command: its text as written and where it is.
type word struct {
	raw        string
	start, end int
}

// shellWords splits a command into words as sh would (quotes and
// backslashes keep a word together), keeping each word's written form.
func shellWords(s string) []word {
	var out []word
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
			switch s[i] {
			case '\\':
				i += 2
				continue
			case '\'':
				if j := strings.IndexByte(s[i+1:], '\''); j >= 0 {
					i += j + 2
					continue
				}
				i = len(s)
				continue
			case '"':
				j := i + 1
				for j < len(s) && s[j] != '"' {
					if s[j] == '\\' {
						j++
					}
					j++
				}
				i = j + 1
				continue
			}
			i++
		}
		end := min(i, len(s))
		out = append(out, word{raw: s[start:end], start: start, end: end})
	}
	return out
}

// createTarget makes the session and window a target names.
func createTarget(ctx context.Context, src Controller, panes []tmux.Pane, target string, o tmux.SpawnOptions) (tmux.Pane, error) {
	session, window, _ := strings.Cut(target, ":")
	window, _, _ = strings.Cut(window, ".")
	hasSession := false
	for _, p := range panes {
		if p.Session == session {
			hasSession = true
			break
		}
	}
	if !hasSession {
		return src.NewSession(ctx, session, window, o)
	}
	return src.NewWindow(ctx, session, window, o)
}

func tail(text string, n int) string {
	ls := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var keep []string
	for _, l := range ls {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return redact.InContext(text, strings.Join(keep, "\n"))
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// judgeRestarted classifies a restarted agent's pane as a scan would.
func (f *Fleet) judgeRestarted(agent, paneID, text string) claude.Result {
	r := claude.Classify(text)
	st := f.resumedHistory(Status{Name: agent, PaneID: paneID, State: r.State, Reason: r.Reason, Evidence: r.Evidence, unconfirmed: r.Unconfirmed}, f.opt.Now())
	r.State, r.Reason, r.Evidence = st.State, st.Reason, st.Evidence
	return r
}

// resumes reports whether command continues an earlier conversation.
func resumes(command string) bool {
	for _, f := range strings.Fields(command) {
		switch {
		case f == "--continue", f == "-c", f == "--resume", f == "-r", strings.HasPrefix(f, "--resume="):
			return true
		}
	}
	return false
}

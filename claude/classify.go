package claude

import (
	"strings"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Classify tells what a Claude Code pane is doing from its text, as
// `tmux capture-pane -p` prints it (any width, with or without scrollback).
//
// It reads the screen from the bottom up, the way a person would:
//
//   - Nothing but blanks → unknown.
//   - The last line is a shell prompt ("$", "#", "bash-5.2#", "user@host:~$"),
//     "Pane is dead" or "claude --resume <id>" → exited: Claude Code is not
//     running. Reason and Evidence then tell what it printed last (a print-mode
//     auth failure, "Couldn't log in", the resume hint), so that a caller knows
//     whether a restart alone can help.
//   - The live input box (❯ + NBSP between two rules) is on screen: only what
//     follows the last user turn (❯ <text>) is judged; older turns are history.
//     A retry status ("500 Internal server error · retrying in 7s · attempt
//     5/10") → api_error (or auth_failed for a retried 401) even while the
//     footer says "esc to interrupt": the agent is stuck on the API, not
//     working; callers debounce. Otherwise the last message of the turn, when
//     it is an error, no spinner runs and no "✻ Worked for …" line follows it
//     (a completed turn) → auth_failed / api_error. Spinner
//     ("✽ Propagating…") or footer "esc to interrupt" → working. Footer "Not
//     logged in" → auth_failed/not_logged_in. The placeholder "Once fixed,
//     resend your message" says the last real turn failed: its error is looked
//     for further up (slash commands like /login may follow it) and, when
//     none is recognised, the result is api_error with no reason.
//     Otherwise idle.
//   - No input box: an open dialog decides. Login screens (method chooser,
//     URL, "Paste code here if prompted", "✘ OAuth error", piped `claude auth
//     login`, `claude setup-token`) → logging_in with LoginURL; permission,
//     trust and onboarding dialogs → needs_input. Then print-mode errors
//     ("Failed to authenticate: …") → auth_failed / api_error; then any
//     chooser ("Esc to cancel", "❯ 1.") → needs_input; a spinner → working;
//     anything else → unknown.
//
// Without the placeholder, a message counts as a failure only when it starts
// with the error and carries one of Claude Code's own words (API Error,
// /login, OAuth, …), so an agent's answer that talks about errors is not one.
// Tool output (● Bash(…) ⎿ …) never counts.
func Classify(text string) Result {
	r := classify(text)
	if r.Evidence != "" {
		// The evidence is one line of the pane: a wrapped token's tail on it
		// is found only by looking at the whole pane.
		r.Evidence = redact.InContext(text, r.Evidence)
	}
	return r
}

func classify(text string) Result {
	var sc screen
	sc.parse(text)
	if sc.last < 0 {
		return Result{State: Unknown}
	}
	if r, ok := sc.exited(); ok {
		return r
	}
	user := sc.lastUser(sc.last)
	if inp := sc.inputLine(user); inp >= 0 {
		return sc.withInput(user, inp)
	}
	return sc.withoutInput(user)
}

func (sc *screen) lastUser(from int) int {
	for i := min(from, len(sc.lines)-1); i >= 0; i-- {
		if sc.lines[i].kind == kUser {
			return i
		}
	}
	return -1
}

func (sc *screen) inputLine(user int) int {
	for i := sc.last; i > user; i-- {
		if sc.lines[i].kind == kInput {
			return i
		}
	}
	return -1
}

// afterUser returns the first line after user turn u that is not the rest of
// the user's own (wrapped) text.
func (sc *screen) afterUser(u int) int {
	i := u + 1
	for i < len(sc.lines) && sc.lines[i].kind == kText {
		r, col := leadRune(sc.lines[i].s)
		if col == 0 || isGlyph(r) {
			break
		}
		i++
	}
	return i
}

func (sc *screen) isSlashTurn(u int) bool {
	s := strings.TrimLeft(sc.lines[u].s, "❯> \u00a0")
	return strings.HasPrefix(s, "/")
}

// exited handles panes where Claude Code is gone and a shell (or tmux's
// remain-on-exit notice) is at the bottom.
func (sc *screen) exited() (Result, bool) {
	last := sc.lines[sc.last].s
	q := sc.sqOf(sc.last, sc.last)
	if !isShellPrompt(last) && !sc.contains(q, "paneisdead") && !sc.isResume(q) {
		return Result{}, false
	}
	r := Result{State: Exited, Evidence: finishEvidence(stripDecor(last))}
	for i := sc.last - 1; i >= 0 && i >= sc.last-25; i-- {
		l := sc.lines[i]
		if l.kind == kBlank || l.kind == kRule {
			continue
		}
		if isShellPrompt(l.s) {
			break
		}
		q := sc.sqOf(i, i)
		if sc.isResume(q) || sc.contains(q, "couldn'tlogin") {
			r.Evidence = sc.logical(i, 0, sc.last)
			return r, true
		}
		s := sc.blockStart(i, 0)
		if isToolCall(sc.lines[s].s) {
			continue
		}
		if f, ok := sc.matchFailure(sc.sqOf(s, i), false); ok {
			r.Reason = f.reason
			r.Evidence = sc.logical(sc.lineAt(sc.lines[s].sq0+f.pos), s, i)
			return r, true
		}
	}
	return r, true
}

func (sc *screen) isResume(q string) bool {
	return sc.contains(q, "claude--resume") || sc.contains(q, "resumethissession")
}

// isShellPrompt reports a bare shell prompt waiting for a command: "$", "#",
// "bash-5.2#", "root@host:/work#", "[dev@box src]$", "~ $", "user@host %".
// A line ending in a digit and a sign ("costs 5$", "100%") is not one, nor a
// prompt with a command typed after it.
func isShellPrompt(s string) bool {
	t := strings.TrimRight(s, " \t\u00a0")
	if t == "" || len(t) > 120 {
		return false
	}
	if strings.HasPrefix(t, "➜ ") && len(t) < 80 { // oh-my-zsh
		return true
	}
	c := t[len(t)-1]
	if c != '$' && c != '#' && c != '%' {
		return false
	}
	r := strings.TrimRight(t[:len(t)-1], " ")
	if r == "" {
		return true
	}
	for _, p := range [...]string{"bash-", "sh-", "zsh-", "ksh-", "dash-"} {
		if strings.HasPrefix(r, p) {
			return !strings.Contains(r, " ")
		}
	}
	if len(r) > 80 {
		return false
	}
	if l := r[len(r)-1]; l >= '0' && l <= '9' {
		return false
	}
	if strings.HasPrefix(r, "[") && strings.HasSuffix(r, "]") {
		return true
	}
	last := r[strings.LastIndexByte(r, ' ')+1:]
	return strings.ContainsAny(last, "@:~/")
}

// isToolCall reports a transcript line like "● Bash(ls)" or
// "● mcp__gh__create_issue(…)": what hangs under it is tool output, which
// may say anything.
func isToolCall(s string) bool {
	if r, _ := leadRune(s); !isBullet(r) {
		return false
	}
	t := stripDecor(s)
	k := strings.IndexByte(t, '(')
	if k <= 0 || k > 60 || t[k-1] == ' ' {
		return false
	}
	if c := t[0]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return false
	}
	name := t[:k]
	return strings.IndexByte(name, ':') < 0 && strings.IndexByte(name, ',') < 0 && !strings.Contains(name, "·")
}

// tailInfo describes the end of the latest turn, above the input box.
type tailInfo struct {
	spinner, done     int // status lines ("✽ Propagating…", "✻ Worked for 3s"), -1 when absent
	retry, retryEnd   int // a live retry status block
	msg, msgEnd       int // the last message block, -1 when none
	tool, toolRunning bool
}

func (sc *screen) tail(lo, hi int) tailInfo {
	t := tailInfo{spinner: -1, done: -1, retry: -1, msg: -1}
	for i := hi; i >= lo; {
		if sc.lines[i].kind != kText {
			i--
			continue
		}
		s := sc.blockStart(i, lo)
		first := sc.lines[s].s
		if r, col := leadRune(first); col == 0 && isSpinner(r) {
			switch q := sc.sqOf(s, i); {
			case sc.isRetry(q):
				if t.retry < 0 {
					t.retry, t.retryEnd = s, i
				}
			case strings.Contains(first, "…") || strings.Contains(first, "..."):
				if t.spinner < 0 {
					t.spinner = s
				}
			default:
				if t.done < 0 {
					t.done = s
				}
			}
			i = s - 1
			continue
		}
		t.msg, t.msgEnd = s, i
		if isToolCall(first) {
			t.tool = true
			t.toolRunning = sc.contains(sc.sqOf(s, i), "running…")
		}
		break
	}
	return t
}

func (sc *screen) failResult(f failure, s, e int) Result {
	i := sc.lineAt(sc.lines[s].sq0 + f.pos)
	return Result{State: f.state, Reason: f.reason, Evidence: sc.logical(i, s, e)}
}

func (sc *screen) withInput(user, inp int) Result {
	r := sc.withInputState(user, inp)
	r.LoginExpiresInDays = sc.loginExpiry(inp)
	return r
}

// loginExpiry reads the footer's "Your login expires in N day(s)" under
// the input line.
func (sc *screen) loginExpiry(inp int) int {
	for i := inp + 1; i <= sc.last && i <= inp+8; i++ {
		s := sc.lines[i].s
		k := strings.Index(s, "Your login expires in ")
		if k < 0 {
			continue
		}
		n := 0
		for _, c := range s[k+len("Your login expires in "):] {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	return 0
}

// inputArea is a screen around its input line: the conversation above,
// the input box, the footer under it.
type inputArea struct {
	lo, hi      int    // the conversation since the last user message, rules trimmed
	fs          int    // the footer's first line
	footer      string // the footer, squeezed
	placeholder bool   // the input box says the last turn failed
}

func (sc *screen) inputArea(user, inp int) inputArea {
	a := inputArea{lo: sc.afterUser(user), hi: inp - 1}
	for a.hi >= a.lo && sc.lines[a.hi].kind == kRule {
		a.hi--
	}
	// The box ends at the next rule; the footer is what follows.
	boxEnd := -1
	for j := inp + 1; j <= sc.last && j <= inp+8; j++ {
		if sc.lines[j].kind == kRule {
			boxEnd = j
			break
		}
	}
	a.fs = inp + 1
	if boxEnd >= 0 {
		a.fs = boxEnd + 1
	}
	if a.fs <= sc.last {
		a.footer = sc.sqOf(a.fs, sc.last)
	}
	input := sc.sqOf(inp, max(inp, a.fs-1))
	a.placeholder = sc.contains(input, "oncefixed") || sc.contains(input, "resendyourmessage")
	return a
}

// withInputState reads a screen with an input line, in order of what
// outranks what: a retry, a usage limit, a failed turn, work in progress,
// a missing login, then idle.
func (sc *screen) withInputState(user, inp int) Result {
	a := sc.inputArea(user, inp)
	t := sc.tail(a.lo, a.hi)
	if t.retry >= 0 {
		return sc.retryResult(t)
	}
	working := t.spinner >= 0 || t.toolRunning || sc.contains(a.footer, "esctointerrupt")
	// A usage limit: the CLI waits for the reset and goes on by itself
	// (its footer says so), unless a spinner shows it already has.
	if t.spinner < 0 && !t.toolRunning {
		if r, ok := sc.limited(a.lo, a.hi, a.fs); ok {
			return r
		}
	}
	// A "✻ Worked for 9s" line under the message means the turn completed;
	// without the placeholder, its last message is an answer, not an error.
	if t.msg >= 0 && !t.tool && (a.placeholder || (!working && t.done < 0)) {
		if f, ok := sc.matchFailure(sc.sqOf(t.msg, t.msgEnd), a.placeholder); ok {
			r := sc.failResult(f, t.msg, t.msgEnd)
			r.Unconfirmed = !a.placeholder
			return r
		}
	}
	if working {
		return sc.workingResult(t, a)
	}
	if p := sc.index(a.footer, "notloggedin"); p >= 0 {
		i := sc.lineAt(sc.lines[a.fs].sq0 + p)
		return Result{State: AuthFailed, Reason: ReasonNotLoggedIn, Evidence: segmentFrom(sc.lines[i].s, "not logged in")}
	}
	if a.placeholder {
		return sc.failedTurn(user, inp, t)
	}
	switch {
	case t.done >= 0:
		return Result{State: Idle, Evidence: sc.logical(t.done, t.done, a.hi)}
	case t.msg >= 0 && sc.lines[t.msg].s != "" && isBullet(firstRune(sc.lines[t.msg].s)):
		return Result{State: Idle, Evidence: sc.logical(t.msg, t.msg, t.msgEnd)}
	}
	return Result{State: Idle, Evidence: finishEvidence(sc.lines[inp].s)}
}

// retryResult is a turn the CLI is retrying: the failure it names.
func (sc *screen) retryResult(t tailInfo) Result {
	q := sc.sqOf(t.retry, t.retryEnd)
	f, ok := sc.matchFailure(q, true)
	if !ok {
		f = failure{state: APIError}
	}
	p := strings.Index(q, "retrying")
	if p < 0 {
		p = max(0, strings.Index(q, "attempt"))
	}
	ev := sc.logical(sc.lineAt(sc.lines[t.retry].sq0+p), t.retry, t.retryEnd)
	return Result{State: f.state, Reason: f.reason, Evidence: ev}
}

// workingResult is a turn in progress, with the line that shows it: the
// spinner, the running tool, or the footer's "esc to interrupt".
func (sc *screen) workingResult(t tailInfo, a inputArea) Result {
	switch {
	case t.spinner >= 0:
		return Result{State: Working, Evidence: sc.logical(t.spinner, t.spinner, a.hi)}
	case t.toolRunning:
		return Result{State: Working, Evidence: sc.logical(t.msg, t.msg, t.msgEnd)}
	}
	i := sc.lineAt(sc.lines[a.fs].sq0 + strings.Index(a.footer, "esctointerrupt"))
	return Result{State: Working, Evidence: finishEvidence(sc.lines[i].s)}
}

// failedTurn finds why the last real turn failed when the input box says so
// but the latest turn shows no recognisable error (for example /login was
// run and cancelled since).
func (sc *screen) failedTurn(user, inp int, t tailInfo) Result {
	// The failed turn is the last one that sent a message; slash commands
	// after it do not clear the placeholder.
	top := user
	for top >= 0 && sc.isSlashTurn(top) {
		top = sc.lastUser(top - 1)
	}
	if top < 0 {
		top = max(-1, inp-200)
	}
	// The bottom message is matched liberally (the placeholder vouches for
	// a failure), older ones strictly. withInput already tried t.msg.
	liberal := t.msg < 0 || t.tool
	first := t.msg
	if first < 0 {
		first = inp
	}
	unknown := Result{State: APIError, Evidence: finishEvidence(stripDecor(sc.lines[inp].s))}
	if t.msg >= 0 {
		if sc.contains(sc.sqOf(t.msg, t.msgEnd), "loginsuccessful") {
			return Result{State: Idle, Evidence: sc.logical(t.msg, t.msg, t.msgEnd)}
		}
		unknown.Evidence = sc.logical(t.msg, t.msg, t.msgEnd)
	}
	for i := first - 1; i > top; {
		if sc.lines[i].kind != kText {
			i--
			continue
		}
		s := sc.blockStart(i, top+1)
		q := sc.sqOf(s, i)
		if sc.contains(q, "loginsuccessful") {
			// Fixed since; the failed message simply was not resent.
			return Result{State: Idle, Evidence: sc.logical(s, s, i)}
		}
		if r, col := leadRune(sc.lines[s].s); !(col == 0 && isSpinner(r)) && !isToolCall(sc.lines[s].s) {
			if f, ok := sc.matchFailure(q, liberal); ok {
				return sc.failResult(f, s, i)
			}
			liberal = false
		}
		i = s - 1
	}
	return unknown
}

func (sc *screen) withoutInput(user int) Result {
	lo := max(sc.afterUser(user), sc.last-60, 0)
	hi := sc.last
	if lo > hi {
		lo = hi
	}
	if r, ok := sc.limitDialog(lo, hi); ok {
		return r
	}
	zq := sc.sqOf(lo, hi)
	base := sc.lines[lo].sq0
	lp := sc.lastOf(zq, loginPhrases)
	np := sc.lastOf(zq, needsPhrases)
	if lp >= 0 || np >= 0 {
		if lp >= 0 && (np < 0 || sc.lineAt(base+lp) >= sc.lineAt(base+np)) {
			p := sc.firstPresent(zq, loginPhrases)
			return Result{
				State:    LoggingIn,
				Evidence: sc.logical(sc.lineAt(base+p), lo, hi),
				LoginURL: ExtractLoginURL(sc.text[sc.lines[lo].off:]),
			}
		}
		p := sc.firstPresent(zq, needsPhrases)
		return Result{State: NeedsInput, Evidence: sc.logical(sc.lineAt(base+p), lo, hi)}
	}
	// Print mode and other plain output: the bottom-most failure message.
	for i, n := hi, 0; i >= lo && n < 12; n++ {
		if sc.lines[i].kind != kText {
			i--
			continue
		}
		s := sc.blockStart(i, lo)
		if !isToolCall(sc.lines[s].s) {
			if f, ok := sc.matchFailure(sc.sqOf(s, i), false); ok {
				return sc.failResult(f, s, i)
			}
		}
		i = s - 1
	}
	if p := sc.lastOf(zq, genericNeeds); p >= 0 {
		return Result{State: NeedsInput, Evidence: sc.logical(sc.lineAt(base+p), lo, hi)}
	}
	for i := hi; i >= lo; i-- {
		s := sc.lines[i].s
		r, col := leadRune(s)
		if col > 0 && r == '❯' && isMenuChoice(s) {
			return Result{State: NeedsInput, Evidence: finishEvidence(s)}
		}
		if col == 0 && isSpinner(r) && strings.Contains(s, "…") && i >= hi-10 {
			return Result{State: Working, Evidence: finishEvidence(s)}
		}
	}
	if p := sc.index(zq, "esctointerrupt"); p >= 0 {
		return Result{State: Working, Evidence: finishEvidence(sc.lines[sc.lineAt(base+p)].s)}
	}
	return Result{State: Unknown, Evidence: finishEvidence(stripDecor(sc.lines[hi].s))}
}

// isMenuChoice reports a chooser's cursor line: "❯ 1. Yes", "❯ ✔ Auto".
func isMenuChoice(s string) bool {
	t := strings.TrimLeft(s, " \u00a0")
	t = strings.TrimLeft(strings.TrimPrefix(t, "❯"), " \u00a0")
	return t != "" && (t[0] >= '0' && t[0] <= '9' || strings.HasPrefix(t, "✔") || strings.HasPrefix(t, "◯") || strings.HasPrefix(t, "["))
}

// firstPresent returns the last offset of the first phrase (in list order,
// the most telling first) that occurs in q, or -1.
func (sc *screen) firstPresent(q string, pats []string) int {
	for _, p := range pats {
		if sc.contains(q, p) {
			return sc.lastOf(q, []string{p})
		}
	}
	return -1
}

func firstRune(s string) rune {
	r, _ := leadRune(s)
	return r
}

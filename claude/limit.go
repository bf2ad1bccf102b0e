package claude

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Usage limits. At a subscription's limit the API answers 429 with
// anthropic-ratelimit-unified-status: rejected; the CLI then shows, under the
// turn, "You've hit your 5-hour limit · resets 11:24am (UTC)" and "Usage
// limit reached · continuing automatically at 11:24am · esc to cancel", and
// in the footer "⚠ Usage limit reached · limit resets 11:24am / Continuing
// automatically at 11:24am · Esc to cancel" (2.1.328, both renderers). The
// CLI waits and continues the task by itself after the reset: the pane is
// limited, not failed.

// limitRule maps a squeezed phrase of the CLI to a limit reason.
type limitRule struct {
	pat    string
	reason Reason
}

// limitPhrases are tried in order: the specific window before the generic
// "usage limit reached" of the footer.
var limitPhrases = []limitRule{
	{"you'vehityourweeklylimit", ReasonWeeklyLimit},
	{"you'vehityouropuslimit", ReasonWeeklyLimit},
	{"you'vehityoursonnetlimit", ReasonWeeklyLimit},
	{"reachedyourweeklyusagelimit", ReasonWeeklyLimit},
	{"you'vehityourmonthlyspendlimit", ReasonSpendLimit},
	{"you'vehityourorg'smonthlyspendlimit", ReasonSpendLimit},
	{"you'vehityourchannel'smonthlyspendlimit", ReasonSpendLimit},
	{"you'reoutofextrausage", ReasonSpendLimit},
	{"you'reoutofusagecredits", ReasonSpendLimit},
	{"you'vehityour5-hourlimit", ReasonUsageLimit},
	{"you'vehityoursessionlimit", ReasonUsageLimit},
	{"you'vehityourlimit", ReasonUsageLimit},
	{"usagelimitreached", ReasonUsageLimit},
	{"continuingautomaticallyat", ReasonUsageLimit},
	{"continuingshortly·esctocancel", ReasonUsageLimit},
}

// noResumePhrases say the CLI will not continue by itself after the reset:
// its automatic continue was cancelled (Esc, Ctrl-C), it exited or was
// relaunched during the wait, or the reset is more than 24 hours out. A
// prompt after the reset continues the task.
var noResumePhrases = []string{
	"automaticcontinuecancelled", "automaticcontinuestopped", "automaticcontinuewasturnedoff",
	"automaticcontinuedidnotrun", "willnotresumeonitsown", "willnotresumehereonitsown",
}

// limitIn finds a usage limit in squeezed text: the reason of the first
// phrase present and where it is.
func (sc *screen) limitIn(q string) (Reason, int) {
	for _, r := range limitPhrases {
		if i := sc.index(q, r.pat); i >= 0 {
			return r.reason, i
		}
	}
	return "", -1
}

// lastMessage returns the last message block between lo and hi, passing
// over the indented notices the CLI draws above the input box for a while
// ("◐ medium · /effort", "tmux focus-events off · …"); -1 when none or when
// it is a tool call (its output may say anything).
func (sc *screen) lastMessage(lo, hi int) (int, int) {
	for i := hi; i >= lo && i >= 0; {
		if sc.lines[i].kind != kText {
			i--
			continue
		}
		s := sc.blockStart(i, lo)
		if _, col := leadRune(sc.lines[s].s); col >= 4 {
			i = s - 1
			continue
		}
		if isToolCall(sc.lines[s].s) {
			return -1, -1
		}
		return s, i
	}
	return -1, -1
}

// limited reads a usage limit between lines lo and the end of the screen
// (the turn and the footer): the reason, the evidence and the reset time as
// shown. The footer's warning ("Usage limit reached · limit resets …") or a
// turn that ends in the limit message says the CLI still waits.
func (sc *screen) limited(lo, hi, fs int) (Result, bool) {
	msg, msgEnd := sc.lastMessage(lo, hi)
	var footer string
	if fs <= sc.last {
		footer = sc.sqOf(fs, sc.last)
	}
	_, fp := sc.limitIn(footer)
	var turn string
	if msg >= 0 {
		turn = sc.sqOf(msg, msgEnd)
	}
	_, tp := sc.limitIn(turn)
	if tp > leadSlack+4 {
		tp = -1 // an answer that talks about limits, not the CLI's own line
	}
	np := -1
	for _, p := range noResumePhrases {
		if i := sc.index(turn, p); i >= 0 && i <= leadSlack+4 {
			np = i
			break
		}
	}
	if fp < 0 && tp < 0 && np < 0 {
		return Result{}, false
	}
	// The window is named in the turn ("You've hit your weekly limit"),
	// the footer only says "Usage limit reached".
	region := sc.sqOf(max(lo, 0), sc.last)
	reason, p := sc.limitIn(region)
	ev := sc.logical(sc.lineAt(sc.lines[max(lo, 0)].sq0+p), max(lo, 0), sc.last)
	var raw strings.Builder
	for i := max(lo, 0); i <= sc.last; i++ {
		raw.WriteString(sc.lines[i].s)
		raw.WriteByte('\n')
	}
	if reason == "" {
		reason = ReasonUsageLimit // "Automatic continue cancelled" under a limit the screen no longer shows
	}
	r := Result{State: Limited, Reason: reason, Evidence: ev, ResetText: resetText(raw.String())}
	if np >= 0 && fp < 0 {
		r.NoResume = true
		r.Evidence = sc.logical(sc.lineAt(sc.lines[msg].sq0+np), msg, msgEnd)
	}
	return r, true
}

var (
	// "resets 11:24am (UTC)", "resets Sep 15 at 7pm", "resets 5pm (Europe/Berlin)",
	// "continuing automatically at 11:24am".
	resetRe = regexp.MustCompile(`(?i)(?:resets|continuing automatically at|continue automatically at)\s+((?:[A-Z][a-z]{2}\s+\d{1,2}(?:,?\s+\d{4})?\s+at\s+)?\d{1,2}(?::\d{2})?\s*(?:am|pm)?)(?:\s*\(([^)\s]+)\))?`)
	dayRe   = regexp.MustCompile(`^([A-Z][a-z]{2})\s+(\d{1,2})(?:,?\s+(\d{4}))?\s+at\s+(.*)$`)
	clockRe = regexp.MustCompile(`(?i)^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$`)
)

// resetText returns the first reset time the text shows, with its zone in
// parentheses when one is given ("11:24am (UTC)"); "" when none.
func resetText(s string) string {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	var best string
	for _, m := range resetRe.FindAllStringSubmatch(s, -1) {
		t := strings.TrimSpace(m[1])
		if m[2] != "" {
			return t + " (" + m[2] + ")" // the fullest form
		}
		if best == "" {
			best = t
		}
	}
	return best
}

// ResolveReset turns a reset time as the CLI shows it ("11:24am (UTC)",
// "Sep 15 at 7pm", "14:00 (Europe/Berlin)") into an instant, read against
// now (when the screen was captured). A time without a date is the
// occurrence nearest to now (a 5-hour window resets within hours; a reset
// just passed may still be on screen); a date without a year the nearest
// such date. A missing or unknown zone is loc's. ok is false when the text
// is not a time.
func ResolveReset(text string, now time.Time, loc *time.Location) (time.Time, bool) {
	text = strings.TrimSpace(text)
	if text == "" {
		return time.Time{}, false
	}
	if i := strings.LastIndexByte(text, '('); i >= 0 && strings.HasSuffix(text, ")") {
		if l, err := time.LoadLocation(text[i+1 : len(text)-1]); err == nil {
			loc = l
		}
		text = strings.TrimSpace(text[:i])
	}
	if loc == nil {
		loc = time.Local
	}
	now = now.In(loc)
	month, day, year := time.Month(0), 0, 0
	if m := dayRe.FindStringSubmatch(text); m != nil {
		t, err := time.Parse("Jan", m[1])
		if err != nil {
			return time.Time{}, false
		}
		month = t.Month()
		day, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			year, _ = strconv.Atoi(m[3])
		}
		text = m[4]
	}
	m := clockRe.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return time.Time{}, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	switch strings.ToLower(m[3]) {
	case "am":
		if h == 12 {
			h = 0
		}
	case "pm":
		if h < 12 {
			h += 12
		}
	}
	if h > 23 || mi > 59 || (m[3] != "" && m[1] != "" && (h > 23)) {
		return time.Time{}, false
	}
	// The first candidate not more than an hour past: a reset is ahead,
	// or has just passed while the CLI has not gone on yet.
	nearest := func(cands []time.Time) time.Time {
		for _, c := range cands {
			if !c.Before(now.Add(-time.Hour)) {
				return c
			}
		}
		return cands[len(cands)-1]
	}
	switch {
	case month != 0 && year != 0:
		return time.Date(year, month, day, h, mi, 0, 0, loc), true
	case month != 0:
		y := now.Year()
		return nearest([]time.Time{
			time.Date(y-1, month, day, h, mi, 0, 0, loc),
			time.Date(y, month, day, h, mi, 0, 0, loc),
			time.Date(y+1, month, day, h, mi, 0, 0, loc),
		}), true
	}
	y, mo, d := now.Date()
	return nearest([]time.Time{
		time.Date(y, mo, d-1, h, mi, 0, 0, loc),
		time.Date(y, mo, d, h, mi, 0, 0, loc),
		time.Date(y, mo, d+1, h, mi, 0, 0, loc),
	}), true
}

// ClassifyAt is Classify for a screen captured at now: a limited pane's
// ResetsAt is resolved (the CLI's zone, when the screen names none, is
// loc's; nil: the local zone).
func ClassifyAt(text string, now time.Time, loc *time.Location) Result {
	r := Classify(text)
	r.Resolve(now, loc)
	return r
}

// Resolve fills ResetsAt from ResetText against the capture time now.
func (r *Result) Resolve(now time.Time, loc *time.Location) {
	if r.State != Limited || r.ResetText == "" {
		return
	}
	if t, ok := ResolveReset(r.ResetText, now, loc); ok {
		r.ResetsAt = t.Format(time.RFC3339)
	}
}

// The /rate-limit-options dialog ("What do you want to do?"), which the CLI
// opens at a limit and on the command: "Stop and wait for limit to reset"
// (or "Stop"), "Wait here, then continue automatically at 11:24am" /
// "Don’t continue automatically", "Switch to Sonnet 4.6 and continue",
// "Add funds to continue with usage credits" / "Switch to usage credits",
// "Upgrade your plan" (2.1.332). It has no input box: read alone, it is
// a chooser, but the agent is at its usage limit.
var (
	limitDialogTitle = "whatdoyouwanttodo?"
	// limitDialogOwn are labels only this dialog has, and only at a limit.
	limitDialogOwn = []string{"stopandwaitforlimittoreset", "waithere,thencontinueautomatically", "continueautomatically"}
	// limitDialogOther are its other labels, which say a limit only with a
	// limit message on screen.
	limitDialogOther = []string{"addfundstocontinuewith", "switchtousagecredits", "upgradeyourplan", "askyouradminformoreusage", "askyouradminto"}
)

// limitDialog reads the /rate-limit-options dialog open between lo and hi
// as a usage limit: the reason and reset from the limit message above it
// (the turn before "/rate-limit-options", up to 60 lines back), else from
// the dialog's own "continue automatically at 11:24am".
func (sc *screen) limitDialog(lo, hi int) (Result, bool) {
	zq := sc.sqOf(lo, hi)
	tp := sc.index(zq, limitDialogTitle)
	if tp < 0 {
		return Result{}, false
	}
	own := -1
	for _, p := range limitDialogOwn {
		if i := sc.index(zq[tp:], p); i >= 0 {
			own = tp + i
			break
		}
	}
	wide := max(sc.last-60, 0)
	region := sc.sqOf(wide, sc.last)
	reason, rp := sc.limitIn(region)
	if own < 0 {
		if reason == "" || !sc.containsAny(zq[tp:], limitDialogOther) {
			return Result{}, false // another "What do you want to do?"
		}
	}
	base := sc.lines[lo].sq0
	ev := sc.logical(sc.lineAt(base+tp), lo, hi)
	if reason != "" {
		ev = sc.logical(sc.lineAt(sc.lines[wide].sq0+rp), wide, sc.last)
	} else {
		reason = ReasonUsageLimit
	}
	var raw strings.Builder
	for i := wide; i <= sc.last; i++ {
		raw.WriteString(sc.lines[i].s)
		raw.WriteByte('\n')
	}
	return Result{State: Limited, Reason: reason, Evidence: ev, ResetText: resetText(raw.String())}, true
}

// IsLimitDialog reports whether a chooser (ParseDialog) is the
// /rate-limit-options dialog, which a limited pane may show and /answer
// may answer.
func IsLimitDialog(d Dialog) bool {
	if strings.EqualFold(strings.TrimSpace(d.Question), "What do you want to do?") {
		return true
	}
	for _, o := range d.Options {
		l := strings.ToLower(o.Label)
		if strings.HasPrefix(l, "stop and wait for limit to reset") || strings.HasPrefix(l, "wait here, then continue automatically") {
			return true
		}
	}
	return false
}

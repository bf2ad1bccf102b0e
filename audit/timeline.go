package audit

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Agent states, as the fleet reports them.
func isHealthy(state string) bool { return state == "working" || state == "idle" }

func isOutage(state string) bool {
	return state == "auth_failed" || state == "api_error" || state == "exited"
}

// LimitedTime sums, per agent, the time spent limited by a usage limit in
// records (transitions in time order); a limit still on counts until now.
func LimitedTime(records []Record, now time.Time) map[string]time.Duration {
	since := map[string]time.Time{}
	out := map[string]time.Duration{}
	for _, r := range records {
		if r.Kind != KindTransition || r.To == "" {
			continue
		}
		for _, a := range r.Agents {
			t, on := since[a]
			switch {
			case r.To == "limited" && !on:
				since[a] = r.Time
			case r.To != "limited" && on:
				out[a] += r.Time.Sub(t)
				delete(since, a)
			}
		}
	}
	for a, t := range since {
		out[a] += now.Sub(t)
	}
	return out
}

// Incident is one outage: from the first agent falling into auth_failed,
// api_error or exited until every agent that fell is working or idle again.
type Incident struct {
	Start, End time.Time // End is zero while Ongoing
	Agents     []string  // every agent that was down during it, in order
	Cause      string    // what the first agent ran into, in plain words ("login expired")
	Ongoing    bool
}

// Duration is how long the incident lasted, or has lasted by now if ongoing.
func (i Incident) Duration(now time.Time) time.Duration {
	end := i.End
	if i.Ongoing || end.IsZero() {
		end = now
	}
	if end.Before(i.Start) {
		return 0
	}
	return end.Sub(i.Start)
}

// Incidents finds the outages in records (any order; sorted by time here).
func Incidents(records []Record) []Incident {
	return incidents(byTime(records))
}

func incidents(recs []Record) []Incident {
	var (
		out  []Incident
		cur  *Incident
		down = map[string]bool{}
	)
	for _, r := range recs {
		if r.Kind != KindTransition {
			continue
		}
		for _, a := range r.Agents {
			switch {
			case isOutage(r.To):
				if down[a] {
					continue
				}
				down[a] = true
				if cur == nil {
					cur = &Incident{Start: r.Time, Cause: stateText(r.To, r.Reason)}
				}
				if !slices.Contains(cur.Agents, a) {
					cur.Agents = append(cur.Agents, a)
				}
			case (isHealthy(r.To) || r.To == "limited") && down[a]: // a CLI waiting for its limit runs again
				delete(down, a)
				if len(down) == 0 {
					cur.End = r.Time
					out = append(out, *cur)
					cur = nil
				}
			}
		}
	}
	if cur != nil {
		cur.Ongoing = true
		out = append(out, *cur)
	}
	return out
}

func byTime(records []Record) []Record {
	recs := slices.Clone(records)
	sort.SliceStable(recs, func(a, b int) bool { return recs[a].Time.Before(recs[b].Time) })
	return recs
}

// FormatDuration writes d in the two largest units, rounded down:
// "4 h 49 m", "6 s", "2 d 3 h".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	units := []struct {
		name string
		secs int64
	}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}}
	s := int64(d / time.Second)
	for i, u := range units {
		if s < u.secs {
			continue
		}
		out := fmt.Sprintf("%d %s", s/u.secs, u.name)
		if i+1 < len(units) {
			next := units[i+1]
			if n := (s % u.secs) / next.secs; n > 0 {
				out += fmt.Sprintf(" %d %s", n, next.name)
			}
		}
		return out
	}
	return "0 s"
}

// stateText says in plain words what an agent's state means.
func stateText(state, reason string) string {
	switch state {
	case "limited":
		switch reason {
		case "weekly_limit":
			return "weekly usage limit (continues after the reset)"
		case "spend_limit":
			return "spend limit reached (continues after the reset)"
		}
		return "usage limit (continues after the reset)"
	case "auth_failed":
		switch reason {
		case "expired":
			return "login expired"
		case "time_limit":
			return "login reached its time limit"
		case "revoked":
			return "login revoked"
		case "not_logged_in":
			return "not logged in"
		case "subscription":
			return "subscription use refused"
		case "forbidden":
			return "access forbidden"
		case "invalid_api_key":
			return "invalid API key"
		case "":
			return "login failed"
		}
		return "login failed: " + words(reason)
	case "api_error":
		if reason == "" {
			return "API error"
		}
		return "API error: " + words(reason)
	case "exited":
		return "Claude Code exited"
	case "working":
		return "back to work"
	case "idle":
		return "back, idle"
	}
	return words(state)
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// Commands that only read: they are not part of the story.
var noiseCommands = map[string]bool{
	"/status": true, "/peek": true, "/help": true, "/start": true, "/timeline": true,
	"/report": true, "/auth": true, "/whoami": true, "/ping": true, "/version": true,
}

// Timeline tells what happened in records, in plain language, one line per
// event (newest last, times in loc), then how long the outages lasted.
// Consecutive events of one kind in the same minute share a line. now is the
// end of an ongoing outage (zero: the last record's time); loc nil means UTC.
func Timeline(records []Record, loc *time.Location, now time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	recs := byTime(records)
	if now.IsZero() && len(recs) > 0 {
		now = recs[len(recs)-1].Time
	}
	tl := &timeline{recs: recs, loc: loc, down: map[string]bool{}, lastText: map[string]string{}, credHealthy: map[string]bool{}, transports: map[string]bool{}}
	tl.prepare()
	tl.build()
	if len(tl.lines) == 0 {
		return "Nothing happened in this period."
	}
	// Dates appear when the story spans days or is not from today.
	nowDay := now.In(loc).Format(time.DateOnly)
	for _, l := range tl.lines {
		if l.t.In(loc).Format(time.DateOnly) != nowDay {
			tl.dates = true
		}
	}
	var b strings.Builder
	prevDay := ""
	for _, l := range tl.lines {
		t := l.t.In(loc)
		if day := t.Format(time.DateOnly); tl.dates && day != prevDay {
			b.WriteString(t.Format("Mon 2 Jan "))
			prevDay = day
		}
		b.WriteString(t.Format("15:04"))
		b.WriteByte(' ')
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	b.WriteString(tl.outages(now))
	return redact(strings.TrimRight(b.String(), "\n"))
}

type timeline struct {
	recs  []Record
	loc   *time.Location
	dates bool
	lines []line

	// prepared
	hidden      map[int]bool
	covered     map[agentAt]bool // transitions told by a restart line
	restarts    map[int]string   // summary index → its line
	delivered   map[int]bool     // alert index → deliveries follow it
	alertAction map[int]string   // delivery index → action of the alert it carried

	// agents' state while building
	down        map[string]bool
	lastText    map[string]string
	credHealthy map[string]bool // by credential, as of its last check
	transports  map[string]bool // chat transports down, by route
}

type agentAt struct {
	i     int
	agent string
}

type line struct {
	t       time.Time
	agents  []string // "a, b: " before the text
	text    string
	details []string // "(…)" after the text
	group   string   // lines with the same group in the same minute merge (agents and details)
	key     string   // identifies a line to replace (a command before its confirmation)
	count   int
	counted bool // show the count when > 1
}

func (l line) String() string {
	var b strings.Builder
	if len(l.agents) > 0 {
		b.WriteString(agentList(l.agents))
		b.WriteString(": ")
	}
	b.WriteString(l.text)
	details := l.details
	if l.counted && l.count > 1 {
		details = append(slices.Clone(details), fmt.Sprintf("%d times", l.count))
	}
	if len(details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(details, "; "))
		b.WriteString(")")
	}
	return b.String()
}

func agentList(agents []string) string {
	const most = 6
	if len(agents) <= most {
		return strings.Join(agents, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(agents[:most-1], ", "), len(agents)-most+1)
}

func (tl *timeline) minute(t time.Time) string { return t.In(tl.loc).Format("2006-01-02 15:04") }

// add appends l, or merges it into an earlier line of the same minute that
// says the same thing.
func (tl *timeline) add(l line) {
	l.count = 1
	for k := len(tl.lines) - 1; k >= 0 && tl.minute(tl.lines[k].t) == tl.minute(l.t); k-- {
		p := &tl.lines[k]
		same := (l.group != "" && p.group == l.group) ||
			(l.group == "" && p.group == "" && len(l.agents) == 0 && len(p.agents) == 0 &&
				p.text == l.text && slices.Equal(p.details, l.details))
		if !same {
			continue
		}
		for _, a := range l.agents {
			if !slices.Contains(p.agents, a) {
				p.agents = append(p.agents, a)
			}
		}
		for _, d := range l.details {
			p.addDetail(d)
		}
		p.count++
		return
	}
	tl.lines = append(tl.lines, l)
}

func (l *line) addDetail(d string) {
	const most = 2
	switch {
	case d == "" || slices.Contains(l.details, d):
	case len(l.details) < most:
		l.details = append(l.details, d)
	case len(l.details) == most:
		l.details = append(l.details, "…")
	}
}

// replace rewrites the latest line with l.key in the same minute as l, in
// place, and reports whether there was one.
func (tl *timeline) replace(l line) bool {
	for k := len(tl.lines) - 1; k >= 0 && tl.minute(tl.lines[k].t) == tl.minute(l.t); k-- {
		if tl.lines[k].key == l.key {
			l.t, l.count = tl.lines[k].t, 1
			tl.lines[k] = l
			return true
		}
	}
	return false
}

// near reports whether a record matching ok lies within [t-before, t+after].
func (tl *timeline) near(t time.Time, before, after time.Duration, ok func(Record) bool) bool {
	for _, r := range tl.recs {
		if !r.Time.Before(t.Add(-before)) && !r.Time.After(t.Add(after)) && ok(r) {
			return true
		}
	}
	return false
}

// prepare links records that tell one story: a restart and its per-agent
// results and recoveries, an alert and its deliveries.
func (tl *timeline) prepare() {
	tl.hidden = map[int]bool{}
	tl.covered = map[agentAt]bool{}
	tl.restarts = map[int]string{}
	tl.delivered = map[int]bool{}
	tl.alertAction = map[int]string{}

	var pending []int // restart records not yet summed up
	lastAlert := -1
	alertByID := map[string]int{}
	for i, r := range tl.recs {
		if id := r.Fields["id"]; r.Kind == KindAlert && id != "" {
			alertByID[id] = i
		}
	}
	for i, r := range tl.recs {
		switch r.Kind {
		case KindRestart:
			if r.Action != "summary" {
				pending = append(pending, i)
				continue
			}
			var keep, mine []int
			for _, p := range pending {
				if len(r.Agents) == 0 || subset(tl.recs[p].Agents, r.Agents) {
					mine = append(mine, p)
					tl.hidden[p] = true
				} else {
					keep = append(keep, p)
				}
			}
			pending = keep
			tl.restarts[i] = tl.restartLine(i, mine)
		case KindAlert:
			lastAlert = i
			if r.Reason == "fleetwarden started" {
				tl.hidden[i] = true // the start record tells it
			}
		case KindDelivery:
			// The alert it carried: by its notification ID, else the last one.
			of, known := alertByID[r.Fields["id"]]
			if !known {
				of = lastAlert
			}
			if of >= 0 && tl.hidden[of] {
				tl.hidden[i] = true // the notice it carried is told otherwise
				continue
			}
			action := r.Action
			if action == "" && of >= 0 {
				action = tl.recs[of].Action
			}
			tl.alertAction[i] = action
			if of >= 0 {
				tl.delivered[of] = true
			}
		}
	}
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func failed(r Record) bool { return r.Action == "failed" || (r.OK != nil && !*r.OK) }

// restartLine sums up a restart: how many agents, which failed, how soon the
// others were working again. The transitions of a restarted agent from the
// start of the restart to its recovery are told by this line alone.
func (tl *timeline) restartLine(summary int, parts []int) string {
	s := tl.recs[summary]
	start, took, timed := tl.restartSpan(s, parts)
	agents, failedAgents, okAgents, errs := tl.restartOutcome(s, parts)
	subject := "agents"
	switch {
	case len(agents) == 1:
		subject = agents[0]
	case len(agents) > 1:
		subject = fmt.Sprintf("%d agents", len(agents))
	}
	if len(failedAgents) == 0 && failed(s) {
		return joinDetail("restart of "+subject+" failed", shorten(s.Error))
	}
	if len(okAgents) == 0 && len(agents) > 0 {
		return joinDetail("restart of "+subject+" failed", strings.Join(errs, "; "))
	}
	when := tl.restartRecovery(s, parts, okAgents, start, took, timed)
	text := subject + " restarted"
	if len(failedAgents) > 0 {
		text = fmt.Sprintf("%d of %d agents restarted", len(okAgents), len(agents))
	}
	text = joinDetail(text, when)
	if len(failedAgents) > 0 {
		text += "; " + joinDetail(agentList(failedAgents)+" failed", strings.Join(errs, "; "))
	}
	return text
}

// restartSpan is when the restart began: the earliest of its records, or
// earlier when its writer timed it ("seconds"), and then how long it took.
func (tl *timeline) restartSpan(s Record, parts []int) (start time.Time, took time.Duration, timed bool) {
	start = s.Time
	// A writer that times the restart itself says how long it took.
	if secs, err := strconv.ParseFloat(s.Fields["seconds"], 64); err == nil && secs >= 0 {
		took, timed = time.Duration(secs*float64(time.Second)), true
		start = s.Time.Add(-took)
	}
	for _, p := range parts {
		if r := tl.recs[p]; r.Time.Before(start) {
			start = r.Time
		}
	}
	return start, took, timed
}

// restartOutcome is which agents the restart touched, which of them failed
// (with their distinct errors) and which did not.
func (tl *timeline) restartOutcome(s Record, parts []int) (agents, failedAgents, okAgents, errs []string) {
	agents = slices.Clone(s.Agents)
	for _, p := range parts {
		r := tl.recs[p]
		for _, a := range r.Agents {
			if !slices.Contains(agents, a) {
				agents = append(agents, a)
			}
			if r.Action != "started" && failed(r) && !slices.Contains(failedAgents, a) {
				failedAgents = append(failedAgents, a)
				if e := shorten(r.Error); e != "" && !slices.Contains(errs, e) {
					errs = append(errs, e)
				}
			}
		}
	}
	for _, a := range agents {
		if !slices.Contains(failedAgents, a) {
			okAgents = append(okAgents, a)
		}
	}
	return agents, failedAgents, okAgents, errs
}

// restartRecovery says when each restarted agent was working again: its
// next transition to working or idle, or, for an agent the restart itself
// saw come back (OK set), the time the restart took.
func (tl *timeline) restartRecovery(s Record, parts []int, okAgents []string, start time.Time, took time.Duration, timed bool) string {
	last := start
	var notBack []string
	backs := 0
	for _, a := range okAgents {
		back, ok := tl.recovery(a, start, s.Time.Add(5*time.Minute))
		if timed && slices.ContainsFunc(parts, func(p int) bool {
			return tl.recs[p].OK != nil && *tl.recs[p].OK && slices.Contains(tl.recs[p].Agents, a)
		}) {
			back, ok = start.Add(took), true
		}
		if !ok {
			notBack = append(notBack, a)
			continue
		}
		backs++
		if back.After(last) {
			last = back
		}
	}
	in := FormatDuration(last.Sub(start))
	switch {
	case len(notBack) == 0 && len(okAgents) == 1:
		return "back in " + in
	case len(notBack) == 0:
		return "all back in " + in
	case backs == 0:
		return "not back"
	}
	return fmt.Sprintf("%d back in %s; %s not back", backs, in, agentList(notBack))
}

// recovery finds when agent was working or idle again between start and
// until, and marks its transitions up to then as told.
func (tl *timeline) recovery(agent string, start, until time.Time) (time.Time, bool) {
	var seen []agentAt
	for i, r := range tl.recs {
		if r.Time.After(until) {
			break
		}
		if r.Kind != KindTransition || r.Time.Before(start) || !slices.Contains(r.Agents, agent) {
			continue
		}
		seen = append(seen, agentAt{i, agent})
		if isHealthy(r.To) {
			for _, k := range seen {
				tl.covered[k] = true
			}
			return r.Time, true
		}
	}
	return time.Time{}, false
}

func joinDetail(text, detail string) string {
	if detail == "" {
		return text
	}
	return text + " (" + detail + ")"
}

// shorten keeps details to one short line.
func shorten(s string) string {
	const most = 80
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= most {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:most-1])) + "…"
}

// by names who did something: "by admin telegram:111".
func by(r Record) string {
	if r.Actor == "" {
		return ""
	}
	if role := r.Fields["role"]; role != "" {
		return "by " + role + " " + r.Actor
	}
	return "by " + r.Actor
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func errorDetail(r Record) string {
	switch {
	case r.Error != "":
		return shorten(r.Error)
	case r.Reason != "":
		return shorten(words(r.Reason))
	}
	return ""
}

func (tl *timeline) build() {
	for i, r := range tl.recs {
		if tl.hidden[i] {
			continue
		}
		switch r.Kind {
		case KindTransition:
			tl.transition(i, r)
		case KindRestart:
			tl.restart(i, r)
		case KindAlert:
			tl.alert(i, r)
		case KindDelivery:
			tl.delivery(i, r)
		case KindCommand:
			tl.command(r)
		case KindRefused:
			what := "a message"
			if strings.HasPrefix(r.Action, "/") {
				what = strings.Fields(r.Action)[0]
			}
			detail := shorten(r.Reason)
			if detail == "" {
				detail = shorten(r.Message)
			}
			tl.add(line{t: r.Time, text: join("refused", what, "from", r.Actor), details: nonEmpty(detail), counted: true})
		case KindLogin:
			tl.login(r)
		case KindCredential:
			tl.credential(r)
		case KindSilence:
			tl.silence(r)
		case KindReport:
			text := "report sent"
			if r.Route != "" {
				text += " " + routeText(r.Route)
			}
			var details []string
			if failed(r) {
				details = []string{"failed" + prefixed(": ", errorDetail(r))}
			}
			tl.add(line{t: r.Time, text: text, details: details})
		case KindConfig:
			tl.config(r)
		case KindStart:
			tl.add(line{t: r.Time, text: "fleetwarden started"})
		case KindStop:
			tl.add(line{t: r.Time, text: "fleetwarden stopped", details: nonEmpty(errorDetail(r))})
		default:
			text := join(words(string(r.Kind)), words(r.Action))
			if m := shorten(r.Message); m != "" {
				text += ": " + m
			}
			tl.add(line{t: r.Time, agents: r.Agents, text: text})
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func (tl *timeline) transition(i int, r Record) {
	for _, a := range r.Agents {
		wasDown := tl.down[a] || isOutage(r.From)
		var text string
		switch {
		case isOutage(r.To):
			tl.down[a] = true
			text = stateText(r.To, r.Reason)
			if tl.lastText[a] == text {
				continue // same trouble, new evidence
			}
			tl.lastText[a] = text
		case r.To == "limited":
			// Not an outage (the CLI continues by itself), but hours lost.
			tl.down[a] = true
			text = stateText(r.To, r.Reason)
			if tl.lastText[a] == text {
				continue
			}
			tl.lastText[a] = text
		case isHealthy(r.To):
			delete(tl.down, a)
			delete(tl.lastText, a)
			if !wasDown {
				continue // working ↔ idle is not news
			}
			text = stateText(r.To, "")
		default:
			continue // prompts, login screens: told by the login lines
		}
		if tl.covered[agentAt{i, a}] {
			continue
		}
		l := line{t: r.Time, agents: []string{a}, text: text, group: "state:" + text}
		if isOutage(r.To) {
			l.details = nonEmpty(shorten(r.Message))
		}
		tl.add(l)
	}
}

func (tl *timeline) restart(i int, r Record) {
	if text, ok := tl.restarts[i]; ok {
		tl.add(line{t: r.Time, text: text})
		return
	}
	// Parts of a restart that was never summed up (still running, or the
	// writer does not write summaries).
	switch {
	case r.Action == "started":
		subject := agentList(r.Agents)
		if len(r.Agents) > 1 {
			subject = fmt.Sprintf("%d agents", len(r.Agents))
		}
		tl.add(line{t: r.Time, text: join("restarting", subject)})
	case failed(r):
		tl.add(line{t: r.Time, agents: r.Agents, text: "restart failed", group: "restart failed", details: nonEmpty(shorten(r.Error))})
	default:
		tl.add(line{t: r.Time, agents: r.Agents, text: "restarted", group: "restarted"})
	}
}

func (tl *timeline) alert(i int, r Record) {
	if st, ok := strings.CutPrefix(r.Action, "transport_"); ok {
		tl.transport(r, st)
		return
	}
	noun := "alert"
	switch r.Action {
	case "resolved":
		if len(r.Agents) > 0 {
			return // the agents' recovery tells it
		}
		noun = "alert resolved"
	case "repeated":
		noun = "alert repeated"
	}
	// An alert about agents follows the lines about them; its deliveries
	// tell the rest.
	if tl.delivered[i] && (len(r.Agents) > 0 || r.Message == "") {
		return
	}
	text := noun
	if m := shorten(r.Message); m != "" {
		text += ": " + m
	} else if len(r.Agents) > 0 {
		text += " for " + agentList(r.Agents)
	}
	tl.add(line{t: r.Time, text: text})
}

// transport tells a chat transport going down and coming back; that it is
// up at start, or sending slowly for a moment, is no news.
func (tl *timeline) transport(r Record, state string) {
	name := strings.TrimPrefix(routeText(r.Route), "to ")
	was := tl.transports[r.Route]
	switch state {
	case "down":
		tl.transports[r.Route] = true
		if !was {
			tl.add(line{t: r.Time, text: name + " unreachable", details: nonEmpty(shorten(r.Error))})
		}
	case "up":
		delete(tl.transports, r.Route)
		if was {
			tl.add(line{t: r.Time, text: name + " reachable again"})
		}
	}
}

func (tl *timeline) delivery(i int, r Record) {
	noun := "message"
	switch tl.alertAction[i] {
	case "fired", "":
		noun = "alert"
	case "repeated":
		noun = "reminder"
	case "resolved":
		if !failed(r) {
			return // a delivered all-clear adds nothing to the recovery
		}
		noun = "all-clear"
	case "report":
		noun = "report"
	}
	var details []string
	if failed(r) {
		details = []string{"failed" + prefixed(": ", errorDetail(r))}
	}
	tl.add(line{t: r.Time, text: join(noun, "sent", routeText(r.Route)), details: details})
}

// routeText: "to Telegram", "by email", "to webhook ops".
func routeText(route string) string {
	kind, name, _ := strings.Cut(route, ":")
	switch strings.ToLower(kind) {
	case "telegram":
		return "to Telegram"
	case "discord":
		return "to Discord"
	case "email", "mail", "smtp":
		return "by email"
	case "webhook":
		return join("to webhook", name)
	case "exec", "command":
		return join("by command", name)
	case "console":
		return "to the console"
	case "":
		return ""
	}
	return "via " + route
}

func (tl *timeline) command(r Record) {
	fields := strings.Fields(r.Action)
	if len(fields) == 0 {
		return
	}
	name := fields[0]
	confirmed := strings.Contains(r.Action, "(confirmed)")
	args := shorten(r.Fields["args"])
	if noiseCommands[name] || r.Message == "usage" || args == "list" || strings.HasPrefix(args, "list ") {
		return
	}
	// A silence command is told by the silence record it made.
	if strings.Contains(name, "silence") && tl.near(r.Time, time.Minute, time.Minute, func(s Record) bool {
		return s.Kind == KindSilence && s.Actor == r.Actor
	}) {
		return
	}
	what := name
	if args != "" {
		what += " " + args
	} else if len(r.Agents) > 0 {
		what += " " + agentList(r.Agents)
	}
	var text string
	switch {
	case name == "/code":
		// The login's own record tells it, at the time the code went in
		// (this one is written when the login, verification and restart
		// are over).
		if tl.near(r.Time, 15*time.Minute, 0, func(l Record) bool { return l.Kind == KindLogin && l.Action == "code_submitted" }) {
			return
		}
		text = join("code submitted", by(r))
	case r.Message == "cancelled":
		text = join(what, "cancelled", by(r))
	case confirmed:
		text = join(what, "confirmed", by(r))
	default:
		text = join(what, by(r))
	}
	var details []string
	if r.Message == "error" || r.Error != "" {
		details = []string{"failed" + prefixed(": ", shorten(r.Error))}
	}
	if o := shorten(r.Fields["outcome"]); o != "" {
		// What an /answer or /send typed into the agent, and how it went on.
		details = append(details, o)
	}
	l := line{t: r.Time, text: text, details: details, key: "cmd " + r.Actor + " " + name}
	// A confirmation answers the question the command asked: one line for
	// both, where the command was.
	if (confirmed || r.Message == "cancelled") && tl.replace(l) {
		return
	}
	tl.add(l)
}

func (tl *timeline) login(r Record) {
	isCmd := func(name string) func(Record) bool {
		return func(c Record) bool {
			f := strings.Fields(c.Action)
			return c.Kind == KindCommand && len(f) > 0 && f[0] == name
		}
	}
	var text string
	switch r.Action {
	case "started", "url_sent":
		// The /login line already says someone asked for it.
		if tl.near(r.Time, 5*time.Minute, time.Minute, isCmd("/login")) {
			return
		}
		if r.Action == "started" {
			text = join("login started", by(r))
		} else {
			text = join("login link sent", prefixed("to ", r.Actor))
		}
	case "code_submitted":
		who := by(r)
		for _, c := range tl.recs {
			// The /code command, written when it is over, knows the role.
			if isCmd("/code")(c) && c.Actor == r.Actor && !c.Time.Before(r.Time) && c.Time.Sub(r.Time) < 15*time.Minute {
				who = by(c)
				break
			}
		}
		text = join("code submitted", who)
	case "verified":
		text = "login verified"
		if m := shorten(r.Message); m != "" {
			tl.add(line{t: r.Time, agents: r.Agents, text: text, details: []string{m}})
			return
		}
	case "failed":
		text = "login failed"
	case "cancelled":
		text = join("login cancelled", by(r))
	case "timeout":
		text = "login timed out"
	default:
		text = join("login", words(r.Action))
	}
	tl.add(line{t: r.Time, agents: r.Agents, text: text, details: nonEmpty(errorDetail(r))})
}

func (tl *timeline) credential(r Record) {
	var text string
	switch r.Action {
	case "checked":
		// Scheduled checks are news only when a credential's health changes.
		name, detail := r.Fields["credential"], r.Message
		if name == "" {
			name, detail, _ = strings.Cut(r.Message, ": ")
		} else {
			detail = strings.TrimPrefix(detail, name+": ")
		}
		healthy := r.OK == nil || *r.OK
		was, seen := tl.credHealthy[name]
		tl.credHealthy[name] = healthy
		switch {
		case healthy && seen && !was:
			tl.add(line{t: r.Time, text: join("credential", name, "healthy again")})
		case !healthy && (!seen || was):
			tl.add(line{t: r.Time, text: join("credential", name, "unhealthy"), details: nonEmpty(shorten(detail))})
		}
		return
	case "use":
		tl.add(line{t: r.Time, agents: r.Agents, text: join("moved to credential", r.To, by(r))})
		return
	case "failover":
		l := line{t: r.Time, agents: r.Agents, text: join("failed over", prefixed("from credential ", r.From), prefixed("to ", r.To)),
			details: nonEmpty(words(r.Reason))}
		if failed(r) {
			l.details = append(l.details, "restart failed"+prefixed(": ", errorDetail(r)))
		}
		tl.add(l)
		return
	case "limit_failover", "limit_failback":
		text := join("moved to credential", r.To, "while the usage limit waits", prefixed("from ", r.From))
		if r.Action == "limit_failback" {
			text = join("moved back to credential", r.To, "after the usage limit reset", prefixed("from ", r.From))
		}
		l := line{t: r.Time, agents: r.Agents, text: text}
		if failed(r) {
			l.details = append(l.details, "restart failed"+prefixed(": ", errorDetail(r)))
		}
		tl.add(l)
		return
	case "expiry_warning":
		what, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimLeft(r.Message, "⏳ "), "The "), ". Log in")
		tl.add(line{t: r.Time, text: "expiry warning sent", details: nonEmpty(shorten(what))})
		return
	case "switch", "switched":
		text = join("switched credentials", prefixed("from ", r.From), prefixed("to ", r.To), by(r))
	default:
		name := r.Fields["credential"]
		if name == "" {
			name = r.Fields["name"]
		}
		text = join("credential", name)
		switch {
		case r.From != "" && r.To != "":
			text += ": " + words(r.From) + " → " + words(r.To)
		case r.To != "":
			text += ": " + words(r.To)
		case r.Message != "":
			text += ": " + shorten(r.Message)
		case r.Action != "":
			text += ": " + words(r.Action)
		}
	}
	detail := errorDetail(r)
	if detail == "" && r.Action != "" && r.Message != "" && !strings.Contains(text, shorten(r.Message)) {
		detail = shorten(r.Message)
	}
	tl.add(line{t: r.Time, text: text, details: nonEmpty(detail)})
}

func (tl *timeline) silence(r Record) {
	var text string
	switch r.Action {
	case "removed", "deleted", "cancelled", "lifted", "clear", "cleared":
		text = "silence lifted"
		if m := shorten(r.Message); m != "" {
			text = m
		}
		text = join(text, by(r))
	case "expired", "ended":
		text = "silence ended"
	default:
		text = "alerts silenced"
		if len(r.Agents) > 0 {
			text += " for " + agentList(r.Agents)
		}
		until, err := time.Parse(time.RFC3339, r.Fields["until"])
		switch {
		case err != nil && r.Message != "":
			text = shorten(r.Message) // the writer said it in its own words
		case err != nil:
		default:
			u := until.In(tl.loc)
			if u.Format(time.DateOnly) != r.Time.In(tl.loc).Format(time.DateOnly) {
				text += " until " + u.Format("Mon 2 Jan 15:04")
			} else {
				text += " until " + u.Format("15:04")
			}
		}
		text = join(text, by(r))
	}
	tl.add(line{t: r.Time, text: text, details: nonEmpty(shorten(r.Reason))})
}

// outages sums up the incidents in the records.
func (tl *timeline) outages(now time.Time) string {
	incs := incidents(tl.recs)
	switch len(incs) {
	case 0:
		return ""
	case 1:
		if incs[0].Ongoing {
			return fmt.Sprintf("Outage ongoing: %s so far.", FormatDuration(incs[0].Duration(now)))
		}
		return fmt.Sprintf("Outage: %s.", FormatDuration(incs[0].Duration(now)))
	}
	parts := make([]string, len(incs))
	for k, inc := range incs {
		from := inc.Start.In(tl.loc).Format("15:04")
		if tl.dates {
			from = inc.Start.In(tl.loc).Format("Mon 2 Jan 15:04")
		}
		if inc.Ongoing {
			parts[k] = fmt.Sprintf("%s so far (from %s, ongoing)", FormatDuration(inc.Duration(now)), from)
		} else {
			parts[k] = fmt.Sprintf("%s (from %s)", FormatDuration(inc.Duration(now)), from)
		}
	}
	return fmt.Sprintf("%d outages: %s.", len(incs), strings.Join(parts, ", "))
}

// config tells a reload, the last good config taking over, or safe mode,
// with the changes or errors as details.
func (tl *timeline) config(r Record) {
	text := map[string]string{
		"reload":           "config reloaded",
		"reload_waiting":   "config reload waits for an admin's confirmation",
		"reload_invalid":   "config reload refused: the file does not load",
		"reload_unchanged": "config reload: no changes",
		"reload_failed":    "the reloaded config did not start: back on the previous one",
		"last_good_used":   "config did not load: running on the last good config",
		"safe_mode":        "started in safe mode",
	}[r.Action]
	if text == "" {
		text = join("config", words(r.Action))
	}
	if r.Actor != "" && r.Actor != "fleetwarden" {
		text = join(text, by(r))
	}
	msg := r.Message
	if r.Action == "last_good_used" {
		msg, _, _ = strings.Cut(msg, " — ") // the errors; the text says the rest
	}
	var details []string
	for _, l := range strings.Split(msg, "\n") {
		// The changes, without their headings ("Applies at once:").
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, ":") {
			details = append(details, shorten(l))
		}
	}
	if e := errorDetail(r); e != "" {
		details = append(details, e)
	}
	tl.add(line{t: r.Time, text: text, details: details})
}

package commands

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
)

type recorder struct {
	mu      sync.Mutex
	replies []Reply
	// As a chat that can delete the request message (Telegram).
	deletes   int
	deleteErr error // what the chat answers a deletion
	removed   int   // RemoveButtons calls
}

func (r *recorder) DeleteRequest(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes++
	return r.deleteErr
}

func (r *recorder) RemoveButtons(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed++
	return nil
}

func (r *recorder) Reply(_ context.Context, rep Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, rep)
	return nil
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []string
	for _, rep := range r.replies {
		b = append(b, rep.Text+rep.Pre)
	}
	return strings.Join(b, "\n")
}

type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAudit) Append(r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) kinds() []audit.Kind {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Kind
	for _, r := range m.recs {
		out = append(out, r.Kind)
	}
	return out
}

type fakeFleet struct {
	sts  []fleet.Status
	pane string
}

func (f *fakeFleet) Snapshot() []fleet.Status { return f.sts }
func (f *fakeFleet) Peek(_ context.Context, agent string, lines int) (string, error) {
	ls := strings.Split(f.pane, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n"), nil
}

var now = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

func newTestHandler(t *testing.T) (*Handler, *memAudit) {
	t.Helper()
	acl := NewACL()
	acl.Grant("telegram", RoleAdmin, "1")
	acl.Grant("telegram", RoleOperator, "2")
	acl.Grant("telegram", RoleViewer, "3")
	a := &memAudit{}
	h := NewHandler(Options{ACL: acl, Audit: a, Now: func() time.Time { return now }})
	f := &fakeFleet{
		sts: []fleet.Status{
			{Name: "builder", Target: "fleet:builder", State: claude.Idle, Since: now.Add(-3 * time.Minute)},
			{Name: "docs", Target: "fleet:docs", State: claude.AuthFailed, Reason: claude.ReasonExpired,
				Since: now.Add(-2 * time.Hour), Evidence: "Login expired · Please run /login"},
		},
		pane: "line1\nsecret sk-ant-oat01-AAAABBBBCCCCDDDD\nline3",
	}
	RegisterFleet(h, f, func(context.Context) []CredentialStatus {
		return []CredentialStatus{{Name: "default", Kind: "oauth-file", Healthy: false, Detail: "dead: refresh token empty — run /login"}}
	})
	return h, a
}

func ask(t *testing.T, h *Handler, user string, private bool, text string) string {
	t.Helper()
	var r recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: user, ChatID: "c", Private: private, Text: text}, &r)
	return r.text()
}

func TestAccessControl(t *testing.T) {
	h, a := newTestHandler(t)
	tests := []struct {
		user, text string
		private    bool
		want       string
	}{
		{"99", "/status", true, Refusal},
		{"99", "/status", false, ""}, // strangers in groups get nothing at all
		{"3", "/status", false, "2 agents: 1 idle, 1 auth_failed"},
		{"3", "/peek builder", true, "/peek needs the operator role; you are viewer."},
		{"2", "/peek builder", true, "builder, last 20 lines:"},
		{"1", "/nosuch", true, "Unknown command /nosuch"},
	}
	for _, tc := range tests {
		got := ask(t, h, tc.user, tc.private, tc.text)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("user %s %q: got %q, want %q", tc.user, tc.text, got, tc.want)
		}
	}
	refused := 0
	for _, k := range a.kinds() {
		if k == audit.KindRefused {
			refused++
		}
	}
	// The stranger's second attempt falls in the window of the first: it is
	// counted, and journaled with the count when the window ends.
	if refused != 2 {
		t.Errorf("got %d refused records, want 2 (the stranger's first attempt, the viewer on /peek): %v", refused, a.kinds())
	}
}

func TestHelpListsOnlyAllowed(t *testing.T) {
	h, _ := newTestHandler(t)
	viewer := ask(t, h, "3", true, "/help")
	if strings.Contains(viewer, "/peek") || !strings.Contains(viewer, "/status") {
		t.Errorf("viewer help = %q, want /status and no /peek", viewer)
	}
	op := ask(t, h, "2", true, "/help")
	if !strings.Contains(op, "/peek AGENT [lines]") {
		t.Errorf("operator help = %q, want /peek with usage", op)
	}
}

func TestPeekUsageAndRedaction(t *testing.T) {
	h, _ := newTestHandler(t)
	for _, text := range []string{"/peek builder lots", "/peek builder 0", "/peek a b c"} {
		if got := ask(t, h, "1", true, text); !strings.Contains(got, "usage: /peek AGENT [lines]") {
			t.Errorf("%q: got %q, want usage", text, got)
		}
	}
	// Without an agent: one button per agent.
	out := &recorder{}
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", Private: true, Text: "/peek"}, out)
	if len(out.replies) != 1 || len(out.replies[0].Buttons) != 2 || !strings.HasSuffix(out.replies[0].Buttons[0].Text, "builder") {
		t.Errorf("/peek alone = %+v, want a button per agent", out.replies)
	} else {
		press := &recorder{}
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", Private: true, Callback: out.replies[0].Buttons[0].Data}, press)
		if got := press.text(); !strings.Contains(got, "builder, last 20 lines") {
			t.Errorf("pressing builder's button: %q, want its pane", got)
		}
	}
	if got := ask(t, h, "1", true, "/peek nobody"); !strings.Contains(got, `no agent named "nobody"`) {
		t.Errorf("unknown agent: got %q", got)
	}
	got := ask(t, h, "1", true, "/peek docs 2")
	if strings.Contains(got, "AAAABBBBCCCCDDDD") || !strings.Contains(got, "line3") {
		t.Errorf("peek = %q, want the last 2 lines with the token redacted", got)
	}
}

func TestStatusAndAuthText(t *testing.T) {
	h, _ := newTestHandler(t)
	st := ask(t, h, "3", true, "/status")
	// Agents that need a human come first.
	if i, j := strings.Index(st, "docs"), strings.Index(st, "builder"); i < 0 || j < 0 || i > j {
		t.Errorf("status = %q, want docs (failed) listed before builder", st)
	}
	if !strings.Contains(st, "auth_failed (expired) for 2h") {
		t.Errorf("status = %q, want reason and duration", st)
	}
	au := ask(t, h, "3", true, "/auth")
	for _, want := range []string{"Login failed on 1 of 2 agents. /login fixes it.", "docs: expired", "❌ default (oauth-file): dead"} {
		if !strings.Contains(au, want) {
			t.Errorf("auth = %q, want %q", au, want)
		}
	}
}

func TestConfirmation(t *testing.T) {
	h, a := newTestHandler(t)
	ran := 0
	h.Register(Command{Name: "boom", Role: RoleOperator, Help: "x", Run: func(ctx context.Context, c *Call) error {
		return c.Confirm(ctx, "Really?", func(ctx context.Context, c *Call) error {
			ran++
			return c.Reply(ctx, "done")
		})
	}})
	var r recorder
	req := Request{Platform: "telegram", UserID: "2", Private: true, Text: "/boom"}
	h.Handle(t.Context(), req, &r)
	if len(r.replies) != 1 || len(r.replies[0].Buttons) != 2 {
		t.Fatalf("got %+v, want one question with two buttons", r.replies)
	}
	yes := r.replies[0].Buttons[0].Data
	if len(yes) > 64 {
		t.Errorf("callback data %q is longer than 64 bytes", yes)
	}
	// Someone else cannot confirm.
	var other recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", Private: true, Callback: yes}, &other)
	if ran != 0 || !strings.Contains(other.text(), "Only the person who asked") {
		t.Errorf("other user: ran=%d reply %q", ran, other.text())
	}
	if !slices.Contains(a.kinds(), audit.KindRefused) {
		t.Errorf("the other user's press left no refused record: %v", a.kinds())
	}
	var mine recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "2", Private: true, Callback: yes}, &mine)
	if ran != 1 || mine.text() != "done" {
		t.Errorf("confirm: ran=%d reply %q", ran, mine.text())
	}
	// A second press of the same button does nothing.
	var again recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "2", Private: true, Callback: yes}, &again)
	if ran != 1 || !strings.Contains(again.text(), "expired") {
		t.Errorf("second press: ran=%d reply %q", ran, again.text())
	}
	if ks := a.kinds(); len(ks) == 0 || ks[len(ks)-1] != audit.KindCommand {
		t.Errorf("audit kinds %v, want a command record last", ks)
	}
}

func TestPrivateOnlyAndErrors(t *testing.T) {
	h, a := newTestHandler(t)
	h.Register(Command{Name: "secret", Role: RoleAdmin, Private: true, Help: "x", Run: func(ctx context.Context, c *Call) error {
		return errors.New("it failed with sk-ant-oat01-SECRETSECRETSECRET")
	}})
	if got := ask(t, h, "1", false, "/secret abc#def"); !strings.Contains(got, "only in a private chat") {
		t.Errorf("group: got %q", got)
	}
	got := ask(t, h, "1", true, "/secret abc#def")
	if strings.Contains(got, "SECRETSECRET") || !strings.HasPrefix(got, "✗") {
		t.Errorf("error reply %q must be marked and redacted", got)
	}
	for _, r := range a.recs {
		if strings.Contains(r.Fields["args"], "abc#def") {
			t.Errorf("audit recorded a private command's arguments: %+v", r)
		}
	}
}

func TestPanicInCommandIsAnError(t *testing.T) {
	h, _ := newTestHandler(t)
	h.Register(Command{Name: "bad", Role: RoleViewer, Help: "x", Run: func(context.Context, *Call) error { panic("oops") }})
	if got := ask(t, h, "3", true, "/bad"); !strings.Contains(got, "internal error in /bad") {
		t.Errorf("got %q", got)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		args int
		ok   bool
	}{
		{"/status", "status", 0, true},
		{"/Status@fleet_bot a b", "status", 2, true},
		{"  /peek   x  ", "peek", 1, true},
		{"hello", "", 0, false},
		{"/", "", 0, false},
		{"", "", 0, false},
	} {
		name, args, ok := parse(tc.in)
		if name != tc.name || len(args) != tc.args || ok != tc.ok {
			t.Errorf("parse(%q) = %q %v %v, want %q %d %v", tc.in, name, args, ok, tc.name, tc.args, tc.ok)
		}
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 12 * time.Minute: "12m", 3*time.Hour + 5*time.Minute: "3h5m",
		2 * time.Hour: "2h", 50 * time.Hour: "2d2h", -time.Second: "0s",
	} {
		if got := Ago(d); got != want {
			t.Errorf("Ago(%v) = %q, want %q", d, got, want)
		}
	}
}

type fakeLogin struct {
	codes []string
	done  chan struct{}
}

func (f *fakeLogin) URL() string { return "https://claude.com/cai/oauth/authorize?state=x" }
func (f *fakeLogin) Submit(_ context.Context, code string) (claude.LoginOutcome, error) {
	f.codes = append(f.codes, code)
	return claude.LoginOutcome{OK: true}, nil
}
func (f *fakeLogin) Cancel()               {}
func (f *fakeLogin) Done() <-chan struct{} { return f.done }

func TestReplyToTheLoginMessageIsTheCode(t *testing.T) {
	h, _ := newTestHandler(t)
	fl := &fakeLogin{done: make(chan struct{})}
	RegisterRecovery(h, Recovery{
		Fleet:      &fakeFleet{},
		StartLogin: func(context.Context) (LoginSession, error) { return fl, nil },
		Verify:     func(context.Context) (string, error) { return "fresh", nil },
		AfterLogin: "failed",
		Restarter:  nil,
	})
	login := ask(t, h, "1", true, "/login")
	if !strings.Contains(login, LoginHint) {
		t.Fatalf("login reply %q lacks the hint", login)
	}
	var r recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", Private: true, Text: "abcdefgh#state123", ReplyTo: login}, &r)
	if len(fl.codes) != 1 || fl.codes[0] != "abcdefgh#state123" || !strings.Contains(r.text(), "Login verified: fresh") {
		t.Errorf("reply to the login message: codes %q, replies %q", fl.codes, r.text())
	}
	if r.deletes != 1 {
		t.Errorf("the message holding the code was deleted %d times, want once", r.deletes)
	}
}

// Two /login at once (a double tap, or Telegram and Discord together) start
// one login: the second waits while the first starts its CLI, then says a
// login is in progress.
func TestLoginStartsOnceWhenAskedTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newTestHandler(t)
		var started atomic.Int32
		urlReady := make(chan struct{})
		session := &fakeLogin{done: make(chan struct{})}
		defer close(session.done) // the login ends with the test
		RegisterRecovery(h, Recovery{
			Fleet: &fakeFleet{},
			StartLogin: func(context.Context) (LoginSession, error) {
				started.Add(1)
				<-urlReady // the CLI takes a moment to print its URL
				return session, nil
			},
			Verify: func(context.Context) (string, error) { return "fresh", nil },
		})
		var first, second recorder
		login := func(r *recorder) {
			h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", Private: true, Text: "/login"}, r)
		}
		var wg sync.WaitGroup
		wg.Go(func() { login(&first) })
		synctest.Wait() // the first is starting the CLI
		wg.Go(func() { login(&second) })
		synctest.Wait() // the second has come as far as it can
		if n := started.Load(); n != 1 {
			t.Fatalf("%d logins started for two /login, want 1", n)
		}
		close(urlReady)
		wg.Wait()
		if !strings.Contains(first.text(), "Open the login page") {
			t.Errorf("first /login: %q, want the login link", first.text())
		}
		if got := second.text(); !strings.Contains(got, "already in progress") || strings.Contains(got, "oauth/authorize") {
			t.Errorf("second /login: %q, want 'already in progress' and no second link", got)
		}
	})
}

// A pane on the login screen shows the login link (and maybe a code being
// typed): /peek shows them only to an admin in a private chat.
func TestPeekHidesTheLoginLink(t *testing.T) {
	h := NewHandler(Options{ACL: func() *ACL {
		acl := NewACL()
		acl.Grant("telegram", RoleAdmin, "1")
		acl.Grant("telegram", RoleOperator, "2")
		return acl
	}(), Now: func() time.Time { return now }})
	link := "https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a&code_challenge=Ol6i3EaoBtXW&state=b9sYsbcXxTvHhxM7"
	RegisterFleet(h, &fakeFleet{sts: []fleet.Status{{Name: "builder", State: claude.LoggingIn}},
		pane: " Browser didn't open? Use the URL below to sign in\n\n" + link + "\n\n Paste code here if prompted\n"}, nil)
	tests := []struct {
		user     string
		private  bool
		wantLink bool
	}{
		{"1", true, true},   // admin, private chat
		{"1", false, false}, // admin, in a group
		{"2", true, false},  // operator
	}
	for _, tt := range tests {
		got := ask(t, h, tt.user, tt.private, "/peek builder")
		if strings.Contains(got, "state=") != tt.wantLink || !strings.Contains(got, "Paste code here") {
			t.Errorf("user %s private %v: link shown %v, want %v:\n%s", tt.user, tt.private, !tt.wantLink, tt.wantLink, got)
		}
	}
}

func TestRestartReportNamesWhoWasMidTask(t *testing.T) {
	res := []fleet.RestartResult{
		{Agent: "builder", OK: true, State: claude.Working, WasWorking: true},
		{Agent: "docs", OK: true, State: claude.Idle},
		{Agent: "tester", Err: "not back after 1m30s (state auth_failed)", LastLines: "Login expired", WasWorking: true},
	}
	got := RestartReport(res, 6*time.Second)
	for _, want := range []string{"✓ builder", "✗ tester", "Were mid-task when they failed — re-check their work: builder, tester"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "re-check their work: builder, docs") {
		t.Errorf("docs was idle, not mid-task:\n%s", got)
	}
}

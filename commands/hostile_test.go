package commands

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// A stranger's flood gets one refusal per window and costs the journal one
// record for the first attempt and one with the count of the rest.
func TestStrangerFloodGetsOneRefusalPerWindow(t *testing.T) {
	h, a := newTestHandler(t)
	var mu sync.Mutex
	clock := now
	h.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	var r recorder
	for i := range 10000 {
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: "99", UserName: "mallory", ChatID: "99", Private: true, Text: "/restart all"}, &r)
		if i == 5000 {
			mu.Lock()
			clock = clock.Add(RefusalWindow - time.Second) // still the same window
			mu.Unlock()
		}
	}
	if len(r.replies) != 1 || r.replies[0].Text != Refusal {
		t.Fatalf("the stranger got %d replies, want one refusal: %+v", len(r.replies), r.replies[:min(3, len(r.replies))])
	}
	if got := len(a.recs); got != 1 {
		t.Fatalf("the flood so far wrote %d journal records, want 1 (the first attempt)", got)
	}
	// The window ends: the next attempt is answered again, and the last
	// window is journaled as one count.
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "99", ChatID: "99", Private: true, Text: "/status"}, &r)
	if len(r.replies) != 2 {
		t.Errorf("after the window the stranger got %d replies in all, want 2", len(r.replies))
	}
	if len(a.recs) != 3 || a.recs[1].Fields["count"] != "9999" || a.recs[1].Actor != "telegram:99" {
		t.Fatalf("journal after the window: %+v, want first attempt, a count of 9999, the new first attempt", a.recs)
	}
	// Another stranger is counted on their own.
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "98", ChatID: "98", Private: true, Text: "/status"}, &r)
	if len(r.replies) != 3 {
		t.Errorf("a second stranger got no refusal")
	}
	// Stopping journals the open windows' counts.
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "98", ChatID: "98", Private: true, Text: "/status"}, &r)
	h.Close()
	last := a.recs[len(a.recs)-1]
	if last.Kind != audit.KindRefused || last.Actor != "telegram:98" || last.Fields["count"] != "1" {
		t.Errorf("at Close the journal ends with %+v, want the count of telegram:98's unanswered attempt", last)
	}
	if len(a.recs) != 5 {
		t.Errorf("%d journal records in all, want 5", len(a.recs))
	}
}

// Pressing an admin's confirmation does not strip its buttons for anyone but
// the asker; the asker's press does.
func TestButtonsRemovedOnlyForTheAsker(t *testing.T) {
	h, _ := newTestHandler(t)
	h.Register(Command{Name: "boom", Role: RoleOperator, Help: "x", Run: func(ctx context.Context, c *Call) error {
		return c.Confirm(ctx, "Really?", func(ctx context.Context, c *Call) error { return c.Reply(ctx, "done") })
	}})
	var q recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", ChatID: "g", Text: "/boom"}, &q)
	yes := q.replies[0].Buttons[0].Data
	for _, user := range []string{"2", "3", "99"} { // operator, viewer, stranger
		var r recorder
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: user, ChatID: "g", Callback: yes}, &r)
		if r.removed != 0 {
			t.Errorf("user %s pressing the admin's button removed its buttons", user)
		}
	}
	var mine recorder
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", ChatID: "g", Callback: yes}, &mine)
	if mine.removed != 1 || mine.text() != "done" {
		t.Errorf("the asker's press: removed %d times, reply %q; want removed once and done", mine.removed, mine.text())
	}
}

// /code in a group: the reply says what became of the message, nothing more.
func TestCodeInAGroupSaysWhatHappened(t *testing.T) {
	h, _ := newTestHandler(t)
	h.Register(Command{Name: "code", Role: RoleAdmin, Private: true, Help: "x", Run: func(context.Context, *Call) error { return nil }})
	for _, tc := range []struct {
		name      string
		user      string
		deleteErr error
		want      []string
		not       string
	}{
		{"deleted", "1", nil, []string{"was deleted"}, "still visible"},
		{"refused", "1", errors.New("Bad Request: message can't be deleted"),
			[]string{"still visible", "message can't be deleted", `"Delete messages"`, "private chat"}, "was deleted"},
		{"viewer refused", "3", errors.New("Bad Request: message can't be deleted"),
			[]string{"needs the admin role", "still visible"}, "was deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := recorder{deleteErr: tc.deleteErr}
			h.Handle(t.Context(), Request{Platform: "telegram", UserID: tc.user, ChatID: "g", Text: "/code abcdefgh#ijkl"}, &r)
			got := r.text()
			if r.deletes != 1 {
				t.Errorf("deleted %d times, want 1", r.deletes)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("reply %q lacks %q", got, w)
				}
			}
			if strings.Contains(got, tc.not) {
				t.Errorf("reply %q claims %q", got, tc.not)
			}
		})
	}
	// A chat without messages to delete (Discord's slash commands) claims nothing.
	var nd noDelete
	h.Handle(t.Context(), Request{Platform: "telegram", UserID: "1", ChatID: "g", Text: "/code abcdefgh#ijkl"}, &nd)
	got := nd.text()
	if strings.Contains(got, "deleted") || strings.Contains(got, "still visible") {
		t.Errorf("without a deletable message the reply %q talks of deletion", got)
	}
}

// noDelete is a responder without deletion or button removal.
type noDelete struct{ texts []string }

func (n *noDelete) Reply(_ context.Context, rep Reply) error {
	n.texts = append(n.texts, rep.Text)
	return nil
}

func (n *noDelete) text() string { return strings.Join(n.texts, "\n") }

// /silence all and /auth use all ask first, as the README promises.
func TestSilenceAllAndAuthUseAllAskFirst(t *testing.T) {
	h, _ := newTestHandler(t)
	s := &fakeSilencer{}
	RegisterSilence(h, s, func() []string { return []string{"builder", "docs"} })
	var switched []string
	RegisterFleet(h, &fakeFleet{sts: nil}, nil, func(_ context.Context, agents []string, cred, by string) (string, error) {
		switched = append(switched, strings.Join(agents, ",")+"→"+cred)
		return "moved", nil
	})
	for _, tc := range []struct {
		text, question, done string
		did                  func() int
	}{
		{"/silence all 2h deploy", "Mute every alert", "Alerts for all muted", func() int { return len(s.added) }},
		{"/auth use all backup", "Move all", "moved", func() int { return len(switched) }},
	} {
		var q recorder
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: "2", Private: true, Text: tc.text}, &q)
		if tc.did() != 0 {
			t.Fatalf("%s ran before any confirmation", tc.text)
		}
		if len(q.replies) != 1 || !strings.Contains(q.replies[0].Text, tc.question) || len(q.replies[0].Buttons) != 2 {
			t.Fatalf("%s: got %+v, want a question with buttons", tc.text, q.replies)
		}
		var r recorder
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: "2", Private: true, Callback: q.replies[0].Buttons[0].Data}, &r)
		if tc.did() != 1 || !strings.Contains(r.text(), tc.done) {
			t.Errorf("%s confirmed: ran %d times, reply %q", tc.text, tc.did(), r.text())
		}
	}
}

// The timeline tells a window's count in plain words.
func TestRefusalCountInTheTimeline(t *testing.T) {
	h, a := newTestHandler(t)
	var r recorder
	for range 3 {
		h.Handle(t.Context(), Request{Platform: "telegram", UserID: "99", ChatID: "99", Private: true, Text: "/restart all"}, &r)
	}
	h.Close()
	for i := range a.recs {
		a.recs[i].Time = now
	}
	if got := audit.Timeline(a.recs, time.UTC, now.Add(time.Hour)); !strings.Contains(got, "refused /restart from telegram:99") || !strings.Contains(got, "2 more attempt(s) within 10m of the first, not answered") {
		t.Errorf("timeline:\n%s", got)
	}
}

package commands

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
)

// RefusalWindow is how long a stranger waits for a second answer: the first
// message in a window gets the refusal (in a private chat) and a journal
// record; the rest of the window gets silence and one record with the count.
// A flood then costs one message and a few journal lines, not one of each
// per message.
const RefusalWindow = 10 * time.Minute

// refusals counts strangers' attempts per user and window.
type refusals struct {
	mu    sync.Mutex
	users map[string]*refusalWindow
}

type refusalWindow struct {
	start  time.Time
	count  int // attempts in the window, the first included
	action string
	name   string
	chat   string
	timer  *time.Timer
}

// note counts one attempt by actor at now. first is true for the first
// attempt of a window, the one answered; flush is the record closing the
// previous window of that user, if it had unanswered attempts.
func (rs *refusals) note(req Request, now time.Time) (first bool, flush *audit.Record, w *refusalWindow) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.users == nil {
		rs.users = map[string]*refusalWindow{}
	}
	actor := req.Actor()
	w = rs.users[actor]
	if w != nil && now.Sub(w.start) < RefusalWindow && !now.Before(w.start) {
		w.count++
		return false, nil, nil
	}
	if w != nil {
		flush = rs.closeLocked(actor, w)
	}
	w = &refusalWindow{start: now, count: 1, action: firstWord(req.Text, req.Callback), name: req.UserName, chat: req.ChatID}
	rs.users[actor] = w
	return true, flush, w
}

// closeLocked ends actor's window w and returns its record, or nil when
// every attempt in it was already recorded. Callers hold rs.mu.
func (rs *refusals) closeLocked(actor string, w *refusalWindow) *audit.Record {
	if rs.users[actor] == w {
		delete(rs.users, actor)
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.count <= 1 {
		return nil
	}
	n := w.count - 1
	return &audit.Record{Kind: audit.KindRefused, Actor: actor, Action: w.action,
		Message: fmt.Sprintf("%d more attempt(s) within %s of the first, not answered", n, Ago(RefusalWindow)),
		Fields: map[string]string{"count": strconv.Itoa(n), "since": w.start.UTC().Format(time.RFC3339),
			"user": w.name, "chat": w.chat}}
}

// end closes actor's window w if it is still the current one.
func (rs *refusals) end(actor string, w *refusalWindow) *audit.Record {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.users[actor] != w {
		return nil
	}
	return rs.closeLocked(actor, w)
}

// closeAll ends every window (at shutdown) and returns their records.
func (rs *refusals) closeAll() []audit.Record {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []audit.Record
	for actor, w := range rs.users {
		if r := rs.closeLocked(actor, w); r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// refuse answers a stranger: once per window, then silence.
func (h *Handler) refuse(ctx context.Context, req Request, out Responder) {
	first, flush, w := h.strangers.note(req, h.now())
	if flush != nil {
		h.record(*flush)
	}
	if !first {
		return
	}
	// The window's count goes to the journal when it ends, even if this
	// stranger never writes again.
	actor := req.Actor()
	h.strangers.mu.Lock()
	w.timer = time.AfterFunc(RefusalWindow, func() {
		if r := h.strangers.end(actor, w); r != nil {
			h.record(*r)
		}
	})
	h.strangers.mu.Unlock()
	h.record(audit.Record{Kind: audit.KindRefused, Actor: actor, Action: firstWord(req.Text, req.Callback),
		Fields: map[string]string{"user": req.UserName, "chat": req.ChatID}})
	h.log.Info("refused", "actor", actor, "user", req.UserName, "quiet_for", RefusalWindow)
	if req.Private {
		_ = out.Reply(ctx, Reply{Text: Refusal})
	}
}

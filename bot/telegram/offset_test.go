package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/fakes/telegramtest"
)

// The rules of getUpdates' offset, each seen from the user's side: every
// update is handled once, none twice, none lost across a restart.

func countSent(srv *telegramtest.Server, prefix string) int { return len(sentWithPrefix(srv, prefix)) }

// offset = last update_id + 1 confirms: Telegram forgets what was handled.
func TestOffsetConfirmsHandledUpdates(t *testing.T) {
	e := start(t, nil)
	for range 3 {
		e.srv.SendUserMessage(admin, adminDM, "/status")
	}
	tmuxWait(t, 10*time.Second, func() bool { return countSent(e.srv, "1 agents") == 3 })
	tmuxWait(t, 10*time.Second, func() bool { return e.srv.Pending() == 0 })
	if n := countSent(e.srv, "1 agents"); n != 3 {
		t.Errorf("3 /status answered %d times", n)
	}
}

// holdPolls keeps every long poll after the first one that brought
// updates (once in a test) from reaching Telegram (until the request is cancelled), as a
// slow network would: the offset that confirms those updates is not sent.
type holdPolls struct {
	held, once atomic.Bool
}

func (h *holdPolls) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/getUpdates") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var p struct {
			Timeout json.Number `json:"timeout"`
		}
		_ = json.Unmarshal(body, &p)
		if n, _ := p.Timeout.Int64(); n > 0 && h.held.Load() {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/getUpdates") {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), `"update_id"`) && h.once.CompareAndSwap(false, true) {
			h.held.Store(true)
		}
	}
	return resp, err
}

// A restart does not run again what was handled before it, and handles
// what came while the bot was down, once.
func TestRestartDoesNotReplay(t *testing.T) {
	hold := &holdPolls{}
	e := start(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: hold} })
	e.srv.SendUserMessage(admin, adminDM, "/status")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Text, "1 agents") })
	e.stop() // the long poll that would confirm /status never reached Telegram
	e.srv.SendUserMessage(admin, adminDM, "/help")
	hold.held.Store(false)
	e.launch(t)
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Text, "Commands you may run") })
	e.srv.SendUserMessage(admin, adminDM, "/help")
	tmuxWait(t, 10*time.Second, func() bool { return countSent(e.srv, "Commands you may run") == 2 })
	if n := countSent(e.srv, "1 agents"); n != 1 {
		t.Errorf("/status was answered %d times across the restart, want once", n)
	}
	if n := countSent(e.srv, "Commands you may run"); n != 2 {
		t.Errorf("/help (once while down, once after) was answered %d times, want 2", n)
	}
}

// panicky fails the first time it meets /boom.
type panicky struct {
	h     *commands.Handler
	booms atomic.Int32
}

func (p *panicky) Handle(ctx context.Context, req commands.Request, out commands.Responder) {
	if req.Text == "/boom" {
		p.booms.Add(1)
		panic("handler bug")
	}
	p.h.Handle(ctx, req, out)
}

// A handler that fails does not get the same update again (which would fail
// again, forever), and the bot goes on.
func TestFailedHandlerIsNotRerun(t *testing.T) {
	var p *panicky
	e := start(t, func(o *Options) {
		p = &panicky{h: o.Handler.(*commands.Handler)}
		o.Handler = p
	})
	e.srv.SendUserMessage(admin, adminDM, "/boom")
	tmuxWait(t, 10*time.Second, func() bool { return p.booms.Load() == 1 })
	e.srv.SendUserMessage(admin, adminDM, "/status")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Text, "1 agents") })
	tmuxWait(t, 10*time.Second, func() bool { return e.srv.Pending() == 0 })
	e.stop()
	e.launch(t)
	e.srv.SendUserMessage(admin, adminDM, "/status")
	tmuxWait(t, 10*time.Second, func() bool { return countSent(e.srv, "1 agents") == 2 })
	if n := p.booms.Load(); n != 1 {
		t.Errorf("the failing update was handled %d times, want once", n)
	}
}

// replayOnce answers the getUpdates after the first one that brought
// updates with that same answer again, once: a server (or proxy) that did
// not take the offset.
type replayOnce struct {
	mu     sync.Mutex
	body   []byte
	header http.Header
	done   bool
}

func (r *replayOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	isPoll := strings.HasSuffix(req.URL.Path, "/getUpdates")
	r.mu.Lock()
	if isPoll && r.body != nil && !r.done {
		r.done = true
		body, header := r.body, r.header.Clone()
		r.mu.Unlock()
		return &http.Response{StatusCode: http.StatusOK, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
	}
	r.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !isPoll {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	if r.body == nil && strings.Contains(string(body), `"update_id"`) {
		r.body, r.header = body, resp.Header
	}
	r.mu.Unlock()
	return resp, nil
}

// An update that comes twice (its offset not taken) is handled once.
func TestUpdateSeenTwiceIsHandledOnce(t *testing.T) {
	replay := &replayOnce{}
	e := start(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: replay} })
	e.srv.SendUserMessage(admin, adminDM, "/status")
	tmuxWait(t, 10*time.Second, func() bool {
		replay.mu.Lock()
		defer replay.mu.Unlock()
		return replay.done
	})
	e.srv.SendUserMessage(admin, adminDM, "/help")
	e.srv.WaitSent(t, 10*time.Second, func(m telegramtest.Message) bool { return strings.HasPrefix(m.Text, "Commands you may run") })
	if n := countSent(e.srv, "1 agents"); n != 1 {
		t.Errorf("/status, received twice, was answered %d times", n)
	}
}

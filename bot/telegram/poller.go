package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/fleetwarden/fleetwarden/internal/backoff"
)

// poller replaces telebot's LongPoller, which retries at once on error (about
// 12,000 requests a second against a dead server). Ours backs off
// exponentially with jitter and reports 401/409 as the transport being down.
type poller struct {
	b      *Bot
	offset int // the next update id we want: everything before it was handed to a handler
	// confirmed is the offset Telegram last acknowledged (a getUpdates with
	// it answered): updates before it are gone from the server.
	confirmed int
}

func (p *poller) Poll(tb *tele.Bot, _ chan tele.Update, stop chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	// Updates handed to a handler are confirmed before we stop, or the next
	// start would run them again.
	defer p.confirm()
	bo := backoff.New(p.b.o.BackoffMin, p.b.o.BackoffMax)
	for ctx.Err() == nil {
		asked := p.offset
		ups, err := p.getUpdates(tb)
		if err == nil {
			p.confirmed = asked
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			code := apiCode(err)
			err = p.b.apiError(err)
			state := "degraded"
			if code == http.StatusUnauthorized || code == http.StatusConflict || bo.Failures() >= 3 {
				state = "down"
			}
			p.b.setHealth(state, err)
			p.b.log.Warn("getUpdates", "err", err, "retry_in", bo.Next())
			if !bo.Wait(ctx) {
				return
			}
			continue
		}
		bo.Reset()
		p.b.setHealth("up", nil)
		if len(ups) > 0 {
			// Telebot needs our name (getMe) to route "/cmd@us": hold the
			// updates until setup has it, rather than drop them.
			select {
			case <-p.b.meReady:
			case <-ctx.Done():
				return
			}
		}
		for _, u := range ups {
			if ctx.Err() != nil {
				return
			}
			if u.ID < p.offset {
				continue // seen already (an offset the server did not take)
			}
			// Our handlers only sort updates into work lanes, so handing
			// them over here is quick, and p.offset counts exactly what
			// was handed over (telebot's own channel would hold some
			// that a stop then loses).
			tb.ProcessUpdate(u)
			p.offset = u.ID + 1
		}
	}
}

// confirm tells Telegram the updates before p.offset were handled (a
// getUpdates with that offset and no wait), when it does not know yet.
func (p *poller) confirm() {
	if p.offset == 0 || p.offset == p.confirmed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"offset": p.offset, "timeout": 0, "limit": 1,
		"allowed_updates": []string{"message", "callback_query"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.b.o.APIURL+"/bot"+p.b.o.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.b.o.HTTPClient.Do(req)
	if err != nil {
		p.b.log.Warn("confirming the last updates before stopping", "err", redactToken(err.Error(), p.b.o.Token))
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		p.confirmed = p.offset
	}
}

func (p *poller) getUpdates(tb *tele.Bot) ([]tele.Update, error) {
	params := map[string]any{
		"offset":          p.offset,
		"timeout":         int(p.b.o.PollTimeout / time.Second),
		"allowed_updates": []string{"message", "callback_query"},
	}
	data, err := tb.Raw("getUpdates", params)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Result []tele.Update `json:"result"`
	}
	if err := jsonUnmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("getUpdates: %w", err)
	}
	return resp.Result, nil
}

func jsonUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		if page := htmlTitle(data); page != "" {
			// A proxy or load balancer in front of the API answered.
			return fmt.Errorf("the Bot API answered an error page: %s", page)
		}
		return fmt.Errorf("bad JSON from the Bot API: %w", err)
	}
	return nil
}

// htmlTitle returns the title (else the start of the text) of an HTML
// page, or "" when data is not one.
func htmlTitle(data []byte) string {
	s := strings.TrimSpace(string(data))
	if !strings.HasPrefix(s, "<") {
		return ""
	}
	if _, rest, ok := strings.Cut(s, "<title>"); ok {
		if title, _, ok := strings.Cut(rest, "</title>"); ok && strings.TrimSpace(title) != "" {
			return strings.TrimSpace(title)
		}
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	text := strings.Join(strings.Fields(b.String()), " ")
	if len(text) > 80 {
		text = text[:80] + "…"
	}
	return text
}

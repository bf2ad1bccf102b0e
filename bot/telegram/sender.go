package telegram

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	tele "gopkg.in/telebot.v3"
)

// Limits are Telegram's sending limits: about one message a second per chat
// (short bursts allowed), 20 a minute in a group, 30 a second overall.
type Limits struct {
	PerChat      rate.Limit
	PerChatBurst int
	Group        rate.Limit
	GroupBurst   int
	Global       rate.Limit
	GlobalBurst  int
}

func (l Limits) withDefaults() Limits {
	if l.PerChat == 0 {
		l.PerChat, l.PerChatBurst = 1, 10
	}
	if l.Group == 0 {
		l.Group, l.GroupBurst = rate.Every(3*time.Second), 5
	}
	if l.Global == 0 {
		l.Global, l.GlobalBurst = 30, 30
	}
	return l
}

// sender queues outgoing messages per chat: each chat's messages go out in
// order; a 429 holds the chat for retry_after and then retries the same
// message, so nothing is dropped under a burst.
type sender struct {
	b      *Bot
	lim    Limits
	global *rate.Limiter

	mu    sync.Mutex
	chats map[int64]*chatQueue
	ctx   context.Context
	ready chan struct{}
}

type chatQueue struct {
	jobs    chan *job
	limiter *rate.Limiter
}

type job struct {
	ctx    context.Context
	chat   int64
	text   string
	markup *tele.ReplyMarkup
	done   chan error
}

func newSender(b *Bot, l Limits) *sender {
	l = l.withDefaults()
	return &sender{b: b, lim: l, global: rate.NewLimiter(l.Global, l.GlobalBurst),
		chats: map[int64]*chatQueue{}, ready: make(chan struct{})}
}

func (s *sender) run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	close(s.ready)
}

// send queues the chunks of one message and waits until all went out or
// ctx ends. Only the last chunk carries the buttons.
func (s *sender) send(ctx context.Context, chat int64, group bool, chunks []string, markup *tele.ReplyMarkup) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	q := s.queue(chat, group)
	jobs := make([]*job, len(chunks))
	for i, c := range chunks {
		j := &job{ctx: ctx, chat: chat, text: c, done: make(chan error, 1)}
		if i == len(chunks)-1 {
			j.markup = markup
		}
		jobs[i] = j
	}
	// Enqueue all chunks together so another reply cannot interleave.
	s.mu.Lock()
	for _, j := range jobs {
		q.jobs <- j
	}
	s.mu.Unlock()
	for _, j := range jobs {
		select {
		case err := <-j.done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *sender) queue(chat int64, group bool) *chatQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.chats[chat]; ok {
		return q
	}
	lim := rate.NewLimiter(s.lim.PerChat, s.lim.PerChatBurst)
	if group {
		lim = rate.NewLimiter(s.lim.Group, s.lim.GroupBurst)
	}
	q := &chatQueue{jobs: make(chan *job, 4096), limiter: lim}
	s.chats[chat] = q
	go s.work(s.ctx, q)
	return q
}

func (s *sender) work(ctx context.Context, q *chatQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-q.jobs:
			j.done <- s.deliver(ctx, q, j)
		}
	}
}

// sendAttempts bounds the tries of a message that fails for reasons other
// than rate limiting: a dead API must not hold the chat's queue; the alert
// manager queues and retries on its own schedule.
const sendAttempts = 3

// deliver sends one message: it waits for the rate limiters, honours 429
// retry_after, and retries other failures a few times with backoff.
func (s *sender) deliver(ctx context.Context, q *chatQueue, j *job) error {
	bo := newBackoff(s.b.o.BackoffMin, min(s.b.o.BackoffMax, 5*time.Second))
	for attempt := 1; ; attempt++ {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		if err := q.limiter.Wait(j.ctx); err != nil {
			return err
		}
		if err := s.global.Wait(j.ctx); err != nil {
			return err
		}
		opts := &tele.SendOptions{ParseMode: tele.ModeHTML, DisableWebPagePreview: true, ReplyMarkup: j.markup}
		_, err := s.b.tb.Send(tele.ChatID(j.chat), j.text, opts)
		if err == nil {
			s.b.setHealthOnSend(nil)
			return nil
		}
		var flood tele.FloodError
		if errors.As(err, &flood) {
			wait := time.Duration(flood.RetryAfter) * time.Second
			if wait <= 0 {
				wait = time.Second
			}
			s.b.log.Info("rate limited by Telegram", "chat", j.chat, "retry_after", wait)
			if !sleep(j.ctx, wait) {
				return fmt.Errorf("telegram: rate limited (retry after %s): %w", wait, j.ctx.Err())
			}
			continue
		}
		code := apiCode(err)
		err = s.b.apiError(err)
		if code >= 400 && code < 500 {
			// The request itself is wrong (bad chat, blocked bot): retrying will not help.
			s.b.setHealthOnSend(err)
			return err
		}
		s.b.setHealthOnSend(err)
		if attempt >= sendAttempts {
			return err
		}
		if !bo.wait(j.ctx) {
			return fmt.Errorf("telegram: %w (gave up: %w)", err, j.ctx.Err())
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setHealthOnSend marks sending trouble as degraded; the poller decides up
// and down.
func (b *Bot) setHealthOnSend(err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	state := b.health.State
	b.mu.Unlock()
	if state == "up" {
		b.setHealth("degraded", err)
	}
}

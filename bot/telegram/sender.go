package telegram

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
	tele "gopkg.in/telebot.v3"

	"github.com/fleetwarden/fleetwarden/internal/backoff"
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

// Priority of an outgoing message: alerts and replies to operators and
// admins go ahead of everything else queued, in every chat.
type Priority int

const (
	Normal Priority = iota
	High
)

// Queue bounds. A chat's normal messages beyond maxQueued are refused at
// once (never waited for): a flood must not grow memory or hold the caller.
// High-priority messages (alerts, operators' replies) are always queued.
const (
	maxQueued    = 256   // per chat
	maxQueuedAll = 20000 // in all chats
	deliverers   = 4     // messages in flight at once, each to a different chat
)

// errQueueFull is a normal message refused because its chat's queue is full.
var errQueueFull = errors.New("telegram: too many messages queued for this chat; dropped")

// sender queues outgoing messages per chat in two lanes (high, normal) and
// sends them with a few deliverers: each chat's messages go out in order
// within a lane, one at a time; the high lane of any chat goes before the
// normal lane of every chat; a 429 holds only its chat for retry_after and
// then retries the same message, so nothing is dropped under a burst. No
// caller ever waits on a full queue, and no lock is held while sending or
// waiting.
type sender struct {
	b      *Bot
	lim    Limits
	global *rate.Limiter

	mu      sync.Mutex
	chats   map[int64]*chatQueue
	normal  int           // normal-priority messages queued, in all chats
	changed chan struct{} // closed and replaced when a job is queued or a chat freed
	ready   chan struct{}
}

type chatQueue struct {
	id      int64
	hi, lo  []*job
	limiter *rate.Limiter
	busy    bool      // a message of this chat is being sent
	until   time.Time // nothing before (429 retry_after, backoff after a failure)
}

type job struct {
	ctx      context.Context
	chat     int64
	text     string
	markup   *tele.ReplyMarkup
	hi       bool
	attempts int
	done     chan error // buffered: the deliverer never blocks on it
}

func newSender(b *Bot, l Limits) *sender {
	l = l.withDefaults()
	return &sender{b: b, lim: l, global: rate.NewLimiter(l.Global, l.GlobalBurst),
		chats: map[int64]*chatQueue{}, changed: make(chan struct{}), ready: make(chan struct{})}
}

// run starts the deliverers; they stop with ctx.
func (s *sender) run(ctx context.Context) {
	for range deliverers {
		go s.deliverLoop(ctx)
	}
	close(s.ready)
}

// broadcast wakes the deliverers. Callers hold s.mu.
func (s *sender) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// send queues the chunks of one message and waits until all went out or
// ctx ends. Only the last chunk carries the buttons.
func (s *sender) send(ctx context.Context, chat int64, group bool, prio Priority, chunks []string, markup *tele.ReplyMarkup) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	jobs, err := s.enqueue(ctx, chat, group, prio, chunks, markup)
	if err != nil {
		return err
	}
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

// enqueue queues the chunks of one message without waiting for them.
func (s *sender) enqueue(ctx context.Context, chat int64, group bool, prio Priority, chunks []string, markup *tele.ReplyMarkup) ([]*job, error) {
	jobs := make([]*job, len(chunks))
	for i, c := range chunks {
		j := &job{ctx: ctx, chat: chat, text: c, hi: prio == High, done: make(chan error, 1)}
		if i == len(chunks)-1 {
			j.markup = markup
		}
		jobs[i] = j
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prio != High && (s.normal+len(jobs) > maxQueuedAll || len(s.chats[chat].lane(false))+len(jobs) > maxQueued) {
		return nil, errQueueFull
	}
	q := s.queueLocked(chat, group)
	if prio == High {
		q.hi = append(q.hi, jobs...)
	} else {
		q.lo = append(q.lo, jobs...)
		s.normal += len(jobs)
	}
	// All chunks are queued together, so another reply cannot interleave.
	s.broadcast()
	return jobs, nil
}

// lane is the queue's high or normal lane (nil for no queue).
func (q *chatQueue) lane(hi bool) []*job {
	switch {
	case q == nil:
		return nil
	case hi:
		return q.hi
	}
	return q.lo
}

func (s *sender) queueLocked(chat int64, group bool) *chatQueue {
	if q, ok := s.chats[chat]; ok {
		return q
	}
	lim := rate.NewLimiter(s.lim.PerChat, s.lim.PerChatBurst)
	if group {
		lim = rate.NewLimiter(s.lim.Group, s.lim.GroupBurst)
	}
	q := &chatQueue{id: chat, limiter: lim}
	s.chats[chat] = q
	return q
}

// deliverLoop sends the best ready message, again and again.
func (s *sender) deliverLoop(ctx context.Context) {
	for {
		q, j := s.take(ctx)
		if j == nil {
			return
		}
		err, retryAt := s.deliver(q, j)
		s.mu.Lock()
		q.busy = false
		if !retryAt.IsZero() {
			// Back to the front of its lane: it keeps its place in order.
			q.until = retryAt
			if j.hi {
				q.hi = append([]*job{j}, q.hi...)
			} else {
				q.lo = append([]*job{j}, q.lo...)
				s.normal++
			}
		} else {
			j.done <- err
		}
		if now := time.Now(); len(q.hi) == 0 && len(q.lo) == 0 && q.until.Before(now) &&
			q.limiter.TokensAt(now) >= float64(q.limiter.Burst()) {
			delete(s.chats, q.id) // an idle chat with nothing to remember costs nothing
		}
		s.broadcast()
		s.mu.Unlock()
	}
}

// take waits until a message may be sent and claims it: high lanes first,
// then normal ones; a chat sending or waiting out a 429 is skipped.
func (s *sender) take(ctx context.Context) (*chatQueue, *job) {
	for {
		s.mu.Lock()
		q, j, wait := s.pickLocked(time.Now())
		if j != nil {
			q.busy = true
			s.mu.Unlock()
			return q, j
		}
		changed := s.changed
		s.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, nil
		}
	}
}

// pickLocked claims the next message to send, or says how long until one
// may be ready (0: nothing queued). Callers hold s.mu.
func (s *sender) pickLocked(now time.Time) (*chatQueue, *job, time.Duration) {
	wait := time.Duration(0)
	later := func(d time.Duration) {
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	if d := untilToken(s.global, now); d > 0 {
		for _, q := range s.chats {
			if len(q.hi)+len(q.lo) > 0 {
				return nil, nil, d
			}
		}
		return nil, nil, 0
	}
	for _, hi := range []bool{true, false} {
		for _, q := range s.chats {
			lane := &q.lo
			if hi {
				lane = &q.hi
			}
			// Messages whose sender gave up are dropped unsent.
			for len(*lane) > 0 && (*lane)[0].ctx.Err() != nil {
				(*lane)[0].done <- (*lane)[0].ctx.Err()
				*lane = (*lane)[1:]
				if !hi {
					s.normal--
				}
			}
			if len(*lane) == 0 || q.busy {
				continue
			}
			if now.Before(q.until) {
				later(q.until.Sub(now))
				continue
			}
			if d := untilToken(q.limiter, now); d > 0 {
				later(d)
				continue
			}
			j := (*lane)[0]
			*lane = (*lane)[1:]
			if !hi {
				s.normal--
			}
			q.limiter.AllowN(now, 1)
			s.global.AllowN(now, 1)
			return q, j, 0
		}
	}
	return nil, nil, wait
}

// untilToken is how long until lim has a token (0: now).
func untilToken(lim *rate.Limiter, now time.Time) time.Duration {
	if lim.Limit() == rate.Inf {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	if lim.Limit() <= 0 {
		return time.Hour
	}
	return max(time.Duration((1-tokens)/float64(lim.Limit())*float64(time.Second)), time.Millisecond)
}

// sendAttempts bounds the tries of a message that fails for reasons other
// than rate limiting: a dead API must not hold the chat's queue; the alert
// manager queues and retries on its own schedule.
const sendAttempts = 3

// deliver sends one message. A non-zero retryAt puts it back in its queue
// until then: a 429's retry_after, or a backoff after a failure worth
// retrying.
func (s *sender) deliver(q *chatQueue, j *job) (err error, retryAt time.Time) {
	if err := j.ctx.Err(); err != nil {
		return err, time.Time{}
	}
	opts := &tele.SendOptions{ParseMode: tele.ModeHTML, DisableWebPagePreview: true, ReplyMarkup: j.markup}
	_, err = s.b.tb.Send(tele.ChatID(j.chat), j.text, opts)
	if err == nil {
		s.b.setHealthOnSend(nil)
		return nil, time.Time{}
	}
	var flood tele.FloodError
	if errors.As(err, &flood) {
		wait := time.Duration(flood.RetryAfter) * time.Second
		if wait <= 0 {
			wait = time.Second
		}
		s.b.log.Info("rate limited by Telegram", "chat", j.chat, "retry_after", wait)
		return nil, time.Now().Add(wait)
	}
	code := apiCode(err)
	err = s.b.apiError(err)
	s.b.setHealthOnSend(err)
	if code >= 400 && code < 500 {
		// The request itself is wrong (bad chat, blocked bot): retrying will not help.
		return err, time.Time{}
	}
	j.attempts++
	if j.attempts >= sendAttempts {
		return err, time.Time{}
	}
	ceil := backoff.Ceiling(s.b.o.BackoffMin, min(s.b.o.BackoffMax, 5*time.Second), j.attempts-1)
	return nil, time.Now().Add(backoff.Jitter(ceil))
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

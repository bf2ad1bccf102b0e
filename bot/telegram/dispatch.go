package telegram

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/fleetwarden/fleetwarden/commands"
)

// Roler tells the role of a requester; commands.Handler is one. With it,
// work for operators and admins goes ahead of everyone else's.
type Roler interface {
	RoleOf(commands.Request) commands.Role
}

// Workers handle updates: telebot runs our handlers synchronously, and they
// only sort each update into a lane, never waiting. Operators' and admins'
// updates have their own workers, so a flood from strangers (or a viewer)
// can neither delay them nor start a goroutine per message.
const (
	priorityWorkers = 8
	otherWorkers    = 2
	priorityQueue   = 256
	otherQueue      = 1024
)

// task is one update waiting for a worker.
type task struct {
	req commands.Request
	out *responder
	// before runs first in the worker: answering a button press is an HTTP
	// call, which must not hold the update loop.
	before func()
}

// lanes are the work queues.
type lanes struct {
	hi, lo  chan task
	dropped atomic.Int64 // updates refused because their lane was full
	lastLog atomic.Int64 // unix time of the last "dropped" log line
}

func newLanes() *lanes {
	return &lanes{hi: make(chan task, priorityQueue), lo: make(chan task, otherQueue)}
}

// dispatch sorts req into its lane without waiting: when the lane is full
// the update is dropped (and counted), never queued without bound.
func (b *Bot) dispatch(t task) {
	lane := b.work.lo
	if ro, ok := b.o.Handler.(Roler); ok {
		switch role := ro.RoleOf(t.req); {
		case role >= commands.RoleOperator:
			t.out.prio = High
			lane = b.work.hi
		case role == commands.RoleNone:
			t.out.noWait = true
		}
	}
	select {
	case lane <- t:
	default:
		n := b.work.dropped.Add(1)
		now := time.Now().Unix()
		if last := b.work.lastLog.Load(); now-last >= 60 && b.work.lastLog.CompareAndSwap(last, now) {
			b.log.Warn("too many updates waiting; dropping", "dropped_so_far", n, "user", t.req.UserID)
		}
	}
}

// runWorkers starts the workers; they stop with ctx.
func (b *Bot) runWorkers(ctx context.Context) {
	for i := range priorityWorkers + otherWorkers {
		lane := b.work.hi
		if i >= priorityWorkers {
			lane = b.work.lo
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-lane:
					b.run(ctx, t)
				}
			}
		}()
	}
}

// run handles one update. A handler that panics loses that update only
// (it is not handled again: Telegram has it confirmed), not the bot.
func (b *Bot) run(ctx context.Context, t task) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("handler panicked", "user", t.req.UserID, "panic", fmt.Sprint(p))
		}
	}()
	if t.before != nil {
		t.before()
	}
	b.o.Handler.Handle(ctx, t.req, t.out)
}

// unstarted is the number of updates still waiting for a worker.
func (l *lanes) unstarted() int { return len(l.hi) + len(l.lo) }

// synchronous makes telebot call our handlers in its update loop: they
// only dispatch.
func synchronous(s tele.Settings) tele.Settings {
	s.Synchronous = true
	return s
}

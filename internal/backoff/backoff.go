// Package backoff is the one retry backoff of the project: exponential from
// a minimum, doubling per failure, capped at a maximum (Ceiling), with jitter
// so that many bots and routes do not retry in step.
//
// Two jitters, for two kinds of loop. Reconnect loops (the Telegram poller
// and sender, the Discord gateway, the tmux control client) use Jitter,
// "equal jitter": a wait whose ceiling is d is drawn uniformly from
// [d/2, d], so no wait exceeds the ceiling a log line announces (Next). The
// alert queue, whose operators read RetryMax as the pace of retries once a
// route stays down, uses Around: d ±20%.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Ceiling is the longest wait after failures failures (0 = none yet):
// lo << failures, capped at hi.
func Ceiling(lo, hi time.Duration, failures int) time.Duration {
	d := lo << min(failures, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d
}

// Jitter draws a wait from [ceil/2, ceil].
func Jitter(ceil time.Duration) time.Duration {
	if ceil <= 0 {
		return 0
	}
	return ceil/2 + rand.N(ceil/2+1)
}

// Around draws a wait from [0.8 d, 1.2 d].
func Around(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Backoff counts failures of one retry loop. Not safe for concurrent use.
type Backoff struct {
	lo, hi   time.Duration
	failures int
}

// New returns a Backoff waiting lo at first and at most hi.
func New(lo, hi time.Duration) *Backoff {
	return &Backoff{lo: lo, hi: max(lo, hi)}
}

// Failures is how many waits since the last Reset.
func (b *Backoff) Failures() int { return b.failures }

// Reset starts over after a success.
func (b *Backoff) Reset() { b.failures = 0 }

// Next is the ceiling of the coming wait.
func (b *Backoff) Next() time.Duration { return Ceiling(b.lo, b.hi, b.failures) }

// Wait sleeps a jittered wait below Next and counts a failure; false if ctx
// ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	d := Jitter(b.Next())
	b.failures++
	return Sleep(ctx, d)
}

// Sleep waits d; false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

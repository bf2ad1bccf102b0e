package scheduler

import (
	"context"
	"log/slog"
)

// cronLogger adapts slog to cron.Logger. cron's own Info messages (wake,
// schedule, run) fire on every tick, so the core logger sends them at Debug;
// the per-job logger used by the chain sends them at Info, where the only one
// is SkipIfStillRunning's "skip".
type cronLogger struct {
	log       *slog.Logger
	infoLevel slog.Level
}

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		msg = skippedMsg
	} else {
		msg = "cron: " + msg
	}
	l.log.Log(context.Background(), l.infoLevel, msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" {
		msg = "job panicked"
	} else {
		msg = "cron: " + msg
	}
	l.log.Error(msg, append([]any{"err", err}, kv...)...)
}

const skippedMsg = "job skipped: previous run still running"

//go:build claude_e2e

package conformance

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// A turn whose answer never comes: the CLI keeps animating its spinner and
// clock, but nothing progresses, and after stuck_after the watchdog says
// so. When the answer arrives the condition ends.
func TestStalledTurnIsStuck(t *testing.T) {
	e := newEnv(t)
	e.login()
	pane := e.startAgent("agent")
	e.waitReady(pane)
	release := make(chan struct{})
	var once sync.Once
	answer := func() { once.Do(func() { close(release) }) }
	t.Cleanup(answer)
	e.api.Script(anthropictest.AnswerWhen("All done with the stalled task.", release))
	e.prompt(pane, "a task whose answer stalls")
	e.waitState(pane, claude.Working, "", 60*time.Second)

	var mu sync.Mutex
	stuck := map[bool]bool{} // active → seen
	wd := fleet.NewWatchdog(e.fleet("agent"), fleet.WatchOptions{Interval: time.Second, StuckAfter: 4 * time.Second,
		OnEvent: func(ev fleet.Event) {
			if ev.Kind == "stuck" {
				mu.Lock()
				stuck[ev.Active] = true
				mu.Unlock()
			}
		}})
	scanUntil := func(what string, active bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			wd.ScanOnce(t.Context())
			mu.Lock()
			done := stuck[active]
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 45 s; pane:\n%s", what, e.capture(pane))
			}
			<-tick.C
		}
	}
	scanUntil("stuck condition on the stalled turn", true)
	e.seen("stalled turn", claude.Classify(e.capture(pane)))

	answer()
	e.waitFor(pane, 60*time.Second, "the answer", func(r claude.Result, text string) bool {
		return r.State == claude.Idle && strings.Contains(text, "All done with the stalled task.")
	})
	scanUntil("end of the stuck condition once the answer came", false)
}

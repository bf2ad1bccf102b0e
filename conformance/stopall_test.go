//go:build claude_e2e

package conformance

import (
	"os"
	"slices"
	"testing"
)

// stopAll kills what is left of its panes' sessions, found by session ID:
// a recorded pane PID that another process (another test's pane, also a
// session leader) holds by the end of the case is not ours to kill.
func TestStopAllSparesReusedPIDs(t *testing.T) {
	self := leaderOf(os.Getpid())
	if self.start == "" {
		t.Fatal("no start time for this process")
	}
	reused := leader{pid: os.Getpid(), start: self.start + "0"} // same PID, another process
	gone := leader{pid: 1 << 30, start: "1"}                    // exited: its session may live on
	got := ours([]leader{self, reused, gone})
	if want := []int{os.Getpid(), 1 << 30}; !slices.Equal(got, want) {
		t.Errorf("ours = %v, want %v", got, want)
	}
}

//go:build unix

package audit

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// The shared lock a `fleetwarden check` holds for a moment while it looks
// must not make a fleetwarden that starts just then fail; a writer that
// keeps the lock still does.
func TestLockWaitsOutAProbe(t *testing.T) {
	dir := t.TempDir()
	open := func() *os.File {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	probe, starter := open(), open()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	waits := 0
	err := lockRetrying(starter, 3, func() {
		waits++
		_ = syscall.Flock(int(probe.Fd()), syscall.LOCK_UN) // the probe is done
	})
	if err != nil || waits != 1 {
		t.Fatalf("lock while a probe looks: err %v after %d waits, want the lock after 1", err, waits)
	}

	other := open()
	waits = 0
	err = lockRetrying(other, 3, func() { waits++ })
	if !errors.Is(err, ErrLocked) || waits != 2 {
		t.Fatalf("lock held by a writer: err %v after %d waits, want ErrLocked after 2", err, waits)
	}
}

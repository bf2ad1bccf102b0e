//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive, non-blocking flock: one writer per journal,
// so sizes, rotation and tail repair never race another process.
func lockFile(f *os.File) error {
	return lockRetrying(f, 10, func() { time.Sleep(20 * time.Millisecond) })
}

// lockRetrying tries the lock tries times, calling wait in between: the
// shared lock `fleetwarden check` takes for a moment to see whether a
// fleetwarden runs must not make one that is starting give up.
func lockRetrying(f *os.File, tries int, wait func()) error {
	for i := 0; ; i++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if i+1 >= tries {
			return fmt.Errorf("%w (another fleetwarden, or a second Open, has it)", ErrLocked)
		}
		wait()
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

func syncDirFile(d *os.File) error { return d.Sync() }

// heldByWriter reports whether a process holds the journal lock on dir.
func heldByWriter(dir string) (bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	err = syscall.Flock(int(d.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	_ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	return false, nil
}

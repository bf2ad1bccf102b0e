//go:build unix

package fleet

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/fleetwarden/fleetwarden/internal/procstat"
)

func kill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// alive reports whether pid runs; a zombie (dead, not yet reaped) does not.
func alive(pid int) bool {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		_, rest, _ := strings.Cut(string(b), ") ")
		return !strings.HasPrefix(rest, "Z")
	}
	return syscall.Kill(pid, 0) == nil
}

// started is pid's start time, "" where it cannot be read. A PID can be
// another process's a moment later: what is killed must still have the
// start time it had when it was listed.
func started(pid int) string { return procstat.StartTime(pid) }

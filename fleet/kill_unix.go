//go:build unix

package fleet

import (
	"fmt"
	"os"
	"strings"
	"syscall"
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

// started is pid's start time (clock ticks since boot) from /proc, "" where
// it cannot be read. A PID can be another process's a moment later (pid_max
// may be as low as 32768): what is killed must still have the start time
// it had when it was listed.
func started(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22
}

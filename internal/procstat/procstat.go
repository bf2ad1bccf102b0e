// Package procstat reads a process's start time from /proc, so that code
// holding a PID can tell whether it is still the same process (a PID can
// be reused a moment later: pid_max may be as low as 32768).
package procstat

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StartTime is pid's start time in clock ticks since boot, "" when it does
// not run or /proc cannot be read.
func StartTime(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	// The command name may hold spaces and ')': fields count from the last ')'.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	// After "(comm)": state is field 3, starttime field 22.
	f := strings.Fields(rest)
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

//go:build unix

package alert

import (
	"os/exec"
	"syscall"
)

// killGroup runs the command in its own process group and, on timeout,
// kills the whole group: `sh -c 'sleep 100'` leaves no sleep behind.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

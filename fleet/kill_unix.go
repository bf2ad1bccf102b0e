//go:build unix

package fleet

import "syscall"

func kill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

//go:build !unix

package fleet

import "os"

func kill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func alive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}

func started(int) string { return "" }

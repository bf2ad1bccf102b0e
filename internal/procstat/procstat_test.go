package procstat

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestStartTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := StartTime(os.Getpid())
	if self == "" {
		t.Fatal("no start time for this process")
	}
	if again := StartTime(os.Getpid()); again != self {
		t.Errorf("start time changed: %q then %q", self, again)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got := StartTime(cmd.Process.Pid); got != "" {
		t.Errorf("reaped process has start time %q, want \"\"", got)
	}
}

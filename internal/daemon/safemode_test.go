package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRepeatedCrash(t *testing.T) {
	t0 := time.Date(2026, 3, 3, 2, 14, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		crashes []crash // relative At: minutes before now
		want    string
	}{
		{"none", nil, ""},
		{"twice", []crash{{What: "start: x"}, {What: "start: x"}}, ""},
		{"three times", []crash{{What: "start: x"}, {What: "start: x"}, {What: "start: x"}}, "the same crash 3 times in 10 minutes: start: x"},
		{"three different", []crash{{What: "start: x"}, {What: "start: y"}, {What: "panic: z"}}, ""},
		{"one too old", []crash{{At: t0.Add(-11 * time.Minute), What: "start: x"}, {What: "start: x"}, {What: "start: x"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, c := range tc.crashes {
				at := c.At
				if at.IsZero() {
					at = t0.Add(-time.Minute)
				}
				recordCrash(dir, c.What, at)
			}
			if got := repeatedCrash(dir, t0); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecordCrashKeepsOneLineWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	what := "panic: bad token sk-ant-oat01-" + strings.Repeat("A", 90) + "\ngoroutine 1 [running]:"
	for range 3 {
		recordCrash(dir, what, now)
	}
	got := repeatedCrash(dir, now)
	if got == "" || strings.Contains(got, "AAAAAAAAAA") || strings.Contains(got, "goroutine") {
		t.Errorf("got %q, want the first line, redacted", got)
	}
	clearCrashes(dir)
	if got := repeatedCrash(dir, now); got != "" {
		t.Errorf("after clearCrashes: %q", got)
	}
}

func TestCrashOutputOfThreeRunsIsARepeatedCrash(t *testing.T) {
	dir := t.TempDir()
	out := "panic: runtime error: invalid memory address or nil pointer dereference\n" +
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b1c]\n\ngoroutine 42 [running]:\nmain.(*daemon).event(...)\n"
	for i := range 3 {
		if got := repeatedCrash(dir, time.Now()); got != "" {
			t.Fatalf("after %d crashes: %q", i, got)
		}
		if err := os.WriteFile(filepath.Join(dir, crashOutFile), []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		collectCrashOutput(dir)
		if _, err := os.Stat(filepath.Join(dir, crashOutFile)); err == nil {
			t.Fatalf("the crash output was not taken")
		}
	}
	want := "the same crash 3 times in 10 minutes: panic: runtime error: invalid memory address or nil pointer dereference"
	if got := repeatedCrash(dir, time.Now()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// An empty crash output (a clean run) counts nothing.
	clearCrashes(dir)
	_ = os.WriteFile(filepath.Join(dir, crashOutFile), nil, 0o600)
	collectCrashOutput(dir)
	if cs := readCrashes(dir, time.Now()); len(cs) != 0 {
		t.Errorf("a clean run counted as a crash: %+v", cs)
	}
}

package main

import (
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

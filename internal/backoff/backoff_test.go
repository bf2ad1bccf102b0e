package backoff

import (
	"context"
	"testing"
	"time"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, time.Second}, {1, 2 * time.Second}, {2, 4 * time.Second}, {6, 64 * time.Second},
		{7, 2 * time.Minute}, {40, 2 * time.Minute}, {1000, 2 * time.Minute},
	} {
		if got := Ceiling(time.Second, 2*time.Minute, tc.failures); got != tc.want {
			t.Errorf("Ceiling(1s, 2m, %d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

// The package comment promises waits in [d/2, d]: check it holds.
func TestJitterStaysInTheUpperHalf(t *testing.T) {
	ceil := 10 * time.Second
	for range 10000 {
		if d := Jitter(ceil); d < ceil/2 || d > ceil {
			t.Fatalf("Jitter(%v) = %v, want within [%v, %v]", ceil, d, ceil/2, ceil)
		}
	}
	if d := Jitter(0); d != 0 {
		t.Errorf("Jitter(0) = %v", d)
	}
}

func TestBackoffCountsAndResets(t *testing.T) {
	b := New(time.Millisecond, 4*time.Millisecond)
	var ceilings []time.Duration
	for range 4 {
		ceilings = append(ceilings, b.Next())
		if !b.Wait(t.Context()) {
			t.Fatal("Wait ended early")
		}
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	for i := range want {
		if ceilings[i] != want[i] {
			t.Errorf("ceilings = %v, want %v", ceilings, want)
			break
		}
	}
	if b.Failures() != 4 {
		t.Errorf("Failures = %d, want 4", b.Failures())
	}
	b.Reset()
	if b.Next() != time.Millisecond {
		t.Errorf("after Reset Next = %v, want 1ms", b.Next())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if New(time.Hour, time.Hour).Wait(ctx) {
		t.Error("Wait on an ended context returned true")
	}
}

func TestAroundStaysWithinTwentyPercent(t *testing.T) {
	d := 5 * time.Minute
	for range 10000 {
		if got := Around(d); got < d*8/10 || got > d*12/10 {
			t.Fatalf("Around(%v) = %v, want within ±20%%", d, got)
		}
	}
}

package tmux

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadControl feeds random control-mode streams to the parser: it never
// panics, ends at the end of the stream, and reports only pane IDs that are
// in the stream ("%N", no line end).
func FuzzReadControl(f *testing.F) {
	f.Add([]byte("%begin 1 2 0\n%end 1 2 0\n%output %3 hello\\015\\012\n%extended-output %12 0 : x\n%exit\n"))
	f.Add([]byte("%output %1 " + strings.Repeat("x", 70000) + "\n%output %2 y\n"))
	f.Add([]byte("%output %\n%output  %4\r\n%output %5\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readControl(bytes.NewReader(data), func(id string) {
			if len(id) < 2 || id[0] != '%' || strings.ContainsAny(id, "\r\n ") {
				t.Fatalf("reported pane %q", id)
			}
			if !bytes.Contains(data, []byte(id)) {
				t.Fatalf("reported pane %q that is not in the stream", id)
			}
		})
		if err != nil {
			t.Fatalf("a stream that ends cleanly gave %v", err)
		}
	})
}

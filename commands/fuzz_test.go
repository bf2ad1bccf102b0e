package commands

import (
	"strings"
	"testing"
)

// FuzzParse: whatever a chat sends, parse never panics, and a command it
// accepts has a lower-case name without the @bot part or blanks, and the
// message's other words as its arguments.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/status", "/peek@fleet_bot builder 20", "  /RESTART all  ", "/", "/@bot", "hello", "/code abc#def", "/ä\u00a0x\ty"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		name, args, ok := parse(text)
		if !ok {
			return
		}
		if name == "" || strings.ContainsAny(name, "@ \t\n") || name != strings.ToLower(name) {
			t.Fatalf("parse(%q): name %q", text, name)
		}
		f := strings.Fields(text)
		if strings.Join(args, " ") != strings.Join(f[1:], " ") {
			t.Fatalf("parse(%q): args %q, want %q", text, args, f[1:])
		}
	})
}

package redact

import (
	"strings"
	"testing"
)

// FuzzWrappedToken plants a token anywhere in random text, wraps the text at
// a random terminal width (40 columns or more) as a terminal would, and checks no piece of the token's
// secret (12 characters or more) survives redaction.
func FuzzWrappedToken(f *testing.F) {
	f.Add("$ cat ~/.claude/.credentials.json\n", uint16(0), uint8(80), uint8(0))
	f.Add("some words and more words ", uint16(7), uint8(50), uint8(1))
	f.Add("héllo\twörld\n  indented line\n", uint16(3), uint8(120), uint8(2))
	f.Add(strings.Repeat("abc:def.ghi#jkl ", 8), uint16(40), uint8(13), uint8(3))
	f.Add("", uint16(0), uint8(1), uint8(4))
	f.Fuzz(func(t *testing.T, filler string, pos uint16, width uint8, kind uint8) {
		tokens := []struct{ tok, secret string }{
			{oauth, oauth[13:]},
			{refresh, refresh[13:]},
			{"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"},
			{"MTA4NjY3NzQ1MTIzNDU2Nzg5MA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789", "NjY3NzQ1MTIzNDU2Nzg5MA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789"},
			{"Xy9fKq2LmN3pR7sT1uVwXy9fKq2LmN3pR7sT1uVw#st4te-0f-th3-l0gin-page-st4te-0f-th3", "Xy9fKq2LmN3pR7sT1uVwXy9fKq2LmN3pR7sT1uVw#st4te-0f-th3-l0gin-page-st4te-0f-th3"},
		}
		tk := tokens[int(kind)%len(tokens)]
		// Plant at a rune boundary, separated as a token is in real text.
		at := 0
		if len(filler) > 0 {
			at = int(pos) % (len(filler) + 1)
			for at > 0 && at < len(filler) && !runeStart(filler[at]) {
				at--
			}
		}
		text := filler[:at] + " " + tk.tok + " " + filler[at:]
		w := 40 + int(width)%160 // a terminal's width
		out := String(wrap(text, w))
		flatFiller := strings.Join(strings.Fields(filler), "")
		for i := 0; i+12 <= len(tk.secret); i++ {
			piece := tk.secret[i : i+12]
			if strings.Contains(flatFiller, piece) {
				continue // the random text holds it by itself
			}
			if strings.Contains(strings.Join(strings.Fields(out), ""), piece) {
				t.Fatalf("width %d: %q of the token survived\nin:  %q\nout: %q", w, piece, wrap(text, w), out)
			}
		}
	})
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }

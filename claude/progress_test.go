package claude

import "testing"

func TestProgress(t *testing.T) {
	frame := func(status, tip string) string {
		return "❯ refactor the parser\n\n● Reading parser.go\n\n" + status + "\n" + tip + "\n\n──────\n❯ \n──────\n  ⏵⏵ auto mode on · esc to interrupt\n"
	}
	base := frame("✶ Flibbertigibbeting… (12s · ↓ 300 tokens · esc to interrupt)", "  ⎿  Tip: Use /memory to edit CLAUDE.md")
	tests := []struct {
		name, other string
		same        bool
	}{
		{"spinner glyph and seconds move on", frame("✻ Flibbertigibbeting… (13s · ↓ 300 tokens · esc to interrupt)", "  ⎿  Tip: Use /memory to edit CLAUDE.md"), true},
		{"minutes", frame("✽ Flibbertigibbeting… (1m 2s · ↓ 300 tokens · esc to interrupt)", "  ⎿  Tip: Use /memory to edit CLAUDE.md"), true},
		{"another tip", frame("✢ Flibbertigibbeting… (14s · ↓ 300 tokens · esc to interrupt)", "  ⎿  Tip: Press shift+tab to cycle modes"), true},
		{"tokens stream in", frame("✶ Flibbertigibbeting… (14s · ↓ 1.2k tokens · esc to interrupt)", "  ⎿  Tip: Use /memory to edit CLAUDE.md"), false},
		{"a new line of work", frame("✶ Flibbertigibbeting… (12s · ↓ 300 tokens · esc to interrupt)", "● Editing parser.go"), false},
		{"another verb", frame("✶ Propagating… (12s · ↓ 300 tokens · esc to interrupt)", "  ⎿  Tip: Use /memory to edit CLAUDE.md"), false},
	}
	for _, tt := range tests {
		if got := Progress(base) == Progress(tt.other); got != tt.same {
			t.Errorf("%s: same progress = %v, want %v\n%q\n%q", tt.name, got, tt.same, Progress(base), Progress(tt.other))
		}
	}
}

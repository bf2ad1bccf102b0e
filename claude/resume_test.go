package claude

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAsksResumeChoice(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dialogs", "resume-summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dialog := string(b)
	r := Classify(dialog)
	if r.State != NeedsInput || !strings.Contains(r.Evidence, "Resume from summary") {
		t.Errorf("the resume question classifies %s %q, want needs_input on its first option", r.State, r.Evidence)
	}
	if got := DialogName(r); got != "the resume question" {
		t.Errorf("DialogName = %q", got)
	}
	answered := dialog[:strings.Index(dialog, " This session is")] + "\n" + tui("", "", autoFooter)
	tests := []struct {
		name, text string
		want       bool
	}{
		{"open", dialog, true},
		{"answered: the input box is back", strings.TrimSuffix(dialog, "\n") + "\n" + rule80 + "\n❯\u00a0\n" + rule80 + "\n", false},
		{"not the dialog", answered, false},
		{"quoted in an answer, then more turns", tui("❯ what did it ask?\n\n● It asked: Resume from summary (instant, recommended) or Resume full session as-is.\n", "", autoFooter), false},
		{"narrow pane", strings.NewReplacer("Resume from summary (instant, recommended)", "Resume from summary\n      (instant, recommended)").Replace(dialog), true},
	}
	for _, tt := range tests {
		if got := AsksResumeChoice(tt.text); got != tt.want {
			t.Errorf("%s: AsksResumeChoice = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := ResumeKeys(ResumeSummary); !slices.Equal(got, []string{"Enter"}) {
		t.Errorf("summary keys %v", got)
	}
	if got := ResumeKeys(ResumeFull); !slices.Equal(got, []string{"Down", "Enter"}) {
		t.Errorf("full keys %v", got)
	}
}

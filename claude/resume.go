package claude

import "strings"

// Resume choices: the answers to the question some CLIs ask after
// `claude --resume` of an old, long session ("This session is 3h 20m old and
// 142.6k tokens … ❯ 1. Resume from summary (instant, recommended) / 2. Resume
// full session as-is / 3. Don't ask again").
const (
	ResumeSummary = "summary" // the CLI's recommended option, first in the list
	ResumeFull    = "full"
)

// AsksResumeChoice reports whether text shows that question as the dialog
// open now: both options in the last lines of the screen, with no input box
// or later turn under them. The same words in the scrollback or quoted in a
// conversation ask nothing.
func AsksResumeChoice(text string) bool {
	lines := strings.Split(strings.TrimRight(text, " \n\t\r\u00a0"), "\n")
	from := max(0, len(lines)-14)
	summary, full := -1, -1
	for i := from; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.Contains(l, "Resume from summary"):
			summary = i
		case strings.Contains(l, "Resume full session as-is"):
			full = i
		case summary >= 0 && (strings.HasPrefix(l, "❯\u00a0") || l == "❯" || strings.HasPrefix(l, "> ")):
			return false // an input line under it: the question is history
		}
	}
	return summary >= 0 && full > summary
}

// ResumeKeys are the keys that pick choice in that question: the first
// option is preselected.
func ResumeKeys(choice string) []string {
	if choice == ResumeFull {
		return []string{"Down", "Enter"}
	}
	return []string{"Enter"}
}

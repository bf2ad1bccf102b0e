package claude

import "strings"

// DialogName names, for a human, the dialog a needs_input or logging_in
// screen shows: "the first-run dialog", "the trust dialog", "the API-key
// question", "the login chooser", "the login screen", else "a dialog".
func DialogName(r Result) string {
	ev := strings.ToLower(r.Evidence)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(ev, x) {
				return true
			}
		}
		return false
	}
	switch {
	case r.State == LoggingIn && has("select login method", "claude account with subscription", "anthropic console account"):
		return "the login chooser"
	case r.State == LoggingIn:
		return "the login screen"
	case has("text style", "let's get started", "security notes", "safety check", "press enter to continue", "/theme"):
		return "the first-run dialog"
	case has("resume from summary"):
		return "the resume question"
	case has("trust"):
		return "the trust dialog"
	case has("api key"):
		return "the API-key question"
	case has("do you want to proceed", "would you like to proceed", "tab to amend", "requires approval"):
		return "a permission prompt"
	}
	return "a dialog"
}

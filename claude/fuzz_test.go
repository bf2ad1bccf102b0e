package claude

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var validReasons = map[State]map[Reason]bool{
	AuthFailed: {ReasonExpired: true, ReasonTimeLimit: true, ReasonRevoked: true, ReasonNotLoggedIn: true,
		ReasonSubscription: true, ReasonForbidden: true, ReasonInvalidAPIKey: true,
		ReasonRefreshRace: true, ReasonDiskFull: true, ReasonAccountDisabled: true, ReasonGatewayEnded: true},
	APIError: {"": true, ReasonRateLimit: true, ReasonOverloaded: true, ReasonNetwork: true, ReasonServer: true,
		ReasonThrottled: true, ReasonPromptTooLong: true},
	Limited: {ReasonUsageLimit: true, ReasonWeeklyLimit: true, ReasonSpendLimit: true},
}

func init() {
	// exited may carry what Claude printed last: any failure reason.
	validReasons[Exited] = map[Reason]bool{"": true}
	for _, m := range []map[Reason]bool{validReasons[AuthFailed], validReasons[APIError]} {
		for r := range m {
			validReasons[Exited][r] = true
		}
	}
}

func FuzzClassify(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "screens", "*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("❯ hi\n● Login expired · Please run /login\n" + rule80 + "\n❯\u00a0Once fixed, resend your message\n" + rule80 + "\n")
	f.Add("If the browser didn't open, visit: htt\nps://claude.com/cai/oauth/authorize?x=1\nPaste code here if prompted >")
	f.Add("bash-5.2# ")
	f.Fuzz(func(t *testing.T, text string) {
		r := Classify(text)
		switch r.State {
		case Working, Idle, NeedsInput, LoggingIn:
			if r.Reason != "" {
				t.Errorf("state %s with reason %q", r.State, r.Reason)
			}
		case AuthFailed, APIError, Exited, Limited:
			if !validReasons[r.State][r.Reason] {
				t.Errorf("state %s with reason %q", r.State, r.Reason)
			}
		case Unknown:
			if r.Reason != "" {
				t.Errorf("unknown with reason %q", r.Reason)
			}
		default:
			t.Fatalf("state %q is not one of the constants", r.State)
		}
		if r.LoginURL != "" && r.State != LoggingIn {
			t.Errorf("login URL on a %s pane", r.State)
		}
		if n := utf8.RuneCountInString(r.Evidence); n > maxEvidence {
			t.Errorf("evidence %d runes long", n)
		}
		if utf8.ValidString(text) && !utf8.ValidString(r.Evidence) {
			t.Errorf("evidence %q is not valid UTF-8", r.Evidence)
		}
		if strings.TrimSpace(text) == "" && r.State != Unknown {
			t.Errorf("blank pane classified %s", r.State)
		}
		if again := Classify(text); again != r {
			t.Errorf("not deterministic: %+v then %+v", r, again)
		}
		ExtractLoginURL(text)
		Redact(text)
	})
}

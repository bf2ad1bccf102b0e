package claude

import (
	"strings"
	"testing"
)

// The login relay tells the phone what the CLI's login texts mean. The
// texts are Claude Code's own (2.1.328–2.1.332).
func TestLoginAdvice(t *testing.T) {
	for _, tt := range []struct{ out, want string }{
		{"Couldn't log in: That code wasn't accepted. It may be incomplete, expired, already used, or from an earlier sign-in attempt. Sign in again to get a new code.", "The code was refused"},
		{" ✘ OAuth error: Invalid 'code' in request.", "The code was refused"},
		{"That doesn't look like the full code. Copy all of it, including the # in the middle.", "including the # in the middle"},
		{"That code is not from this sign-in. Paste the code shown after opening the address above.", "belongs to another login link"},
		{"That's a web address, not the code. If it's a sign-in link, open it in your browser.", "That is a link, not the code"},
		{"That address only works in a browser on this machine. Open the sign-in address shown above instead", "That is a link, not the code"},
		{"That looks like a verification code. Enter it in your browser, on the page that asks for it.", "e-mail verification code"},
		{" ✘ OAuth error: timeout of 15000ms exceeded", "The sign-in timed out"},
		{"OAuth error: Authentication timeout", "The sign-in timed out"},
		{"  ⎿  Login interrupted", "The login was interrupted"},
		{" ✘ OAuth error: access_denied - The user denied the request", "The login page refused the sign-in"},
		{"Your account is on hold and can't sign in to Claude Code. View details or appeal: https://claude.ai/restricted", "a new login will not help"},
		{"exit status 1: Error: getaddrinfo EAI_AGAIN platform.claude.com", "could not reach Anthropic"},
		{"something else entirely", "Send /login to try again."},
	} {
		if got := LoginAdvice(tt.out); !strings.Contains(got, tt.want) {
			t.Errorf("LoginAdvice(%q) = %q, want it to say %q", tt.out, got, tt.want)
		}
	}
}

func TestValidateCode(t *testing.T) {
	for _, tt := range []struct{ code, want string }{
		{"abcdefgh#state123", ""},
		{"", "empty"},
		{"https://claude.ai/oauth/authorize?x#y", "web address"},
		{"123456", "verification code"},
		{"123-456", "verification code"},
		{"abc def#x", "spaces"},
		{"abcdefghij", "two parts"},
	} {
		err := ValidateCode(tt.code)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateCode(%q) = %v, want nil", tt.code, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateCode(%q) = %v, want an error about %q", tt.code, err, tt.want)
		}
	}
	if !RefusedLocally("That looks like a verification code. Enter it in your browser") || RefusedLocally("Login successful.") {
		t.Error("RefusedLocally misreads the CLI")
	}
}

package claude

import (
	"errors"
	"strings"
	"unicode"
)

// LoginOutcome is what the CLI said about a submitted code.
type LoginOutcome struct {
	OK      bool
	Retry   bool   // the CLI refused the code locally and waits for another
	Message string // the CLI's words, redacted
	Advice  string // what the human should do
}

// ValidateCode checks the shape of a pasted code#state before it is typed.
func ValidateCode(code string) error {
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	switch {
	case code == "":
		return errors.New("the code is empty: paste the whole code shown after you log in")
	case strings.HasPrefix(code, "http://") || strings.HasPrefix(code, "https://"):
		return errors.New("that is a web address, not the code: open the login link, log in, and send the code the last page shows")
	case len(digits) >= 4 && len(digits) <= 10 && strings.Trim(digits, "0123456789") == "":
		return errors.New("that looks like the e-mail verification code: type it into the login page; send the longer code the page shows after it")
	case strings.IndexFunc(code, unicode.IsSpace) >= 0:
		return errors.New("the code has spaces in it: paste it exactly as shown, in one piece")
	case !strings.Contains(code, "#"):
		return errors.New("that is not the whole code: it has two parts joined by # (code#state); copy all of it")
	case len(code) < 8:
		return errors.New("the code is too short: copy all of it, including the part after #")
	case len(code) > 512:
		return errors.New("the code is too long: paste only the code shown on the login page")
	}
	return nil
}

// LoginAdvice says in plain words what the CLI's login texts mean and what
// to do next: refusals, "OAuth error: …", "Login interrupted".
func LoginAdvice(out string) string {
	low := strings.ToLower(out)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(low, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("is on hold"):
		return "The account is on hold: a new login will not help. The CLI's message links to the details and the appeal."
	case has("wasn't accepted", "invalid_grant", "invalid 'code'", "invalid code"):
		return "The code was refused: it may be incomplete, already used, or from an older login. Send /login again and use the new link."
	case has("doesn't look like the full code"):
		return "Copy the whole code, including the # in the middle, and send /code again."
	case has("not from this sign-in"):
		return "That code belongs to another login link: open the link of this login, log in, and send the code it shows with /code."
	case has("that's a web address, not the code", "only works in a browser on this machine"):
		return "That is a link, not the code: open the login link, log in, and send the code the last page shows with /code."
	case has("looks like a verification code"):
		return "That is the e-mail verification code: type it into the login page, then send the longer code the page shows with /code."
	case has("timeout", "timed out"):
		return "The sign-in timed out: the host waited too long for Anthropic (or for the code). Check the host's network, then send /login again and send the code within a few minutes."
	case has("login interrupted", "sign-in was interrupted"):
		return "The login was interrupted before it finished (cancelled, or the CLI was stopped). Send /login to start again."
	case has("oauth error"):
		return "The login page refused the sign-in (the CLI's words are above). Send /login to try again; if it repeats, log in to claude.ai in the browser first."
	case has("expired"):
		return "The code expired. Send /login again and paste the new code within a few minutes."
	case has("unable to connect", "econnrefused", "econnreset", "enotfound", "eai_again", "getaddrinfo", "fetch failed", "network"):
		return "The host could not reach Anthropic. Check its network, then send /login again."
	}
	return "Send /login to try again."
}

// localRefusals are what the CLI says when it refuses a pasted code
// without asking Anthropic, and waits for another.
var localRefusals = []string{
	"doesn't look like the full code",
	"That code is not from this sign-in",
	"That's a web address, not the code",
	"That looks like a verification code",
	"That address only works in a browser on this machine",
}

// RefusedLocally reports whether out holds the CLI refusing a pasted code
// by itself, waiting for another.
func RefusedLocally(out string) bool {
	for _, v := range localRefusals {
		if strings.Contains(out, v) {
			return true
		}
	}
	return false
}

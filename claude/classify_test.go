package claude

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func readScreen(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "screens", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClassifyFixtures runs every pane captured from the real CLI.
func TestClassifyFixtures(t *testing.T) {
	tests := []struct {
		file     string
		state    State
		reason   Reason
		url      bool   // a login URL must be found
		evidence string // a part the evidence must contain
	}{
		{"01-first-run.txt", NeedsInput, "", false, "Choose the text style"},
		{"02-after-theme.txt", LoggingIn, "", false, "Select login method"},
		{"03-login-url.txt", LoggingIn, "", true, "Paste code here"},
		{"14-main-tui.txt", Idle, "", false, "❯"},
		{"15-busy.txt", Idle, "", false, "Worked for 0s"},
		// 2.1.332's footer warning: the turn is fine, the agent idle.
		{"16-login-expires-footer.txt", Idle, "", false, "Worked for 0s"},
		{"17-busy-7s.txt", Working, "", false, "Propagating…"},
		{"19-tui-401.txt", AuthFailed, ReasonExpired, false, "Login expired · Please run /login"},
		{"21-slash-login.txt", LoggingIn, "", false, "Select login method"},
		{"22-slash-login-url.txt", LoggingIn, "", true, "Paste code here"},
		{"30-auth-login.txt", LoggingIn, "", true, "Paste code here"},
		// `claude auth login` refused the code and returned to the shell:
		// nothing is running any more, the evidence says why.
		{"31-auth-login-bad.txt", Exited, "", false, "Couldn't log in"},
		{"40-setup-token.txt", LoggingIn, "", true, "Paste code here"},
		// 2.1.332: the short sign-in link, no fields in it.
		{"41-setup-token-short-link.txt", LoggingIn, "", true, "Paste code here"},
		// setup-token succeeded and exited (EXIT=0, shell prompt): no Claude runs.
		{"42-setup-token-ok.txt", Exited, "", false, "bash-5.2#"},
		{"50-tui-401-refreshfail.txt", AuthFailed, ReasonExpired, false, "Login expired"},
		{"52-tui-401-refreshok.txt", AuthFailed, ReasonExpired, false, "API Error: 401 OAuth token has expired"},
		{"54-tui-403org.txt", AuthFailed, ReasonSubscription, false, "can't use your Claude subscription"},
		{"56-tui-nocreds-startup.txt", AuthFailed, ReasonNotLoggedIn, false, "Not logged in · run /login"},
		{"61-permission.txt", NeedsInput, "", false, "Do you want to proceed?"},
		// The CLI's texts as 2.1.332 words them, in the layout above.
		// Transient, by the CLI's own account: not a reason to log in again.
		{"70-auth-transient.txt", APIError, ReasonNetwork, false, "This may be a temporary network issue"},
		{"71-refresh-race.txt", AuthFailed, ReasonRefreshRace, false, "another Claude Code process is refreshing it"},
		{"72-refresh-disk-full.txt", AuthFailed, ReasonDiskFull, false, "or your disk quota on it, is full"},
		{"73-org-disabled-api-key.txt", AuthFailed, ReasonForbidden, false, "Your organization has disabled API key authentication"},
		{"74-api-key-disabled-org.txt", AuthFailed, ReasonInvalidAPIKey, false, "belongs to a disabled organization"},
		{"75-invalid-auth-token.txt", AuthFailed, ReasonInvalidAPIKey, false, "Invalid auth token"},
		{"76-account-on-hold.txt", AuthFailed, ReasonAccountDisabled, false, "Your account is on hold"},
		{"77-usage-allocation-disabled.txt", AuthFailed, ReasonAccountDisabled, false, "usage allocation has been disabled"},
		{"78-gateway-signin-ended.txt", AuthFailed, ReasonGatewayEnded, false, "sign-in to your organization has ended"},
		// Captured from 2.1.332 (a 400 "prompt is too long" from the fake API).
		{"79-prompt-too-long.txt", APIError, ReasonPromptTooLong, false, "Prompt is too long · the request is ~215000 tokens"},
		{"80-autocompact-failed.txt", APIError, ReasonPromptTooLong, false, "automatic compaction failed"},
		{"81-high-load.txt", APIError, ReasonOverloaded, false, "experiencing high load"},
		{"82-throttled.txt", APIError, ReasonThrottled, false, "temporarily limiting requests"},
		{"83-api-error-401.txt", AuthFailed, ReasonInvalidAPIKey, false, "API Error: 401"},
		{"84-api-error-403.txt", AuthFailed, ReasonForbidden, false, "API Error: 403"},
		// Captured from 2.1.332 against the fake API (401 and 403 to an OAuth login).
		{"85-oauth-api-error-401.txt", AuthFailed, ReasonExpired, false, "API Error: 401 Invalid bearer token"},
		{"86-oauth-api-error-403.txt", AuthFailed, ReasonForbidden, false, "API Error: 403 Request not allowed"},
		// Usage limits, captured from 2.1.328 against the fake API's 429
		// (unified-status rejected): the CLI waits and goes on by itself.
		{"90-limit-5h-classic.txt", Limited, ReasonUsageLimit, false, "You've hit your 5-hour limit"},
		{"91-limit-5h-fullscreen.txt", Limited, ReasonUsageLimit, false, "You've hit your 5-hour limit"},
		{"92-limit-weekly-classic.txt", Limited, ReasonWeeklyLimit, false, "You've hit your weekly limit"},
		{"93-limit-weekly-fullscreen.txt", Limited, ReasonWeeklyLimit, false, "You've hit your weekly limit"},
		{"94-limit-after-reset-waiting.txt", Limited, ReasonUsageLimit, false, "resets 11:24am"},
		{"95-limit-continued.txt", Idle, "", false, "done 11:33 AM"},
		{"96-limit-continue-cancelled.txt", Limited, ReasonUsageLimit, false, "Automatic continue cancelled"},
		{"97-limit-relaunched.txt", Limited, ReasonUsageLimit, false, "Automatic continue cancelled"},
		// The /rate-limit-options dialog (labels from the 2.1.332 bundle)
		// under the turn that hit the limit: limited, not needs_input.
		{"98-limit-options-dialog.txt", Limited, ReasonUsageLimit, false, "You've hit your 5-hour limit"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			got := Classify(readScreen(t, tt.file))
			checkResult(t, got, tt.state, tt.reason, tt.evidence)
			if tt.url != (got.LoginURL != "") {
				t.Errorf("login URL %q, want one: %v", got.LoginURL, tt.url)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "screens", "*.txt"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no expectation", f)
		}
	}
}

func checkResult(t *testing.T, got Result, state State, reason Reason, evidence string) {
	t.Helper()
	if got.State != state || got.Reason != reason {
		t.Errorf("got %s/%s (evidence %q), want %s/%s", got.State, got.Reason, got.Evidence, state, reason)
	}
	if !strings.Contains(got.Evidence, evidence) {
		t.Errorf("evidence %q, want it to contain %q", got.Evidence, evidence)
	}
	if n := utf8.RuneCountInString(got.Evidence); n > maxEvidence {
		t.Errorf("evidence is %d runes, want at most %d", n, maxEvidence)
	}
}

// fixtureURL rebuilds the login URL of a TUI fixture by hand: the lines from
// "https://" up to the next blank line, concatenated.
func fixtureURL(t *testing.T, name string) string {
	t.Helper()
	var b strings.Builder
	in := false
	for _, l := range strings.Split(readScreen(t, name), "\n") {
		if strings.HasPrefix(l, "https://") {
			in = true
		}
		if in && strings.TrimSpace(l) == "" {
			break
		}
		if in {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestFixtureLoginURLs(t *testing.T) {
	for _, name := range []string{"03-login-url.txt", "22-slash-login-url.txt", "40-setup-token.txt", "41-setup-token-short-link.txt"} {
		want := fixtureURL(t, name)
		if got := Classify(readScreen(t, name)).LoginURL; got != want {
			t.Errorf("%s: got URL %q, want %q", name, got, want)
		}
	}
	// The piped `claude auth login` URL starts mid-line and the terminal
	// wraps it at 200 columns.
	lines := strings.Split(readScreen(t, "30-auth-login.txt"), "\n")
	want := strings.TrimPrefix(lines[1], "If the browser didn't open, visit: ") + lines[2] + lines[3]
	if got := Classify(readScreen(t, "30-auth-login.txt")).LoginURL; got != want {
		t.Errorf("30: got URL %q, want %q", got, want)
	}
	if !strings.HasSuffix(want, "&state=bFTbczz5dzCBDXGb6S8qiB9WCaSxSo8AqSaRWo-U1RY") {
		t.Fatalf("test built a wrong URL: %q", want)
	}
}

// realURL is the URL of fixture 30, joined by hand.
func realURL(t *testing.T) string {
	lines := strings.Split(readScreen(t, "30-auth-login.txt"), "\n")
	return strings.TrimPrefix(lines[1], "If the browser didn't open, visit: ") + lines[2] + lines[3]
}

// hardWrap cuts s into lines of exactly w runes, as a terminal does.
func hardWrap(s string, w int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == w {
			b.WriteByte('\n')
			n = 0
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func TestLoginURLWrappedAtAnyWidth(t *testing.T) {
	// The full URL and the short sign-in link of 2.1.330+.
	for _, url := range []string{realURL(t), "https://claude.ai/oauth/authorize?IDMdQ43uDgrCCMgzPWR5kRGzkHBpmSqvstO2IK4yEKng"} {
		loginURLWrapped(t, url)
	}
}

func loginURLWrapped(t *testing.T, url string) {
	for _, w := range []int{40, 80, 120, 200, 37, 41, 500} {
		cases := map[string]string{
			// The TUI prints the URL on its own lines.
			"tui": "Welcome to Claude Code v2.1.328\n\n Browser didn't open? Use the URL below to sign in (c to copy)\n\n" +
				hardWrap(url, w) + "\n\n Paste code here if prompted\n ╭" + strings.Repeat("─", w-4) + "╮\n │" + strings.Repeat(" ", w-4) + "│\n ╰" + strings.Repeat("─", w-4) + "╯\n\n Esc to go back\n",
			// Piped `claude auth login`: the URL follows text, the terminal wraps
			// the whole line (at 40 columns even "https" is cut).
			"piped": "Opening browser to sign in…\n" + hardWrap("If the browser didn't open, visit: "+url, w) + "\nPaste code here if prompted >\n",
			// Inside an indented box, wrapped lines keep the indentation.
			"indented": "  Login\n\n  Browser didn't open? Use the URL below to sign in (c to copy)\n\n  " +
				strings.ReplaceAll(hardWrap(url, w-2), "\n", "\n  ") + "\n\n  Paste code here if prompted\n",
		}
		for name, text := range cases {
			t.Run(fmt.Sprintf("%s-%d-%d", name, w, len(url)), func(t *testing.T) {
				if got := ExtractLoginURL(text); got != url {
					t.Errorf("ExtractLoginURL:\n got %q\nwant %q", got, url)
				}
				r := Classify(text)
				if r.State != LoggingIn || r.LoginURL != url {
					t.Errorf("Classify: got %s with URL %q, want logging_in with %q", r.State, r.LoginURL, url)
				}
				if strings.Contains(r.Evidence, "state=") {
					t.Errorf("evidence %q leaks the login URL", r.Evidence)
				}
			})
		}
	}
}

func TestExtractLoginURLEdges(t *testing.T) {
	url := realURL(t)
	tests := []struct {
		name, text, want string
	}{
		{"none", "hello\nworld\n", ""},
		{"other URL only", "see https://code.claude.com/docs/en/permission-modes\n", ""},
		{"unwrapped, then a shorter text line", url + "\nPaste code here if prompted\n", url},
		{"last of two", "https://claude.ai/oauth/authorize?state=old\n\n" + url + "\n", url},
		{"CRLF", strings.ReplaceAll(hardWrap(url, 80), "\n", "\r\n") + "\r\n", url},
		{"trailing period", "visit " + url + ".\n", url},
	}
	for _, tt := range tests {
		if got := ExtractLoginURL(tt.text); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

const rule80 = "────────────────────────────────────────────────────────────────────────────────"

// tui draws a Claude Code screen: header, transcript, input box, footer.
func tui(transcript, input, footer string) string {
	return " ▐▛███▛█   Claude Code v2.1.328\n▝▜██████▀  Opus 5.5 · Claude Max\n ▝▝   ▝▝   /home/dev/work\n\n" +
		transcript + "\n" + rule80 + "\n❯\u00a0" + input + "\n" + rule80 + "\n  " + footer + "\n"
}

const autoFooter = "⏵⏵ auto mode on (shift+tab to cycle)"

func TestClassifyCases(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		state    State
		reason   Reason
		evidence string
	}{
		{"empty pane", "", Unknown, "", ""},
		{"credit balance, bare", tui("❯ fix the bug\n\n● Credit balance is too low\n", "", autoFooter), AuthFailed, ReasonSubscription, "Credit balance is too low"},
		{"credit balance, under the prompt", tui("❯ fix the bug\n  ⎿  Credit balance is too low · Add funds: https://console.anthropic.com/settings/billing\n", "", autoFooter),
			AuthFailed, ReasonSubscription, "Credit balance is too low"},
		{"an answer about a credit balance", tui("❯ what does the billing page say?\n\n● The billing page warns users when their credit balance is too low to place an order.\n", "", autoFooter),
			Idle, "", ""},
		{"blank lines", "\n   \n\u00a0\n\n", Unknown, "", ""},
		{"bash shell", "dev@box:~/work$ ls\nREADME.md  go.mod  main.go\ndev@box:~/work$ \n\n", Exited, "", "dev@box:~/work$"},
		{"root shell", "root@3f2a9c:/work# ", Exited, "", "root@3f2a9c:/work#"},
		{"bare dollar", "\n$ \n", Exited, "", "$"},
		{"bracket prompt", "[dev@box work]$", Exited, "", "[dev@box work]$"},
		{"claude exited with resume hint", tui("❯ hi\n\n● Hello!\n", "", autoFooter) +
			"\nResume this session with:\nclaude --resume 0f3c2a1e-8b7d-4c5e-9a6f-1b2c3d4e5f60\ndev@box:~/work$\n",
			Exited, "", "claude --resume 0f3c2a1e"},
		{"pane is dead", "● Hello\n\nPane is dead (status 0, Sat Nov 22 07:00:00 2025)\n", Exited, "", "Pane is dead"},
		{"print mode failure then prompt", "$ claude -p hello\nFailed to authenticate: OAuth token revoked. Please run /login\n$ \n",
			Exited, ReasonRevoked, "OAuth token revoked"},
		{"not claude: top", "top - 10:00:01 up 3 days,  2:11,  1 user,  load average: 0.00, 0.01, 0.05\nTasks: 112 total,   1 running\n  PID USER      PR  NI    VIRT    RES\n    1 root      20   0  167744  11576\n",
			Unknown, "", ""},
		{"not claude: vim", "package main\n~\n~\n~\n-- INSERT --                                  1,1           All\n", Unknown, "", ""},
		{"not claude: price and percent", "total: 12$\nprogress 100%\n", Unknown, "", ""},
		{"postgres refused is not Claude's", "psql: error: connection to server failed: Connection refused\n", Unknown, "", ""},

		// Scrollback: judge only the latest turn.
		{"old error then good reply", tui("❯ hello\n\n● Login expired · Please run /login\n\n❯ /login\n  ⎿  Login successful\n\n❯ hello again\n\n● Hi! How can I help?\n\n✻ Worked for 3s · done 5:40 AM\n", "", autoFooter),
			Idle, "", "Worked for 3s"},
		{"old good reply then fresh error", tui("❯ hi\n\n● Hello from fake API.\n\n✻ Worked for 0s · done 5:33 AM\n\n❯ and now?\n\n● OAuth token revoked · Please run /login\n", "Once fixed, resend your message", autoFooter),
			AuthFailed, ReasonRevoked, "OAuth token revoked · Please run /login"},
		{"fresh error without placeholder", tui("❯ hi\n\n● Hello.\n\n❯ again\n\n● Login expired · Please run /login\n", "", autoFooter),
			AuthFailed, ReasonExpired, "Login expired"},
		{"placeholder, /login cancelled since", tui("❯ hello\n\n● Login reached its time limit · Please run /login\n\n❯ /login\n  ⎿  Login interrupted\n", "Once fixed, resend your message", autoFooter),
			AuthFailed, ReasonTimeLimit, "Login reached its time limit"},
		{"placeholder, /login succeeded since", tui("❯ hello\n\n● Login expired · Please run /login\n\n❯ /login\n  ⎿  Login successful\n", "Once fixed, resend your message", autoFooter),
			Idle, "", "Login successful"},
		{"placeholder, unknown error", tui("❯ hello\n\n● Something unexpected happened (code 7)\n", "Once fixed, resend your message", autoFooter),
			APIError, "", "Something unexpected happened"},
		{"answer that talks about login errors", tui("❯ what does the pane show when the token dies?\n\n● When the refresh fails, Claude Code prints a message like Login\n  expired · Please run /login under your turn, and the API returns\n  401.\n\n✻ Worked for 9s · done 6:01 AM\n", "", autoFooter),
			Idle, "", "Worked for 9s"},
		{"tool output with a 401 while working", tui("❯ call our API\n\n● Bash(curl -s localhost:8080/v1/messages)\n  ⎿  API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"}}\n\n✢ Pondering… (4s · ↓ 120 tokens)\n", "", autoFooter+" · esc to interrupt"),
			Working, "", "Pondering…"},
		{"tool output with a 401, turn done", tui("❯ call our API\n\n● Bash(curl -s localhost:8080/v1/messages)\n  ⎿  Failed to authenticate: API Error: 401\n", "", autoFooter),
			Idle, "", "Bash(curl"},

		// Each auth reason, phrased or laid out differently from the fixtures.
		{"expired under ⎿, wrapped at 40", "❯ hello\n  ⎿  Please run /login · API Error: 401\n     OAuth token has expired. Please\n     obtain a new token or refresh your\n     existing token.\n\n" + strings.Repeat("─", 40) + "\n❯\u00a0\n" + strings.Repeat("─", 40) + "\n  ? for shortcuts\n",
			AuthFailed, ReasonExpired, "Please run /login · API Error: 401 OAuth token has expired. Please obtain a new token or refresh your existing token."},
		{"expired upper case", tui("❯ hello\n\n● LOGIN EXPIRED · PLEASE RUN /LOGIN\n", "", autoFooter), AuthFailed, ReasonExpired, "LOGIN EXPIRED"},
		{"time limit wrapped", tui("❯ hello\n\n● Login reached its time\n  limit · Please run /login\n", "Once fixed, resend your message", autoFooter),
			AuthFailed, ReasonTimeLimit, "Login reached its time limit · Please run /login"},
		{"revoked with ✘", tui("❯ hello\n\n✘ Your OAuth token was revoked · Please run /login\n", "", autoFooter), AuthFailed, ReasonRevoked, "revoked"},
		{"not logged in", tui("❯ hello\n\n● Not logged in · Please run /login\n", "Once fixed, resend your message", autoFooter), AuthFailed, ReasonNotLoggedIn, "Not logged in"},
		{"org disabled subscription", tui("❯ hello\n\n● Your organization has disabled Claude subscription access for Claude Code · Use an API key\n  or ask your admin\n", "Once fixed, resend your message", autoFooter),
			AuthFailed, ReasonSubscription, "organization has disabled"},
		{"payment past due, narrow", tui("❯ hello\n\n⎿  Claude Code can’t use your Claude\n   subscription, usually because a\n   payment is past due\n", "", autoFooter),
			AuthFailed, ReasonSubscription, "can’t use your Claude subscription"},
		{"other 403", tui("❯ hello\n\n● Please run /login · API Error: 403 {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"OAuth authentication is currently not allowed for this organization.\"}}\n", "Once fixed, resend your message", autoFooter),
			AuthFailed, ReasonForbidden, "API Error: 403"},
		{"invalid api key", tui("❯ hello\n\n⚠ Invalid API key · Fix external API key\n", "", autoFooter), AuthFailed, ReasonInvalidAPIKey, "Invalid API key"},
		{"401 invalid x-api-key", tui("❯ hello\n\n● API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}\n", "", autoFooter),
			AuthFailed, ReasonInvalidAPIKey, "invalid x-api-key"},
		{"print mode expired", "Failed to authenticate: OAuth session expired and could not be refreshed\n", AuthFailed, ReasonExpired, "OAuth session expired"},
		{"print mode, narrow terminal", "Failed to authenticate: OAuth session ex\npired and could not be refreshed\n" + strings.Repeat("x", 40) + "\n",
			AuthFailed, ReasonExpired, "Failed to authenticate: OAuth session expired"},
		{"print mode not logged in", "Not logged in · Please run /login\n", AuthFailed, ReasonNotLoggedIn, "Not logged in"},
		{"footer not logged in, text typed", tui("", "fix the tests", autoFooter+"          Not logged in · run /login"), AuthFailed, ReasonNotLoggedIn, "Not logged in · run /login"},

		// API errors that are not about the login.
		{"overloaded", tui("❯ hello\n\n● API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n", "Once fixed, resend your message", autoFooter),
			APIError, ReasonOverloaded, "API Error: 529"},
		{"rate limit", tui("❯ hello\n\n● API Error: 429 Too many requests\n", "", autoFooter), APIError, ReasonRateLimit, "429"},
		{"usage limit", tui("❯ hello\n\n● You've hit your limit · resets 3pm (Europe/Berlin)\n", "", autoFooter), Limited, ReasonUsageLimit, "hit your limit"},
		{"connection refused", tui("❯ hello\n\n  ⎿  API Error: Connection refused (ECONNREFUSED 127.0.0.1:443)\n", "Once fixed, resend your message", autoFooter),
			APIError, ReasonNetwork, "Connection refused"},
		{"fetch failed", tui("❯ hello\n\n● API Error: fetch failed\n", "", autoFooter), APIError, ReasonNetwork, "fetch failed"},
		{"offline start", "Unable to connect to Anthropic services\n", APIError, ReasonNetwork, "Unable to connect"},
		{"500 retrying while working", tui("❯ hello\n\n✻ 500 Internal server error · retrying in 7s · attempt 5/10\n", "", autoFooter+" · esc to interrupt"),
			APIError, ReasonServer, "500 Internal server error · retrying in 7s · attempt 5/10"},
		{"timeout retry under spinner", tui("❯ hello\n\n✳ Thinking… (esc to interrupt)\n  ⎿  API Error (Request timed out.) · Retrying in 4 seconds… (attempt 2/10)\n", "", autoFooter),
			APIError, ReasonNetwork, "Request timed out"},
		{"500 final", tui("❯ hello\n\n● API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n", "Once fixed, resend your message", autoFooter),
			APIError, ReasonServer, "API Error: 500"},

		// Dialogs.
		{"trust dialog", " Accessing workspace:\n\n /home/dev/work\n\n Quick safety check: Is this a project you created or one you trust? (Like your own code, a well-known open source project, or work from your team).\n\n ❯ 1. Yes, I trust this folder\n   2. No, exit\n\n Enter to confirm · Esc to cancel\n",
			NeedsInput, "", "one you trust"},
		{"trust dialog, boxed", "╭" + strings.Repeat("─", 60) + "╮\n│ Do you trust the files in this folder?" + strings.Repeat(" ", 21) + "│\n│ ❯ 1. Yes, proceed" + strings.Repeat(" ", 42) + "│\n│   2. No, exit" + strings.Repeat(" ", 46) + "│\n╰" + strings.Repeat("─", 60) + "╯\n   Enter to confirm · Esc to exit\n",
			NeedsInput, "", "Do you trust the files in this folder?"},
		{"edit permission", "❯ fix it\n\n● Update(main.go)\n\n" + rule80 + "\n Edit file\n main.go\n Do you want to make this edit to main.go?\n ❯ 1. Yes\n   2. Yes, allow all edits during this session (shift+tab)\n   3. No, and tell Claude what to do differently (esc)\n",
			NeedsInput, "", "Do you want to make this edit"},
		{"unknown chooser", "❯ /model\n\n" + rule80 + "\n Select model\n ❯ 1. Default (recommended)\n   2. Opus\n\n Enter to confirm · Esc to exit\n", NeedsInput, "", "Enter to confirm"},
		{"oauth error", "❯ /login\n\n" + rule80 + "\n  Login\n\n  ✘ OAuth error: Request failed with status code 400\n\n  Press Enter to retry.\n", LoggingIn, "", "✘ OAuth error: Request failed"},
		{"login successful dialog", "❯ /login\n\n" + rule80 + "\n  Login\n\n  ✔ Login successful. Press Enter to continue…\n", LoggingIn, "", "Login successful"},

		// Work in progress.
		{"working with a tool call", tui("❯ run the tests\n\n● I'll run the test suite.\n\n● Bash(go test ./...)\n  ⎿  Running…\n\n✢ Testing… (12s · ↓ 340 tokens)\n", "", autoFooter+" · esc to interrupt"),
			Working, "", "Testing…"},
		{"tool running, spinner off screen", tui("❯ run the tests\n\n● Bash(sleep 600)\n  ⎿  Running…\n", "", autoFooter),
			Working, "", "Bash(sleep 600)"},
		{"footer only", tui("❯ go\n\n● Reading the code.\n", "", autoFooter+" · esc to interrupt"), Working, "", "esc to interrupt"},
		{"working, input box scrolled off", "❯ go\n\n● Read(main.go)\n\n✶ Cogitating… (3s · esc to interrupt)\n", Working, "", "Cogitating…"},
		{"typed but idle", tui("❯ hi\n\n● Hello.\n", "next question", autoFooter), Idle, "", "Hello."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResult(t, Classify(tt.text), tt.state, tt.reason, tt.evidence)
		})
	}
}

func TestClassifyRedactsEvidence(t *testing.T) {
	text := tui("❯ hi\n\n● Invalid API key · Fix external API key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "", autoFooter)
	got := Classify(text)
	if got.State != AuthFailed || strings.Contains(got.Evidence, "AAAAAAAA") || !strings.Contains(got.Evidence, "sk-ant-api03-…[redacted]") {
		t.Errorf("got %s %q, want auth_failed with the key redacted", got.State, got.Evidence)
	}
}

// TestClassifyHugeScrollback: only the bottom is looked at, however much
// history is passed.
func TestClassifyHugeScrollback(t *testing.T) {
	old := strings.Repeat("❯ hello\n\n● Login expired · Please run /login\n\n", 20000)
	got := Classify(old + readScreen(t, "15-busy.txt"))
	if got.State != Idle {
		t.Errorf("got %s, want idle", got.State)
	}
}

func TestIsClaudeCommand(t *testing.T) {
	tests := []struct {
		cmd  string
		want bool
	}{
		{"claude", true},
		{"claude-code", true},
		{"/home/dev/.local/bin/claude", true},
		{"claude --continue", true},
		{"2.1.328", true},
		{"2.0.0-beta.1", true},
		{"node", false},
		{"bash", false},
		{"", false},
		{"2.1", false},
		{"1.2.3.4", false},
		{"v2.1.328", false},
		{"2.1.x", false},
		{"vim", false},
	}
	for _, tt := range tests {
		if got := IsClaudeCommand(tt.cmd); got != tt.want {
			t.Errorf("IsClaudeCommand(%q) = %v, want %v", tt.cmd, got, tt.want)
		}
	}
}

func TestReasonHelpers(t *testing.T) {
	relogin := map[Reason]bool{ReasonExpired: true, ReasonTimeLimit: true, ReasonRevoked: true, ReasonNotLoggedIn: true}
	all := []Reason{ReasonExpired, ReasonTimeLimit, ReasonRevoked, ReasonNotLoggedIn, ReasonSubscription, ReasonForbidden,
		ReasonInvalidAPIKey, ReasonRateLimit, ReasonOverloaded, ReasonNetwork, ReasonServer}
	for _, r := range all {
		if got := r.ReloginFixes(); got != relogin[r] {
			t.Errorf("%s.ReloginFixes() = %v, want %v", r, got, relogin[r])
		}
		if d := r.Describe(); d == "" || d == string(r) {
			t.Errorf("%s.Describe() = %q, want plain words", r, d)
		}
	}
	if got := ReasonSubscription.Describe(); got != "subscription refused (payment or plan)" {
		t.Errorf("got %q", got)
	}
	if got := Reason("").Describe(); got != "" {
		t.Errorf("empty reason described as %q", got)
	}
}

func BenchmarkClassify(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "screens", "*.txt"))
	for _, f := range files {
		text := readScreen(b, filepath.Base(f))
		b.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				Classify(text)
			}
		})
	}
}

// TestClassifyUnconfirmed: a failure is confirmed only by the CLI's own
// "Once fixed" placeholder; a resumed conversation (classic renderer) shows
// the old error above an empty box, and only the caller knows it resumed.
func TestClassifyUnconfirmed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "resumed", "classic-after-failure.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		text            string
		wantState       State
		wantUnconfirmed bool
	}{
		{"resumed after a failure, classic renderer", string(b), AuthFailed, true},
		{"live failure with the placeholder", readScreen(t, "19-tui-401.txt"), AuthFailed, false},
		{"live refresh failure", readScreen(t, "50-tui-401-refreshfail.txt"), AuthFailed, false},
		{"live 403", readScreen(t, "54-tui-403org.txt"), AuthFailed, false},
		{"not logged in footer", readScreen(t, "56-tui-nocreds-startup.txt"), AuthFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.text)
			if got.State != tt.wantState || got.Unconfirmed != tt.wantUnconfirmed {
				t.Errorf("Classify = %s (unconfirmed %v), want %s (unconfirmed %v); evidence %q",
					got.State, got.Unconfirmed, tt.wantState, tt.wantUnconfirmed, got.Evidence)
			}
		})
	}
}

func TestAsksToUseAPIKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dialogs", "custom-api-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dialog := string(b)
	if r := Classify(dialog); r.State != NeedsInput {
		t.Errorf("the API key dialog classifies %s, want needs_input", r.State)
	}
	ours := "sk-ant-api03-bogusbogusbogusbogusbogusbogusbogusbogus-AAAA"
	tests := []struct {
		name, text, key string
		want            bool
	}{
		{"our key", dialog, ours, true},
		{"another key", dialog, "sk-ant-api03-someoneelsesomeoneelsesomeoneelse-BBBB", false},
		{"no key injected", dialog, "", false},
		{"not the dialog", readScreen(t, "14-main-tui.txt"), ours, false},
		{"answered, in the scrollback above the prompt", dialog + "\n" + readScreen(t, "14-main-tui.txt"), ours, false},
		{"quoted in a conversation", readScreen(t, "14-main-tui.txt") + "\n> " + strings.ReplaceAll(dialog, "Enter to confirm · Esc to cancel", "") +
			"\n⏺ That dialog asks whether to use the key.\n", ours, false},
		{"narrow pane: key and footer wrapped", strings.NewReplacer("bogusbogus-AAAA", "bogus\n  bogus-AAAA", "Esc to cancel", "Esc to\n  cancel").Replace(dialog), ours, true},
		{"below scrollback that has the key", "ANTHROPIC_API_KEY: sk-ant-api03-bogusbo...bogusbogusbogus-AAAA\n" + dialog, ours, true},
	}
	for _, tt := range tests {
		if got := AsksToUseAPIKey(tt.text, tt.key); got != tt.want {
			t.Errorf("%s: AsksToUseAPIKey = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDialogName(t *testing.T) {
	for _, tc := range []struct{ screen, want string }{
		{"01-first-run.txt", "the first-run dialog"},
		{"02-after-theme.txt", "the login chooser"},
		{"03-login-url.txt", "the login screen"},
		{"61-permission.txt", "a permission prompt"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "screens", tc.screen))
		if err != nil {
			t.Fatal(err)
		}
		r := Classify(string(b))
		if got := DialogName(r); got != tc.want {
			t.Errorf("%s (%s %q): DialogName = %q, want %q", tc.screen, r.State, r.Evidence, got, tc.want)
		}
	}
	for ev, want := range map[string]string{
		"Do you trust the files in this folder?": "the trust dialog",
		"Do you want to use this API key?":       "the API-key question",
	} {
		if got := DialogName(Result{State: NeedsInput, Evidence: ev}); got != want {
			t.Errorf("DialogName(%q) = %q, want %q", ev, got, want)
		}
	}
}

func TestLoginExpiryInFooter(t *testing.T) {
	if got := Classify(readScreen(t, "16-login-expires-footer.txt")).LoginExpiresInDays; got != 1 {
		t.Errorf("footer 'Your login expires in 1 day': got %d days, want 1", got)
	}
	for _, name := range []string{"15-busy.txt", "19-tui-401.txt"} {
		if got := Classify(readScreen(t, name)).LoginExpiresInDays; got != 0 {
			t.Errorf("%s: got %d days, want 0", name, got)
		}
	}
	// In the conversation, not the footer: nothing.
	said := tui("❯ what does the footer say?\n\n● It says Your login expires in 3 days.\n", "", autoFooter)
	if got := Classify(said).LoginExpiresInDays; got != 0 {
		t.Errorf("a turn quoting it: got %d days, want 0", got)
	}
}

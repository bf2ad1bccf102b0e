package claude

import (
	"slices"
	"strings"
	"testing"
)

// An example pane for one pattern: the message under the latest turn, with
// or without the "Once fixed" placeholder, or a whole screen (raw).
type patExample struct {
	msg  string
	mode byte // 's' strict (no placeholder), 'p' placeholder, 'r' raw screen
}

func (e patExample) screen() string {
	switch e.mode {
	case 'p':
		return tui("❯ do it\n\n"+e.msg+"\n", "Once fixed, resend your message", autoFooter)
	case 'r':
		return e.msg
	}
	return tui("❯ do it\n\n"+e.msg+"\n", "", autoFooter)
}

func s(msg string) patExample  { return patExample{msg, 's'} }
func p(msg string) patExample  { return patExample{msg, 'p'} }
func r(text string) patExample { return patExample{text, 'r'} }

// ruleExamples has, for each phrase of the rule tables, a pane that only
// that phrase reads right: without it the verdict changes.
var ruleExamples = map[string]patExample{
	// authRules
	"authenticationerror·thismaybeatemporarynetworkissue": s("● Authentication error · This may be a temporary network issue, please try again"),
	"couldnotrefreshyourloginbecauseanother":              s("● Could not refresh your login because another Claude Code process is refreshing it (or exited mid-refresh) · Try again in a minute; if it keeps happening, close other Claude Code windows or sign in again with /login"),
	"couldnotrefreshyourlogin:thedisk":                    s("● Could not refresh your login: the disk that holds the Claude Code config directory (~/.claude by default), or your disk quota on it, is full · Delete files you no longer need on that disk, then try again · Signing in again won't help"),
	"disabledapikeyauthentication":                        s("● Your organization has disabled API key authentication · Run /login to sign in with your claude.ai account"),
	"belongstoadisabledorganization":                      s("● Your ANTHROPIC_API_KEY belongs to a disabled organization · Update or unset the environment variable"),
	"invalidauthtoken":                                    s("● Invalid auth token · Fix external auth token"),
	"accountisonhold":                                     s("● Your account is on hold and can't use Claude Code. View details or appeal: https://claude.ai/restricted"),
	"usageallocationhasbeendisabled":                      s("● Your usage allocation has been disabled by your admin"),
	"sign-intoyourorganizationhasended":                   s("● Claude Code did not send this request: this session's sign-in to your organization has ended. Start Claude Code again."),
	"sign-intotheorganizationended":                       p("● The sign-in to the organization ended"),
	"invalidapikey":                                       s("● Invalid API key · Please run /login"),
	"invalidx-api-key":                                    s("● API Error: 401 invalid x-api-key"),
	"fixexternalapikey":                                   p("● API key refused · Fix external API key"),
	"reacheditstimelimit":                                 s("● API Error: This account reached its time limit"),
	"timelimit":                                           s("● Your login hit its time limit · Please run /login"),
	"time_limit":                                          s("Failed to authenticate: session ended (time_limit)"),
	"revoked":                                             s("● OAuth token revoked · Please run /login"),
	"can'tuseyourclaudesubscription":                      s("● Claude Code can't use your Claude subscription · Use an API key"),
	"cannotuseyourclaudesubscription":                     s("● Claude Code cannot use your Claude subscription · Use an API key"),
	"pastdue":                                             s("● API Error: invoice past due"),
	"disabledclaudesubscription":                          s("● Your organization disabled Claude subscription use"),
	"subscriptionaccess":                                  s("● Claude Code: subscription access is off for this org"),
	"creditbalanceistoolow":                               s("● API Error: Credit balance is too low"),
	"notloggedin":                                         s("● Not logged in · Please run /login"),
	"expired":                                             s("● Session expired (OAuth)"),
	"notallowedforthisorganization":                       s("● API Error: OAuth authentication is currently not allowed for this organization."),
	"organizationhasbeendisabled":                         s("● API Error: This organization has been disabled."),
	"permission_error":                                    s(`● API Error: {"type":"error","error":{"type":"permission_error"}}`),
	"403forbidden":                                        s("● 403 Forbidden · Please run /login"),
	"failedtoauthenticate":                                r("$ claude -p hi\nFailed to authenticate: the server said no\n"),
	"authentication_error":                                s(`● API Error: {"type":"error","error":{"type":"authentication_error"}}`),
	"authenticationfailed":                                s("● API Error: authentication failed"),
	"authenticationerror":                                 p("● Authentication error"),
	"authenticationerror·thegatewaycouldnotauthenticate":  s("● Authentication error · The gateway could not authenticate with its upstream provider — contact your gateway administrator"),
	"authenticationrequired·signinagain":                  s("● Authentication required · Sign in again to continue"),
	// limitRules
	"promptistoolong":             s("● Prompt is too long"),
	"temporarilylimitingrequests": s("● API Error: Server is temporarily limiting requests (not your usage limit) · this may be a temporary capacity issue."),
	"overloaded":                  s("● API Error: Overloaded"),
	"experiencinghighload":        s("● Opus is experiencing high load, please use /model to switch to Sonnet"),
	"ratelimit":                   s("● API Error: Rate limited"),
	"rate_limit":                  s(`● API Error: {"type":"error","error":{"type":"rate_limit_error"}}`),
	"toomanyrequests":             s("● API Error: Too many requests"),
	"usagelimit":                  s("● Claude usage limit hit"),
	"hityourlimit":                s("● API Error: hit your limit for this model"),
	"limitreached":                s("● Claude limit reached · resets 5pm"),
	"limitwillreset":              s("● API Error: limit will reset at 5pm"),
	// apiRules
	"connectionrefused":  s("● API Error: Connection refused"),
	"econnrefused":       s("● API Error: ECONNREFUSED"),
	"econnreset":         s("● API Error: ECONNRESET"),
	"enotfound":          s("● API Error: ENOTFOUND"),
	"eai_again":          s("● API Error: EAI_AGAIN"),
	"fetchfailed":        s("● API Error: fetch failed"),
	"unabletoconnect":    s("● API Error: Unable to connect to API"),
	"couldnotconnect":    s("● API Error: Could not connect"),
	"couldn'tconnect":    s("● API Error: Couldn't connect"),
	"connectionerror":    s("● API Error: Connection error."),
	"networkerror":       s("● API Error: Network error"),
	"sockethangup":       s("● API Error: socket hang up"),
	"getaddrinfo":        s("● API Error: getaddrinfo"),
	"timedout":           s("● API Error: Request timed out."),
	"servererror":        s("● API Error: Internal server error"),
	"badgateway":         s("● API Error: Bad gateway"),
	"serviceunavailable": s("● API Error: Service unavailable"),
	"gatewaytimeout":     s("● API Error: Gateway timeout"),
	"api_error":          s(`● API Error: {"type":"error","error":{"type":"api_error"}}`),
}

// TestEveryRuleMatters reads each rule's example and checks that the rule
// decides it: with the rule taken out of its table, the verdict changes.
func TestEveryRuleMatters(t *testing.T) {
	tables := []struct {
		name  string
		rules *[]failRule
		state State
	}{
		{"authRules", &authRules, AuthFailed},
		{"limitRules", &limitRules, APIError},
		{"apiRules", &apiRules, APIError},
	}
	used := map[string]bool{}
	for _, tb := range tables {
		for i, rule := range *tb.rules {
			ex, ok := ruleExamples[rule.pat]
			if !ok {
				t.Errorf("%s: rule %q has no example", tb.name, rule.pat)
				continue
			}
			used[rule.pat] = true
			want := Result{State: tb.state, Reason: rule.reason}
			if rule.state != "" {
				want.State = rule.state
			}
			got := Classify(ex.screen())
			if got.State != want.State || got.Reason != want.Reason {
				t.Errorf("%s %q: got %s/%s (evidence %q), want %s/%s", tb.name, rule.pat, got.State, got.Reason, got.Evidence, want.State, want.Reason)
				continue
			}
			saved := *tb.rules
			*tb.rules = slices.Delete(slices.Clone(saved), i, i+1)
			without := Classify(ex.screen())
			*tb.rules = saved
			if without.State == got.State && without.Reason == got.Reason {
				t.Errorf("%s %q: the verdict %s/%s stays without the rule: its example does not test it", tb.name, rule.pat, got.State, got.Reason)
			}
		}
	}
	for pat := range ruleExamples {
		if !used[pat] {
			t.Errorf("example for %q, which no rule has", pat)
		}
	}
}

// phraseExamples: for the phrase lists (and the markers and leads that let
// a message without the placeholder count), a pane each phrase decides.
var phraseExamples = map[string]map[string]patExample{
	"loginPhrases": {
		"oautherror":                    r(" Login\n\n ✘ OAuth error: timeout of 15000ms exceeded\n"),
		"couldn'tlogin":                 r("Couldn't log in: That code wasn't accepted.\n"),
		"loginsuccessful":               r(" ✔ Login successful. Press Enter to continue\n"),
		"pressentertoretry":             r(" Something went wrong\n Press Enter to retry\n"),
		"pastecodehereifprompted":       r(" Paste code here if prompted\n"),
		"browserdidn'topen":             r(" Browser didn't open? Click below\n"),
		"usetheurlbelowtosignin":        r(" Use the URL below to sign in\n"),
		"openingbrowsertosignin":        r(" Opening browser to sign in…\n"),
		"signingin…":                    r(" Signing in…\n"),
		"selectloginmethod":             r(" Select login method:\n"),
		"long-livedauthenticationtoken": r(" Creating a long-lived authentication token\n"),
		"authtokensetup":                r(" Auth token setup\n"),
		"claudeaccountwithsubscription": r("  1. Claude account with subscription · Pro, Max\n"),
		"anthropicconsoleaccount":       r("  2. Anthropic Console account · API usage billing\n"),
		"/oauth/authorize?":             r(" https://claude.ai/oauth/authorize?c2xr1\n"),
	},
	"needsPhrases": {
		"trustthefilesinthisfolder": r(" Do you trust the files in this folder?\n"),
		"oneyoutrust":               r(" Make sure this is a project you created or one you trust.\n"),
		"trustthisfolder":           r(" Yes, I trust this folder\n"),
		"wouldyouliketoproceed":     r(" Would you like to proceed?\n"),
		"doyouwantto":               r(" Do you want to make this edit?\n"),
		"choosethetextstyle":        r(" Choose the text style that looks best with your terminal\n"),
		"safetycheck":               r(" Safety check:\n"),
		"securitynotes":             r(" Security notes:\n"),
		"requiresapproval":          r(" This command requires approval\n"),
		"tabtoamend":                r(" Tab to amend\n"),
		"let'sgetstarted":           r(" Let's get started.\n"),
		"pressentertocontinue":      r(" Press Enter to continue\n"),
		"resumefromsummary":         r(" 1. Resume from summary (instant, recommended)\n"),
	},
	"genericNeeds": {
		"esctocancel":    r(" Pick one\n Esc to cancel\n"),
		"entertoconfirm": r(" Pick one\n Enter to confirm\n"),
		"entertoselect":  r(" Pick one\n Enter to select\n"),
		"esctogoback":    r(" Pick one\n Esc to go back\n"),
		"↑/↓tonavigate":  r(" Pick one\n ↑/↓ to navigate\n"),
	},
	"claudeMarkers": {
		"/login":                         s("● Login expired · Please run /login"),
		"apierror":                       s("● API Error: Connection refused"),
		"claude":                         s("● Claude limit reached · resets 5pm"),
		"anthropic":                      s("● Overloaded (anthropic)"),
		"oauth":                          s("● OAuth token revoked"),
		"apikey":                         s("● Invalid API key"),
		"x-api-key":                      s("● Invalid x-api-key"),
		"authentication_error":           s("● authentication_error: token rejected"),
		"permission_error":               s("● permission_error: nope"),
		"overloaded_error":               s("● overloaded_error"),
		"rate_limit_error":               s("● rate_limit_error"),
		"retryingin":                     s("● Overloaded · retrying in 7s"),
		"hityourlimit":                   s("● Hit your limit · resets 5pm"),
		"usagelimit":                     s("● Usage limit hit"),
		"invalidauthtoken":               s("● Invalid auth token · Fix external auth token"),
		"usageallocationhasbeendisabled": s("● Your usage allocation has been disabled by your admin"),
		"promptistoolong":                s("● Prompt is too long"),
		"experiencinghighload":           s("● Opus is experiencing high load, please use /model to switch to Sonnet"),
		"temporarynetworkissue":          s("● Authentication error · This may be a temporary network issue, please try again"),
		"gatewaycouldnotauthenticate":    s("● Authentication error · The gateway could not authenticate with its upstream provider — contact your gateway administrator"),
		"authenticationrequired":         s("● Authentication required · Sign in again to continue"),
	},
	"cliLeads": {
		"apierror":                 s("● API Error: the server said the token has expired"),
		"pleaserun/login":          s("● Please run /login: OAuth token revoked"),
		"failedtoauthenticate:":    r("$ claude -p hi\nFailed to authenticate: OAuth token revoked\n"),
		"couldnotrefreshyourlogin": s("● Could not refresh your login: the token endpoint says the OAuth token was revoked"),
		"yourorganization":         s("● Your organization has disabled API key authentication"),
		"youranthropic_api_key":    s("● Your ANTHROPIC_API_KEY belongs to a disabled organization"),
		"claudecode":               s("● Claude Code did not send this request: this session's sign-in to your organization has ended."),
		"oauthtoken":               s("● OAuth token has been revoked"),
		"error:":                   s("● Error: OAuth token has been revoked"),
	},
}

// TestEveryPhraseMatters does for the phrase lists what TestEveryRuleMatters
// does for the rules.
func TestEveryPhraseMatters(t *testing.T) {
	lists := map[string]*[]string{
		"loginPhrases":  &loginPhrases,
		"needsPhrases":  &needsPhrases,
		"genericNeeds":  &genericNeeds,
		"claudeMarkers": &claudeMarkers,
		"cliLeads":      &cliLeads,
	}
	for name, list := range lists {
		examples := phraseExamples[name]
		for i, phrase := range *list {
			ex, ok := examples[phrase]
			if !ok {
				t.Errorf("%s: %q has no example", name, phrase)
				continue
			}
			got := Classify(ex.screen())
			saved := *list
			*list = slices.Delete(slices.Clone(saved), i, i+1)
			without := Classify(ex.screen())
			*list = saved
			if got.State == Idle || got.State == Unknown {
				t.Errorf("%s %q: its example reads %s (evidence %q): it decides nothing", name, phrase, got.State, got.Evidence)
			}
			if without.State == got.State && without.Reason == got.Reason {
				t.Errorf("%s %q: the verdict %s/%s stays without it: its example does not test it", name, phrase, got.State, got.Reason)
			}
		}
		if len(examples) != len(*list) {
			t.Errorf("%s: %d examples for %d phrases", name, len(examples), len(*list))
		}
	}
}

// TestStatusCodes covers the branches on "API Error: <code>" and the bare
// "Please run /login".
func TestStatusCodes(t *testing.T) {
	tests := []struct {
		msg    string
		state  State
		reason Reason
	}{
		{"● API Error: 401 Unauthorized", AuthFailed, ReasonExpired},
		{`● API Error: 401 {"type":"error","error":{"message":"Invalid bearer token"}}`, AuthFailed, ReasonExpired},
		{"● API Error: 403 Nope", AuthFailed, ReasonForbidden},
		{"● API Error: 429 {}", APIError, ReasonRateLimit},
		{"● API Error: 529 {}", APIError, ReasonOverloaded},
		{"● API Error: 502 {}", APIError, ReasonServer},
		{"● API Error: 418 I'm a teapot", APIError, ""},
		{"● API Error (401 Unauthorized)", AuthFailed, ReasonExpired},
		{"● Please run /login", AuthFailed, ReasonExpired},
	}
	for _, tt := range tests {
		for _, ex := range []patExample{s(tt.msg), p(tt.msg)} {
			got := Classify(ex.screen())
			if got.State != tt.state || got.Reason != tt.reason {
				t.Errorf("%q (%c): got %s/%s, want %s/%s", tt.msg, ex.mode, got.State, got.Reason, tt.state, tt.reason)
			}
		}
	}
}

// TestAnswersAboutErrors: an answer that talks about login errors, or
// quotes the CLI's, is an answer, finished or not.
func TestAnswersAboutErrors(t *testing.T) {
	answers := []string{
		"● It logs a warning when the OAuth token has expired, then retries.",
		"● The handler logs a warning when the OAuth token has expired and the user sees \"API Error: 401\".",
		"● \"API Error: 401\" means the login expired. Run /login to fix it.",
		"● “API Error: 403” comes from the proxy, not from us.",
		"● Login expired errors come from the refresh path in auth.go.",
		"● Error handling: when the OAuth token expired we log it and retry.",
		"● The CLI prints Please run /login · API Error: 401 when the token has expired; our\n  handler does the same.",
		"● When another Claude Code process is refreshing the login, the CLI waits.",
		"● We map 429 to \"Server is temporarily limiting requests\" in the UI.",
	}
	for _, a := range answers {
		for _, done := range []string{"", "\n✻ Worked for 3s · done 6:01 AM\n"} {
			got := Classify(tui("❯ explain the errors\n\n"+a+"\n"+done, "", autoFooter))
			if got.State != Idle {
				t.Errorf("answer %q (done line %v): got %s/%s (evidence %q), want idle", a, done != "", got.State, got.Reason, got.Evidence)
			}
		}
	}
	// The same words as the CLI's own error line are an error.
	for _, e := range []string{"● API Error: 401 Unauthorized", "● API Error: 403 {\"type\":\"error\",\"error\":{\"type\":\"forbidden\"}}"} {
		if got := Classify(tui("❯ explain the errors\n\n"+e+"\n", "", autoFooter)); got.State != AuthFailed {
			t.Errorf("%q: got %s, want auth_failed", e, got.State)
		}
	}
	if strings.Contains(strings.Join(answers, ""), "\u00a0") {
		t.Fatal("an answer must not hold the input line's NBSP")
	}
}

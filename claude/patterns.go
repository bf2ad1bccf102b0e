package claude

import (
	"strings"
	"unicode/utf8"
)

// All phrases below are "squeezed": lower case, no whitespace, straight
// apostrophes (see squeezeAppend). Matching them against squeezed text makes
// case, spacing, bullets and wrapping irrelevant.

type failRule struct {
	pat    string
	reason Reason
	need   []string // when set, one of these must occur too
	state  State    // when set, the state instead of the table's
}

var loginWords = []string{"login", "token", "oauth", "session", "credential", "authenticat"}

// authRules are tried in order: the specific before the general
// ("token revoked" before "expired", "invalid api key" before a bare 401).
var authRules = []failRule{
	// "Authentication error · This may be a temporary network issue": the
	// CLI itself calls it transient; a relogin or failover would be wrong.
	{pat: "authenticationerror·thismaybeatemporarynetworkissue", reason: ReasonNetwork, state: APIError},
	// Texts that name their cause, before the words they share with others
	// ("/login", "authentication", "api key", "limit").
	// The organization's gateway, not this login, failed upstream.
	{pat: "authenticationerror·thegatewaycouldnotauthenticate", reason: ReasonServer, state: APIError},
	{pat: "authenticationrequired·signinagain", reason: ReasonNotLoggedIn},
	{pat: "couldnotrefreshyourloginbecauseanother", reason: ReasonRefreshRace},
	{pat: "couldnotrefreshyourlogin:thedisk", reason: ReasonDiskFull},
	{pat: "disabledapikeyauthentication", reason: ReasonForbidden},
	{pat: "belongstoadisabledorganization", reason: ReasonInvalidAPIKey},
	{pat: "invalidauthtoken", reason: ReasonInvalidAPIKey},
	{pat: "accountisonhold", reason: ReasonAccountDisabled},
	{pat: "usageallocationhasbeendisabled", reason: ReasonAccountDisabled},
	{pat: "sign-intoyourorganizationhasended", reason: ReasonGatewayEnded},
	{pat: "sign-intotheorganizationended", reason: ReasonGatewayEnded},
	{pat: "invalidapikey", reason: ReasonInvalidAPIKey},
	{pat: "invalidx-api-key", reason: ReasonInvalidAPIKey},
	{pat: "fixexternalapikey", reason: ReasonInvalidAPIKey},
	{pat: "reacheditstimelimit", reason: ReasonTimeLimit},
	{pat: "timelimit", reason: ReasonTimeLimit, need: loginWords},
	{pat: "time_limit", reason: ReasonTimeLimit, need: loginWords},
	{pat: "revoked", reason: ReasonRevoked, need: loginWords},
	{pat: "can'tuseyourclaudesubscription", reason: ReasonSubscription},
	{pat: "cannotuseyourclaudesubscription", reason: ReasonSubscription},
	{pat: "pastdue", reason: ReasonSubscription, need: []string{"payment", "subscription", "billing", "invoice"}},
	{pat: "disabledclaudesubscription", reason: ReasonSubscription},
	{pat: "subscriptionaccess", reason: ReasonSubscription},
	{pat: "creditbalanceistoolow", reason: ReasonSubscription},
	{pat: "notloggedin", reason: ReasonNotLoggedIn},
	{pat: "expired", reason: ReasonExpired, need: loginWords},
	{pat: "notallowedforthisorganization", reason: ReasonForbidden},
	{pat: "organizationhasbeendisabled", reason: ReasonForbidden},
	{pat: "permission_error", reason: ReasonForbidden},
	{pat: "403forbidden", reason: ReasonForbidden},
	{pat: "failedtoauthenticate", reason: ReasonExpired},
	{pat: "authentication_error", reason: ReasonExpired},
	{pat: "authenticationfailed", reason: ReasonExpired},
	{pat: "authenticationerror", reason: ReasonExpired},
}

// limitRules are checked before the status code: "API Error: 500 …
// overloaded_error" is an overload.
var limitRules = []failRule{
	// Whatever failed the automatic compaction, the context is full.
	{pat: "promptistoolong", reason: ReasonPromptTooLong},
	{pat: "temporarilylimitingrequests", reason: ReasonThrottled},
	{pat: "overloaded", reason: ReasonOverloaded},
	{pat: "experiencinghighload", reason: ReasonOverloaded},
	{pat: "ratelimit", reason: ReasonRateLimit},
	{pat: "rate_limit", reason: ReasonRateLimit},
	{pat: "toomanyrequests", reason: ReasonRateLimit},
	{pat: "usagelimit", reason: ReasonRateLimit},
	{pat: "hityourlimit", reason: ReasonRateLimit},
	{pat: "limitreached", reason: ReasonRateLimit},
	{pat: "limitwillreset", reason: ReasonRateLimit},
}

var apiRules = []failRule{
	{pat: "connectionrefused", reason: ReasonNetwork},
	{pat: "econnrefused", reason: ReasonNetwork},
	{pat: "econnreset", reason: ReasonNetwork},
	{pat: "enotfound", reason: ReasonNetwork},
	{pat: "eai_again", reason: ReasonNetwork},
	{pat: "fetchfailed", reason: ReasonNetwork},
	{pat: "unabletoconnect", reason: ReasonNetwork},
	{pat: "couldnotconnect", reason: ReasonNetwork},
	{pat: "couldn'tconnect", reason: ReasonNetwork},
	{pat: "connectionerror", reason: ReasonNetwork},
	{pat: "networkerror", reason: ReasonNetwork},
	{pat: "sockethangup", reason: ReasonNetwork},
	{pat: "getaddrinfo", reason: ReasonNetwork},
	{pat: "timedout", reason: ReasonNetwork},
	{pat: "servererror", reason: ReasonServer},
	{pat: "badgateway", reason: ReasonServer},
	{pat: "serviceunavailable", reason: ReasonServer},
	{pat: "gatewaytimeout", reason: ReasonServer},
	{pat: "api_error", reason: ReasonServer},
}

// claudeMarkers: without the "Once fixed" placeholder, a message only counts
// as a failure when it carries one of Claude Code's own error words, so an
// agent's answer about "a 429 handler" is not taken for an API error.
var claudeMarkers = []string{
	// "oauth" also finds "Failed to authenticate".
	"/login", "apierror", "claude", "anthropic", "oauth",
	"apikey", "x-api-key", "authentication_error", "permission_error",
	"overloaded_error", "rate_limit_error", "retryingin", "hityourlimit", "usagelimit",
	// Messages the CLI prints bare, without any of the words above.
	"invalidauthtoken", "usageallocationhasbeendisabled", "promptistoolong", "experiencinghighload",
	"temporarynetworkissue", "gatewaycouldnotauthenticate", "authenticationrequired",
}

// cliLeads are how Claude Code's error messages begin when the deciding
// phrase comes later ("Please run /login · API Error: 401 OAuth token has
// expired"). Without the placeholder, a message counts only when it starts
// with one of these or with the deciding phrase itself: an answer that
// talks about errors ("It logs a warning when the OAuth token has expired")
// starts with something else.
var cliLeads = []string{
	"apierror", "pleaserun/login", "failedtoauthenticate:", "couldnotrefreshyourlogin",
	"yourorganization", "youranthropic_api_key", "claudecode", "oauthtoken", "error:",
}

// leadSlack is how far into a message (after its bullet) the deciding phrase
// may start without a CLI lead: a word or two ("Your account is on hold").
const leadSlack = 8

type failure struct {
	state  State
	reason Reason
	pos    int // squeezed offset of the deciding phrase, relative to the message
}

// matchFailure classifies one message (squeezed). liberal drops the marker
// and anchoring checks: the caller already knows the turn failed.
func (sc *screen) matchFailure(q string, liberal bool) (failure, bool) {
	if len(q) == 0 {
		return failure{}, false
	}
	if !liberal && !sc.containsAny(q, claudeMarkers) {
		// The CLI says this one bare, as the whole message; an answer that
		// mentions a credit balance does not lead with it.
		if i := sc.index(q, "creditbalanceistoolow"); i >= 0 && i <= 4 {
			return failure{AuthFailed, ReasonSubscription, i}, true
		}
		return failure{}, false
	}
	// Where the words start: after the bullet (● ⎿ ✘ …). A message that
	// starts with a quote quotes the CLI, it is not the CLI speaking.
	lead := 0
	for lead < len(q) {
		r, n := utf8.DecodeRuneInString(q[lead:])
		if !isGlyph(r) {
			break
		}
		lead += n
	}
	quoted := lead < len(q) && strings.ContainsRune("\"'`“‘«", []rune(q[lead:])[0])
	// "<what> · Please run /login" is the CLI's own shape too.
	cliLead := sc.contains(q, "·pleaserun/login") || sc.contains(q, "·run/login")
	for _, w := range cliLeads {
		if strings.HasPrefix(q[lead:], w) {
			cliLead = true
			break
		}
	}
	anchored := func(pos int) bool {
		return liberal || !quoted && (cliLead || pos-lead <= leadSlack)
	}
	code, codePos := sc.apiErrorCode(q)
	if codePos >= 0 && !anchored(codePos) {
		code, codePos = 0, -1
	}
	if f, ok := sc.matchRules(q, authRules, AuthFailed); ok && anchored(f.pos) {
		return f, true
	}
	switch code {
	case 401:
		return failure{AuthFailed, ReasonExpired, codePos}, true
	case 403:
		return failure{AuthFailed, ReasonForbidden, codePos}, true
	}
	if f, ok := sc.matchRules(q, limitRules, APIError); ok && anchored(f.pos) {
		return f, true
	}
	switch code {
	case 429:
		return failure{APIError, ReasonRateLimit, codePos}, true
	case 529:
		return failure{APIError, ReasonOverloaded, codePos}, true
	}
	if f, ok := sc.matchRules(q, apiRules, APIError); ok && anchored(f.pos) {
		return f, true
	}
	switch {
	case code >= 500:
		return failure{APIError, ReasonServer, codePos}, true
	case codePos >= 0:
		return failure{APIError, "", codePos}, true
	}
	if i := sc.index(q, "pleaserun/login"); i >= 0 && anchored(i) {
		// A login is asked for without saying why: most often an expiry.
		return failure{AuthFailed, ReasonExpired, i}, true
	}
	return failure{}, false
}

func (sc *screen) matchRules(q string, rules []failRule, st State) (failure, bool) {
	for _, r := range rules {
		i := sc.index(q, r.pat)
		if i < 0 || (r.need != nil && !sc.containsAny(q, r.need)) {
			continue
		}
		if r.state != "" {
			st = r.state
		}
		return failure{st, r.reason, i}, true
	}
	return failure{}, false
}

// apiErrorCode finds "API Error: 429" / "API Error (529 …)" and returns the
// status (0 when none follows) and where "api error" starts (-1 when absent).
func (sc *screen) apiErrorCode(q string) (int, int) {
	i := sc.index(q, "apierror")
	if i < 0 {
		return 0, -1
	}
	j := i + len("apierror")
	for j < len(q) && (q[j] == ':' || q[j] == '(' || q[j] == '[') {
		j++
	}
	code := 0
	k := j
	for k < len(q) && k < j+3 && q[k] >= '0' && q[k] <= '9' {
		code = code*10 + int(q[k]-'0')
		k++
	}
	if k-j != 3 {
		code = 0
	}
	return code, i
}

// isRetry reports Claude Code's live retry status ("retrying in 7s ·
// attempt 5/10", "Retrying in 4 seconds… (attempt 2/10)").
func (sc *screen) isRetry(q string) bool {
	return sc.contains(q, "retryingin") || sc.contains(q, "retrying…") ||
		(sc.contains(q, "attempt") && sc.contains(q, "/10"))
}

// Dialog phrases. A login phrase makes the pane logging_in, a question one
// needs_input; when both show, the one lower on the screen (the open dialog)
// wins.
var loginPhrases = []string{ // most telling first: the order picks the evidence
	"oautherror", "couldn'tlogin", "loginsuccessful", "pressentertoretry",
	"pastecodehereifprompted", "browserdidn'topen", "usetheurlbelowtosignin",
	"openingbrowsertosignin", "signingin…", "selectloginmethod",
	"long-livedauthenticationtoken", "authtokensetup",
	"claudeaccountwithsubscription", "anthropicconsoleaccount", "/oauth/authorize?",
}

var needsPhrases = []string{
	"trustthefilesinthisfolder", "oneyoutrust", "trustthisfolder",
	"wouldyouliketoproceed", "doyouwantto",
	"choosethetextstyle", "safetycheck", "securitynotes", "requiresapproval",
	"tabtoamend", "let'sgetstarted", "pressentertocontinue", "resumefromsummary",
}

// genericNeeds are hints that some chooser is open, used only when nothing
// more specific is on the screen.
var genericNeeds = []string{"esctocancel", "entertoconfirm", "entertoselect", "esctogoback", "↑/↓tonavigate"}

// lastOf returns the largest offset in q at which any of pats occurs, or -1.
func (sc *screen) lastOf(q string, pats []string) int {
	best := -1
	for _, p := range pats {
		i := sc.index(q, p)
		if i < 0 {
			continue
		}
		for {
			j := strings.Index(q[i+1:], p)
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if i > best {
			best = i
		}
	}
	return best
}

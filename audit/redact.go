package audit

import "regexp"

// The journal is read by people and shipped in reports, so secrets are
// removed before a record reaches the disk. This is a small local redactor on
// purpose: audit imports no other package of the project.
var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Anthropic API keys and OAuth tokens: sk-ant-api03-…, sk-ant-oat01-…, sk-ant-ort01-….
	{regexp.MustCompile(`sk-ant-[A-Za-z0-9_\-]+`), "sk-ant-[REDACTED]"},
	// Telegram bot tokens: <bot id>:<35 characters>, also inside .../bot<token>/... URLs.
	{regexp.MustCompile(`[0-9]{5,16}:[A-Za-z0-9_\-]{30,}`), "[REDACTED-BOT-TOKEN]"},
	// Discord bot tokens: three base64url parts separated by dots.
	{regexp.MustCompile(`\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,40}\b`), "[REDACTED-BOT-TOKEN]"},
	// Authorization headers.
	{regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{16,}`), "${1}[REDACTED]"},
	// Tokens and codes carried in URL query strings.
	{regexp.MustCompile(`(?i)([?&](?:access_token|refresh_token|token|api_key|key)=)[^&#\s]+`), "${1}[REDACTED]"},
}

// Redact removes tokens (Anthropic, Telegram and Discord tokens, bearer
// values, token query parameters) from s. The alert package uses it too, so
// the journal and the alerts hide the same things the same way.
func Redact(s string) string { return redact(s) }

// redact removes tokens from s.
func redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// redactRecord returns r with every string redacted. It copies the slice and
// the map so the caller's record is left alone.
func redactRecord(r Record) Record {
	if len(r.Agents) > 0 {
		agents := make([]string, len(r.Agents))
		for i, a := range r.Agents {
			agents[i] = redact(a)
		}
		r.Agents = agents
	}
	r.Actor = redact(r.Actor)
	r.Action = redact(r.Action)
	r.From = redact(r.From)
	r.To = redact(r.To)
	r.Reason = redact(r.Reason)
	r.Route = redact(r.Route)
	r.Error = redact(r.Error)
	r.Message = redact(r.Message)
	if len(r.Fields) > 0 {
		fields := make(map[string]string, len(r.Fields))
		for k, v := range r.Fields {
			fields[redact(k)] = redact(v)
		}
		r.Fields = fields
	}
	return r
}

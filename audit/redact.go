package audit

import (
	redactpkg "github.com/fleetwarden/fleetwarden/internal/redact"
)

// redact removes tokens (Anthropic, Telegram and Discord tokens, bearer
// values, token query parameters, login codes) from s: the journal is read by
// people and shipped in reports. It is internal/redact, the project's one
// redactor.
func redact(s string) string { return redactpkg.String(s) }

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

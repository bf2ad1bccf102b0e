package commands

import (
	"context"
	"strings"
)

// ParamKind is what a command's parameter holds: chats with typed options
// (Discord) show and check it.
type ParamKind int

const (
	ParamString   ParamKind = iota // free text; Rest: the rest of the line
	ParamAgent                     // an agent's name, completed from the fleet
	ParamInt                       // a whole number from Min to Max
	ParamDuration                  // a period such as 30m or 2h; Choices offers the usual ones
)

// Param is one parameter of a command, in the order the text form takes
// them.
type Param struct {
	Name     string // [-_a-z0-9]{1,32}
	Help     string
	Kind     ParamKind
	Required bool
	Choices  []string // the values a chat may offer (durations, options)
	Min, Max int      // ParamInt's range
	// Also are words an agent parameter takes besides the agents' names
	// ("all", "list").
	Also []string
	Rest bool // takes the rest of the line, spaces and all
	// Suggest offers values while the user types, knowing the values of
	// the other parameters given so far (a dialog's options for the agent
	// named).
	Suggest func(ctx context.Context, given map[string]string) []Suggestion
}

// Suggestion is one value offered while typing: Name is shown, Value is
// what the command gets.
type Suggestion struct{ Name, Value string }

// Durations are the periods offered for a duration parameter.
var Durations = []string{"15m", "30m", "1h", "2h", "4h", "8h", "24h"}

// SetAgents tells the handler where agent names come from, for completing
// agent parameters.
func (h *Handler) SetAgents(names func() []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.agentNames = names
}

// maxSuggestions is the most suggestions a chat shows (Discord: 25).
const maxSuggestions = 25

// Complete suggests values for parameter param of command name as the
// user types partial (given: the other parameters so far): agents' names,
// a parameter's own suggestions or choices, those whose start (then any
// part) matches first; only for users who may run the command.
func (h *Handler) Complete(ctx context.Context, req Request, name, param, partial string, given map[string]string) []Suggestion {
	h.mu.Lock()
	cmd := h.cmds[name]
	agents := h.agentNames
	h.mu.Unlock()
	role := h.RoleOf(req)
	if cmd == nil || role == RoleNone || role < cmd.Role {
		return nil
	}
	var p *Param
	for i := range cmd.Params {
		if cmd.Params[i].Name == param {
			p = &cmd.Params[i]
		}
	}
	if p == nil {
		return nil
	}
	var all []Suggestion
	plain := func(vs []string) {
		for _, v := range vs {
			all = append(all, Suggestion{Name: v, Value: v})
		}
	}
	switch {
	case p.Suggest != nil:
		all = p.Suggest(ctx, given)
	case p.Kind == ParamAgent && agents != nil:
		plain(agents())
		plain(p.Also)
	case len(p.Choices) > 0:
		plain(p.Choices)
	}
	partial = strings.ToLower(strings.TrimSpace(partial))
	var first, rest []Suggestion
	for _, v := range all {
		lv := strings.ToLower(v.Name)
		switch {
		case strings.HasPrefix(lv, partial):
			first = append(first, v)
		case strings.Contains(lv, partial):
			rest = append(rest, v)
		}
	}
	out := append(first, rest...)
	if len(out) > maxSuggestions {
		out = out[:maxSuggestions]
	}
	return out
}

package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Discord's limits, as documented.
const (
	maxContent       = 2000
	maxCustomID      = 100
	maxButtonLabel   = 80
	maxRows          = 5
	maxRowItems      = 5
	maxEmbeds        = 10
	maxEmbedTitle    = 256
	maxEmbedDesc     = 4096
	maxCommands      = 100
	maxCommandDesc   = 100
	maxOptions       = 25
	maxChoices       = 25
	maxRequestBodyMB = 25
)

var commandNameRE = regexp.MustCompile(`^[-_a-z0-9]{1,32}$`)

// apiError is a Discord JSON error answer.
type apiError struct {
	status  int
	code    int
	message string
	errors  map[string]any
}

func (e *apiError) body() map[string]any {
	b := map[string]any{"message": e.message, "code": e.code}
	if e.errors != nil {
		b["errors"] = e.errors
	}
	return b
}

func errUnauthorized() *apiError {
	return &apiError{status: http.StatusUnauthorized, code: 0, message: "401: Unauthorized"}
}

func errNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: 0, message: "404: Not Found"}
}

func errCode(status, code int, msg string) *apiError {
	return &apiError{status: status, code: code, message: msg}
}

// formErr is the "Invalid Form Body" (50035) answer with the offending
// field's path nested as Discord does: {"data":{"content":{"_errors":[…]}}}.
func formErr(path []string, code, msg string) *apiError {
	node := map[string]any{"_errors": []any{map[string]any{"code": code, "message": msg}}}
	for i := len(path) - 1; i >= 0; i-- {
		node = map[string]any{path[i]: node}
	}
	return &apiError{status: http.StatusBadRequest, code: 50035, message: "Invalid Form Body", errors: node}
}

func tooLong(path []string, n int) *apiError {
	return formErr(path, "BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", n))
}

func tooShort(path []string, n int) *apiError {
	return formErr(path, "BASE_TYPE_MIN_LENGTH", fmt.Sprintf("Must be %d or more in length.", n))
}

func notSnowflake(path []string, v string) *apiError {
	return formErr(path, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %q is not snowflake.", v))
}

func at(path []string, more ...string) []string {
	return append(append([]string(nil), path...), more...)
}

// readBody returns the JSON payload of a request and any uploaded files;
// discordgo sends multipart/form-data with a payload_json part for files.
func readBody(r *http.Request) ([]byte, []File, *apiError) {
	body := http.MaxBytesReader(nil, r.Body, maxRequestBodyMB<<20)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, nil, errCode(http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
		}
		return b, nil, nil
	}
	mr := multipart.NewReader(body, params["boundary"])
	var payload []byte
	var files []File
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, errCode(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, nil, errCode(http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
		}
		if part.FormName() == "payload_json" {
			payload = data
			continue
		}
		files = append(files, File{Name: part.FileName(), Data: data})
	}
	return payload, files, nil
}

func decodeJSON(b []byte, v any) *apiError {
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errCode(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
	}
	return nil
}

// rawComponent covers action rows, buttons and select menus.
type rawComponent struct {
	Type       int            `json:"type"`
	Style      int            `json:"style"`
	Label      string         `json:"label"`
	CustomID   string         `json:"custom_id"`
	URL        string         `json:"url"`
	Disabled   bool           `json:"disabled"`
	Components []rawComponent `json:"components"`
}

type rawEmbed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// msgFields is a message body as sent; a field is "set" when present in
// the JSON (an edit only changes the fields it sends).
type msgFields struct {
	contentSet bool
	content    string
	compsSet   bool
	comps      []rawComponent
	compsRaw   json.RawMessage
	embedsSet  bool
	embeds     []rawEmbed
	embedsRaw  json.RawMessage
	flags      int
	files      []File
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

func parseMsgFields(raw []byte, files []File) (msgFields, *apiError) {
	var in struct {
		Content    json.RawMessage `json:"content"`
		Components json.RawMessage `json:"components"`
		Embeds     json.RawMessage `json:"embeds"`
		Flags      int             `json:"flags"`
	}
	if e := decodeJSON(raw, &in); e != nil {
		return msgFields{}, e
	}
	m := msgFields{flags: in.Flags, files: files}
	if len(in.Content) > 0 {
		m.contentSet = true
		if !isNull(in.Content) {
			if err := json.Unmarshal(in.Content, &m.content); err != nil {
				return m, formErr([]string{"content"}, "BASE_TYPE_STRING", "Must be a string.")
			}
		}
	}
	// Discord ignores "components": null in an edit (discord-api-docs#5860);
	// only [] removes them. discordgo sends null whenever none are set.
	if !isNull(in.Components) {
		m.compsSet = true
		if err := json.Unmarshal(in.Components, &m.comps); err != nil {
			return m, formErr([]string{"components"}, "BASE_TYPE_ARRAY", "Must be an array.")
		}
		m.compsRaw = in.Components
	}
	if len(in.Embeds) > 0 {
		m.embedsSet = true
		if !isNull(in.Embeds) {
			if err := json.Unmarshal(in.Embeds, &m.embeds); err != nil {
				return m, formErr([]string{"embeds"}, "BASE_TYPE_ARRAY", "Must be an array.")
			}
			m.embedsRaw = in.Embeds
		}
	}
	return m, nil
}

// validate checks the fields against Discord's limits; prefix is where the
// message sits in the body ("data" for interaction callbacks).
func (m *msgFields) validate(prefix []string) *apiError {
	if utf8.RuneCountInString(m.content) > maxContent {
		return tooLong(at(prefix, "content"), maxContent)
	}
	if e := validateComponents(at(prefix, "components"), m.comps); e != nil {
		return e
	}
	if len(m.embeds) > maxEmbeds {
		return tooLong(at(prefix, "embeds"), maxEmbeds)
	}
	for i, e := range m.embeds {
		if utf8.RuneCountInString(e.Title) > maxEmbedTitle {
			return tooLong(at(prefix, "embeds", strconv.Itoa(i), "title"), maxEmbedTitle)
		}
		if utf8.RuneCountInString(e.Description) > maxEmbedDesc {
			return tooLong(at(prefix, "embeds", strconv.Itoa(i), "description"), maxEmbedDesc)
		}
	}
	return nil
}

func validateComponents(path []string, rows []rawComponent) *apiError {
	if len(rows) > maxRows {
		return tooLong(path, maxRows)
	}
	ids := map[string]bool{}
	for i, row := range rows {
		rp := at(path, strconv.Itoa(i))
		if row.Type != 1 {
			return formErr(at(rp, "type"), "UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (1,).")
		}
		if len(row.Components) == 0 {
			return tooShort(at(rp, "components"), 1)
		}
		if len(row.Components) > maxRowItems {
			return tooLong(at(rp, "components"), maxRowItems)
		}
		for j, c := range row.Components {
			cp := at(rp, "components", strconv.Itoa(j))
			switch c.Type {
			case 2:
				if e := validateButton(cp, c); e != nil {
					return e
				}
			case 3, 5, 6, 7, 8:
				if len(row.Components) > 1 {
					return formErr(cp, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width")
				}
				if c.CustomID == "" {
					return formErr(at(cp, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
				}
				if utf8.RuneCountInString(c.CustomID) > maxCustomID {
					return tooLong(at(cp, "custom_id"), maxCustomID)
				}
			default:
				return formErr(at(cp, "type"), "UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (2, 3, 5, 6, 7, 8).")
			}
			if c.CustomID != "" {
				if ids[c.CustomID] {
					return formErr(at(cp, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
				}
				ids[c.CustomID] = true
			}
		}
	}
	return nil
}

func validateButton(path []string, c rawComponent) *apiError {
	if c.Style < 1 || c.Style > 5 {
		return formErr(at(path, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5}.")
	}
	if utf8.RuneCountInString(c.Label) > maxButtonLabel {
		return tooLong(at(path, "label"), maxButtonLabel)
	}
	if c.Style == 5 {
		if c.URL == "" {
			return formErr(at(path, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
		}
		if c.CustomID != "" {
			return formErr(at(path, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED", "A custom id cannot be specified")
		}
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "discord://") {
			return formErr(at(path, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
		}
		return nil
	}
	if c.URL != "" {
		return formErr(at(path, "url"), "BUTTON_COMPONENT_URL_NOT_ALLOWED", "A url cannot be specified")
	}
	if c.CustomID == "" {
		return formErr(at(path, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")
	}
	if utf8.RuneCountInString(c.CustomID) > maxCustomID {
		return tooLong(at(path, "custom_id"), maxCustomID)
	}
	return nil
}

func flattenComponents(rows []rawComponent) []Component {
	var out []Component
	for i, row := range rows {
		for _, c := range row.Components {
			out = append(out, Component{
				Row: i, Type: c.Type, Style: c.Style, Label: c.Label,
				CustomID: c.CustomID, URL: c.URL, Disabled: c.Disabled,
			})
		}
	}
	return out
}

// commandIn is one command of a bulk overwrite.
type commandIn struct {
	Type             int        `json:"type"`
	Name             string     `json:"name"`
	Description      string     `json:"description"`
	Options          []optionIn `json:"options"`
	DMPermission     *bool      `json:"dm_permission"`
	Contexts         *[]int     `json:"contexts"`
	IntegrationTypes *[]int     `json:"integration_types"`
}

type optionIn struct {
	Type         int        `json:"type"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Required     bool       `json:"required"`
	Autocomplete bool       `json:"autocomplete"`
	MinValue     *float64   `json:"min_value"`
	MaxValue     *float64   `json:"max_value"`
	Options      []optionIn `json:"options"`
	Choices      []choiceIn `json:"choices"`
}

type choiceIn struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// validateChoices checks choices (of an option, or an autocomplete answer)
// as Discord does: at most 25, names 1-100 characters, values of the
// option's type (strings up to 100 characters for a string option).
func validateChoices(path []string, typ int, choices []choiceIn) *apiError {
	if len(choices) > maxChoices {
		return tooLong(path, maxChoices)
	}
	for j, ch := range choices {
		cp := at(path, strconv.Itoa(j))
		if n := utf8.RuneCountInString(ch.Name); n < 1 || n > 100 {
			return formErr(at(cp, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
		}
		switch typ {
		case 3:
			var v string
			if json.Unmarshal(ch.Value, &v) != nil {
				return formErr(at(cp, "value"), "BASE_TYPE_STRING", "Must be a string.")
			}
			if utf8.RuneCountInString(v) > 100 {
				return tooLong(at(cp, "value"), 100)
			}
		case 4:
			var v int64
			if json.Unmarshal(ch.Value, &v) != nil {
				return formErr(at(cp, "value"), "NUMBER_TYPE_COERCE", "Value is not int.")
			}
		case 10:
			var v float64
			if json.Unmarshal(ch.Value, &v) != nil {
				return formErr(at(cp, "value"), "NUMBER_TYPE_COERCE", "Value is not a valid number.")
			}
		}
	}
	return nil
}

func validateCommands(cmds []commandIn) *apiError {
	if len(cmds) > maxCommands {
		return tooLong(nil, maxCommands)
	}
	seen := map[string]bool{}
	for i, c := range cmds {
		p := []string{strconv.Itoa(i)}
		typ := c.Type
		if typ == 0 {
			typ = 1
		}
		switch typ {
		case 1:
			if !commandNameRE.MatchString(c.Name) {
				return formErr(at(p, "name"), "APPLICATION_COMMAND_INVALID_NAME", fmt.Sprintf("Command name %q is invalid: want [-_a-z0-9]{1,32}.", c.Name))
			}
			if e := checkDescription(at(p, "description"), c.Description); e != nil {
				return e
			}
			if e := validateOptions(at(p, "options"), c.Options); e != nil {
				return e
			}
		case 2, 3:
			if n := utf8.RuneCountInString(c.Name); n < 1 || n > 32 {
				return formErr(at(p, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
			}
			if c.Description != "" {
				return formErr(at(p, "description"), "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_NOT_ALLOWED", "Context menu commands cannot have description")
			}
			if len(c.Options) > 0 {
				return formErr(at(p, "options"), "APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED", "Context menu commands cannot have options")
			}
		default:
			return formErr(at(p, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
		}
		key := strconv.Itoa(typ) + "|" + c.Name
		if seen[key] {
			return formErr(at(p, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", fmt.Sprintf("Application command names must be unique (%q)", c.Name))
		}
		seen[key] = true
	}
	return nil
}

func checkDescription(path []string, d string) *apiError {
	n := utf8.RuneCountInString(d)
	if n < 1 {
		return tooShort(path, 1)
	}
	if n > maxCommandDesc {
		return tooLong(path, maxCommandDesc)
	}
	return nil
}

func validateOptions(path []string, opts []optionIn) *apiError {
	if len(opts) > maxOptions {
		return tooLong(path, maxOptions)
	}
	names := map[string]bool{}
	optionalSeen := false
	for i, o := range opts {
		p := at(path, strconv.Itoa(i))
		if o.Type < 1 || o.Type > 11 {
			return formErr(at(p, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.")
		}
		if !commandNameRE.MatchString(o.Name) {
			return formErr(at(p, "name"), "APPLICATION_COMMAND_INVALID_NAME", fmt.Sprintf("Option name %q is invalid: want [-_a-z0-9]{1,32}.", o.Name))
		}
		if names[o.Name] {
			return formErr(at(p, "name"), "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option names must be unique")
		}
		names[o.Name] = true
		if e := checkDescription(at(p, "description"), o.Description); e != nil {
			return e
		}
		if o.Required && optionalSeen {
			return formErr(p, "APPLICATION_COMMAND_OPTION_REQUIRED_OPTIONS_MUST_BE_FIRST", "Required options must be placed before non-required options")
		}
		if !o.Required {
			optionalSeen = true
		}
		if len(o.Choices) > 0 && o.Type != 3 && o.Type != 4 && o.Type != 10 {
			return formErr(at(p, "choices"), "APPLICATION_COMMAND_OPTION_CHOICES_NOT_ALLOWED", "Only string, integer and number options can have choices")
		}
		if e := validateChoices(at(p, "choices"), o.Type, o.Choices); e != nil {
			return e
		}
		if o.Autocomplete && o.Type != 3 && o.Type != 4 && o.Type != 10 {
			return formErr(at(p, "autocomplete"), "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_NOT_ALLOWED", "Only string, integer and number options can autocomplete")
		}
		if o.Autocomplete && len(o.Choices) > 0 {
			return formErr(at(p, "autocomplete"), "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES", "Autocomplete cannot be set with choices")
		}
		if (o.MinValue != nil || o.MaxValue != nil) && o.Type != 4 && o.Type != 10 {
			return formErr(at(p, "min_value"), "APPLICATION_COMMAND_OPTION_MIN_MAX_NOT_ALLOWED", "Only integer and number options have a range")
		}
		if o.MinValue != nil && o.MaxValue != nil && *o.MinValue > *o.MaxValue {
			return formErr(at(p, "min_value"), "APPLICATION_COMMAND_OPTION_MIN_MAX_INVALID", "min_value must not exceed max_value")
		}
		if e := validateOptions(at(p, "options"), o.Options); e != nil {
			return e
		}
	}
	return nil
}

func publicOptions(in []optionIn) []CommandOption {
	var out []CommandOption
	for _, o := range in {
		co := CommandOption{Type: o.Type, Name: o.Name, Description: o.Description, Required: o.Required, Options: publicOptions(o.Options),
			Autocomplete: o.Autocomplete, Min: o.MinValue, Max: o.MaxValue}
		for _, ch := range o.Choices {
			var s string
			if json.Unmarshal(ch.Value, &s) != nil {
				s = string(ch.Value) // a number
			}
			co.Choices = append(co.Choices, s)
		}
		out = append(out, co)
	}
	return out
}

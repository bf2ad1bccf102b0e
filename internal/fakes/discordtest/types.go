package discordtest

import "time"

// User is a Discord user who acts in a test: invokes a slash command or
// presses a button. In a guild it arrives as a member with Roles.
type User struct {
	ID       string // snowflake (digits only)
	Username string // defaults to "user<ID>"
	Roles    []string
}

// Kind tells how the bot produced a recorded message.
type Kind string

// Kinds of recorded messages.
const (
	KindResponse       Kind = "response"        // interaction callback type 4
	KindDeferred       Kind = "deferred"        // callback type 5 ("bot is thinking…")
	KindDeferredUpdate Kind = "deferred_update" // callback type 6 (button ack, message unchanged)
	KindUpdate         Kind = "update"          // callback type 7 (button's message rewritten)
	KindEdit           Kind = "edit"            // PATCH of a message (@original, followup or channel message)
	KindFollowup       Kind = "followup"        // POST /webhooks/{app}/{token}
	KindChannel        Kind = "channel"         // POST /channels/{id}/messages
)

// Component is one message component (flattened out of its action row).
type Component struct {
	Row      int // index of the action row
	Type     int // 2 button, 3/5/6/7/8 select menus
	Style    int // button style; 5 = link
	Label    string
	CustomID string
	URL      string
	Disabled bool
}

// Embed is the part of a rich embed the tests look at.
type Embed struct {
	Title       string
	Description string
}

// File is an attachment uploaded with a message (multipart body).
type File struct {
	Name string
	Data []byte
}

// Message is one thing the bot posted or edited. For edits and updates the
// fields hold the message as it reads after the change.
type Message struct {
	ID            string // message ID (an edit keeps the edited message's ID)
	ChannelID     string
	GuildID       string // "" in DMs
	InteractionID string // the interaction answered, "" for plain channel messages
	Kind          Kind
	Content       string
	Components    []Component
	Embeds        []Embed
	Files         []File
	Ephemeral     bool
	At            time.Time // by the server's clock
}

// Button returns the component with the given custom_id.
func (m Message) Button(customID string) (Component, bool) {
	for _, c := range m.Components {
		if c.CustomID == customID {
			return c, true
		}
	}
	return Component{}, false
}

// Command is an application command as registered by bulk overwrite.
type Command struct {
	ID          string
	GuildID     string // "" for a global command
	Type        int    // 1 chat input, 2 user, 3 message
	Name        string
	Description string
	Options     []CommandOption
	DMAllowed   bool // usable in the bot's DMs (global commands only)
	// GroupDMAllowed: usable in group DMs and other users' DMs, where a
	// user-installed app can be called (global commands whose contexts and
	// integration types do not rule it out; Discord's defaults allow it).
	GroupDMAllowed bool
}

// CommandOption is one option of a command.
type CommandOption struct {
	Type        int // 3 string, 4 integer, 5 boolean, 10 number, ...
	Name        string
	Description string
	Required    bool
	Choices     []string // choice values, as strings
	Options     []CommandOption
	// Autocomplete: the client asks the bot for suggestions while the
	// user types (Autocomplete).
	Autocomplete bool
	Min, Max     *float64 // an integer's or number's range
}

// Request is one HTTP request the fake answered (REST only, not the websocket).
type Request struct {
	Method string
	Host   string // Host the client meant (discord.com when sent through HTTPClient)
	Path   string
	Query  string
	Status int
}

package discord

import (
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/fleetwarden/fleetwarden/commands"
	fake "github.com/fleetwarden/fleetwarden/internal/fakes/discord"
)

// Global commands are registered for servers and the bot's DM only: never
// for group DMs, where everyone present reads the replies.
func TestCommandsNotOfferedInGroupDMs(t *testing.T) {
	t.Parallel()
	for _, guildID := range []string{"", guild} {
		e := start(t, nil, func(o *Options, _ *fake.Server) {
			o.GuildID = guildID
			o.Commands = append(o.Commands, commands.Command{Name: "login", Help: "log in", Role: commands.RoleAdmin, Private: true})
		})
		e.srv.WaitCommands(t, wait, "", "login")
		for _, c := range e.srv.Commands("") {
			if c.GroupDMAllowed || !c.DMAllowed {
				t.Errorf("guild_id %q: global /%s: usable in group DMs %v, in the bot's DM %v; want only the bot's DM",
					guildID, c.Name, c.GroupDMAllowed, c.DMAllowed)
			}
		}
	}
}

// Only the bot's own DM is private: a group DM has no guild either.
func TestOnlyTheBotsDMIsPrivate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   discordgo.Interaction
		want bool
	}{
		{"guild channel", discordgo.Interaction{GuildID: guild, Context: discordgo.InteractionContextGuild}, false},
		{"the bot's DM", discordgo.Interaction{Context: discordgo.InteractionContextBotDM}, true},
		{"group DM", discordgo.Interaction{Context: discordgo.InteractionContextPrivateChannel}, false},
		{"no context given", discordgo.Interaction{}, false},
	} {
		if got := isPrivate(&tc.in); got != tc.want {
			t.Errorf("%s: private = %v, want %v", tc.name, got, tc.want)
		}
	}
}

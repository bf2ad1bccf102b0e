package discord

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/internal/fakes/discordtest"
)

// Global commands are registered for servers and the bot's DM only: never
// for group DMs, where everyone present reads the replies.
func TestCommandsNotOfferedInGroupDMs(t *testing.T) {
	t.Parallel()
	for _, guildID := range []string{"", guild} {
		e := start(t, nil, func(o *Options, _ *discordtest.Server) {
			o.GuildID = guildID
			list := o.Commands
			o.Commands = func() []commands.Command {
				return append(list(), commands.Command{Name: "login", Help: "log in", Role: commands.RoleAdmin, Private: true})
			}
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

// A stranger's flood of slash commands gets one refusal, and strangers' and
// viewers' interactions run a bounded number at a time: an admin is
// answered while they are stuck.
func TestFloodOfInteractionsIsBounded(t *testing.T) {
	t.Parallel()
	var running, most atomic.Int32
	release := make(chan struct{})
	e := start(t, func(h *commands.Handler) {
		h.Register(commands.Command{Name: "slow", Help: "waits", Role: commands.RoleViewer,
			Run: func(ctx context.Context, c *commands.Call) error {
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				select {
				case <-release:
				case <-ctx.Done():
				}
				running.Add(-1)
				return c.Reply(ctx, "slow done")
			}})
	}, nil, discordtest.WithInteractionDeadline(time.Minute)) // a loaded machine may take over 3 s to answer 30 at once
	t.Cleanup(func() { close(release) })
	e.srv.WaitCommands(t, wait, "", "status", "slow")

	dm := e.srv.DMChannel(stranger.ID)
	var ids []string
	for range 10 {
		ids = append(ids, e.srv.SlashCommand(stranger, dm, "", "status", nil))
	}
	for _, id := range ids {
		e.reply(t, id, nil) // the refusal, or "(no reply)"
	}
	waitFor(t, func() bool { return len(e.bot.others) == 0 }) // their handlers have returned

	vdm := e.srv.DMChannel(viewer.ID)
	for range maxOthers + 4 {
		e.srv.SlashCommand(viewer, vdm, "", "slow", nil)
	}
	waitFor(t, func() bool { return running.Load() == maxOthers })
	id := e.srv.SlashCommand(admin, e.srv.DMChannel(admin.ID), "", "status", nil)
	if m := e.reply(t, id, nil); !strings.Contains(m.Content, "agents") {
		t.Errorf("admin's /status while viewers' commands hang: %q", m.Content)
	}
	if n := most.Load(); n > maxOthers {
		t.Errorf("%d viewers' commands ran at once, want at most %d", n, maxOthers)
	}
	refusals := 0
	for _, m := range e.srv.Messages() {
		if m.Content == commands.Refusal {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("the stranger got %d refusals for 10 commands, want 1", refusals)
	}
}

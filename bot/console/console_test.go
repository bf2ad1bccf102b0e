package console

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/commands"
)

func TestConsoleRunsCommandsAsAdminAndNumbersButtons(t *testing.T) {
	acl := commands.NewACL()
	acl.Grant(Platform, commands.RoleAdmin, User)
	h := commands.NewHandler(commands.Options{ACL: acl})
	ran := false
	h.Register(commands.Command{Name: "restart", Role: commands.RoleAdmin, Help: "restart",
		Run: func(ctx context.Context, c *commands.Call) error {
			return c.Confirm(ctx, "Restart 3 agents?", func(ctx context.Context, c *commands.Call) error {
				ran = true
				return c.Send(ctx, commands.Reply{Text: "restarted", Buttons: []commands.Button{{Text: "Open", URL: "https://example.com/x"}}})
			})
		}})
	var out bytes.Buffer
	// Plain words work without the slash; "1" presses the first button.
	in := strings.NewReader("help\n/restart\n1\n7\n")
	if err := New(in, &out, h).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"/restart — restart", "Restart 3 agents?", "[1] Yes, do it", "[2] Cancel", "restarted", "Open: https://example.com/x", "No button 7."} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q:\n%s", want, got)
		}
	}
	if !ran {
		t.Error("choosing button 1 did not confirm the restart")
	}
}

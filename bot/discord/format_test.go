package discord

import (
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/commands"
)

func TestEscapeMarkdown(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain text, 3 agents", "plain text, 3 agents"},
		{"*bold* _it_ ~~s~~ `c` a|b", `\*bold\* \_it\_ \~\~s\~\~ \` + "`c\\`" + ` a\|b`},
		{`back\slash`, `back\\slash`},
		{"<@123> and [x](https://e.com)", `\<@123> and \[x](https://e.com)`},
		{"# title\n> quote\n- item\n  12. step\nmid # and - and > stay", "\\# title\n\\> quote\n\\- item\n  12\\. step\nmid # and - and > stay"},
		{"open https://claude.ai/oauth?client_id=a_b*c now_", "open https://claude.ai/oauth?client_id=a_b*c now\\_"},
	}
	for _, tc := range tests {
		if got := escapeMarkdown(tc.in); got != tc.want {
			t.Errorf("escapeMarkdown(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatSplits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         commands.Reply
		wantParts int // 0: any
	}{
		{"short text and pane in one", commands.Reply{Text: "head", Pre: "a\nb"}, 1},
		{"one long line", commands.Reply{Text: strings.Repeat("x", 4500)}, 3},
		{"escapes at the cut", commands.Reply{Text: strings.Repeat("_", 2500)}, 3},
		{"wide characters", commands.Reply{Text: strings.Repeat("🔴 agent down\n", 400)}, 0},
		{"pane with fences", commands.Reply{Text: "head", Pre: strings.Repeat("```go\nx := `a`\n```\n", 300)}, 0},
		{"pane of one huge line", commands.Reply{Pre: strings.Repeat("y", 5000)}, 3},
		{"blank text", commands.Reply{Text: " \n \n"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := Format(tc.r)
			if tc.wantParts > 0 && len(parts) != tc.wantParts {
				t.Errorf("got %d parts, want %d", len(parts), tc.wantParts)
			}
			for i, p := range parts {
				if n := units(p); n > MaxMessage {
					t.Errorf("part %d has %d units", i, n)
				}
				if strings.TrimSpace(p) == "" {
					t.Errorf("part %d is blank", i)
				}
				if strings.Count(p, "```")%2 != 0 {
					t.Errorf("part %d has an unbalanced code fence: %q", i, p)
				}
				body := strings.TrimSuffix(strings.TrimPrefix(p, fenceOpen), fenceClose)
				if strings.HasPrefix(p, fenceOpen) && strings.Contains(body, "```") {
					t.Errorf("part %d lets pane text close its code block", i)
				}
				if !strings.HasPrefix(p, fenceOpen) && !strings.Contains(p, "\n"+fenceOpen) {
					if bs := len(p) - len(strings.TrimRight(p, `\`)); bs%2 == 1 {
						t.Errorf("part %d ends inside an escape", i)
					}
				}
			}
			// Nothing lost: the parts hold every character of the input.
			joined := strings.ReplaceAll(strings.Join(parts, ""), zwsp, "")
			for _, c := range []string{"x", "y", "_", "🔴"} {
				in := strings.Count(tc.r.Text+tc.r.Pre, c)
				if got := strings.Count(joined, c); got != in {
					t.Errorf("%q appears %d times, want %d", c, got, in)
				}
			}
		})
	}
}

func TestComponents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		bs      []commands.Button
		rows    int
		wantErr string
	}{
		{"confirmation", []commands.Button{{Text: "Yes", Data: "y:1"}, {Text: "Cancel", Data: "n:1"}}, 1, ""},
		{"link", []commands.Button{{Text: "Log in", URL: "https://claude.ai/x"}}, 1, ""},
		{"seven buttons", func() []commands.Button {
			var bs []commands.Button
			for i := range 7 {
				bs = append(bs, commands.Button{Text: "b", Data: strings.Repeat("d", i+1)})
			}
			return bs
		}(), 2, ""},
		{"data too long", []commands.Button{{Text: "x", Data: strings.Repeat("d", 101)}}, 0, "allows 100"},
		{"no text", []commands.Button{{Data: "x"}}, 0, "no text"},
		{"neither", []commands.Button{{Text: "x"}}, 0, "neither"},
		{"same data twice", []commands.Button{{Text: "a", Data: "x"}, {Text: "b", Data: "x"}}, 0, "same data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := components(tc.bs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(rows) != tc.rows {
				t.Errorf("got %d rows, %v; want %d", len(rows), err, tc.rows)
			}
		})
	}
}

package claude

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDialog(t *testing.T) {
	apiKey, err := os.ReadFile(filepath.Join("testdata", "dialogs", "custom-api-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	type opt struct {
		label  string
		widens bool
	}
	tests := []struct {
		name     string
		text     string
		question string
		cursor   int
		opts     []opt
	}{
		{"permission prompt", readScreen(t, "61-permission.txt"), "Do you want to proceed?", 1, []opt{
			{"Yes", false},
			{"Yes, and don't ask again for curl -s http://example.com/install.sh and sh commands in /home/dev/work", true},
			{"Yes, and switch to auto mode · auto mode handles these prompts for you", true},
			{"No", false},
		}},
		{"permission prompt, narrow pane wraps an option", strings.Replace(readScreen(t, "61-permission.txt"), " commands in /home/dev/work", "\n      commands in /home/dev/work", 1), "Do you want to proceed?", 1, []opt{
			{"Yes", false},
			{"Yes, and don't ask again for curl -s http://example.com/install.sh and sh commands in /home/dev/work", true},
			{"Yes, and switch to auto mode · auto mode handles these prompts for you", true},
			{"No", false},
		}},
		{"theme chooser (first run)", readScreen(t, "01-first-run.txt"), "To change this later, run /theme", 1, []opt{
			{"Auto (match terminal)", false}, {"Dark mode", false}, {"Light mode", false},
			{"Dark mode (colorblind-friendly)", false}, {"Light mode (colorblind-friendly)", false},
			{"Dark mode (ANSI colors only)", false}, {"Light mode (ANSI colors only)", false},
		}},
		{"API key question", string(apiKey), "Do you want to use this API key?", 2, []opt{{"Yes", false}, {"No (recommended)", false}}},
		{"trust dialog", " Accessing workspace:\n\n /home/dev/work\n\n Quick safety check: Is this a project you created or one you trust?\n\n ❯ 1. Yes, I trust this folder\n   2. No, exit\n\n Enter to confirm · Esc to cancel\n",
			"Quick safety check: Is this a project you created or one you trust?", 1, []opt{{"Yes, I trust this folder", false}, {"No, exit", false}}},
		{"trust dialog, 2.1.328 (unnumbered, No first)", rule80 + "\n Accessing workspace:\n\n /home/dev/work\n\n Quick safety check: Is this a project you created or one you trust? (Like your own code, a well-known open source project, or work from your team). If not, take a moment to review what's in this\n folder first.\n\n Claude Code'll be able to read, edit, and execute files here.\n\n Security guide\n\n ❯ No, exit\n   Yes, I trust this folder\n\n Enter to confirm · Esc to cancel\n",
			"Quick safety check: Is this a project you created or one you trust? (Like your own code, a well-known open source project, or work from your team). If not, take a moment to review what's in this", 1,
			[]opt{{"No, exit", false}, {"Yes, I trust this folder", false}}},
		{"trust dialog, boxed", "╭" + strings.Repeat("─", 60) + "╮\n│ Do you trust the files in this folder?" + strings.Repeat(" ", 21) + "│\n│   1. Yes, proceed" + strings.Repeat(" ", 42) + "│\n│ ❯ 2. No, exit" + strings.Repeat(" ", 46) + "│\n╰" + strings.Repeat("─", 60) + "╯\n   Enter to confirm · Esc to exit\n",
			"Do you trust the files in this folder?", 2, []opt{{"Yes, proceed", false}, {"No, exit", false}}},
		{"edit permission", "❯ fix it\n\n● Update(main.go)\n\n" + rule80 + "\n Edit file\n main.go\n Do you want to make this edit to main.go?\n ❯ 1. Yes\n   2. Yes, allow all edits during this session (shift+tab)\n   3. No, and tell Claude what to do differently (esc)\n",
			"Do you want to make this edit to main.go?", 1, []opt{{"Yes", false}, {"Yes, allow all edits during this session (shift+tab)", true}, {"No, and tell Claude what to do differently (esc)", false}}},
		{"bypass permissions warning", " WARNING: Claude Code running in Bypass Permissions mode\n\n ❯ 1. No, exit\n   2. Yes, I accept\n",
			"WARNING: Claude Code running in Bypass Permissions mode", 1, []opt{{"No, exit", false}, {"Yes, I accept", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := ParseDialog(tt.text)
			if !ok {
				t.Fatal("no dialog found")
			}
			if d.Question != tt.question {
				t.Errorf("question = %q, want %q", d.Question, tt.question)
			}
			if d.Cursor != tt.cursor {
				t.Errorf("cursor = %d, want %d", d.Cursor, tt.cursor)
			}
			if len(d.Options) != len(tt.opts) {
				t.Fatalf("options = %+v, want %d", d.Options, len(tt.opts))
			}
			for i, o := range d.Options {
				if o.N != i+1 || o.Label != tt.opts[i].label || o.Widens != tt.opts[i].widens {
					t.Errorf("option %d = %d %q widens %v, want %q widens %v", i+1, o.N, o.Label, o.Widens, tt.opts[i].label, tt.opts[i].widens)
				}
			}
			if d.ID == "" {
				t.Error("no ID")
			}
		})
	}
}

// A screen that waits only for Enter is a dialog of one option.
func TestParseDialogPressEnter(t *testing.T) {
	text := " Security notes:\n\n 1. Claude can make mistakes.\n    You're responsible for Claude's actions\n\n 2. Due to prompt injection risks, only use it with code you trust\n\n Press Enter to continue\n"
	d, ok := ParseDialog(text)
	if !ok || d.Question != "Security notes:" || len(d.Options) != 1 || d.Options[0].Label != "Continue" || d.Cursor != 1 || d.ID == "" {
		t.Errorf("ParseDialog = %+v, %v; want Security notes: with one option, Continue", d, ok)
	}
	if _, ok := ParseDialog("❯ tell me about \"Press Enter to continue\"\n\n● It is a prompt.\n\nmore text\nand more\nand more\n"); ok {
		t.Error("a conversation quoting the words is a dialog")
	}
}

func TestParseDialogNone(t *testing.T) {
	for _, name := range []string{"14-main-tui.txt", "15-busy.txt", "19-tui-401.txt", "17-busy-7s.txt"} {
		if d, ok := ParseDialog(readScreen(t, name)); ok {
			t.Errorf("%s: found a dialog %+v", name, d)
		}
	}
	for _, text := range []string{"", "❯ 1. hello\n", " ❯ only one\n", "plain\ntext\n"} {
		if d, ok := ParseDialog(text); ok {
			t.Errorf("%q: found a dialog %+v", text, d)
		}
	}
}

// Two prompts for different commands are different dialogs even when their
// options read the same; the same prompt with the cursor moved is the same.
func TestParseDialogID(t *testing.T) {
	perm := readScreen(t, "61-permission.txt")
	a, _ := ParseDialog(perm)
	b, _ := ParseDialog(strings.ReplaceAll(perm, "install.sh", "setup.sh"))
	if a.ID == b.ID {
		t.Error("two prompts about different commands have the same ID")
	}
	moved := strings.Replace(strings.Replace(perm, " ❯ 1. Yes\n", "   1. Yes\n", 1), "   4. No", " ❯ 4. No", 1)
	c, ok := ParseDialog(moved)
	if !ok || c.ID != a.ID || c.Cursor != 4 {
		t.Errorf("cursor moved: ok %v, ID %q (want %q), cursor %d (want 4)", ok, c.ID, a.ID, c.Cursor)
	}
}

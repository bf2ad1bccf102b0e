package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"no secrets here", "no secrets here"},
		{"token sk-ant-oat01-AbCdEf_123-xyz here", "token sk-ant-oat01-…[redacted] here"},
		{"key=sk-ant-api03-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "key=sk-ant-api03-…[redacted]"},
		{`"refreshToken":"sk-ant-ort01-RRRRRRRR"`, `"refreshToken":"sk-ant-ort01-…[redacted]"`},
		{"two: sk-ant-oat01-A and sk-ant-ort01-B.", "two: sk-ant-oat01-…[redacted] and sk-ant-ort01-…[redacted]."},
		{"odd sk-ant-XYZ", "odd sk-ant-…[redacted]"},
		{"bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw ok", "bot 123456789:…[redacted] ok"},
		{"https://api.telegram.org/bot123456:AAEm-AbCdEfGhIjKlMnOpQrStUvWxYz0123/getMe", "https://api.telegram.org/bot123456:…[redacted]/getMe"},
		{"discord MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz12345 x", "discord MTIz…[redacted] x"},
		{"MTA4NjY3NzQ1MTIzNDU2Nzg5MA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789", "MTA4…[redacted]"},
		{"already sk-ant-oat01-…[redacted]", "already sk-ant-oat01-…[redacted]"},
		{"Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "Authorization: Bearer …[redacted]"},
		{"https://x/cb?token=s3cr3tvalue&state=1", "https://x/cb?token=…[redacted]&state=1"},
		{"POST https://discord.com/api/v10/interactions/123/aW50ZXJhY3Rpb24/callback", "POST https://discord.com/api/v10/interactions/123/…[redacted]/callback"},
		{"pasted Xy9fKq2LmN3pR7sT1uVw#st4te-0f-th3-l0gin-page done", "pasted [login code hidden] done"},
		{"time 12:30:45 and a.b.c stay", "time 12:30:45 and a.b.c stay"},
		{"https://example.com/#anchor", "https://example.com/#anchor"},
		{"time 12:34:56 and port 127.0.0.1:8080", "time 12:34:56 and port 127.0.0.1:8080"},
		{"ratio 1234567:short", "ratio 1234567:short"},
		{"builder: login expired at 12:34:56", "builder: login expired at 12:34:56"},
		{"pane %3 at fleet:builder.0", "pane %3 at fleet:builder.0"},
		{"plain text: /home/me/src/app stays", "plain text: /home/me/src/app stays"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretsLiteral(t *testing.T) {
	got := Secrets("dial: 401 for my-dashboard-token-value", "my-dashboard-token-value")
	if want := "dial: 401 for …[redacted]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A literal secret wrapped by a pane goes too.
	got = Secrets(strings.Repeat("x", 28)+"my-dashboard\n-token-value\n", "my-dashboard-token-value")
	if strings.Contains(got, "token-value") || strings.Contains(got, "dashboard") {
		t.Errorf("wrapped literal secret survived: %q", got)
	}
}

// oauth is a 108-character OAuth access token like the CLI's.
const oauth = "sk-ant-oat01-" + "Zq8vN2rT5xW1yB4dF7hJ0kL3mP6sU9aC2eG5iK8nQ1tX4zA7cE0gI3lO6rV9wY2bD5fH8jM1pS4uY7xB0dG3Q1234567-AA"
const refresh = "sk-ant-ort01-" + "Rf3hK6mP9sV2yB5eH8kN1qT4wZ7cF0iL3oR6uX9aD2gJ5mP8sV1yB4eH7kN0qT3wZ6cF9iL2oR5uX8aD1gJ4mP7s1234-BB"

// wrap hard-wraps s at width runes, as a terminal does.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '\n' {
			n = 0
		} else if n == width {
			b.WriteByte('\n')
			n = 0
		}
		if r != '\n' {
			n++
		}
		b.WriteRune(r)
	}
	return b.String()
}

// leaks reports a piece of secret (12 characters or more) readable in out,
// lines joined.
func leaks(out, secret string) string {
	flat := strings.Join(strings.Fields(out), "")
	for i := 0; i+12 <= len(secret); i++ {
		if w := secret[i : i+12]; strings.Contains(flat, w) {
			return w
		}
	}
	return ""
}

// TestWrappedTokens: a credentials file cat'ed in a pane 50, 80 and 120
// columns wide, and the same token in Claude Code's indented tool output.
func TestWrappedTokens(t *testing.T) {
	if len(oauth) != 108 || len(refresh) != 108 {
		t.Fatalf("token lengths %d %d, want 108", len(oauth), len(refresh))
	}
	creds := `{"claudeAiOauth":{"accessToken":"` + oauth + `","refreshToken":"` + refresh + `","expiresAt":1767225600000,"scopes":["user:inference"]}}`
	for _, width := range []int{50, 80, 120} {
		pane := "$ cat ~/.claude/.credentials.json\n" + wrap(creds, width) + "\n$ "
		got := String(pane)
		for _, sec := range []string{oauth[13:], refresh[13:]} {
			if w := leaks(got, sec); w != "" {
				t.Errorf("width %d: %q of the token survived:\n%s", width, w, got)
			}
		}
		if !strings.Contains(got, "sk-ant-oat01-…[redacted]") || !strings.Contains(got, `"expiresAt":1767225600000`) {
			t.Errorf("width %d: want the token marked and the rest kept:\n%s", width, got)
		}
		// Every tail of the pane (what a peek of its last lines shows) is clean too.
		lines := strings.Split(pane, "\n")
		for i := range lines {
			tail := String(strings.Join(lines[i:], "\n"))
			if strings.Contains(tail, oauth[13:30]) || strings.Contains(tail, "sk-ant-oat01-Zq8") {
				t.Errorf("width %d, from line %d: %s", width, i, tail)
			}
		}
	}
	// Claude Code's own wrapping: the tool output box indents continuation lines.
	ink := "⏺ Bash(cat ~/.claude/.credentials.json)\n  ⎿  {\"claudeAiOauth\":{\"accessToken\":\"" + oauth[:40] + "\n     " + oauth[40:] + "\",\"refreshToken\":\n     \"" + refresh + "\"}}\n"
	got := String(ink)
	if w := leaks(got, oauth[13:]); w != "" {
		t.Errorf("indented wrap: %q survived:\n%s", w, got)
	}
}

func TestWrappedOtherTokens(t *testing.T) {
	tg := "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	dc := "MTA4NjY3NzQ1MTIzNDU2Nzg5MA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789"
	code := "Xy9fKq2LmN3pR7sT1uVwXy9fKq2LmN3pR7sT1uVw#st4te-0f-th3-l0gin-page-st4te-0f-th3"
	for _, width := range []int{7, 20, 50, 80} {
		for _, c := range []struct{ tok, secret string }{{tg, tg[10:]}, {dc, dc[4:]}, {code, code}} {
			for pad := 0; pad < width; pad++ {
				in := wrap(strings.Repeat("x", pad)+" "+c.tok+" end of the line", width)
				if w := leaks(String(in), c.secret); w != "" {
					t.Fatalf("width %d pad %d: %q survived:\n%s\n%s", width, pad, w, in, String(in))
				}
			}
		}
	}
}

func TestUnwrappedTextKept(t *testing.T) {
	// Joining is for finding tokens only: text around them keeps its lines.
	in := "line one is the longest line\nshort\n" + strings.Repeat("y", 28)
	if got := String(in); got != in {
		t.Errorf("got %q, want it unchanged", got)
	}
	if !utf8.ValidString(String("héllo sk-ant-oat01-abc\nwörld")) {
		t.Error("invalid UTF-8")
	}
}

func TestInContext(t *testing.T) {
	pane := wrap(`{"accessToken":"`+oauth+`","x":1}`, 50)
	lines := strings.Split(pane, "\n")
	for i, l := range lines {
		got := InContext(pane, l)
		if w := leaks(got, oauth[13:]); w != "" {
			t.Errorf("line %d: %q survived: %q", i, w, got)
		}
	}
	// Cut short with "…" inside the token's tail.
	if got := InContext(pane, lines[1][:20]+"…"); strings.Contains(got, lines[1][:20]) {
		t.Errorf("shortened line kept the token: %q", got)
	}
	if got := InContext(pane, "unrelated line"); got != "unrelated line" {
		t.Errorf("got %q", got)
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hc-ping.com/0f1e2d3c-uuid", "https://hc-ping.com/…"},
		{"https://hooks.example", "https://hooks.example"},
		{"https://hooks.example/", "https://hooks.example/…"},
		{"https://hooks.example?key=s3cr3t", "https://hooks.example/…"},
		{"https://user:s3cr3t@hooks.example", "https://hooks.example/…"},
		{"http://127.0.0.1:9000/hook/abc", "http://127.0.0.1:9000/…"},
		{"not a url", "…"},
		{"", "…"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHasAnthropicToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"sk-ant-oat01-AbC", true},
		{"Bearer sk-ant-api03-x", true},
		{"/usr/bin:/bin", false},
		{"", false},
	} {
		if got := HasAnthropicToken(tc.in); got != tc.want {
			t.Errorf("HasAnthropicToken(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

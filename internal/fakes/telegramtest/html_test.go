package telegramtest

import (
	"reflect"
	"testing"
)

func TestParseHTML(t *testing.T) {
	tests := []struct {
		in        string
		wantPlain string
		wantEnts  []entity
		wantErr   string
	}{
		{in: "a &amp; b &lt;c&gt; &quot;d&quot; &#65;&#x42;", wantPlain: `a & b <c> "d" AB`},
		{in: "AT&T &nbsp;", wantPlain: "AT&T &nbsp;"}, // unknown entities stay literal
		{in: "<b>bold</b> <i>it</i>", wantPlain: "bold it", wantEnts: []entity{
			{Type: "bold", Offset: 0, Length: 4}, {Type: "italic", Offset: 5, Length: 2}}},
		{in: "😀<code>x</code>", wantPlain: "😀x", wantEnts: []entity{{Type: "code", Offset: 2, Length: 1}}},
		{in: `<a href="https://claude.ai/?a=1&amp;b=2">log in</a>`, wantPlain: "log in", wantEnts: []entity{
			{Type: "text_link", Offset: 0, Length: 6, URL: "https://claude.ai/?a=1&b=2"}}},
		{in: `<pre><code class="language-go">x := 1</code></pre>`, wantPlain: "x := 1", wantEnts: []entity{
			{Type: "pre", Offset: 0, Length: 6, Language: "go"}, {Type: "code", Offset: 0, Length: 6}}},
		{in: `<B>x</>`, wantPlain: "x", wantEnts: []entity{{Type: "bold", Offset: 0, Length: 1}}},
		{in: `<span class="tg-spoiler">s</span>`, wantPlain: "s", wantEnts: []entity{{Type: "spoiler", Offset: 0, Length: 1}}},
		{in: `<span>s</span>`, wantErr: `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{in: `<a href>x</a>`, wantErr: `Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0`},
		{in: `<a href="x>x</a>`, wantErr: "Unclosed start tag at byte offset 0"},
		{in: "1 < 2", wantErr: `Unsupported start tag "" at byte offset 2`},
		{in: "<script>x</script>", wantErr: `Unsupported start tag "script" at byte offset 0`},
		{in: "<b>x</b", wantErr: "Unclosed end tag at byte offset 4"},
	}
	for _, tt := range tests {
		plain, ents, err := parseHTML(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseHTML(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseHTML(%q): %v", tt.in, err)
			continue
		}
		if plain != tt.wantPlain || !reflect.DeepEqual(ents, tt.wantEnts) {
			t.Errorf("parseHTML(%q) = %q %+v, want %q %+v", tt.in, plain, ents, tt.wantPlain, tt.wantEnts)
		}
	}
}

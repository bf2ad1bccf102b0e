package claude

import (
	"strings"
	"testing"
)

func TestHideLogin(t *testing.T) {
	wide := readScreen(t, "03-login-url.txt")
	narrow := "Browser didn't open? Use the URL below to sign in\n\n" + hardWrap(realURL(t), 50) + "\n\n Paste code here if prompted\n"
	typed := strings.Replace(wide, " │                 ", " │ AbCdEfGhIjKlMnOpQrSt#uvWxYz0123456789abcd ", 1)
	for name, text := range map[string]string{"wide": wide, "narrow": narrow, "code typed": typed, "slash login": readScreen(t, "22-slash-login-url.txt"),
		"short link": readScreen(t, "41-setup-token-short-link.txt")} {
		url := ExtractLoginURL(text)
		if url == "" {
			t.Fatalf("%s: the fixture has no login URL", name)
		}
		got := HideLogin(text)
		if u := ExtractLoginURL(got); u != "" {
			t.Errorf("%s: a login URL is left: %s", name, u)
		}
		for _, secret := range []string{"code_challenge", "state=", "AbCdEfGhIjKlMnOpQrSt#", "7T6iapYdXj3rKCWGTgWU", "IDMdQ43uDgrCCMgzPWR5"} {
			if strings.Contains(got, secret) {
				t.Errorf("%s: %q is left in\n%s", name, secret, got)
			}
		}
		if !strings.Contains(got, "[login link hidden") || !strings.Contains(got, "Paste code here if prompted") {
			t.Errorf("%s: want the placeholder and the rest of the screen kept:\n%s", name, got)
		}
	}
	if plain := readScreen(t, "15-busy.txt"); HideLogin(plain) != plain {
		t.Errorf("a screen without a login changed")
	}
}

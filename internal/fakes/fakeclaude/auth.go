package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// loginURL is the shape of the real CLI's sign-in link; state is random.
// Like Claude Code 2.1.330+, it prints the short link
// (https://claude.ai/oauth/authorize?<opaque>, no state in it) unless
// CLAUDE_CODE_FULL_SIGN_IN_LINK is set; then the full authorize URL.
// shortScope is the short link's opaque head for the same scopes.
func loginURL(scope, shortScope string) (url, state string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	state = hex.EncodeToString(b[:])
	const challenge = "Ol6i3EaoBtXW_s3dS4MKG427T6iapYdXj3rKCWGTgWU"
	if os.Getenv("CLAUDE_CODE_FULL_SIGN_IN_LINK") == "" {
		return "https://claude.ai/oauth/authorize?" + shortScope + challenge, state
	}
	url = "https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e" +
		"&response_type=code&redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback" +
		"&scope=" + scope + "&code_challenge=" + challenge + "&code_challenge_method=S256&state=" + state
	return url, state
}

// goodCode reports whether the pasted code is one the fake OAuth server
// accepts: FAKECLAUDE_GOOD_CODE (default "good") before the '#', and the
// state of this login after it.
func goodCode(code, state string) bool {
	want := os.Getenv("FAKECLAUDE_GOOD_CODE")
	if want == "" {
		want = "good"
	}
	c, s, _ := strings.Cut(code, "#")
	return c == want && s == state
}

// authLogin plays `claude auth login` over pipes.
func authLogin(_ []string) int {
	url, state := loginURL("org%3Acreate_api_key+user%3Aprofile+user%3Ainference+user%3Asessions%3Aclaude_code", "e")
	if f := os.Getenv("FAKECLAUDE_STATE_FILE"); f != "" {
		// Tests read the state to build a valid code, as the OAuth page would.
		_ = os.WriteFile(f, []byte(state), 0o600)
	}
	fmt.Println("Opening browser to sign in…")
	fmt.Println("If the browser didn't open, visit: " + url)
	if msg := os.Getenv("FAKECLAUDE_LOGIN_CRASH"); msg != "" {
		// The CLI dies while it waits for the code (network, a bug).
		fmt.Print("Paste code here if prompted > ")
		fmt.Fprintln(os.Stderr, "\n"+msg)
		return 1
	}
	in := bufio.NewReader(os.Stdin)
	for {
		fmt.Print("Paste code here if prompted > ")
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return 130
		}
		code := strings.TrimSpace(line)
		if !strings.Contains(code, "#") {
			fmt.Println("That doesn't look like the full code. Copy all of it, including the # in the middle.")
			continue
		}
		if _, s, _ := strings.Cut(code, "#"); os.Getenv("CLAUDE_CODE_FULL_SIGN_IN_LINK") != "" && s != state {
			// The full link carries the state, and the CLI checks it (the
			// short link has none to check).
			fmt.Println("That code is not from this sign-in. Paste the code shown after opening the address above.")
			continue
		}
		fmt.Println("Signing in…")
		if !goodCode(code, state) {
			fmt.Fprintln(os.Stderr, "Couldn't log in: That code wasn't accepted. It may be incomplete, expired, already used, or from an earlier sign-in attempt. Sign in again to get a new code.")
			return 1
		}
		if err := writeCredentials(); err != nil {
			fmt.Fprintln(os.Stderr, "Couldn't log in:", err)
			return 1
		}
		fmt.Println("Login successful.")
		return 0
	}
}

func writeCredentials() error {
	dir := os.Getenv("CLAUDE_CONFIG_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return err
		}
		dir = filepath.Join(home, ".claude")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now()
	var b [12]byte
	_, _ = rand.Read(b[:])
	body, _ := json.Marshal(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken":           "sk-ant-oat01-" + hex.EncodeToString(b[:]),
		"refreshToken":          "sk-ant-ort01-" + hex.EncodeToString(b[:]),
		"expiresAt":             now.Add(8 * time.Hour).UnixMilli(),
		"refreshTokenExpiresAt": now.Add(30 * 24 * time.Hour).UnixMilli(),
		"scopes":                []string{"user:inference", "user:profile"},
		"subscriptionType":      "max",
	}})
	tmp := filepath.Join(dir, ".credentials.json.tmp")
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ".credentials.json"))
}

// setupToken plays `claude setup-token`: URL, code, then the long-lived token.
func setupToken() int {
	url, state := loginURL("user%3Ainference", "I")
	if f := os.Getenv("FAKECLAUDE_STATE_FILE"); f != "" {
		_ = os.WriteFile(f, []byte(state), 0o600)
	}
	fmt.Println(" This will guide you through long-lived (1-year) auth token setup for your Claude account. Claude subscription required.")
	fmt.Println()
	fmt.Println(" Browser didn't open? Use the URL below to sign in (c to copy)")
	fmt.Println()
	fmt.Println(url)
	fmt.Println()
	fmt.Println(" Paste code here if prompted")
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return 130
	}
	if !goodCode(strings.TrimSpace(line), state) {
		fmt.Println(" ✘ OAuth error: That code wasn't accepted.")
		return 1
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	fmt.Println(" ✔ Long-lived authentication token created")
	fmt.Println(" Your OAuth token (valid for 1 year):")
	fmt.Println()
	fmt.Println(" sk-ant-oat01-" + hex.EncodeToString(b[:]))
	fmt.Println()
	fmt.Println(" Store this token securely. You won't be able to see it again.")
	return 0
}

package discord

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	redactor "github.com/fleetwarden/fleetwarden/internal/redact"
)

// apiRewrite sends discordgo's REST calls to another base URL. discordgo
// computes its endpoints (https://discord.com/api/v9/...) at package init,
// so the transport is the one place to change where they go.
type apiRewrite struct {
	from *url.URL // DefaultAPIURL
	to   *url.URL // the configured base
	next http.RoundTripper
}

func (t *apiRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, t.from.Path)
	if r.URL.Host != t.from.Host || !ok || (rest != "" && rest[0] != '/') {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host, u.User = t.to.Scheme, t.to.Host, t.to.User
	u.Path = strings.TrimRight(t.to.Path, "/") + rest
	u.RawPath = ""
	r2.URL = &u
	r2.Host = ""
	return t.next.RoundTrip(r2)
}

// parseAPIURL checks a REST base such as https://discord.com/api/v9.
func parseAPIURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discord: api_url %q is not an http(s) URL such as %s", s, DefaultAPIURL)
	}
	return u, nil
}

// clientFor returns the HTTP client discordgo uses: base (or a default one)
// with REST calls routed to apiURL when it is not Discord's own.
func clientFor(base *http.Client, apiURL *url.URL) *http.Client {
	c := &http.Client{Timeout: 20 * time.Second}
	if base != nil {
		cp := *base
		c = &cp
	}
	if apiURL.String() == DefaultAPIURL {
		return c
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	from, _ := url.Parse(DefaultAPIURL)
	c.Transport = &apiRewrite{from: from, to: apiURL, next: next}
	return c
}

// gatewayDialer is discordgo's default dialer, except that it refuses to
// connect once the bot is shutting down: discordgo's reconnect loop has no
// way to be stopped, and must not reopen a session Run has closed.
func gatewayDialer(closing func() bool) *websocket.Dialer {
	d := *websocket.DefaultDialer
	var nd net.Dialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if closing() {
			return nil, errors.New("discord: the bot is shutting down")
		}
		return nd.DialContext(ctx, network, addr)
	}
	return &d
}

// redact hides the bot token and interaction tokens.
func redact(s, token string) string {
	return redactor.Secrets(s, token)
}

// apiErr is a Discord failure explained for a human; the original error
// stays reachable with errors.As (e.g. *discordgo.RESTError).
type apiErr struct {
	status int // HTTP status, 0 when Discord was not reached
	msg    string
	err    error
}

func (e *apiErr) Error() string { return e.msg }
func (e *apiErr) Unwrap() error { return e.err }

// describe turns discordgo's errors into messages that say what to do.
func (b *Bot) describe(err error) error {
	if err == nil {
		return nil
	}
	var ae *apiErr
	if errors.As(err, &ae) {
		return err
	}
	tok := b.o.Token
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		msg, code := strings.TrimSpace(string(re.ResponseBody)), 0
		if re.Message != nil {
			msg, code = re.Message.Message, re.Message.Code
		}
		msg = redact(truncate(msg, 200), tok)
		switch status {
		case http.StatusUnauthorized:
			return &apiErr{status, "the bot token was rejected (401 Unauthorized): check discord.token", err}
		case http.StatusForbidden:
			return &apiErr{status, fmt.Sprintf("Discord refused (403 %s, code %d): check the bot's access and permissions there", msg, code), err}
		default:
			return &apiErr{status, fmt.Sprintf("Discord answered %d: %s (code %d)", status, msg, code), err}
		}
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case 4004:
			return &apiErr{0, "the bot token was rejected by the gateway (4004 Authentication failed): check discord.token", err}
		case 4014:
			return &apiErr{0, "the gateway refused the intents (4014 Disallowed intents)", err}
		}
		return &apiErr{0, fmt.Sprintf("the gateway closed the connection (%d %s)", ce.Code, redact(ce.Text, tok)), err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &apiErr{0, fmt.Sprintf("cannot reach Discord (%s): %s", b.apiURL.Host, redact(ue.Err.Error(), tok)), err}
	}
	return &apiErr{0, redact(err.Error(), tok), err}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// Webhook body formats.
const (
	FormatJSON  = "json"  // the notification as JSON, with "text"
	FormatNtfy  = "ntfy"  // ntfy.sh: plain text body, Title/Priority/Tags headers
	FormatSlack = "slack" // Slack (and Mattermost, Discord /slack) incoming webhook: {"text": ...}
)

type webhook struct {
	name    string
	url     string
	format  string
	headers map[string]string
	timeout time.Duration
	client  *http.Client
}

// NewWebhook makes a route that POSTs each notification to url. format is
// json (default), ntfy or slack; headers are added to every request (for
// example Authorization). timeout bounds one request (default 10s); client
// may be nil. Its Name is "webhook:"+name.
func NewWebhook(name, url, format string, headers map[string]string, timeout time.Duration, client *http.Client) Route {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if client == nil {
		client = http.DefaultClient
	}
	if format == "" {
		format = FormatJSON
	}
	return &webhook{name: prefixed("webhook", name), url: url, format: strings.ToLower(format), headers: headers, timeout: timeout, client: client}
}

// prefixed names a route "kind:name" as the journal expects.
func prefixed(kind, name string) string {
	switch {
	case name == "" || name == kind:
		return kind
	case strings.HasPrefix(name, kind+":"):
		return name
	}
	return kind + ":" + name
}

func (w *webhook) Name() string { return w.name }

// payload is the JSON shape of a notification for webhooks and commands.
type payload struct {
	Notification
	Text string `json:"text"`
}

func jsonPayload(n Notification) ([]byte, error) {
	n.Reached = nil
	return json.Marshal(payload{Notification: n, Text: n.Text()})
}

func (w *webhook) Deliver(ctx context.Context, n Notification) error {
	var body []byte
	hdr := http.Header{}
	var err error
	switch w.format {
	case FormatJSON:
		body, err = jsonPayload(n)
		hdr.Set("Content-Type", "application/json")
	case FormatSlack:
		body, err = json.Marshal(map[string]string{"text": n.Text()})
		hdr.Set("Content-Type", "application/json")
	case FormatNtfy:
		body = []byte(n.details())
		if len(body) == 0 {
			body = []byte(n.Summary)
		}
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Title", mime.QEncoding.Encode("utf-8", n.subject()))
		hdr.Set("Priority", ntfyPriority(n))
		hdr.Set("Tags", ntfyTags(n))
	default:
		return fmt.Errorf("%s: unknown format %q (want json, ntfy or slack)", w.name, w.format)
	}
	if err != nil {
		return fmt.Errorf("%s: encode: %w", w.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: bad URL: %w", w.name, stripURL(err))
	}
	req.Header = hdr
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "fleetwarden")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: POST: %w", w.name, stripURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: HTTP %s: %s", w.name, resp.Status, redact.String(strings.TrimSpace(string(snippet))))
	}
	return nil
}

// stripURL drops the URL from an HTTP client error: webhook URLs carry
// secrets (Slack's path, ntfy tokens).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func ntfyPriority(n Notification) string {
	if n.Status == StatusResolved {
		return "3"
	}
	switch n.Severity {
	case SeverityCritical:
		return "5"
	case SeverityWarning:
		return "4"
	}
	return "3"
}

func ntfyTags(n Notification) string {
	tag := "information_source"
	switch {
	case n.Status == StatusResolved:
		tag = "white_check_mark"
	case n.Severity == SeverityCritical:
		tag = "rotating_light"
	case n.Severity == SeverityWarning:
		tag = "warning"
	}
	return tag + ",fleetwarden," + string(n.Kind)
}

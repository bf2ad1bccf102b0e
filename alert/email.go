package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// EmailConfig is an SMTP submission route.
type EmailConfig struct {
	Name     string
	Host     string
	Port     int // default 587
	Username string
	Password string
	From     string
	To       []string
	StartTLS bool // upgrade with STARTTLS; a server that does not offer it is an error
	// ImplicitTLS speaks TLS from the first byte (SMTPS, RFC 8314), as
	// port 465 wants; NewEmail sets it for port 465. StartTLS is then moot.
	ImplicitTLS bool
	Timeout     time.Duration // the whole conversation; default 30s
	TLSConfig   *tls.Config   // nil: system roots, ServerName = Host (tests: trust the test CA)
}

type email struct{ c EmailConfig }

// NewEmail makes a route that mails each notification over go-smtp: with
// TLS from the start on port 465 (ImplicitTLS), else upgraded with STARTTLS
// when StartTLS is set. It logs in with PLAIN auth when Username is set, only
// over TLS or to localhost. Its Name is "email" or "email:"+Name.
func NewEmail(cfg EmailConfig) Route {
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Port == 465 {
		cfg.ImplicitTLS = true
	}
	return &email{c: cfg}
}

func (e *email) Name() string { return prefixed("email", e.c.Name) }

func (e *email) Deliver(ctx context.Context, n Notification) error {
	name := e.Name()
	c := e.c
	if c.Host == "" {
		return fmt.Errorf("%s: no SMTP host configured", name)
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("%s: bad sender %q: %w", name, c.From, err)
	}
	if len(c.To) == 0 {
		return fmt.Errorf("%s: no recipients configured", name)
	}
	var to []*mail.Address
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return fmt.Errorf("%s: bad recipient %q: %w", name, t, err)
		}
		to = append(to, a)
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cl, addr, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := e.login(ctx, cl, addr); err != nil {
		return err
	}
	return e.send(ctx, cl, n, from, to)
}

// dial connects and says hello: TLS from the first byte on port 465
// (implicit TLS, RFC 8314), else plain and upgraded with STARTTLS when
// configured. The context bounds the whole conversation: its deadline is
// every read's and write's, and cancelling closes the connection.
func (e *email) dial(ctx context.Context) (*smtp.Client, string, error) {
	name, c := e.Name(), e.c
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, addr, fmt.Errorf("%s: connect to %s: %w", name, addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	raw := conn
	// Deliver cancels ctx when it returns, so this also closes the socket
	// on every way out.
	context.AfterFunc(ctx, func() { raw.Close() })
	implicit := c.ImplicitTLS
	if implicit {
		tc := tls.Client(conn, e.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, addr, fmt.Errorf("%s: TLS with %s: %w", name, addr, ctxErr(ctx, err))
		}
		conn = tc
	}
	if c.StartTLS && !implicit {
		cl, err := smtp.NewClientStartTLS(conn, e.tlsConfig())
		if err != nil {
			conn.Close()
			if strings.Contains(err.Error(), "support STARTTLS") { // go-smtp's words for a server without it
				return nil, addr, fmt.Errorf("%s: %s does not offer STARTTLS; not sending in clear", name, addr)
			}
			return nil, addr, fmt.Errorf("%s: STARTTLS: %w", name, ctxErr(ctx, err))
		}
		cl.CommandTimeout, cl.SubmissionTimeout = c.Timeout, c.Timeout
		return cl, addr, nil
	}
	cl := smtp.NewClient(conn)
	cl.CommandTimeout, cl.SubmissionTimeout = c.Timeout, c.Timeout
	if err := cl.Hello("localhost"); err != nil {
		cl.Close()
		return nil, addr, fmt.Errorf("%s: greeting and EHLO from %s: %w", name, addr, ctxErr(ctx, err))
	}
	return cl, addr, nil
}

func (e *email) tlsConfig() *tls.Config {
	tc := &tls.Config{}
	if e.c.TLSConfig != nil {
		tc = e.c.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = e.c.Host
	}
	return tc
}

// login authenticates with PLAIN when a username is set. The password goes
// only over TLS, or to this machine (as net/smtp's PlainAuth allowed).
func (e *email) login(ctx context.Context, cl *smtp.Client, addr string) error {
	name, c := e.Name(), e.c
	if c.Username == "" {
		return nil
	}
	if ok, _ := cl.Extension("AUTH"); !ok {
		return fmt.Errorf("%s: %s does not offer AUTH (it may want STARTTLS first)", name, addr)
	}
	if _, isTLS := cl.TLSConnectionState(); !isTLS && !isLocalhost(c.Host) {
		return fmt.Errorf("%s: login as %s: unencrypted connection; not sending the password in clear (set starttls or port 465)", name, c.Username)
	}
	if err := cl.Auth(sasl.NewPlainClient("", c.Username, c.Password)); err != nil {
		return fmt.Errorf("%s: login as %s: %w", name, c.Username, ctxErr(ctx, err))
	}
	return nil
}

func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// send runs one mail transaction.
func (e *email) send(ctx context.Context, cl *smtp.Client, n Notification, from *mail.Address, to []*mail.Address) error {
	name := e.Name()
	if err := cl.Mail(from.Address, nil); err != nil {
		return fmt.Errorf("%s: MAIL FROM: %w", name, ctxErr(ctx, err))
	}
	for _, a := range to {
		if err := cl.Rcpt(a.Address, nil); err != nil {
			return fmt.Errorf("%s: RCPT TO %s: %w", name, a.Address, ctxErr(ctx, err))
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("%s: DATA: %w", name, ctxErr(ctx, err))
	}
	if _, err := w.Write(message(n, from, to)); err != nil {
		return fmt.Errorf("%s: send message: %w", name, ctxErr(ctx, err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: message refused: %w", name, ctxErr(ctx, err))
	}
	// The message was accepted at the end of DATA; a failed QUIT does not undo it.
	_ = cl.Quit()
	return nil
}

// ctxErr prefers the context's reason over the closed-connection error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return errors.Join(cerr, err)
	}
	return err
}

// message renders n as a plain-text mail, quoted-printable so any line
// length and any character survive.
func message(n Notification, from *mail.Address, to []*mail.Address) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	var tos []string
	for _, a := range to {
		tos = append(tos, a.String())
	}
	oneLine := strings.Join(strings.Fields(n.subject()), " ")
	hdr("From", from.String())
	hdr("To", strings.Join(tos, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", "[fleetwarden] "+oneLine))
	t := n.Time
	if t.IsZero() {
		t = time.Now()
	}
	hdr("Date", t.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+fileSafe(n.ID)+"@fleetwarden>")
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Fleetwarden-Alert", fileSafe(n.AlertKey))
	hdr("X-Fleetwarden-Status", n.Status)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(n.Text(), "\n", "\r\n") + "\r\n"))
	_ = qp.Close()
	return b.Bytes()
}

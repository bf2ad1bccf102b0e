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
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// EmailConfig is an SMTP submission route.
type EmailConfig struct {
	Name      string
	Host      string
	Port      int // default 587
	Username  string
	Password  string
	From      string
	To        []string
	StartTLS  bool          // upgrade with STARTTLS; a server that does not offer it is an error
	Timeout   time.Duration // the whole conversation; default 30s
	TLSConfig *tls.Config   // nil: system roots, ServerName = Host (tests: trust the test CA)
}

type email struct{ c EmailConfig }

// NewEmail makes a route that mails each notification. It logs in with
// PLAIN auth when Username is set, which net/smtp allows only over TLS or to
// localhost. Its Name is "email" or "email:"+Name.
func NewEmail(cfg EmailConfig) Route {
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
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
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: connect to %s: %w", name, addr, err)
	}
	// net/smtp knows no contexts: the deadline bounds every read and write,
	// and cancelling closes the connection.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("%s: greeting from %s: %w", name, addr, ctxErr(ctx, err))
	}
	defer cl.Close()
	if err := cl.Hello("localhost"); err != nil {
		return fmt.Errorf("%s: EHLO: %w", name, ctxErr(ctx, err))
	}
	if c.StartTLS {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%s: %s does not offer STARTTLS; not sending in clear", name, addr)
		}
		tc := &tls.Config{}
		if c.TLSConfig != nil {
			tc = c.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = c.Host
		}
		if err := cl.StartTLS(tc); err != nil {
			return fmt.Errorf("%s: STARTTLS: %w", name, ctxErr(ctx, err))
		}
	}
	if c.Username != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return fmt.Errorf("%s: %s does not offer AUTH (it may want STARTTLS first)", name, addr)
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return fmt.Errorf("%s: login as %s: %w", name, c.Username, ctxErr(ctx, err))
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return fmt.Errorf("%s: MAIL FROM: %w", name, ctxErr(ctx, err))
	}
	for _, a := range to {
		if err := cl.Rcpt(a.Address); err != nil {
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

package alert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fleetwarden test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// mailbox is an in-process SMTP server (go-smtp) that wants PLAIN auth,
// which it offers only after STARTTLS.
type mailbox struct {
	user, pass string

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from, user string
	to         []string
	data       string
	tls        bool
}

type smtpSession struct {
	mb   *mailbox
	conn *smtp.Conn
	user string
	msg  received
}

func (mb *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{mb: mb, conn: c}, nil
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.mb.user || pass != s.mb.pass {
			return errors.New("invalid username or password")
		}
		s.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = received{from: from, user: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(b)
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.msg)
	s.mb.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.msg = received{} }
func (s *smtpSession) Logout() error { return nil }

func (mb *mailbox) messages() []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]received(nil), mb.msgs...)
}

// serveSMTP starts a server; withTLS offers STARTTLS.
func serveSMTP(t *testing.T, mb *mailbox, cert *tls.Certificate) (port int) {
	t.Helper()
	s := smtp.NewServer(mb)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	cert, pool := testCert(t)
	mb := &mailbox{user: "alerts", pass: "hunter2"}
	port := serveSMTP(t, mb, &cert)
	r := NewEmail(EmailConfig{Name: "oncall", Host: "127.0.0.1", Port: port, Username: "alerts", Password: "hunter2",
		From: "fleetwarden <fw@example.org>", To: []string{"ops@example.org", "Night Shift <night@example.org>"},
		StartTLS: true, Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	if r.Name() != "email:oncall" {
		t.Errorf("Name() = %q", r.Name())
	}
	n := sample()
	n.Agents = append(n.Agents, "ünïcode")
	if err := r.Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	msgs := mb.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.tls || got.user != "alerts" || got.from != "fw@example.org" || strings.Join(got.to, ",") != "ops@example.org,night@example.org" {
		t.Errorf("envelope: tls %v user %q from %q to %v", got.tls, got.user, got.from, got.to)
	}
	m, err := mail.ReadMessage(strings.NewReader(got.data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, got.data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "[fleetwarden] "+n.Summary {
		t.Errorf("Subject = %q, want the summary", subject)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	if b := string(body); !strings.Contains(b, n.Remedy) || !strings.Contains(b, n.Evidence) {
		t.Errorf("body %q lacks remedy or evidence", b)
	}
	if id := m.Header.Get("Message-ID"); !strings.Contains(id, "auth_failed_expired.0a1b2c3d.1.firing") {
		t.Errorf("Message-ID %q does not carry the notification ID", id)
	}
}

func TestEmailFailures(t *testing.T) {
	cert, pool := testCert(t)
	t.Run("wrong password", func(t *testing.T) {
		port := serveSMTP(t, &mailbox{user: "alerts", pass: "hunter2"}, &cert)
		err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: port, Username: "alerts", Password: "nope",
			From: "fw@example.org", To: []string{"ops@example.org"}, StartTLS: true, TLSConfig: &tls.Config{RootCAs: pool}}).
			Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "login as alerts") || strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v, want a login error without the password", err)
		}
	})
	t.Run("no STARTTLS offered", func(t *testing.T) {
		mb := &mailbox{user: "alerts", pass: "hunter2"}
		port := serveSMTP(t, mb, nil)
		err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: port, Username: "alerts", Password: "hunter2",
			From: "fw@example.org", To: []string{"ops@example.org"}, StartTLS: true}).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || len(mb.messages()) != 0 {
			t.Fatalf("err = %v, want a refusal to send in clear", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		port := serveSMTP(t, &mailbox{user: "alerts", pass: "hunter2"}, &cert)
		err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: port, Username: "alerts", Password: "hunter2",
			From: "fw@example.org", To: []string{"ops@example.org"}, StartTLS: true}).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
	t.Run("host unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		err = NewEmail(EmailConfig{Host: "127.0.0.1", Port: port, From: "fw@example.org", To: []string{"ops@example.org"},
			StartTLS: true, Timeout: 2 * time.Second}).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1") {
			t.Fatalf("err = %v, want a connection error", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		for _, c := range []EmailConfig{
			{From: "fw@example.org", To: []string{"ops@example.org"}},
			{Host: "127.0.0.1", From: "not an address", To: []string{"ops@example.org"}},
			{Host: "127.0.0.1", From: "fw@example.org"},
			{Host: "127.0.0.1", From: "fw@example.org", To: []string{"@@"}},
		} {
			if err := NewEmail(c).Deliver(t.Context(), sample()); err == nil {
				t.Errorf("%+v: no error", c)
			}
		}
	})
}

// serveSMTPS starts a server speaking TLS from the first byte (port 465's
// way).
func serveSMTPS(t *testing.T, mb *mailbox, cert tls.Certificate) (port int) {
	t.Helper()
	s := smtp.NewServer(mb)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}}))
	t.Cleanup(func() { s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestEmailOverImplicitTLS(t *testing.T) {
	if r := NewEmail(EmailConfig{Host: "smtp.example.org", Port: 465}).(*email); !r.c.ImplicitTLS {
		t.Error("port 465 does not speak TLS from the start")
	}
	cert, pool := testCert(t)
	mb := &mailbox{user: "alerts", pass: "hunter2"}
	port := serveSMTPS(t, mb, cert)
	cfg := EmailConfig{Host: "127.0.0.1", Port: port, ImplicitTLS: true, Username: "alerts", Password: "hunter2",
		From: "fw@example.org", To: []string{"ops@example.org"}, Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}}
	if err := NewEmail(cfg).Deliver(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	msgs := mb.messages()
	if len(msgs) != 1 || !msgs[0].tls || msgs[0].user != "alerts" {
		t.Fatalf("server got %+v, want one message over TLS from alerts", msgs)
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		cfg := cfg
		cfg.TLSConfig = nil
		err := NewEmail(cfg).Deliver(t.Context(), sample())
		if err == nil || !strings.Contains(err.Error(), "TLS with 127.0.0.1") || len(mb.messages()) != 1 {
			t.Fatalf("err = %v, want a certificate error and nothing sent", err)
		}
	})
}

// The password never crosses the network in clear, even to a server that
// would take it: only loopback names are exempt, as net/smtp had it.
func TestEmailRefusesToLogInInClear(t *testing.T) {
	mb := &mailbox{user: "alerts", pass: "hunter2"}
	s := smtp.NewServer(mb)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.2:0") // loopback, but not a name the exemption knows
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	err = NewEmail(EmailConfig{Host: "127.0.0.2", Port: port, Username: "alerts", Password: "hunter2",
		From: "fw@example.org", To: []string{"ops@example.org"}, Timeout: 5 * time.Second}).Deliver(t.Context(), sample())
	if err == nil || !strings.Contains(err.Error(), "unencrypted") || strings.Contains(err.Error(), "hunter2") || len(mb.messages()) != 0 {
		t.Fatalf("err = %v, want a refusal to send the password in clear", err)
	}
}

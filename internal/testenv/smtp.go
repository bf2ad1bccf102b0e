package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message an SMTP sink received.
type Mail struct {
	From string
	To   []string
	Data string
}

// SMTPSink is a real SMTP server (go-smtp) on loopback that keeps what it
// receives; no TLS, no auth, as a local relay would be.
type SMTPSink struct {
	Port int
	mu   sync.Mutex
	msgs []Mail
}

// NewSMTPSink starts a sink, stopped in t.Cleanup.
func NewSMTPSink(t testing.TB) *SMTPSink {
	t.Helper()
	sink := &SMTPSink{}
	s := smtp.NewServer(sink)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l) //nolint:errcheck // ends at Close
	t.Cleanup(func() { s.Close() })
	sink.Port = l.Addr().(*net.TCPAddr).Port
	return sink
}

// Messages returns what was received so far.
func (s *SMTPSink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// NewSession implements smtp.Backend.
func (s *SMTPSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *SMTPSink
	msg  Mail
}

func (x *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	x.msg = Mail{From: from}
	return nil
}

func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.msg.Data = string(b)
	x.sink.mu.Lock()
	x.sink.msgs = append(x.sink.msgs, x.msg)
	x.sink.mu.Unlock()
	return nil
}

func (x *sinkSession) Reset()        { x.msg = Mail{} }
func (x *sinkSession) Logout() error { return nil }

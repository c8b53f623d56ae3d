package mailtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is a message a fake SMTP server accepted.
type Message struct {
	// User is the SASL user that sent it.
	User string
	// From and To are the envelope addresses.
	From string
	To   []string
	// Data is the message, byte for byte.
	Data []byte
}

// SMTPServer is a fake mail submission server that offers only AUTH
// XOAUTH2 and OAUTHBEARER and keeps the messages it accepts.
type SMTPServer struct {
	// Addr is the host:port it listens on.
	Addr string
	// Stats counts authentications.
	Stats Stats

	srv  *smtp.Server
	ln   net.Listener
	opts MailOptions
	done chan struct{}
	mu   sync.Mutex
	msgs []Message
}

// NewSMTPServer starts a fake submission server on 127.0.0.1. With
// opts.TLS it offers STARTTLS and requires it before AUTH.
func NewSMTPServer(opts MailOptions) (*SMTPServer, error) {
	if opts.Tokens == nil {
		return nil, fmt.Errorf("mailtest: MailOptions.Tokens is nil")
	}
	if opts.Scope == "" {
		opts.Scope = "mail"
	}
	s := &SMTPServer{opts: opts, done: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = opts.TLS
	s.srv.AllowInsecureAuth = opts.TLS == nil
	s.srv.MaxMessageBytes = 16 << 20
	s.srv.MaxLineLength = 64 << 10 // AUTH lines carry 2-4 KB tokens
	s.srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr, s.ln = ln.Addr().String(), ln
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server.
func (s *SMTPServer) Close() error {
	err := s.srv.Close()
	// go-smtp closes only the listeners Serve has registered: one closed
	// before its goroutine ran would block Serve in Accept for ever.
	_ = s.ln.Close()
	<-s.done
	return err
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

type smtpSession struct {
	s    *SMTPServer
	user string
	from string
	to   []string
}

func (sess *smtpSession) AuthMechanisms() []string { return mechanisms }

func (sess *smtpSession) Auth(mech string) (sasl.Server, error) {
	if scope := sess.s.opts.SMTPAuthDisabled; scope != "" {
		sess.s.Stats.Failures.Add(1)
		return refusal{&smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139},
			Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the " + scope +
				". Visit https://aka.ms/smtp_auth_disabled for more information."}}, nil
	}
	srv, ok := newSASL(strings.ToUpper(mech), sess.s.opts.Tokens, sess.s.opts.Scope, "SMTP.SendAsApp", func(user string) { sess.user = user },
		func(v verdict) error {
			if v == unavailable {
				return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure."}
			}
			return smtp.ErrAuthFailed
		}, &sess.s.Stats)
	if !ok {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return srv, nil
}

// refusal ends a SASL exchange at once with its error, as Exchange does
// when SMTP AUTH is off.
type refusal struct{ err error }

func (r refusal) Next([]byte) ([]byte, bool, error) { return nil, true, r.err }

func (sess *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if sess.user == "" {
		return smtp.ErrAuthRequired
	}
	sess.from = from
	return nil
}

func (sess *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if sess.user == "" {
		return smtp.ErrAuthRequired
	}
	sess.to = append(sess.to, to)
	return nil
}

func (sess *smtpSession) Data(r io.Reader) error {
	if sess.user == "" {
		return smtp.ErrAuthRequired
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	sess.s.mu.Lock()
	sess.s.msgs = append(sess.s.msgs, Message{User: sess.user, From: sess.from, To: sess.to, Data: b.Bytes()})
	sess.s.mu.Unlock()
	return nil
}

func (sess *smtpSession) Reset() { sess.from, sess.to = "", nil }

func (sess *smtpSession) Logout() error { return nil }

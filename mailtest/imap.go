package mailtest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// MailOptions configure [NewIMAPServer] and [NewSMTPServer].
type MailOptions struct {
	// Tokens checks the bearer tokens; usually a fake provider's
	// [*Ledger]. Required.
	Tokens TokenChecker
	// TLS, when set, serves TLS with it: implicit TLS for IMAP, STARTTLS
	// for SMTP. Nil serves plain TCP, with authentication allowed (on
	// loopback only).
	TLS *tls.Config
	// Scope is reported in the error challenge (default "mail").
	Scope string
	// SMTPAuthDisabled, if "Tenant" or "Mailbox", makes the SMTP server
	// refuse every AUTH the way Exchange Online does when SMTP AUTH is
	// turned off: "535 5.7.139 Authentication unsuccessful,
	// SmtpClientAuthentication is disabled for the Tenant. ...".
	SMTPAuthDisabled string
}

// IMAPServer is a fake IMAP server backed by go-imap's in-memory server:
// every user who authenticates with a valid token has INBOX, Sent and
// Drafts. It offers only AUTH=XOAUTH2 and AUTH=OAUTHBEARER (and SASL-IR).
// Like Exchange Online, it refuses app-only Entra tokens without the
// IMAP.AccessAsApp role (the SMTP server: without SMTP.SendAsApp).
type IMAPServer struct {
	// Addr is the host:port it listens on.
	Addr string
	// Stats counts authentications.
	Stats Stats

	srv   *imapserver.Server
	ln    net.Listener
	opts  MailOptions
	mu    sync.Mutex
	users map[string]*imapmemserver.User
	done  chan struct{}
}

// NewIMAPServer starts a fake IMAP server on 127.0.0.1.
func NewIMAPServer(opts MailOptions) (*IMAPServer, error) {
	if opts.Tokens == nil {
		return nil, fmt.Errorf("mailtest: MailOptions.Tokens is nil")
	}
	if opts.Scope == "" {
		opts.Scope = "mail"
	}
	s := &IMAPServer{opts: opts, users: make(map[string]*imapmemserver.User), done: make(chan struct{})}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapSASLIR: {}}
	for _, m := range mechanisms {
		caps[imap.Cap("AUTH="+m)] = struct{}{}
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{s: s}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: opts.TLS == nil,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server.
func (s *IMAPServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// user returns the in-memory user, creating it with its mailboxes.
func (s *IMAPServer) user(name string) *imapmemserver.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	if u, ok := s.users[key]; ok {
		return u
	}
	u := imapmemserver.NewUser(key, "")
	for _, mb := range []string{"INBOX", "Sent", "Drafts"} {
		_ = u.Create(mb, nil)
	}
	s.users[key] = u
	return u
}

type imapSession struct {
	*imapmemserver.UserSession
	s *IMAPServer
}

func (sess *imapSession) Login(string, string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "Use XOAUTH2 or OAUTHBEARER"}
}

func (sess *imapSession) Close() error {
	if sess.UserSession != nil {
		return sess.UserSession.Close()
	}
	return nil
}

func (sess *imapSession) AuthenticateMechanisms() []string { return mechanisms }

func (sess *imapSession) Authenticate(mech string) (sasl.Server, error) {
	srv, ok := newSASL(strings.ToUpper(mech), sess.s.opts.Tokens, sess.s.opts.Scope, "IMAP.AccessAsApp", func(user string) {
		sess.UserSession = imapmemserver.NewUserSession(sess.s.user(user))
	}, func(v verdict) error {
		if v == unavailable {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Temporary authentication failure."}
		}
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed."}
	}, &sess.s.Stats)
	if !ok {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism."}
	}
	return srv, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

package xoauth2_test

// End-to-end tests over real go-imap v2 and go-smtp servers and clients on
// 127.0.0.1, plus raw-protocol checks of the exchanges those clients never
// produce (no initial response). Server handlers never call require or
// t.Fatal: what they see goes to a channel the test reads.

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

const (
	e2eUser   = "alice@example.com"
	goodToken = "ya29.good-token"
	badToken  = "ya29.expired-token"
)

// e2eChallenge is what the fake servers send for a bad token.
var e2eChallenge = xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "https://mail.google.com/"}

func e2eAuth(user, token string) error {
	if user == e2eUser && token == goodToken {
		return nil
	}
	e := e2eChallenge
	return &e
}

// saslResults collects the final error of each SASL exchange on the
// server side, for the test goroutine to inspect.
type saslResults chan error

// wrap returns a sasl.Server that reports the final error of inner to r
// and converts it with conv into the protocol's failure.
func (r saslResults) wrap(inner sasl.Server, conv func(error) error, onSuccess func()) sasl.Server {
	return saslServerFunc(func(resp []byte) ([]byte, bool, error) {
		ch, done, err := inner.Next(resp)
		if done {
			r <- err
			if err != nil {
				return nil, true, conv(err)
			}
			onSuccess()
		}
		return ch, done, err
	})
}

type saslServerFunc func([]byte) ([]byte, bool, error)

func (f saslServerFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

// next returns the next server-side result, or fails after a timeout.
func (r saslResults) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no SASL exchange finished on the server")
		return nil
	}
}

// imapSession is an in-memory IMAP session that logs in only with XOAUTH2.
type imapSession struct {
	*imapmemserver.UserSession // nil until authenticated
	user                       *imapmemserver.User
	results                    saslResults
}

var _ imapserver.SessionSASL = (*imapSession)(nil)

func (s *imapSession) Close() error { return s.UserSession.Close() }

func (s *imapSession) Login(string, string) error { return imapserver.ErrAuthFailed }

func (s *imapSession) AuthenticateMechanisms() []string { return []string{xoauth2.Mechanism} }

func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	if mech != xoauth2.Mechanism {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unsupported mechanism"}
	}
	fail := func(error) error {
		return &imap.Error{
			Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeAuthenticationFailed,
			Text: "XOAUTH2 authentication failed",
		}
	}
	login := func() { s.UserSession = imapmemserver.NewUserSession(s.user) }
	return s.results.wrap(xoauth2.NewServer(e2eAuth), fail, login), nil
}

func startIMAP(t *testing.T) (addr string, results saslResults) {
	t.Helper()
	user := imapmemserver.NewUser(e2eUser, "")
	require.NoError(t, user.Create("INBOX", nil))
	results = make(saslResults, 16)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{user: user, results: results}, nil, nil
		},
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln) //nolint:errcheck // returns when closed
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), results
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

func TestIMAPEndToEnd(t *testing.T) {
	addr, results := startIMAP(t)
	c, err := imapclient.DialInsecure(addr, nil)
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Caps().Has(imap.AuthCap(xoauth2.Mechanism)), "server offers XOAUTH2")

	// A bad token: the server sends its JSON challenge, the client answers
	// empty, the command ends with NO and the challenge is kept.
	bad := xoauth2.NewClient(e2eUser, badToken)
	err = c.Authenticate(bad)
	var ierr *imap.Error
	require.ErrorAs(t, err, &ierr)
	assert.Equal(t, imap.StatusResponseTypeNo, ierr.Type)
	assert.Equal(t, imap.ResponseCodeAuthenticationFailed, ierr.Code)
	require.NotNil(t, xoauth2.ChallengeError(bad))
	assert.Equal(t, e2eChallenge, *xoauth2.ChallengeError(bad))
	serr := results.next(t)
	assert.ErrorIs(t, serr, xoauth2.ErrAuthFailed)
	var xerr *xoauth2.Error
	assert.ErrorAs(t, serr, &xerr)

	// The connection is still usable: a good token logs in, and the
	// session works.
	good := xoauth2.NewClient(e2eUser, goodToken)
	require.NoError(t, c.Authenticate(good))
	assert.NoError(t, results.next(t))
	assert.Nil(t, xoauth2.ChallengeError(good))
	_, err = c.Select("INBOX", nil).Wait()
	assert.NoError(t, err)
}

// smtpSession accepts mail only after XOAUTH2.
type smtpSession struct {
	authed  bool
	results saslResults
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string { return []string{xoauth2.Mechanism} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != xoauth2.Mechanism {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	fail := func(error) error { return smtp.ErrAuthFailed }
	return s.results.wrap(xoauth2.NewServer(e2eAuth), fail, func() { s.authed = true }), nil
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T) (addr string, results saslResults) {
	t.Helper()
	results = make(saslResults, 16)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{results: results}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln) //nolint:errcheck // returns when closed
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), results
}

func TestSMTPEndToEnd(t *testing.T) {
	addr, results := startSMTP(t)
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.example.com"))
	ok, mechs := c.Extension("AUTH")
	require.True(t, ok)
	require.Contains(t, strings.Fields(mechs), xoauth2.Mechanism)

	// A bad token: 334 with the JSON challenge, an empty answer, then 535.
	bad := xoauth2.NewClient(e2eUser, badToken)
	err = c.Auth(bad)
	var serr *smtp.SMTPError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, 535, serr.Code)
	require.NotNil(t, xoauth2.ChallengeError(bad))
	assert.Equal(t, e2eChallenge, *xoauth2.ChallengeError(bad))
	assert.ErrorIs(t, results.next(t), xoauth2.ErrAuthFailed)

	// Not authenticated yet, but the connection still works.
	assert.Error(t, c.Mail("alice@example.com", nil))

	good := xoauth2.NewClient(e2eUser, goodToken)
	require.NoError(t, c.Auth(good))
	assert.NoError(t, results.next(t))
	assert.Nil(t, xoauth2.ChallengeError(good))
	assert.NoError(t, c.Mail("alice@example.com", nil))
}

// lineConn is a line-oriented raw client for the no-initial-response
// exchange, which go-imap's and go-smtp's clients never use against these
// servers (they send the initial response inline).
type lineConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialLine(t *testing.T, addr string) *lineConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	return &lineConn{t: t, Conn: conn, r: bufio.NewReader(conn)}
}

func (c *lineConn) send(line string) {
	c.t.Helper()
	_, err := io.WriteString(c.Conn, line+"\r\n")
	require.NoError(c.t, err)
}

// until reads lines until one starts with prefix and returns it.
func (c *lineConn) until(prefix string) string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		require.NoError(c.t, err, "waiting for %q", prefix)
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestIMAPWithoutInitialResponse(t *testing.T) {
	addr, results := startIMAP(t)
	c := dialLine(t, addr)
	c.until("* OK")

	// The nil challenge goes out as an empty continuation ("+ "), which
	// clients answer with the initial response. (An empty non-nil
	// challenge would go out as "+ =", which go-imap's client takes for a
	// real challenge.)
	c.send("a1 AUTHENTICATE XOAUTH2")
	assert.Equal(t, "+ ", c.until("+"))
	c.send(b64("user=" + e2eUser + "\x01auth=Bearer " + badToken + "\x01\x01"))
	cont := c.until("+ ")
	ch, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cont, "+ "))
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`, string(ch))
	c.send("") // the empty answer as a bare line
	assert.True(t, strings.HasPrefix(c.until("a1 "), "a1 NO [AUTHENTICATIONFAILED]"))
	assert.ErrorIs(t, results.next(t), xoauth2.ErrAuthFailed)

	c.send("a2 AUTHENTICATE XOAUTH2")
	c.until("+")
	c.send(b64("user=" + e2eUser + "\x01auth=Bearer " + goodToken + "\x01\x01"))
	assert.True(t, strings.HasPrefix(c.until("a2 "), "a2 OK"))
	assert.NoError(t, results.next(t))

	c.send("a3 SELECT INBOX")
	assert.True(t, strings.HasPrefix(c.until("a3 "), "a3 OK"))
}

func TestSMTPWithoutInitialResponse(t *testing.T) {
	addr, results := startSMTP(t)
	c := dialLine(t, addr)
	c.until("220 ")
	c.send("EHLO client.example.com")
	c.until("250 ")

	c.send("AUTH XOAUTH2")
	assert.Equal(t, "334 ", c.until("334"))
	c.send(b64("user=" + e2eUser + "\x01auth=Bearer " + badToken + "\x01\x01"))
	line := c.until("334 ")
	ch, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "334 "))
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`, string(ch))
	c.send("")
	assert.True(t, strings.HasPrefix(c.until("5"), "535 "))
	assert.ErrorIs(t, results.next(t), xoauth2.ErrAuthFailed)

	// A malformed message ends the exchange at once.
	c.send("AUTH XOAUTH2 " + b64("user=\x01auth=Bearer x\x01\x01"))
	assert.True(t, strings.HasPrefix(c.until("5"), "535 "))
	assert.ErrorIs(t, results.next(t), xoauth2.ErrMalformedResponse)

	c.send("AUTH XOAUTH2")
	c.until("334")
	c.send(b64("user=" + e2eUser + "\x01auth=Bearer " + goodToken + "\x01\x01"))
	assert.True(t, strings.HasPrefix(c.until("2"), "235 "))
	assert.NoError(t, results.next(t))
}

// An error challenge that is not JSON still ends the command cleanly.
func TestSMTPNonJSONChallenge(t *testing.T) {
	answers := make(chan []byte, 4)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &rawChallengeSession{answers: answers}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln) //nolint:errcheck // returns when closed
	t.Cleanup(func() { srv.Close() })

	c, err := smtp.Dial(ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	sc := xoauth2.NewClient(e2eUser, badToken)
	err = c.Auth(sc)
	var serr *smtp.SMTPError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, 535, serr.Code)
	require.NotNil(t, xoauth2.ChallengeError(sc))
	assert.Equal(t, xoauth2.Error{}, *xoauth2.ChallengeError(sc))
	select {
	case answer := <-answers:
		assert.Equal(t, []byte{}, answer, "the client answered with an empty line")
	case <-time.After(5 * time.Second):
		t.Fatal("the server saw no answer")
	}
}

// rawChallengeSession sends "not json" as its challenge and reports the
// client's answer to answers.
type rawChallengeSession struct {
	smtpSession
	answers chan<- []byte
}

func (s *rawChallengeSession) Auth(string) (sasl.Server, error) {
	step := 0
	return saslServerFunc(func(resp []byte) ([]byte, bool, error) {
		step++
		if step == 1 {
			return []byte("not json"), false, nil
		}
		s.answers <- resp
		return nil, true, smtp.ErrAuthFailed
	}), nil
}

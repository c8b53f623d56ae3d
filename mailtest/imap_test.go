package mailtest_test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

const (
	mailUser  = "alice@contoso.example"
	otherUser = "bob@contoso.example"
)

var mechs = []string{oauth2client.MechXOAUTH2, oauth2client.MechOAUTHBEARER}

// fixture is a ledger on a manual clock with one valid token for
// mailUser.
type fixture struct {
	clock  *mailtest.Clock
	ledger *mailtest.Ledger
	good   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := mailtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := &fixture{clock: clock, ledger: mailtest.NewLedger(clock.Now)}
	f.good = f.issue(t, mailUser)
	return f
}

// issue records a JWT-sized random token for user, valid for an hour.
func (f *fixture) issue(t *testing.T, user string) string {
	t.Helper()
	b := make([]byte, 1536)
	_, err := rand.Read(b)
	require.NoError(t, err)
	tok := base64.RawURLEncoding.EncodeToString(b)
	f.ledger.Issue(tok, mailtest.TokenInfo{Username: user, Issued: f.clock.Now(), Expiry: f.clock.Now().Add(time.Hour)})
	return tok
}

// rejection is a token the fake servers must refuse.
type rejection struct {
	name  string
	setup func(t *testing.T, f *fixture) (user, token string)
}

var rejections = []rejection{
	{"expired", func(t *testing.T, f *fixture) (string, string) {
		tok := f.issue(t, mailUser)
		f.clock.Advance(time.Hour)
		return mailUser, tok
	}},
	{"revoked", func(t *testing.T, f *fixture) (string, string) {
		tok := f.issue(t, mailUser)
		require.True(t, f.ledger.Revoke(tok))
		return mailUser, tok
	}},
	{"unknown", func(*testing.T, *fixture) (string, string) { return mailUser, "never-issued" }},
	{"wrong user", func(t *testing.T, f *fixture) (string, string) { return otherUser, f.issue(t, mailUser) }},
}

// downChecker answers like a verifier whose backend is unreachable.
type downChecker struct{}

func (downChecker) Check(string, string) (mailtest.TokenInfo, error) {
	return mailtest.TokenInfo{}, mailtest.ErrUnavailable
}

func saslClient(t *testing.T, mech, user, token string) *oauth2client.SASLClient {
	t.Helper()
	sc, err := oauth2client.NewSASLClient(mech, user, oauth2client.Secret(token), "127.0.0.1", 993)
	require.NoError(t, err)
	return sc
}

// assertChallenge checks the decoded error challenge of a rejected token.
func assertChallenge(t *testing.T, mech string, sc *oauth2client.SASLClient) {
	t.Helper()
	ch := sc.Rejection()
	require.NotNil(t, ch, "the server sent an error challenge")
	if mech == oauth2client.MechXOAUTH2 {
		assert.Equal(t, "401", ch.Status)
	} else {
		assert.Equal(t, "invalid_token", ch.Status)
	}
	assert.Equal(t, "bearer", ch.Schemes)
	assert.Equal(t, "mail", ch.Scope)
}

func startIMAP(t *testing.T, checker mailtest.TokenChecker, useTLS bool) (*mailtest.IMAPServer, *imapclient.Client) {
	t.Helper()
	opts := mailtest.MailOptions{Tokens: checker}
	var clientTLS *tls.Config
	if useTLS {
		cert, err := mailtest.NewCertificate()
		require.NoError(t, err)
		opts.TLS, clientTLS = cert.ServerConfig(), cert.ClientConfig()
	}
	srv, err := mailtest.NewIMAPServer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	var c *imapclient.Client
	if useTLS {
		c, err = imapclient.DialTLS(srv.Addr, &imapclient.Options{TLSConfig: clientTLS})
	} else {
		c, err = imapclient.DialInsecure(srv.Addr, nil)
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WaitGreeting())
	return srv, c
}

func TestIMAPServerGoodToken(t *testing.T) {
	for _, useTLS := range []bool{true, false} {
		for _, mech := range mechs {
			t.Run(mech+map[bool]string{true: "/TLS", false: "/plain"}[useTLS], func(t *testing.T) {
				f := newFixture(t)
				srv, c := startIMAP(t, f.ledger, useTLS)
				assert.ElementsMatch(t, mechs, c.Caps().AuthMechanisms(), "only the OAuth mechanisms are offered")
				require.NoError(t, c.Authenticate(saslClient(t, mech, mailUser, f.good)))
				list, err := c.List("", "*", nil).Collect()
				require.NoError(t, err)
				var names []string
				for _, mb := range list {
					names = append(names, mb.Mailbox)
				}
				assert.ElementsMatch(t, []string{"INBOX", "Sent", "Drafts"}, names)
				assert.Equal(t, int64(1), srv.Stats.Logins.Load())
				assert.Equal(t, int64(0), srv.Stats.Failures.Load())
				require.NoError(t, c.Logout().Wait())
			})
		}
	}
}

func TestIMAPServerRejects(t *testing.T) {
	for _, rc := range rejections {
		for _, mech := range mechs {
			t.Run(rc.name+"/"+mech, func(t *testing.T) {
				f := newFixture(t)
				srv, c := startIMAP(t, f.ledger, true)
				user, tok := rc.setup(t, f)
				sc := saslClient(t, mech, user, tok)
				err := c.Authenticate(sc)
				var ie *imap.Error
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, imap.StatusResponseTypeNo, ie.Type)
				assert.Equal(t, imap.ResponseCodeAuthenticationFailed, ie.Code)
				assertChallenge(t, mech, sc)
				assert.Equal(t, int64(1), srv.Stats.Failures.Load())

				// The connection is usable: a good token logs in on it.
				good := f.issue(t, mailUser)
				require.NoError(t, c.Authenticate(saslClient(t, mech, mailUser, good)))
				_, err = c.Select("INBOX", nil).Wait()
				require.NoError(t, err)
				assert.Equal(t, int64(1), srv.Stats.Logins.Load())
			})
		}
	}
}

func TestIMAPServerUnavailable(t *testing.T) {
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			_, c := startIMAP(t, downChecker{}, true)
			sc := saslClient(t, mech, mailUser, "any")
			err := c.Authenticate(sc)
			var ie *imap.Error
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, imap.ResponseCodeUnavailable, ie.Code, "an outage is not a bad token")
			assert.Nil(t, sc.Rejection(), "no challenge, as Dovecot")
			require.NoError(t, c.Noop().Wait())
		})
	}
}

func TestIMAPServerRefusesLogin(t *testing.T) {
	f := newFixture(t)
	_, c := startIMAP(t, f.ledger, false)
	err := c.Login(mailUser, f.good).Wait()
	var ie *imap.Error
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, imap.StatusResponseTypeNo, ie.Type)
}

func TestNewIMAPServerNeedsTokens(t *testing.T) {
	_, err := mailtest.NewIMAPServer(mailtest.MailOptions{})
	require.Error(t, err)
	_, err = mailtest.NewSMTPServer(mailtest.MailOptions{})
	require.Error(t, err)
	assert.False(t, errors.Is(err, mailtest.ErrUnavailable))
}

// Without an initial response the server asks for it with an empty
// continuation ("+ "), as Dovecot does, not "+ =" (go-sasl's OAUTHBEARER
// server returns a non-nil empty challenge there).
func TestIMAPServerAsksForInitialResponse(t *testing.T) {
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			srv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: newFixture(t).ledger})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, srv.Close()) })
			conn, err := net.Dial("tcp", srv.Addr)
			require.NoError(t, err)
			defer conn.Close()
			r := bufio.NewReader(conn)
			_, err = r.ReadString('\n') // greeting
			require.NoError(t, err)
			_, err = fmt.Fprintf(conn, "a1 AUTHENTICATE %s\r\n", mech)
			require.NoError(t, err)
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "+ \r\n", line)
			_, err = conn.Write([]byte("*\r\n"))
			require.NoError(t, err)
			line, err = r.ReadString('\n')
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(line, "a1 BAD"), line)
		})
	}
}

func TestAppOnlyTokensNeedTheServiceRole(t *testing.T) {
	clock := mailtest.NewClock(time.Now())
	ledger := mailtest.NewLedger(clock.Now)
	exp := clock.Now().Add(time.Hour)
	ledger.Issue("smtp-only", mailtest.TokenInfo{AppOnly: true, Scopes: []string{"SMTP.SendAsApp"}, Expiry: exp})
	ledger.Issue("both", mailtest.TokenInfo{AppOnly: true, Scopes: []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}, Expiry: exp})
	ledger.Issue("workspace", mailtest.TokenInfo{AppOnly: true, Username: "a@example.com", Scopes: []string{"https://mail.google.com/"}, Expiry: exp})
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: ledger})
	require.NoError(t, err)
	defer imapSrv.Close()
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: ledger})
	require.NoError(t, err)
	defer smtpSrv.Close()

	imapLogin := func(tok string) error {
		c, err := imapclient.DialInsecure(imapSrv.Addr, nil)
		require.NoError(t, err)
		defer c.Close()
		return c.Authenticate(xoauth2.NewClient("shared@example.com", tok))
	}
	smtpLogin := func(tok string) error {
		c, err := smtp.Dial(smtpSrv.Addr)
		require.NoError(t, err)
		defer c.Close()
		return c.Auth(xoauth2.NewClient("shared@example.com", tok))
	}
	assert.Error(t, imapLogin("smtp-only"), "Exchange refuses IMAP without IMAP.AccessAsApp")
	assert.NoError(t, smtpLogin("smtp-only"))
	assert.NoError(t, imapLogin("both"))
	assert.NoError(t, imapLogin("workspace"), "a Google service account token has URL scopes, no Entra roles")
}

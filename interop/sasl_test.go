package interop_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// These tests work at the SASL level: tokens go into a Ledger directly
// and the clients are xoauth2.NewClient and go-sasl's OAUTHBEARER client,
// with no oauth2client involved.

var mechanisms = []string{xoauth2.Mechanism, sasl.OAuthBearer}

// challenge is a server's decoded error challenge, for either mechanism.
type challenge struct{ Status, Schemes, Scope string }

// mechClient is a sasl.Client that can report the error challenge.
type mechClient interface {
	sasl.Client
	challenge() *challenge
}

type xoauth2Client struct{ sasl.Client }

func (c xoauth2Client) challenge() *challenge {
	e := xoauth2.ChallengeError(c.Client)
	if e == nil {
		return nil
	}
	return &challenge{e.Status, e.Schemes, e.Scope}
}

// bearerClient wraps go-sasl's OAUTHBEARER client, whose Next returns the
// error challenge as a Go error without answering it: it answers %x01 as
// RFC 7628 §3.2.3 requires, so the server ends the command with NO / 535.
type bearerClient struct {
	sasl.Client
	ch *challenge
}

func (c *bearerClient) Next(ch []byte) ([]byte, error) {
	resp, err := c.Client.Next(ch)
	var be *sasl.OAuthBearerError
	if errors.As(err, &be) {
		c.ch = &challenge{be.Status, be.Schemes, be.Scope}
		return []byte{0x01}, nil
	}
	return resp, err
}

func (c *bearerClient) challenge() *challenge { return c.ch }

// noIR withholds the initial response until the server's empty
// continuation, so the server's path without SASL-IR (IMAP) or without an
// AUTH argument (SMTP) is exercised.
type noIR struct {
	mechClient
	ir []byte
}

func (c *noIR) Start() (string, []byte, error) {
	mech, ir, err := c.mechClient.Start()
	c.ir = ir
	return mech, nil, err
}

func (c *noIR) Next(ch []byte) ([]byte, error) {
	if c.ir != nil && len(ch) == 0 {
		ir := c.ir
		c.ir = nil
		return ir, nil
	}
	return c.mechClient.Next(ch)
}

func newMechClient(mech, user, token, addr string, ir bool) mechClient {
	var c mechClient
	if mech == xoauth2.Mechanism {
		c = xoauth2Client{xoauth2.NewClient(user, token)}
	} else {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		c = &bearerClient{Client: sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: p})}
	}
	if !ir {
		c = &noIR{mechClient: c}
	}
	return c
}

// capStripper hides SASL-IR (and IMAP4rev2, which implies it) in the
// server's greeting and CAPABILITY answers, so imapclient sends the initial response after the empty
// continuation (it refuses to start without one if SASL-IR is offered).
type capStripper struct{ net.Conn }

func (c *capStripper) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	out := bytes.ReplaceAll(b[:n], []byte(" SASL-IR"), []byte(" X-NO-IR"))
	copy(b[:n], bytes.ReplaceAll(out, []byte(" IMAP4rev2"), []byte(" X-NO-REV2"))) // IMAP4rev2 implies SASL-IR
	return n, err
}

// dialIMAPSNoIR dials the implicit-TLS port with SASL-IR hidden.
func dialIMAPSNoIR(t *testing.T, p peer) *imapclient.Client {
	t.Helper()
	conn, err := tls.Dial("tcp", p.imapsAddr, p.tls)
	require.NoError(t, err)
	c := imapclient.New(&capStripper{Conn: conn}, nil)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WaitGreeting())
	require.False(t, c.Caps().Has(imap.CapSASLIR), "%v", c.Caps())
	return c
}

// saslFixture is a ledger on a manual clock shared by a peer.
type saslFixture struct {
	clock  *mailtest.Clock
	ledger *mailtest.Ledger
}

func newSASLFixture() *saslFixture {
	clock := mailtest.NewClock(time.Now())
	return &saslFixture{clock: clock, ledger: mailtest.NewLedger(clock.Now)}
}

func (f *saslFixture) issue(t *testing.T, user string) string { return f.record(user, bigToken(t)) }

// issueSized issues a random token of n characters.
func (f *saslFixture) issueSized(t *testing.T, user string, n int) string {
	return f.record(user, bigToken(t)[:n])
}

func (f *saslFixture) record(user, tok string) string {
	f.ledger.Issue(tok, mailtest.TokenInfo{Username: user, Subject: "sub-" + user, ClientID: "interop",
		Scopes: []string{"mail"}, Issued: f.clock.Now(), Expiry: f.clock.Now().Add(time.Hour)})
	return tok
}

func TestDovecotSASL(t *testing.T) {
	f := newSASLFixture()
	runSASL(t, f, dovecotPeer(t, f.ledger))
}

func TestTestkitSASL(t *testing.T) {
	f := newSASLFixture()
	runSASL(t, f, testkitPeer(t, f.ledger))
}

func runSASL(t *testing.T, f *saslFixture, p peer) {
	t.Run("IMAP", func(t *testing.T) { saslIMAPLogin(t, f, p) })
	t.Run("Submission", func(t *testing.T) { saslSubmission(t, f, p) })
	t.Run("Rejections", func(t *testing.T) { saslRejections(t, f, p) })
	t.Run("VerificationDown", func(t *testing.T) { saslDown(t, f, p) })
}

func dialIMAPS(t *testing.T, p peer) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(p.imapsAddr, &imapclient.Options{TLSConfig: p.tls})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WaitGreeting())
	return c
}

func dialSubmission(t *testing.T, p peer) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(p.smtpAddr, p.tls)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func saslIMAPLogin(t *testing.T, f *saslFixture, p peer) {
	type transport struct {
		name string
		dial func(t *testing.T) *imapclient.Client
	}
	transports := []transport{
		{"implicit TLS/IR", func(t *testing.T) *imapclient.Client { return dialIMAPS(t, p) }},
		{"implicit TLS/no IR", func(t *testing.T) *imapclient.Client { return dialIMAPSNoIR(t, p) }},
	}
	if p.imapAddr != "" {
		transports = append(transports, transport{"STARTTLS/IR", func(t *testing.T) *imapclient.Client {
			c, err := imapclient.DialStartTLS(p.imapAddr, &imapclient.Options{TLSConfig: p.tls})
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			return c
		}})
	}
	for _, tr := range transports {
		for _, mech := range mechanisms {
			{
				t.Run(tr.name+"/"+mech, func(t *testing.T) {
					c := tr.dial(t)
					assert.True(t, c.Caps().Has(imap.AuthCap(mech)))
					require.NoError(t, c.Authenticate(newMechClient(mech, alice, f.issue(t, alice), p.imapsAddr, true)))

					list, err := c.List("", "*", nil).Collect()
					require.NoError(t, err)
					var names []string
					for _, mb := range list {
						names = append(names, mb.Mailbox)
					}
					assert.Subset(t, names, []string{"INBOX", "Sent", "Drafts"})

					body := fmt.Sprintf("From: %s\r\nSubject: interop %s %s\r\n\r\nhello %d\r\n.dot\r\n", alice, mech, tr.name, time.Now().UnixNano())
					app := c.Append("INBOX", int64(len(body)), nil)
					_, err = app.Write([]byte(body))
					require.NoError(t, err)
					require.NoError(t, app.Close())
					_, err = app.Wait()
					require.NoError(t, err)
					sel, err := c.Select("INBOX", nil).Wait()
					require.NoError(t, err)
					require.Positive(t, sel.NumMessages)
					msgs, err := c.Fetch(imap.SeqSetNum(sel.NumMessages), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
					require.NoError(t, err)
					require.Len(t, msgs, 1)
					require.Len(t, msgs[0].BodySection, 1)
					assert.Equal(t, body, string(msgs[0].BodySection[0].Bytes), "the appended message comes back intact")
					require.NoError(t, c.Logout().Wait())
				})
			}
		}
	}
}

func saslSubmission(t *testing.T, f *saslFixture, p peer) {
	for _, mech := range mechanisms {
		for _, tc := range []struct {
			name  string
			ir    bool
			token string
		}{
			// RFC 4954 §4: an AUTH line with the initial response must
			// fit the SMTP line limit, else the client withholds it.
			{"2 KB token without IR", false, f.issue(t, alice)},
			{"short token with IR", true, f.issueSized(t, alice, 300)},
		} {
			t.Run(mech+"/"+tc.name, func(t *testing.T) {
				c := dialSubmission(t, p)
				_, params := c.Extension("AUTH")
				assert.Contains(t, strings.Fields(params), mech)
				require.NoError(t, c.Auth(newMechClient(mech, alice, tc.token, p.smtpAddr, tc.ir)))
				marker := fmt.Sprintf("marker-%s-%v-%d", mech, tc.ir, time.Now().UnixNano())
				msg := "From: " + alice + "\r\nTo: bob@example.net\r\nSubject: " + marker + "\r\n\r\nBody line one.\r\n.leading dot\r\n"
				require.NoError(t, c.SendMail(alice, []string{"bob@example.net"}, strings.NewReader(msg)))
				require.NoError(t, c.Quit())
				got := waitMessage(t, p, marker)
				assert.True(t, strings.HasSuffix(string(got), msg), "the message arrives byte for byte (the relay may only prepend trace headers): %q", got)
			})
		}
		t.Run(mech+"/2 KB token with IR", func(t *testing.T) {
			c := dialSubmission(t, p)
			err := c.Auth(newMechClient(mech, alice, f.issue(t, alice), p.smtpAddr, true))
			if !p.longAuthLineRefused {
				require.NoError(t, err)
				return
			}
			// Dovecot's submission-login refuses command lines over about
			// 1 KB (a token of 720 bytes passes, 730 does not).
			var se *smtp.SMTPError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 500, se.Code)
			t.Logf("%s SMTP %s AUTH line of %d bytes: %s", p.name, mech, 4*((2048+40)/3), smtpLine(se))
		})
	}
}

// saslRejection is a token the servers must refuse with a challenge.
type saslRejection struct {
	name  string
	setup func(t *testing.T, f *saslFixture) (user, token string, undo func())
}

var rejections = []saslRejection{
	{"expired", func(t *testing.T, f *saslFixture) (string, string, func()) {
		tok := f.issue(t, alice)
		f.clock.Advance(time.Hour)
		return alice, tok, func() { f.clock.Advance(-time.Hour) }
	}},
	{"revoked", func(t *testing.T, f *saslFixture) (string, string, func()) {
		tok := f.issue(t, alice)
		require.True(t, f.ledger.Revoke(tok))
		return alice, tok, func() {}
	}},
	{"unknown", func(t *testing.T, f *saslFixture) (string, string, func()) { return alice, bigToken(t), func() {} }},
	{"wrong user", func(t *testing.T, f *saslFixture) (string, string, func()) { return bob, f.issue(t, alice), func() {} }},
}

// assertChallenge checks the decoded challenge of a rejected token: the
// statuses both Dovecot and the fakes send.
func assertChallenge(t *testing.T, mech string, ch *challenge) {
	t.Helper()
	require.NotNil(t, ch, "the server sent an error challenge")
	if mech == xoauth2.Mechanism {
		assert.Equal(t, "401", ch.Status)
		assert.Equal(t, "bearer", ch.Schemes)
	} else {
		assert.Equal(t, "invalid_token", ch.Status)
	}
}

func saslRejections(t *testing.T, f *saslFixture, p peer) {
	for _, rc := range rejections {
		for _, mech := range mechanisms {
			t.Run(rc.name+"/"+mech, func(t *testing.T) {
				ic := dialIMAPS(t, p)
				sc := dialSubmission(t, p)
				user, tok, undo := rc.setup(t, f)
				imc := newMechClient(mech, user, tok, p.imapsAddr, true)
				err := ic.Authenticate(imc)
				smc := newMechClient(mech, user, tok, p.smtpAddr, false)
				serr := sc.Auth(smc)
				undo()

				var ie *imap.Error
				require.ErrorAs(t, err, &ie)
				assertChallenge(t, mech, imc.challenge())
				t.Logf("%s IMAP %s %s: challenge %+v, then %s", p.name, mech, rc.name, *imc.challenge(), imapLine(ie))
				if mech == xoauth2.Mechanism && p.emptyAnswerIsBAD {
					// go-imap sends the empty answer to the challenge as
					// "=", which Dovecot refuses as invalid base64: BAD
					// instead of NO, though the connection stays usable.
					assert.Equal(t, imap.StatusResponseTypeBad, ie.Type)
					assert.Equal(t, "Invalid base64 data in continued response", ie.Text)
				} else {
					assert.Equal(t, imap.StatusResponseTypeNo, ie.Type)
					assert.Equal(t, imap.ResponseCodeAuthenticationFailed, ie.Code)
				}

				var se *smtp.SMTPError
				require.ErrorAs(t, serr, &se)
				assert.Equal(t, 535, se.Code)
				assert.Equal(t, smtp.EnhancedCode{5, 7, 8}, se.EnhancedCode)
				assertChallenge(t, mech, smc.challenge())
				t.Logf("%s SMTP %s %s: challenge %+v, then %s", p.name, mech, rc.name, *smc.challenge(), smtpLine(se))

				// Both connections are still usable: a good token logs in.
				require.NoError(t, ic.Authenticate(newMechClient(mech, alice, f.issue(t, alice), p.imapsAddr, true)))
				require.NoError(t, ic.Noop().Wait())
				require.NoError(t, sc.Auth(newMechClient(mech, alice, f.issue(t, alice), p.smtpAddr, false)))
				require.NoError(t, sc.Noop())
			})
		}
	}
}

func saslDown(t *testing.T, f *saslFixture, p peer) {
	for _, mech := range mechanisms {
		t.Run(mech, func(t *testing.T) {
			ic := dialIMAPS(t, p)
			sc := dialSubmission(t, p)
			tok := f.issue(t, alice)
			p.setDown(true)
			imc := newMechClient(mech, alice, tok, p.imapsAddr, true)
			err := ic.Authenticate(imc)
			smc := newMechClient(mech, alice, tok, p.smtpAddr, false)
			serr := sc.Auth(smc)
			p.setDown(false)

			var ie *imap.Error
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, imap.StatusResponseTypeNo, ie.Type)
			assert.Equal(t, imap.ResponseCodeUnavailable, ie.Code, "an outage is not a bad token")
			assert.Nil(t, imc.challenge(), "no challenge for an outage")
			t.Logf("%s IMAP %s verification down: %s", p.name, mech, imapLine(ie))

			var se *smtp.SMTPError
			require.ErrorAs(t, serr, &se)
			assert.Equal(t, 454, se.Code)
			assert.Equal(t, smtp.EnhancedCode{4, 7, 0}, se.EnhancedCode)
			assert.Nil(t, smc.challenge())
			t.Logf("%s SMTP %s verification down: %s", p.name, mech, smtpLine(se))

			// Back up: the same token works on the same connections.
			require.NoError(t, ic.Authenticate(newMechClient(mech, alice, tok, p.imapsAddr, true)))
			require.NoError(t, sc.Auth(newMechClient(mech, alice, tok, p.smtpAddr, false)))
		})
	}
}

func imapLine(e *imap.Error) string {
	if e.Code != "" {
		return fmt.Sprintf("%s [%s] %s", e.Type, e.Code, e.Text)
	}
	return fmt.Sprintf("%s %s", e.Type, e.Text)
}

func smtpLine(e *smtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

package interop_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// These tests go through the public API: a connection to a (fake) Entra
// ID, authorization through the callback handler, Client.Token and the
// SASL clients via mailauth, against Dovecot and the test kit.

const redirect = "http://localhost:8080/oauth2/callback"

type apiFixture struct {
	clock *mailtest.Clock
	entra *mailtest.Azure
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	clock := mailtest.NewClock(time.Now())
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Now: clock.Now,
		Users: []mailtest.AzureUser{{Email: alice}, {Email: bob}}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	return &apiFixture{clock: clock, entra: entra}
}

// connected returns a Client with account "a" connected as alice through
// the authorization code flow and the callback handler.
func (f *apiFixture) connected(t *testing.T) *oauth2client.Client {
	t.Helper()
	p, err := azure.New(f.entra.AzureConfig())
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	require.NoError(t, mailtest.Connect(context.Background(), c, f.entra, "m365", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	return c
}

func TestDovecotClient(t *testing.T) {
	f := newAPIFixture(t)
	runClient(t, f, dovecotPeer(t, f.entra.Ledger()))
}

func TestTestkitClient(t *testing.T) {
	f := newAPIFixture(t)
	runClient(t, f, testkitPeer(t, f.entra.Ledger()))
}

func runClient(t *testing.T, f *apiFixture, p peer) {
	ctx := context.Background()
	c := f.connected(t)
	tok, err := c.Token(ctx, "a")
	require.NoError(t, err)
	t.Logf("access token: %d bytes", len(tok.AccessToken))

	for _, mech := range []string{oauth2client.MechXOAUTH2, oauth2client.MechOAUTHBEARER} {
		t.Run("IMAP/"+mech, func(t *testing.T) {
			ic := dialIMAPS(t, p)
			require.NoError(t, mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Mechanism: mech}))
			_, err := ic.Select("INBOX", nil).Wait()
			require.NoError(t, err)
			require.NoError(t, ic.Logout().Wait())
		})
		t.Run("Submission/"+mech, func(t *testing.T) {
			sc := dialSubmission(t, p)
			err := mailauth.SMTP(ctx, c, sc, "a", &oauth2client.SASLOptions{Mechanism: mech})
			// Azure-sized tokens make an AUTH line longer than Dovecot
			// accepts: mailauth withholds the initial response (RFC 4954).
			assert.Greater(t, len(tok.AccessToken), 700)
			require.NoError(t, err)
			marker := fmt.Sprintf("api-%s-%d", mech, time.Now().UnixNano())
			msg := "From: " + alice + "\r\nTo: bob@example.net\r\nSubject: " + marker + "\r\n\r\nhello\r\n"
			require.NoError(t, sc.SendMail(alice, []string{"bob@example.net"}, strings.NewReader(msg)))
			require.NoError(t, sc.Quit())
			assert.True(t, strings.HasSuffix(string(waitMessage(t, p, marker)), msg))
		})
	}

	for _, mech := range []string{oauth2client.MechXOAUTH2, oauth2client.MechOAUTHBEARER} {
		t.Run("revoked token is refreshed once/"+mech, func(t *testing.T) {
			tok, err := c.Token(ctx, "a")
			require.NoError(t, err)
			require.True(t, f.entra.Ledger().Revoke(string(tok.AccessToken)))
			before := f.entra.TokenRequests("refresh_token")
			ic := dialIMAPS(t, p)
			err = mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Mechanism: mech})
			t.Logf("%s IMAP %s after revocation: %v", p.name, mech, err)
			require.NoError(t, err)
			assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "exactly one forced refresh")
		})
	}

	t.Run("wrong user is a LoginError after one retry", func(t *testing.T) {
		before := f.entra.TokenRequests("refresh_token")
		ic := dialIMAPS(t, p)
		err := mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Username: bob, Mechanism: oauth2client.MechOAUTHBEARER})
		var le *oauth2client.LoginError
		require.ErrorAs(t, err, &le)
		assert.False(t, le.Temporary)
		require.NotNil(t, le.Challenge)
		assert.Equal(t, "invalid_token", le.Challenge.Status)
		assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "one retry, never a loop")
		t.Logf("%s: %v", p.name, err)
	})

	// A rejected XOAUTH2 token: the server's error challenge is answered
	// with the empty response. Through mailauth's dialers (IMAPConn) it
	// is an empty line and every server ends with NO [AUTHENTICATIONFAILED];
	// go-imap's own "=" (emersion/go-imap#760) gets BAD from Dovecot.
	type imapDial struct {
		name  string
		addr  string
		dial  func(ctx context.Context, addr string) (*imapclient.Client, error)
		plain bool // go-imap's connection, not wrapped
	}
	dials := []imapDial{
		{"mailauth.DialIMAPTLS", p.imapsAddr, func(ctx context.Context, addr string) (*imapclient.Client, error) {
			return mailauth.DialIMAPTLS(ctx, addr, &imapclient.Options{TLSConfig: p.tls})
		}, false},
		{"imapclient.DialTLS", p.imapsAddr, func(_ context.Context, addr string) (*imapclient.Client, error) {
			return imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: p.tls})
		}, true},
	}
	if p.imapAddr != "" {
		dials = append(dials, imapDial{"mailauth.DialIMAPStartTLS", p.imapAddr, func(ctx context.Context, addr string) (*imapclient.Client, error) {
			return mailauth.DialIMAPStartTLS(ctx, addr, &imapclient.Options{TLSConfig: p.tls})
		}, false})
	}
	for _, d := range dials {
		t.Run("rejected XOAUTH2 token/"+d.name, func(t *testing.T) {
			ic, err := d.dial(ctx, d.addr)
			require.NoError(t, err)
			t.Cleanup(func() { ic.Close() })
			before := f.entra.TokenRequests("refresh_token")
			err = mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Username: bob, Mechanism: oauth2client.MechXOAUTH2})
			var le *oauth2client.LoginError
			require.ErrorAs(t, err, &le)
			assert.False(t, le.Temporary)
			require.NotNil(t, le.Challenge, "the server sent the XOAUTH2 error challenge")
			assert.Equal(t, "401", le.Challenge.Status)
			assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "one retry, never a loop")
			var ie *imap.Error
			require.ErrorAs(t, err, &ie)
			t.Logf("%s via %s: rejected XOAUTH2 token answered %s", p.name, d.name, imapLine(ie))
			if d.plain && p.emptyAnswerIsBAD {
				assert.Equal(t, imap.StatusResponseTypeBad, ie.Type)
				assert.Equal(t, "Invalid base64 data in continued response", ie.Text)
			} else {
				assert.Equal(t, imap.StatusResponseTypeNo, ie.Type)
				assert.Equal(t, imap.ResponseCodeAuthenticationFailed, ie.Code)
			}
			// The connection is still usable: the right user logs in.
			require.NoError(t, mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Mechanism: oauth2client.MechXOAUTH2}))
			_, err = ic.Select("INBOX", nil).Wait()
			require.NoError(t, err)
		})
	}

	t.Run("verification down is temporary", func(t *testing.T) {
		ic := dialIMAPS(t, p)
		p.setDown(true)
		err := mailauth.IMAP(ctx, c, ic, "a", nil)
		p.setDown(false)
		var le *oauth2client.LoginError
		require.ErrorAs(t, err, &le)
		assert.True(t, le.Temporary, "a verification outage is not a bad token")
		assert.ErrorIs(t, err, oauth2client.ErrTransient)
		var ie *imap.Error
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, imap.ResponseCodeUnavailable, ie.Code)

		{
			sc := dialSubmission(t, p)
			p.setDown(true)
			err = mailauth.SMTP(ctx, c, sc, "a", &oauth2client.SASLOptions{Mechanism: oauth2client.MechOAUTHBEARER})
			p.setDown(false)
			var se *smtp.SMTPError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 454, se.Code)
			assert.ErrorIs(t, err, oauth2client.ErrTransient)
		}

		// Back up: the same connection logs in.
		assert.NoError(t, mailauth.IMAP(ctx, c, ic, "a", nil))
	})
}

package mailauth_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

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

const (
	alice    = "alice@contoso.example"
	redirect = "http://localhost:8080/oauth2/callback"
)

type fixture struct {
	entra  *mailtest.Azure
	client *oauth2client.Client
}

// newFixture connects account "a" as alice through the fake Entra ID
// and the callback handler.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := mailtest.NewClock(time.Now())
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Now: clock.Now,
		Users: []mailtest.AzureUser{{Email: alice}}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	p, err := azure.New(entra.AzureConfig())
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	require.NoError(t, mailtest.Connect(context.Background(), c, entra, "m365", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	return &fixture{entra: entra, client: c}
}

// scriptedSMTP runs a minimal submission server on one end of a pipe:
// it advertises auth in EHLO, records every line it reads and answers
// AUTH the way Dovecot does (an empty 334 when the initial response is
// missing; 500 for a command line over 1 KB). It returns the client end
// and the recorded lines once the client closes.
func scriptedSMTP(t *testing.T, auth string) (net.Conn, <-chan []string) {
	t.Helper()
	srv, cli := net.Pipe()
	t.Cleanup(func() { cli.Close() })
	lines := make(chan []string, 1)
	go func() {
		defer srv.Close()
		var got []string
		defer func() { lines <- got }()
		r := bufio.NewReader(srv)
		say := func(s string) bool { _, err := srv.Write([]byte(s + "\r\n")); return err == nil }
		if !say("220 localhost ESMTP") {
			return
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			got = append(got, line)
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			switch {
			case len(line) > 1000:
				say("500 5.5.2 Line too long")
			case verb == "EHLO":
				say("250-localhost")
				say("250 AUTH " + auth)
			case verb == "AUTH" && len(strings.Fields(line)) == 2:
				say("334 ")
				if resp, err := r.ReadString('\n'); err == nil {
					got = append(got, strings.TrimRight(resp, "\r\n"))
					say("235 2.7.0 Authentication successful")
				}
			case verb == "AUTH":
				say("235 2.7.0 Authentication successful")
			case verb == "QUIT":
				say("221 2.0.0 Bye")
				return
			default:
				say("502 5.5.2 Unknown command")
			}
		}
	}()
	return cli, lines
}

func TestSMTPWithholdsLongInitialResponse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.client.Token(ctx, "a")
	require.NoError(t, err)
	require.Greater(t, len(tok.AccessToken), 1000, "the fake issues Azure-sized tokens")

	for _, mech := range []string{oauth2client.MechXOAUTH2, oauth2client.MechOAUTHBEARER} {
		t.Run(mech, func(t *testing.T) {
			conn, lines := scriptedSMTP(t, "PLAIN "+mech)
			c := smtp.NewClient(conn)
			require.NoError(t, mailauth.SMTP(ctx, f.client, c, "a", nil))
			require.NoError(t, c.Quit())
			got := <-lines
			require.GreaterOrEqual(t, len(got), 3, "%q", got)
			assert.Equal(t, "AUTH "+mech, got[1], "the initial response is withheld from the command line")
			ir, err := base64.StdEncoding.DecodeString(got[2])
			require.NoError(t, err)
			assert.Contains(t, string(ir), "auth=Bearer "+string(tok.AccessToken), "and sent after the empty 334")
			assert.Contains(t, string(ir), alice)
		})
	}
}

func TestSMTPOnlyPasswordMechanisms(t *testing.T) {
	f := newFixture(t)
	conn, _ := scriptedSMTP(t, "PLAIN LOGIN")
	err := mailauth.SMTP(context.Background(), f.client, smtp.NewClient(conn), "a", nil)
	var me *oauth2client.MechanismError
	require.ErrorAs(t, err, &me)
	assert.ErrorIs(t, err, oauth2client.ErrNoOAuthMechanism)
	assert.Equal(t, []string{"PLAIN", "LOGIN"}, me.Offered)
	assert.Contains(t, err.Error(), "PLAIN")
}

func TestIMAPChoosesFromCapabilities(t *testing.T) {
	f := newFixture(t)
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)
	s, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: f.entra.Ledger(), TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WaitGreeting())

	before := f.entra.TokenRequests("refresh_token")
	require.NoError(t, mailauth.IMAP(context.Background(), f.client, c, "a", nil))
	_, err = c.Select("INBOX", nil).Wait()
	assert.NoError(t, err, "logged in")
	assert.Equal(t, before, f.entra.TokenRequests("refresh_token"), "a valid token needs no refresh")
}

func TestIMAPRevokedTokenRefreshedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)
	s, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: f.entra.Ledger(), TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	dial := func() *imapclient.Client {
		c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}

	tok, err := f.client.Token(ctx, "a")
	require.NoError(t, err)
	require.True(t, f.entra.Ledger().Revoke(string(tok.AccessToken)))
	before := f.entra.TokenRequests("refresh_token")
	require.NoError(t, mailauth.IMAP(ctx, f.client, dial(), "a", nil))
	assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "one forced refresh, then success")

	// A server that refuses every token: one retry, never a loop.
	tok, err = f.client.Token(ctx, "a")
	require.NoError(t, err)
	require.True(t, f.entra.Ledger().Revoke(string(tok.AccessToken)))
	before = f.entra.TokenRequests("refresh_token")
	err = mailauth.IMAP(ctx, f.client, dial(), "a", &oauth2client.SASLOptions{Username: "mallory@contoso.example"})
	var le *oauth2client.LoginError
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Temporary)
	assert.False(t, errors.Is(err, oauth2client.ErrTransient))
	assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "exactly one retry")
}

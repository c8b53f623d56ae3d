package mailauth_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// TestOfferedReplacesServerList: SASLOptions.Offered means the server's
// mechanisms for mailauth too; a non-nil list replaces what the server
// advertises (both fakes advertise XOAUTH2 and OAUTHBEARER).
func TestOfferedReplacesServerList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	is, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: f.entra.Ledger()})
	require.NoError(t, err)
	t.Cleanup(func() { is.Close() })
	ss, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: f.entra.Ledger()})
	require.NoError(t, err)
	t.Cleanup(func() { ss.Close() })

	ic, err := imapclient.DialInsecure(is.Addr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ic.Close() })
	err = mailauth.IMAP(ctx, f.client, ic, "a", &oauth2client.SASLOptions{Offered: []string{"PLAIN", "LOGIN"}})
	require.ErrorIs(t, err, oauth2client.ErrNoOAuthMechanism)
	assert.Equal(t, int64(0), is.Stats.Logins.Load()+is.Stats.Failures.Load(), "nothing was sent")
	require.NoError(t, mailauth.IMAP(ctx, f.client, ic, "a", nil), "nil reads the server's list")

	sc, err := smtp.Dial(ss.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { sc.Close() })
	err = mailauth.SMTP(ctx, f.client, sc, "a", &oauth2client.SASLOptions{Offered: []string{"PLAIN"}})
	require.ErrorIs(t, err, oauth2client.ErrNoOAuthMechanism)
	require.NoError(t, mailauth.SMTP(ctx, f.client, sc, "a", &oauth2client.SASLOptions{Offered: []string{"OAUTHBEARER"}}))
}

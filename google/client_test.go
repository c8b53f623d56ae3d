package google_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// TestThroughClient runs the whole flow through oauth2client's Client and
// callback handler: consent, token, refresh after expiry, disconnect.
func TestThroughClient(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: e.clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("gmail", e.p))
	ctx := context.Background()

	require.NoError(t, mailtest.Connect(ctx, c, e.fake, "gmail", "acct-1", &oauth2client.AuthOptions{LoginHint: "bob@gmail.example"}))

	tok, err := c.Token(ctx, "acct-1")
	require.NoError(t, err)
	assert.Equal(t, "bob@gmail.example", tok.Username)
	_, err = e.fake.Ledger().Check("bob@gmail.example", tok.AccessToken.Reveal())
	require.NoError(t, err)

	e.clock.Advance(2 * time.Hour)
	tok2, err := c.Token(ctx, "acct-1")
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
	assert.Equal(t, 1, e.fake.TokenRequests(mailtest.GrantRefreshToken))

	require.NoError(t, c.Disconnect(ctx, "acct-1"))
	_, err = e.fake.Ledger().Check("", tok2.AccessToken.Reveal())
	require.ErrorIs(t, err, mailtest.ErrTokenRevoked, "Disconnect revokes the grant at Google")
}

package mailtest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const connectRedirect = "http://localhost:8080/oauth2/callback"

func newAzureClient(t *testing.T, opts mailtest.AzureOptions) (*mailtest.Azure, *oauth2client.Client) {
	t.Helper()
	opts.RedirectURIs = []string{connectRedirect}
	entra, err := mailtest.NewAzure(opts)
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	p, err := azure.New(entra.AzureConfig())
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: connectRedirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	return entra, c
}

func TestConnect(t *testing.T) {
	ctx := context.Background()
	t.Run("Azure with a session", func(t *testing.T) {
		entra, c := newAzureClient(t, mailtest.AzureOptions{Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
		require.NoError(t, mailtest.Connect(ctx, c, entra, "m365", "acct", &oauth2client.AuthOptions{Session: "browser-1"}))
		tok, err := c.Token(ctx, "acct")
		require.NoError(t, err)
		assert.Equal(t, "alice@contoso.example", tok.Username)
		_, err = entra.Ledger().Check("alice@contoso.example", tok.AccessToken.Reveal())
		assert.NoError(t, err, "the stored token is one the fake issued")
	})
	t.Run("Google", func(t *testing.T) {
		g, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{connectRedirect}})
		require.NoError(t, err)
		t.Cleanup(g.Close)
		p, err := google.New(google.Config{ClientID: g.ClientID(), ClientSecret: oauth2client.Secret(g.ClientSecret()),
			AuthURL: g.AuthURL(), TokenURL: g.TokenURL(), RevokeURL: g.RevokeURL(), Issuer: g.Issuer(), HTTPClient: g.Client()})
		require.NoError(t, err)
		c, err := oauth2client.New(oauth2client.Config{RedirectURL: connectRedirect, Store: tokenstore.NewMemory()})
		require.NoError(t, err)
		require.NoError(t, c.SetConnection("gmail", p))
		require.NoError(t, mailtest.Connect(ctx, c, g, "gmail", "acct", nil))
		_, err = c.Token(ctx, "acct")
		assert.NoError(t, err)
	})
	t.Run("the code exchange fails", func(t *testing.T) {
		entra, c := newAzureClient(t, mailtest.AzureOptions{Fail: func(r *http.Request) *mailtest.AzureError {
			if r.PostForm.Get("grant_type") == "authorization_code" {
				return &mailtest.AzureError{Status: http.StatusBadRequest, Error: "invalid_grant", Code: 54005,
					Description: "OAuth2 Authorization code was already redeemed."}
			}
			return nil
		}})
		err := mailtest.Connect(ctx, c, entra, "m365", "acct", nil)
		var ce *oauth2client.CallbackError
		require.ErrorAs(t, err, &ce)
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "AADSTS54005", pe.ProviderCode)
		_, err = c.Token(ctx, "acct")
		assert.ErrorIs(t, err, oauth2client.ErrNotFound, "nothing was stored")
	})
	t.Run("an unknown connection", func(t *testing.T) {
		entra, c := newAzureClient(t, mailtest.AzureOptions{})
		assert.Error(t, mailtest.Connect(ctx, c, entra, "nope", "acct", nil))
	})
}

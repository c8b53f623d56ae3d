package mailtest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const parityCallback = "http://localhost:8080/oauth2/callback"

func newParityClient(t *testing.T) *oauth2client.Client {
	t.Helper()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: parityCallback, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	return c
}

func TestGoogleConfig(t *testing.T) {
	g, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{parityCallback}})
	require.NoError(t, err)
	t.Cleanup(g.Close)
	p, err := google.New(g.GoogleConfig())
	require.NoError(t, err)
	c := newParityClient(t)
	require.NoError(t, c.SetConnection("gmail", p))
	require.NoError(t, mailtest.Connect(context.Background(), c, g, "gmail", "b", nil))
	tok, err := c.Refresh(context.Background(), "b")
	require.NoError(t, err)
	info, ok := g.Ledger().Lookup(string(tok.AccessToken))
	require.True(t, ok, "the token came from this fake")
	assert.Equal(t, "bob@gmail.example", info.Username)
}

// TestFakesHandOutSettings builds both fakes' settings with one Catalog
// and connects a mailbox through each.
func TestFakesHandOutSettings(t *testing.T) {
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{parityCallback}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	g, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{parityCallback}})
	require.NoError(t, err)
	t.Cleanup(g.Close)
	clients := map[string]*http.Client{provider.KindAzure: entra.Client(), provider.KindGoogle: g.Client()}
	cat := provider.Catalog{HTTPClientFor: func(s provider.Settings) *http.Client { return clients[s.Kind] }}
	c := newParityClient(t)
	for id, f := range map[string]interface {
		mailtest.Authorizer
		Settings() provider.Settings
		Ledger() *mailtest.Ledger
	}{"m365": entra, "gmail": g} {
		t.Run(id, func(t *testing.T) {
			p, err := cat.Build(context.Background(), f.Settings())
			require.NoError(t, err)
			require.NoError(t, c.SetConnection(id, p))
			require.NoError(t, mailtest.Connect(context.Background(), c, f, id, id+"-account", nil))
			tok, err := c.Token(context.Background(), id+"-account")
			require.NoError(t, err)
			_, ok := f.Ledger().Lookup(string(tok.AccessToken))
			assert.True(t, ok)
		})
	}
}

func TestAzureRevokeSessions(t *testing.T) {
	const alice, bob = "alice@contoso.example", "bob@contoso.example"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{parityCallback},
		Users: []mailtest.AzureUser{{Email: alice}, {Email: bob}}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	p, err := (provider.Catalog{HTTPClient: entra.Client()}).Build(context.Background(), entra.Settings())
	require.NoError(t, err)
	store := tokenstore.NewMemory()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: parityCallback, Store: store})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	ctx := context.Background()
	require.NoError(t, mailtest.Connect(ctx, c, entra, "m365", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	require.NoError(t, mailtest.Connect(ctx, c, entra, "m365", "b", &oauth2client.AuthOptions{LoginHint: bob}))
	before, err := c.Token(ctx, "a")
	require.NoError(t, err)
	stored, err := store.Load(ctx, "a")
	require.NoError(t, err)

	assert.Equal(t, 1, entra.RevokeSessions(alice))
	assert.Equal(t, 0, entra.RevokeSessions(alice), "already revoked")

	_, ok := entra.Ledger().Lookup(string(before.AccessToken))
	assert.True(t, ok, "issued access tokens live until they expire")
	_, err = c.Refresh(ctx, "a")
	require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "invalid_grant", pe.Code)
	assert.Equal(t, "AADSTS50173", pe.ProviderCode)
	rec, err := store.Load(ctx, "a")
	require.NoError(t, err, "a failed refresh keeps the stored grant")
	assert.Equal(t, stored.Grant, rec.Grant)
	assert.Equal(t, oauth2client.StatusNeedsReauth, rec.Status)

	_, err = c.Refresh(ctx, "b")
	assert.NoError(t, err, "another user's sessions are untouched")

	require.NoError(t, mailtest.Connect(ctx, c, entra, "m365", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	_, err = c.Refresh(ctx, "a")
	assert.NoError(t, err, "signing in again works")
}

// TestAzureSecretExpiry checks what README's "Secret expiry" says: an
// expired secret fails the refresh with AADSTS7000222, class admin, and
// the account keeps its tokens and is not marked for a new sign-in.
func TestAzureSecretExpiry(t *testing.T) {
	clock := mailtest.NewClock(time.Now())
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{parityCallback}, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	p, err := (provider.Catalog{HTTPClient: entra.Client(), Now: clock.Now}).Build(context.Background(), entra.Settings())
	require.NoError(t, err)
	store := tokenstore.NewMemory()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: parityCallback, Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	ctx := context.Background()
	require.NoError(t, mailtest.Connect(ctx, c, entra, "m365", "a", nil))

	entra.FailNext(7000222)
	_, err = c.Refresh(ctx, "a")
	require.Error(t, err)
	assert.Equal(t, oauth2client.ClassAdmin, oauth2client.ClassOf(err))
	assert.Contains(t, err.Error(), "(fix: create a new client secret")
	assert.Contains(t, err.Error(), "azure: refresh: invalid_client AADSTS7000222: The provided client secret keys for app are expired.")
	assert.NotErrorIs(t, err, oauth2client.ErrReauthRequired)
	rec, err := store.Load(ctx, "a")
	require.NoError(t, err)
	assert.NotEqual(t, oauth2client.StatusNeedsReauth, rec.Status)

	clock.Advance(time.Minute) // past the retry back-off
	_, err = c.Refresh(ctx, "a")
	assert.NoError(t, err, "with a valid secret again, the stored tokens refresh")
}

package provider_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// TestCatalogPerConnectionClientsAndClock connects one mailbox through a
// fake Entra ID and one through a fake Google, whose TLS certificates
// differ: each connection gets the HTTP client that trusts its own fake,
// with no host-routing transport, and every kind reads the Catalog's
// clock (three days ahead of the system's).
func TestCatalogPerConnectionClientsAndClock(t *testing.T) {
	const callback = "http://localhost:8080/oauth2/callback"
	clock := mailtest.NewClock(time.Now().Add(72 * time.Hour).Truncate(time.Second))
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{callback}, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	gfake, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{callback}, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(gfake.Close)

	settings := map[string]provider.Settings{
		"m365": {Kind: provider.KindAzure, ClientID: entra.ClientID(), Tenant: entra.Tenant(),
			ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL()},
		"gmail": {Kind: provider.KindGoogle, ClientID: gfake.ClientID(), ClientSecret: oauth2client.Secret(gfake.ClientSecret()), Issuer: gfake.Issuer(),
			AuthURL: gfake.AuthURL(), TokenURL: gfake.TokenURL(), RevokeURL: gfake.RevokeURL()},
	}
	idps := map[string]mailtest.Authorizer{"m365": entra, "gmail": gfake}

	t.Run("one client for all fails against the other fake's certificate", func(t *testing.T) {
		cat := provider.Catalog{HTTPClient: entra.Client(), Now: clock.Now}
		p, err := cat.Build(context.Background(), settings["gmail"])
		require.NoError(t, err)
		c, err := oauth2client.New(oauth2client.Config{RedirectURL: callback, Store: tokenstore.NewMemory(), Clock: clock})
		require.NoError(t, err)
		require.NoError(t, c.SetConnection("gmail", p))
		err = mailtest.Connect(context.Background(), c, gfake, "gmail", "b", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate")
	})

	var chosen []string
	cat := provider.Catalog{
		HTTPClientFor: func(s provider.Settings) *http.Client {
			chosen = append(chosen, s.Kind)
			switch s.Kind {
			case provider.KindAzure:
				return entra.Client()
			case provider.KindGoogle:
				return gfake.Client()
			}
			return nil
		},
		Now: clock.Now,
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: callback, Store: tokenstore.NewMemory(), Clock: clock})
	require.NoError(t, err)
	for id, s := range settings {
		p, err := cat.Build(context.Background(), s)
		require.NoError(t, err)
		require.NoError(t, c.SetConnection(id, p))
	}
	assert.ElementsMatch(t, []string{provider.KindAzure, provider.KindGoogle}, chosen)
	for id := range settings {
		t.Run(id, func(t *testing.T) {
			require.NoError(t, mailtest.Connect(context.Background(), c, idps[id], id, "acct-"+id, nil))
			tok, err := c.Token(context.Background(), "acct-"+id)
			require.NoError(t, err)
			// The fakes issue one-hour tokens; on the system clock the
			// expiry would be three days earlier.
			assert.WithinDuration(t, clock.Now().Add(time.Hour), tok.Expiry, time.Minute)
		})
	}
}

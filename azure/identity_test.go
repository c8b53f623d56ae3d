package azure_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const (
	contoso = "11111111-1111-4111-8111-111111111111"
	evil    = "66666666-6666-4666-8666-666666666666"
)

// as is the fake Entra with the user who signs in chosen by address.
type as struct {
	az    *mailtest.Azure
	email string
}

func (a as) Authorize(ctx context.Context, authURL string) (string, error) {
	return a.az.AuthorizeAs(ctx, authURL, a.email)
}

// TestLyingEntraRefused connects through the Client's real callback
// handler to a fake Entra that lies in its id_token, or lets a foreign
// tenant's user named like the victim sign in: each is refused with a
// typed error and nothing is stored.
func TestLyingEntraRefused(t *testing.T) {
	users := []mailtest.AzureUser{{Email: "victim@contoso.example", Tenant: contoso},
		{Email: "victim@contoso.example", Tenant: evil, ObjectID: "eeeeeeee-0000-4000-8000-000000000001"},
		{Email: "someone@outlook.example", Tenant: mailtest.MSATenant}}
	for _, tc := range []struct {
		name   string
		tenant string // of the connection
		lie    func(map[string]any)
		// evilFirst lists the foreign tenant's victim@contoso.example
		// first, so that it is the one who signs in.
		evilFirst bool
		opts      oauth2client.AuthOptions
		want      error
		claim     string
	}{
		{name: "foreign issuer", lie: func(c map[string]any) { c["iss"] = "https://login.evil.example/" + contoso + "/v2.0" }, want: oauth2client.ErrInvalidIDToken, claim: "iss"},
		{name: "another client's audience", lie: func(c map[string]any) { c["aud"] = "99999999-0000-4000-8000-000000000000" }, want: oauth2client.ErrInvalidIDToken, claim: "aud"},
		{name: "expired yesterday", lie: func(c map[string]any) { c["exp"] = time.Now().Add(-24 * time.Hour).Unix() }, want: oauth2client.ErrInvalidIDToken, claim: "exp"},
		{name: "another authorization's nonce", lie: func(c map[string]any) { c["nonce"] = "replayed" }, want: oauth2client.ErrInvalidIDToken, claim: "nonce"},
		{name: "no object ID", lie: func(c map[string]any) { delete(c, "oid") }, want: oauth2client.ErrInvalidIDToken, claim: "oid"},
		{name: "another tenant on a single-tenant connection", lie: func(c map[string]any) {
			c["tid"], c["iss"] = evil, c["iss"].(string)[:len(c["iss"].(string))-len(contoso+"/v2.0")]+evil+"/v2.0"
		}, want: oauth2client.ErrInvalidIDToken, claim: "tid"},
		{name: "foreign tenant's victim@ on organizations", tenant: "organizations", evilFirst: true,
			opts: oauth2client.AuthOptions{RequireUsername: "victim@contoso.example", RequireTenant: contoso}, want: oauth2client.ErrIdentityMismatch},
		{name: "personal account on organizations", tenant: "organizations", lie: func(c map[string]any) {
			c["tid"], c["iss"] = mailtest.MSATenant, c["iss"].(string)[:len(c["iss"].(string))-len(contoso+"/v2.0")]+mailtest.MSATenant+"/v2.0"
		}, want: oauth2client.ErrInvalidIDToken, claim: "tid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lie func(map[string]any)
			us := users
			if tc.evilFirst {
				us = []mailtest.AzureUser{users[1], users[0]}
			}
			az, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Tenants: []string{contoso}, Users: us,
				IDTokenClaims: func(c map[string]any) {
					if lie != nil {
						lie(c)
					}
				}})
			require.NoError(t, err)
			t.Cleanup(az.Close)
			lie = tc.lie
			cfg := az.AzureConfig()
			if tc.tenant != "" {
				cfg.Tenant = tc.tenant
			}
			p, err := azure.New(cfg)
			require.NoError(t, err)
			c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
			require.NoError(t, err)
			require.NoError(t, c.SetConnection("m365", p))
			err = mailtest.Connect(context.Background(), c, as{az, "victim@contoso.example"}, "m365", "acct", &tc.opts)
			var ce *oauth2client.CallbackError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, http.StatusForbidden, ce.Status)
			require.ErrorIs(t, err, tc.want)
			if tc.claim != "" {
				var ie *oauth2client.IdentityError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, tc.claim, ie.Claim)
			}
			assert.NotContains(t, err.Error(), "evil.example", "errors never quote the token's values")
			_, err = c.Token(context.Background(), "acct")
			assert.Error(t, err, "nothing was stored")
		})
	}

	t.Run("RequireUsername alone on organizations", func(t *testing.T) {
		az, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Tenants: []string{contoso}, Users: users})
		require.NoError(t, err)
		t.Cleanup(az.Close)
		cfg := az.AzureConfig()
		cfg.Tenant = "organizations"
		p, err := azure.New(cfg)
		require.NoError(t, err)
		assert.True(t, p.MultiTenant())
		c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
		require.NoError(t, err)
		require.NoError(t, c.SetConnection("m365", p))
		_, err = c.StartAuthorization(context.Background(), "m365", "acct", &oauth2client.AuthOptions{RequireUsername: "victim@contoso.example"})
		require.ErrorIs(t, err, oauth2client.ErrTenantRequired, "a foreign tenant's victim@contoso.example would otherwise pass")

		require.NoError(t, mailtest.Connect(context.Background(), c, as{az, "victim@contoso.example"}, "m365", "acct",
			&oauth2client.AuthOptions{RequireUsername: "victim@contoso.example", RequireTenant: contoso}), "the real victim passes")
		acct, err := c.Account(context.Background(), "acct")
		require.NoError(t, err)
		assert.Equal(t, "victim@contoso.example", acct.Username)
	})
}

// TestEntraIdentityBoundToObjectAndTenant: the identity is the user's oid
// and tid; a refresh reports them (for the Client to refuse a change) and
// never renames the account, even after a UPN rename.
func TestEntraIdentityBoundToObjectAndTenant(t *testing.T) {
	var lie func(map[string]any)
	az, p := fakeAndProvider(t, mailtest.AzureOptions{IDTokenClaims: func(c map[string]any) {
		if lie != nil {
			lie(c)
		}
	}}, azure.Config{})
	g := signIn(t, az, p, "alice@contoso.example")
	u := az.Users()[0]
	require.Equal(t, oauth2client.Identity{Username: "alice@contoso.example", Subject: u.ObjectID + "." + u.Tenant, Tenant: u.Tenant}, g.Identity)

	lie = func(c map[string]any) { c["preferred_username"] = "alice.renamed@contoso.example" }
	ng, err := p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, g.Identity, ng.Identity, "a UPN rename keeps the account and its username until it is authorized again")

	lie = func(c map[string]any) { c["oid"] = "eeeeeeee-0000-4000-8000-000000000009" }
	ng, err = p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, "eeeeeeee-0000-4000-8000-000000000009."+u.Tenant, ng.Identity.Subject, "another object is reported, for the Client to refuse")

	lie = func(c map[string]any) { c["aud"] = "someone-else" }
	_, err = p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrInvalidIDToken, "a refresh's id_token is validated too")
}

// TestEntraRefreshThroughClient: through the Client, a refresh naming
// another object is refused (ErrIdentityChanged, stored grant kept), while
// a UPN rename (same oid and tid) keeps the account and its username
// until the user authorizes again, which stores the new name.
func TestEntraRefreshThroughClient(t *testing.T) {
	var lie func(map[string]any)
	clock := mailtest.NewClock(time.Now())
	az, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Now: clock.Now, IDTokenClaims: func(c map[string]any) {
		if lie != nil {
			lie(c)
		}
	}})
	require.NoError(t, err)
	t.Cleanup(az.Close)
	p, err := azure.New(az.AzureConfig())
	require.NoError(t, err)
	store := tokenstore.NewMemory()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	ctx := context.Background()
	require.NoError(t, mailtest.Connect(ctx, c, az, "m365", "acct", nil))

	lie = func(c map[string]any) { c["preferred_username"] = "alice.renamed@contoso.example" }
	clock.Advance(2 * time.Hour)
	tok, err := c.Token(ctx, "acct")
	require.NoError(t, err, "a UPN rename is the same user")
	assert.Equal(t, "alice@contoso.example", tok.Username, "a refresh never renames the account")
	require.NoError(t, mailtest.Connect(ctx, c, az, "m365", "acct", nil), "the explicit path: authorize again")
	tok, err = c.Token(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, "alice.renamed@contoso.example", tok.Username, "the new name is stored by a new authorization")

	before, err := store.Load(ctx, "acct")
	require.NoError(t, err)
	lie = func(c map[string]any) { c["oid"] = "eeeeeeee-0000-4000-8000-000000000009" }
	clock.Advance(2 * time.Hour)
	_, err = c.Token(ctx, "acct")
	require.ErrorIs(t, err, oauth2client.ErrIdentityChanged)
	after, err := store.Load(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, before.Grant, after.Grant, "the stored grant is kept as it was")
	assert.Equal(t, oauth2client.StatusNeedsReauth, after.Status)
}

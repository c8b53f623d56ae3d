package google_test

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
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// workspace is a Workspace user and a gmail.com user.
var workspace = []mailtest.GoogleUser{{Email: "carol@corp.example", Subject: "s-carol", Domain: "corp.example"}, {Email: "bob@gmail.example", Subject: "s-bob"}}

func (e *env) client(t *testing.T) *oauth2client.Client {
	t.Helper()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: e.clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("gmail", e.p))
	return c
}

// TestLyingGoogleRefused connects through the Client's real callback
// handler to a fake Google that lies in its id_token: each lie is refused
// with a typed error and nothing is stored.
func TestLyingGoogleRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lie   func(map[string]any)
		opts  oauth2client.AuthOptions
		want  error
		claim string
	}{
		{name: "foreign issuer", lie: func(c map[string]any) { c["iss"] = "https://accounts.evil.example" }, want: oauth2client.ErrInvalidIDToken, claim: "iss"},
		{name: "another client's audience", lie: func(c map[string]any) {
			c["aud"], c["azp"] = "2-other.apps.googleusercontent.com", "2-other.apps.googleusercontent.com"
		}, want: oauth2client.ErrInvalidIDToken, claim: "aud"},
		{name: "several audiences, azp another client", lie: func(c map[string]any) {
			c["aud"], c["azp"] = []string{"fake-client.apps.googleusercontent.com", "2-other.apps.googleusercontent.com"}, "2-other.apps.googleusercontent.com"
		}, want: oauth2client.ErrInvalidIDToken, claim: "azp"},
		{name: "expired yesterday", lie: func(c map[string]any) { c["exp"] = t0.Add(-24 * time.Hour).Unix() }, want: oauth2client.ErrInvalidIDToken, claim: "exp"},
		{name: "issued tomorrow", lie: func(c map[string]any) { c["iat"] = t0.Add(24 * time.Hour).Unix() }, want: oauth2client.ErrInvalidIDToken, claim: "iat"},
		{name: "another authorization's nonce", lie: func(c map[string]any) { c["nonce"] = "from-another-flow" }, want: oauth2client.ErrInvalidIDToken, claim: "nonce"},
		{name: "unverified victim address", lie: func(c map[string]any) { c["email"], c["email_verified"] = "victim@corp.example", false },
			opts: oauth2client.AuthOptions{RequireUsername: "victim@corp.example"}, want: oauth2client.ErrUnverifiedIdentity, claim: "email_verified"},
		{name: "all at once", lie: func(c map[string]any) {
			c["iss"], c["aud"], c["exp"] = "https://accounts.evil.example", "other", t0.Add(-24*time.Hour).Unix()
			c["email"], c["email_verified"] = "victim@corp.example", false
		}, opts: oauth2client.AuthOptions{RequireUsername: "victim@corp.example"}, want: oauth2client.ErrInvalidIDToken},
		{name: "another Workspace domain", lie: func(c map[string]any) { c["hd"] = "evil.example" },
			opts: oauth2client.AuthOptions{RequireDomain: "corp.example"}, want: oauth2client.ErrIdentityMismatch},
		{name: "no Workspace domain (gmail.com)", lie: func(c map[string]any) { delete(c, "hd") },
			opts: oauth2client.AuthOptions{RequireDomain: "corp.example"}, want: oauth2client.ErrIdentityMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mailtest.GoogleOptions{Users: workspace, IDTokenClaims: func(grant string, c map[string]any) {
				if grant == mailtest.GrantAuthorizationCode {
					tc.lie(c)
				}
			}}, google.Config{})
			c := e.client(t)
			err := mailtest.Connect(context.Background(), c, e.fake, "gmail", "acct", &tc.opts)
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
			assert.NotEmpty(t, oauth2client.UserMessage(err))
			_, err = c.Token(context.Background(), "acct")
			assert.Error(t, err, "nothing was stored")
		})
	}
	t.Run("the Workspace domain required", func(t *testing.T) {
		e := newEnv(t, mailtest.GoogleOptions{Users: workspace}, google.Config{})
		c := e.client(t)
		require.NoError(t, mailtest.Connect(context.Background(), c, e.fake, "gmail", "acct", &oauth2client.AuthOptions{
			LoginHint: "carol@corp.example", RequireUsername: "carol@corp.example", RequireDomain: "Corp.Example"}))
		acct, err := c.Account(context.Background(), "acct")
		require.NoError(t, err)
		assert.Equal(t, "carol@corp.example", acct.Username)
	})
}

// TestGoogleSignatureAlways checks id_token signatures against the key
// set although they come over TLS (Config.VerifySignature).
func TestGoogleSignatureAlways(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{VerifySignature: true})
	require.NoError(t, mailtest.Connect(context.Background(), e.client(t), e.fake, "gmail", "acct", nil), "the fake's keys verify its id_tokens")

	bad := newEnv(t, mailtest.GoogleOptions{}, google.Config{VerifySignature: true})
	p, err := google.New(google.Config{ClientID: bad.fake.ClientID(), ClientSecret: oauth2client.Secret(bad.fake.ClientSecret()),
		AuthURL: bad.fake.AuthURL(), TokenURL: bad.fake.TokenURL(), Issuer: bad.fake.Issuer(), HTTPClient: bad.fake.Client(),
		Now: bad.clock.Now, VerifySignature: true, JWKSURL: e.fake.JWKSURL()}) // another fake's keys
	require.NoError(t, err)
	bad.p = p
	err = mailtest.Connect(context.Background(), bad.client(t), bad.fake, "gmail", "acct", nil)
	var ie *oauth2client.IdentityError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "signature", ie.Claim)

	_, err = google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", TokenURL: "https://proxy.example/token",
		Issuer: "https://accounts.google.com", VerifySignature: true})
	require.ErrorIs(t, err, google.ErrConfig, "no key set to verify against")
	_, err = google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", TokenURL: "https://proxy.example/token"})
	require.ErrorIs(t, err, google.ErrConfig, "an overridden token endpoint needs its issuer")
	_, err = google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", TokenURL: "http://proxy.example/token", Issuer: "https://accounts.google.com"})
	require.ErrorIs(t, err, google.ErrConfig, "plain http is refused")
}

// TestRefreshReportsSubject: a refresh's id_token is validated and its
// subject reported (for the Client to refuse a change); the username is
// never changed by a refresh.
func TestRefreshReportsSubject(t *testing.T) {
	var lie func(map[string]any)
	e := newEnv(t, mailtest.GoogleOptions{Users: workspace, IDTokenClaims: func(grant string, c map[string]any) {
		if grant == mailtest.GrantRefreshToken && lie != nil {
			lie(c)
		}
	}}, google.Config{})
	g := e.connect(t, "carol@corp.example")
	require.Equal(t, oauth2client.Identity{Username: "carol@corp.example", Subject: "s-carol", Tenant: "corp.example"}, g.Identity)

	lie = func(c map[string]any) { c["sub"], c["email"] = "s-mallory", "mallory@corp.example" }
	ng, err := e.p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Identity{Username: "carol@corp.example", Subject: "s-mallory", Tenant: "corp.example"}, ng.Identity)

	lie = func(c map[string]any) { c["aud"] = "someone-else" }
	_, err = e.p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrInvalidIDToken, "a refresh's id_token is validated too")
}

// TestIdentityChangeOnRefreshRefused: end to end through the Client, a
// Google refresh whose id_token names another subject is refused with
// ErrIdentityChanged; the stored grant stays as it was and the account is
// marked for re-authorization.
func TestIdentityChangeOnRefreshRefused(t *testing.T) {
	var lie func(map[string]any)
	e := newEnv(t, mailtest.GoogleOptions{Users: workspace, IDTokenClaims: func(grant string, c map[string]any) {
		if grant == mailtest.GrantRefreshToken && lie != nil {
			lie(c)
		}
	}}, google.Config{})
	store := tokenstore.NewMemory()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: e.clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("gmail", e.p))
	ctx := context.Background()
	require.NoError(t, mailtest.Connect(ctx, c, e.fake, "gmail", "acct", &oauth2client.AuthOptions{LoginHint: "carol@corp.example"}))
	before, err := store.Load(ctx, "acct")
	require.NoError(t, err)
	require.Equal(t, "s-carol", before.Identity.Subject)

	for _, tc := range []struct {
		name string
		lie  func(map[string]any)
	}{
		{"another subject", func(c map[string]any) { c["sub"], c["email"] = "s-mallory", "mallory@corp.example" }},
		{"another Workspace domain", func(c map[string]any) { c["hd"] = "evil.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lie = tc.lie
			e.clock.Advance(2 * time.Hour)
			_, err := c.Token(ctx, "acct")
			require.ErrorIs(t, err, oauth2client.ErrIdentityChanged)
			require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
			after, err := store.Load(ctx, "acct")
			require.NoError(t, err)
			assert.Equal(t, before.Grant, after.Grant, "the stored grant is kept as it was")
			assert.Equal(t, oauth2client.StatusNeedsReauth, after.Status, "the account is marked")

			// Authorizing again (the explicit path) stores the account anew.
			lie = nil
			require.NoError(t, mailtest.Connect(ctx, c, e.fake, "gmail", "acct", &oauth2client.AuthOptions{LoginHint: "carol@corp.example"}))
			tok, err := c.Token(ctx, "acct")
			require.NoError(t, err)
			assert.Equal(t, "carol@corp.example", tok.Username)
			before, err = store.Load(ctx, "acct")
			require.NoError(t, err)
		})
	}
}

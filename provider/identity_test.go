package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// lyingOIDC is the fake Google as a generic OpenID provider whose
// id_tokens and userinfo answers are edited by the test.
func lyingOIDC(t *testing.T, idt func(grant string, c map[string]any), ui func(map[string]any)) (*mailtest.Google, *mailtest.Clock) {
	t.Helper()
	clock := mailtest.NewClock(t0)
	fake, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{redirect}, Now: clock.Now,
		Users:         []mailtest.GoogleUser{{Email: "erin@idp.example", Subject: "s-erin"}},
		IDTokenClaims: idt, UserinfoClaims: ui})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	return fake, clock
}

// connect runs the whole flow through a Client's real callback handler
// and returns the handler's error (nil on success) and the Client.
func connect(t *testing.T, p oauth2client.Provider, idp mailtest.Authorizer, clock *mailtest.Clock, opts *oauth2client.AuthOptions) (*oauth2client.Client, error) {
	t.Helper()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", p))
	return c, mailtest.Connect(context.Background(), c, idp, "idp", "acct", opts)
}

func TestGenericRefusesLyingProvider(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scopes []string // without "email", the username comes from userinfo
		idt    func(string, map[string]any)
		ui     func(map[string]any)
		want   error
		claim  string
	}{
		{name: "foreign issuer", idt: func(_ string, c map[string]any) { c["iss"] = "https://evil.example" }, want: oauth2client.ErrInvalidIDToken, claim: "iss"},
		{name: "another client's audience", idt: func(_ string, c map[string]any) { c["aud"], c["azp"] = "other-client", "other-client" }, want: oauth2client.ErrInvalidIDToken, claim: "aud"},
		{name: "azp of another client", idt: func(_ string, c map[string]any) { c["azp"] = "other-client" }, want: oauth2client.ErrInvalidIDToken, claim: "azp"},
		{name: "expired yesterday", idt: func(_ string, c map[string]any) { c["exp"] = t0.Add(-24 * time.Hour).Unix() }, want: oauth2client.ErrInvalidIDToken, claim: "exp"},
		{name: "another authorization's nonce", idt: func(_ string, c map[string]any) { c["nonce"] = "replayed" }, want: oauth2client.ErrInvalidIDToken, claim: "nonce"},
		{name: "unverified email", idt: func(_ string, c map[string]any) { c["email"], c["email_verified"] = "victim@corp.example", false }, want: oauth2client.ErrUnverifiedIdentity, claim: "email_verified"},
		{name: "all of it at once", idt: func(_ string, c map[string]any) {
			c["iss"], c["aud"], c["exp"] = "https://evil.example", "other-client", t0.Add(-24*time.Hour).Unix()
			c["email"], c["email_verified"] = "victim@corp.example", false
		}, want: oauth2client.ErrInvalidIDToken},
		{name: "userinfo about someone else", scopes: []string{"https://mail.google.com/"},
			ui: func(c map[string]any) { c["sub"], c["email"] = "s-victim", "victim@corp.example" }, want: oauth2client.ErrUnverifiedIdentity, claim: "sub"},
		{name: "userinfo with an unverified email", scopes: []string{"https://mail.google.com/"},
			ui: func(c map[string]any) { c["email_verified"] = "false" }, want: oauth2client.ErrUnverifiedIdentity, claim: "email_verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, clock := lyingOIDC(t, tc.idt, tc.ui)
			scopes := tc.scopes
			if scopes == nil {
				scopes = []string{"https://mail.google.com/", "email"}
			}
			p := discover(t, fake, clock, scopes...)
			c, err := connect(t, p, fake, clock, &oauth2client.AuthOptions{RequireUsername: "victim@corp.example"})
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
	t.Run("the honest provider passes", func(t *testing.T) {
		fake, clock := lyingOIDC(t, nil, nil)
		c, err := connect(t, discover(t, fake, clock, "https://mail.google.com/", "email"), fake, clock,
			&oauth2client.AuthOptions{RequireUsername: "erin@idp.example"})
		require.NoError(t, err)
		tok, err := c.Token(context.Background(), "acct")
		require.NoError(t, err)
		assert.Equal(t, "erin@idp.example", tok.Username)
	})
}

func TestGenericSignatureAlways(t *testing.T) {
	fake, clock := lyingOIDC(t, nil, nil)
	p, err := provider.Discover(context.Background(), fake.Issuer(), provider.GenericConfig{
		ClientID: fake.ClientID(), ClientSecret: oauth2client.Secret(fake.ClientSecret()), Scopes: []string{"https://mail.google.com/", "email"},
		Mail: testMail, AuthParams: map[string]string{"access_type": "offline"}, HTTPClient: fake.Client(), Now: clock.Now, VerifySignature: true})
	require.NoError(t, err)
	_, err = connect(t, p, fake, clock, nil)
	require.NoError(t, err, "the fake's id_tokens verify against its jwks_uri")

	_, err = provider.NewGeneric(provider.GenericConfig{ClientID: "c", AuthURL: "https://idp.example/a", TokenURL: "https://idp.example/t",
		Mail: testMail, VerifySignature: true})
	var fe *provider.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "JWKSURL", fe.Field)
}

func TestGenericRefreshNamesItsSubject(t *testing.T) {
	sub := "s-erin"
	fake, clock := lyingOIDC(t, func(grant string, c map[string]any) {
		if grant == mailtest.GrantRefreshToken {
			c["sub"] = sub
		}
	}, nil)
	p := discover(t, fake, clock, "https://mail.google.com/", "email")
	g, _ := flow(t, p, fake)
	sub = "s-mallory"
	ng, err := p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, "s-mallory", ng.Identity.Subject, "the refresh's subject is reported, for the Client to compare")
	assert.Equal(t, "erin@idp.example", ng.Identity.Username, "a refresh never renames the account")
}

func TestDiscoverTransportRules(t *testing.T) {
	doc := func(mut func(base string, d map[string]any)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			base := "https://" + r.Host
			if r.TLS == nil {
				base = "http://" + r.Host
			}
			d := map[string]any{"issuer": base, "authorization_endpoint": base + "/a", "token_endpoint": base + "/t", "jwks_uri": base + "/k"}
			if mut != nil {
				mut(base, d)
			}
			_ = json.NewEncoder(w).Encode(d)
		}
	}
	cfg := func(hc *http.Client) provider.GenericConfig {
		return provider.GenericConfig{ClientID: "c", Mail: testMail, HTTPClient: hc}
	}

	t.Run("http issuer", func(t *testing.T) {
		srv := httptest.NewServer(doc(nil))
		defer srv.Close()
		_, err := provider.Discover(context.Background(), srv.URL, cfg(srv.Client()))
		require.ErrorIs(t, err, provider.ErrInsecureURL, "loopback alone does not allow http")
		require.ErrorIs(t, err, provider.ErrConfig)
		c := cfg(srv.Client())
		c.AllowInsecureHTTP = true
		_, err = provider.Discover(context.Background(), srv.URL, c)
		require.NoError(t, err, "an explicit opt-in allows http")
	})
	for _, ep := range []string{"token_endpoint", "authorization_endpoint", "userinfo_endpoint", "revocation_endpoint", "jwks_uri"} {
		t.Run("http "+ep, func(t *testing.T) {
			srv := httptest.NewTLSServer(doc(func(base string, d map[string]any) { d[ep] = "http://" + strings.TrimPrefix(base, "https://") + "/x" }))
			defer srv.Close()
			_, err := provider.Discover(context.Background(), srv.URL, cfg(srv.Client()))
			require.ErrorIs(t, err, provider.ErrInsecureURL)
			assert.Contains(t, err.Error(), ep)
			assert.NotContains(t, err.Error(), "/x", "errors never quote the fetched document")
		})
	}
	t.Run("endpoints on another https host", func(t *testing.T) {
		srv := httptest.NewTLSServer(doc(func(_ string, d map[string]any) { d["token_endpoint"] = "https://oauth2.idp.example/token" }))
		defer srv.Close()
		_, err := provider.Discover(context.Background(), srv.URL, cfg(srv.Client()))
		require.NoError(t, err, "Google's endpoints live on other hosts than its issuer")
	})
	t.Run("cross-host redirect", func(t *testing.T) {
		other := httptest.NewTLSServer(doc(nil))
		defer other.Close()
		srv := httptest.NewTLSServer(http.RedirectHandler(other.URL+"/.well-known/openid-configuration", http.StatusFound))
		defer srv.Close()
		_, err := provider.Discover(context.Background(), srv.URL, cfg(srv.Client()))
		require.ErrorIs(t, err, provider.ErrInsecureURL)
		assert.Equal(t, oauth2client.ClassConfig, oauth2client.ClassOf(err), "not a transient network failure")
	})
	t.Run("downgrade redirect", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+r.Host+r.URL.Path, http.StatusFound)
		}))
		defer srv.Close()
		c := cfg(srv.Client())
		c.AllowInsecureHTTP = true
		_, err := provider.Discover(context.Background(), srv.URL, c)
		require.ErrorIs(t, err, provider.ErrInsecureURL, "https never goes down to http, even with the opt-in")
	})
	t.Run("same-host redirect", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.Handle("/old/.well-known/openid-configuration", http.RedirectHandler("/new/.well-known/openid-configuration", http.StatusFound))
		mux.Handle("/new/.well-known/openid-configuration", doc(func(base string, d map[string]any) { d["issuer"] = base + "/old" }))
		srv := httptest.NewTLSServer(mux)
		defer srv.Close()
		_, err := provider.Discover(context.Background(), srv.URL+"/old", cfg(srv.Client()))
		require.NoError(t, err)
	})
	for _, bad := range []string{"https://idp.example/?tenant=x", "https://idp.example/#frag", "https://user:pw@idp.example", "ftp://idp.example", "idp.example"} {
		t.Run("issuer "+bad, func(t *testing.T) {
			_, err := provider.Discover(context.Background(), bad, cfg(nil))
			var fe *provider.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Issuer", fe.Field)
			_, err = provider.Catalog{}.Build(context.Background(), provider.Settings{Kind: provider.KindGeneric, Issuer: bad, ClientID: "c",
				IMAP: testMail.IMAP, SMTP: testMail.SMTP})
			require.ErrorAs(t, err, &fe, "Settings.Issuer is validated the same way")
			assert.Equal(t, "Issuer", fe.Field)
		})
	}
	t.Run("http endpoints of NewGeneric", func(t *testing.T) {
		_, err := provider.NewGeneric(provider.GenericConfig{ClientID: "c", AuthURL: "https://idp.example/a", TokenURL: "http://idp.example/t", Mail: testMail})
		require.ErrorIs(t, err, provider.ErrInsecureURL, "the code, the verifier and the secret would travel in clear")
	})
}

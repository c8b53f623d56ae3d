package interop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/oauth2mail/oauth2mail/internal/dovecot"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// These tests run the library against zitadel/oidc's OpenID Provider
// (github.com/zitadel/oidc/v3/pkg/op, an OpenID-certified implementation
// by others) started in-process with the small storage of
// zitadel_storage_test.go: discovery, the authorization code flow with
// PKCE through the real callback handler, refresh token rotation, each
// client authentication method, short-lived tokens under Client.Run, and
// JWT access tokens through mailauth to Dovecot, which asks zitadel's own
// introspection endpoint whether they are valid.

// zitadelOP is a running OpenID Provider.
type zitadelOP struct {
	issuer  string
	storage *zStorage
	wire    *wire
	srv     *httptest.Server
}

// startZitadel starts an OP whose access tokens live lifetime.
func startZitadel(t *testing.T, lifetime time.Duration) *zitadelOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	z := &zitadelOP{storage: newZStorage(key, lifetime, map[string]string{"sub-alice": alice, "sub-bob": bob})}
	var h http.Handler = http.NotFoundHandler()
	z.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(z.srv.Close)
	z.issuer = z.srv.URL
	cfg := &op.Config{CodeMethodS256: true, AuthMethodPost: true, AuthMethodPrivateKeyJWT: true, GrantTypeRefreshToken: true}
	_, err = rand.Read(cfg.CryptoKey[:])
	require.NoError(t, err)
	p, err := op.NewProvider(cfg, z.storage, op.StaticIssuer(z.issuer), op.WithAllowInsecure())
	require.NoError(t, err)
	z.wire = &wire{next: p, storage: z.storage, methods: map[string][]string{}}
	h = z.wire
	return z
}

// register adds a client that may return to the interop redirect URI.
func (z *zitadelOP) register(c *zClient) {
	c.redirects = []string{redirect}
	c.loginURL = func(id string) string { return z.issuer + "/authorize/callback?id=" + url.QueryEscape(id) }
	z.storage.mu.Lock()
	defer z.storage.mu.Unlock()
	z.storage.clients[c.id] = c
}

// Authorize implements mailtest.Authorizer: it plays the browser,
// following zitadel's redirects (the storage approves the hinted user at
// once) until they lead back to the redirect URI.
func (z *zitadelOP) Authorize(ctx context.Context, authURL string) (string, error) {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u := authURL
	for range 10 {
		if strings.HasPrefix(u, redirect) {
			return u, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return "", fmt.Errorf("zitadel answered %d without a redirect: %s", resp.StatusCode, body)
		}
		u = loc.String()
	}
	return "", fmt.Errorf("too many redirects")
}

var zitadelMail = oauth2client.MailService{
	IMAP: oauth2client.ServerAddr{Host: "127.0.0.1", Port: 993},
	SMTP: oauth2client.ServerAddr{Host: "127.0.0.1", Port: 587, Security: oauth2client.SecuritySTARTTLS},
}

// discoverZitadel returns a generic provider for z from its discovery
// document, with cfg's credentials.
func discoverZitadel(t *testing.T, z *zitadelOP, cfg provider.GenericConfig) *provider.Generic {
	t.Helper()
	cfg.Name, cfg.Mail = "zitadel", zitadelMail
	cfg.Scopes = []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeOfflineAccess}
	// The OP runs in process on plain http (Dovecot introspects its
	// tokens there): the explicit opt-in meant for loopback tests. Its
	// id_tokens then come over http, so the provider checks their
	// signatures against zitadel's own key set.
	cfg.AllowInsecureHTTP = true
	p, err := provider.Discover(context.Background(), z.issuer, cfg)
	require.NoError(t, err)
	return p
}

// newZitadelClient returns a Client with p as connection "z".
func newZitadelClient(t *testing.T, p oauth2client.Provider, cfg oauth2client.Config) *oauth2client.Client {
	t.Helper()
	cfg.RedirectURL, cfg.Store = redirect, tokenstore.NewMemory()
	c, err := oauth2client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("z", p))
	return c
}

func TestZitadelDiscovery(t *testing.T) {
	z := startZitadel(t, time.Hour)
	z.register(&zClient{id: "web", secret: "web-secret", method: oidc.AuthMethodBasic})
	p := discoverZitadel(t, z, provider.GenericConfig{ClientID: "web", ClientSecret: "web-secret"})
	assert.Equal(t, provider.ClientSecretBasic, p.ClientAuth(), "zitadel lists client_secret_basic: the default")

	u, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st", CodeChallenge: "ch", RedirectURI: redirect})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u, z.issuer+"/authorize?"), u)

	_, err = provider.Discover(context.Background(), z.issuer+"/other", provider.GenericConfig{ClientID: "web", Mail: zitadelMail, AllowInsecureHTTP: true})
	require.Error(t, err, "an issuer that does not serve its own discovery document is refused")
}

// zitadelCase is a client registration and the library configuration
// that matches it.
type zitadelCase struct {
	name   string
	client *zClient
	cfg    provider.GenericConfig
	want   provider.ClientAuthMethod
}

func zitadelCases(t *testing.T) []zitadelCase {
	t.Helper()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return []zitadelCase{
		{"registered for client_secret_basic only, chosen by default",
			&zClient{id: "basic-only", secret: "basic-secret", method: oidc.AuthMethodBasic},
			provider.GenericConfig{ClientID: "basic-only", ClientSecret: "basic-secret"}, provider.ClientSecretBasic},
		{"registered for client_secret_post only, configured",
			&zClient{id: "post-only", secret: "post-secret/+&=", method: oidc.AuthMethodPost},
			provider.GenericConfig{ClientID: "post-only", ClientSecret: "post-secret/+&=", ClientAuth: provider.ClientSecretPost}, provider.ClientSecretPost},
		{"private_key_jwt",
			&zClient{id: "jwt-client", method: oidc.AuthMethodPrivateKeyJWT,
				key: &jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "app-key-1", Algorithm: string(jose.ES256), Use: "sig"}},
			provider.GenericConfig{ClientID: "jwt-client", ClientKey: ecKey, ClientKeyID: "app-key-1"}, provider.PrivateKeyJWT},
		{"public client (none, PKCE only)",
			&zClient{id: "public-app", method: oidc.AuthMethodNone},
			provider.GenericConfig{ClientID: "public-app"}, provider.ClientAuthNone},
	}
}

func TestZitadelSignInAndRefreshPerClientAuthMethod(t *testing.T) {
	for _, tc := range zitadelCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			z := startZitadel(t, time.Hour)
			z.register(tc.client)
			p := discoverZitadel(t, z, tc.cfg)
			require.Equal(t, tc.want, p.ClientAuth())
			c := newZitadelClient(t, p, oauth2client.Config{})

			// Authorization code + PKCE through the callback handler.
			require.NoError(t, mailtest.Connect(ctx, c, z, "z", "a", &oauth2client.AuthOptions{LoginHint: alice}))
			tok, err := c.Token(ctx, "a")
			require.NoError(t, err)
			assert.Equal(t, alice, tok.Username, "the username comes from zitadel's id_token or userinfo")

			// Refresh with rotation: the new refresh token replaces the old,
			// which zitadel no longer accepts.
			ng, err := c.Refresh(ctx, "a")
			require.NoError(t, err)
			assert.NotEqual(t, tok.AccessToken, ng.AccessToken)
			assert.Equal(t, int64(1), z.storage.rotated.Load(), "zitadel rotated the refresh token")
			_, err = c.Refresh(ctx, "a")
			require.NoError(t, err, "the rotated refresh token was stored and works")
			assert.Equal(t, int64(2), z.storage.rotated.Load())

			used := append(z.wire.used("authorization_code"), z.wire.used("refresh_token")...)
			require.Len(t, used, 3)
			for _, m := range used {
				assert.Equal(t, string(tc.want), m, "every token request authenticates with the registered method")
			}
		})
	}
}

func TestZitadelRotatedRefreshTokenIsSpent(t *testing.T) {
	ctx := context.Background()
	z := startZitadel(t, time.Hour)
	z.register(&zClient{id: "web", secret: "web-secret", method: oidc.AuthMethodBasic})
	p := discoverZitadel(t, z, provider.GenericConfig{ClientID: "web", ClientSecret: "web-secret"})
	c := newZitadelClient(t, p, oauth2client.Config{})
	require.NoError(t, mailtest.Connect(ctx, c, z, "z", "a", &oauth2client.AuthOptions{LoginHint: alice}))

	// Take the grant as stored, refresh it through the provider directly,
	// then present the spent refresh token again.
	g := &oauth2client.Grant{RefreshToken: oauth2client.Secret(onlyRefreshToken(t, z))}
	ng, err := p.Refresh(ctx, g)
	require.NoError(t, err)
	assert.NotEqual(t, g.RefreshToken, ng.RefreshToken, "zitadel rotates refresh tokens")
	_, err = p.Refresh(ctx, g)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "invalid_grant", pe.Code)
	assert.ErrorIs(t, err, oauth2client.ErrReauthRequired, "a spent refresh token means the user must sign in again")
	assert.Contains(t, oauth2client.UserMessage(err), "reconnect your mailbox")
}

// onlyRefreshToken returns the single live refresh token of z.
func onlyRefreshToken(t *testing.T, z *zitadelOP) string {
	t.Helper()
	z.storage.mu.Lock()
	defer z.storage.mu.Unlock()
	require.Len(t, z.storage.refresh, 1)
	for tok := range z.storage.refresh {
		return tok
	}
	return ""
}

func TestZitadelWrongClientAuthMethodNamesTheFix(t *testing.T) {
	ctx := context.Background()
	z := startZitadel(t, time.Hour)
	z.register(&zClient{id: "post-only", secret: "post-secret", method: oidc.AuthMethodPost})
	// Zitadel's discovery lists client_secret_basic, so the default is
	// basic; the client is registered for post only.
	p := discoverZitadel(t, z, provider.GenericConfig{ClientID: "post-only", ClientSecret: "post-secret"})
	require.Equal(t, provider.ClientSecretBasic, p.ClientAuth())
	c := newZitadelClient(t, p, oauth2client.Config{})
	err := mailtest.Connect(ctx, c, z, "z", "a", &oauth2client.AuthOptions{LoginHint: alice})
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "invalid_client", pe.Code)
	assert.Equal(t, oauth2client.ClassConfig, pe.Class)
	assert.Contains(t, pe.Remedy, `set ClientAuth (Settings.ClientAuthMethod) to "client_secret_post"`)
	assert.NotContains(t, err.Error(), "post-secret")
	t.Logf("%v", err)
}

func TestZitadelFiveMinuteTokensUnderRun(t *testing.T) {
	ctx := context.Background()
	z := startZitadel(t, 5*time.Minute)
	z.register(&zClient{id: "web", secret: "web-secret", method: oidc.AuthMethodBasic})
	clock := mailtest.NewClock(time.Now())
	p := discoverZitadel(t, z, provider.GenericConfig{ClientID: "web", ClientSecret: "web-secret", Now: clock.Now})
	refreshed := make(chan string, 100)
	c := newZitadelClient(t, p, oauth2client.Config{Clock: clock,
		Hooks: oauth2client.Hooks{Refreshed: func(_ context.Context, a string) { refreshed <- a }}})
	require.NoError(t, mailtest.Connect(ctx, c, z, "z", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	tok, err := c.Token(ctx, "a")
	require.NoError(t, err)
	lifetime := tok.Expiry.Sub(clock.Now())
	require.InDelta(t, (5 * time.Minute).Seconds(), lifetime.Seconds(), 2, "zitadel issued a 5-minute token")

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()

	// waitIdle waits until the scheduler has armed its timer and no
	// refresh is under way: then nothing happens until the clock moves.
	waitIdle := func() {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for clock.Timers() == 0 {
			select {
			case <-clock.TimerAdded():
			case <-refreshed:
			case <-deadline:
				t.Fatal("the scheduler armed no timer")
			}
		}
	}
	waitIdle()
	before := z.wire.count("refresh_token")
	// An hour of 5-minute tokens: each is renewed before it expires, and
	// the number of refreshes stays in proportion to the lifetime (no
	// refresh storm, no token left to expire).
	end := clock.Now().Add(time.Hour)
	for clock.Now().Before(end) {
		clock.Advance(30 * time.Second)
		waitIdle()
		tok, err := c.Token(ctx, "a")
		require.NoError(t, err)
		assert.True(t, tok.Expiry.After(clock.Now()), "the token in use is never expired")
	}
	n := z.wire.count("refresh_token") - before
	t.Logf("refreshes in one hour of 5-minute tokens: %d", n)
	assert.GreaterOrEqual(t, n, 12, "at least one refresh per token lifetime")
	assert.LessOrEqual(t, n, 60, "no refresh storm: at most five refreshes per token lifetime")
}

// introspectAtZitadel answers Dovecot's introspection requests by asking
// zitadel's own introspection endpoint, as the resource server "dovecot".
func introspectAtZitadel(z *zitadelOP) http.Handler {
	z.register(&zClient{id: "dovecot", secret: "dovecot-secret", method: oidc.AuthMethodBasic})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, z.issuer+"/oauth/introspect",
			strings.NewReader(url.Values{"token": {r.PostForm.Get("token")}}.Encode()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("dovecot", "dovecot-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

func TestDovecotZitadelJWTAccessTokens(t *testing.T) {
	ctx := context.Background()
	z := startZitadel(t, time.Hour)
	z.register(&zClient{id: "web", secret: "web-secret", method: oidc.AuthMethodBasic, jwtTokens: true})
	d := dovecot.Start(t, dovecot.Options{Verifier: introspectAtZitadel(z)})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", d.Log())
		}
	})
	p := discoverZitadel(t, z, provider.GenericConfig{ClientID: "web", ClientSecret: "web-secret"})
	c := newZitadelClient(t, p, oauth2client.Config{})
	require.NoError(t, mailtest.Connect(ctx, c, z, "z", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	tok, err := c.Token(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(tok.AccessToken), "."), "a JWT access token")
	require.Greater(t, len(tok.AccessToken), 1024, "above 1 KB")
	t.Logf("zitadel JWT access token: %d bytes", len(tok.AccessToken))

	for _, mech := range []string{oauth2client.MechXOAUTH2, oauth2client.MechOAUTHBEARER} {
		t.Run("Submission/"+mech, func(t *testing.T) {
			sc := dialSubmission(t, peer{smtpAddr: d.SubmissionAddr, tls: d.TLSConfig})
			require.NoError(t, mailauth.SMTP(ctx, c, sc, "a", &oauth2client.SASLOptions{Mechanism: mech}))
			marker := fmt.Sprintf("zitadel-%s-%d", mech, time.Now().UnixNano())
			msg := "From: " + alice + "\r\nTo: bob@example.net\r\nSubject: " + marker + "\r\n\r\nhello\r\n"
			require.NoError(t, sc.SendMail(alice, []string{"bob@example.net"}, strings.NewReader(msg)))
			require.NoError(t, sc.Quit())
			assert.True(t, strings.HasSuffix(string(waitMessage(t, peer{name: "Dovecot", messages: d.Sink.Messages, received: d.Sink.Received()}, marker)), msg))
		})
		t.Run("IMAP/"+mech, func(t *testing.T) {
			ic, err := mailauth.DialIMAPTLS(ctx, d.IMAPSAddr, &imapclient.Options{TLSConfig: d.TLSConfig})
			require.NoError(t, err)
			t.Cleanup(func() { ic.Close() })
			require.NoError(t, mailauth.IMAP(ctx, c, ic, "a", &oauth2client.SASLOptions{Mechanism: mech}))
			_, err = ic.Select("INBOX", nil).Wait()
			require.NoError(t, err)
		})
	}

	t.Run("a revoked token is refused by Dovecot after zitadel's introspection", func(t *testing.T) {
		tok, err := c.Token(ctx, "a")
		require.NoError(t, err)
		z.storage.mu.Lock()
		for id := range z.storage.tokens {
			delete(z.storage.tokens, id) // revoke every access token at zitadel
		}
		z.storage.mu.Unlock()
		sc := dialSubmission(t, peer{smtpAddr: d.SubmissionAddr, tls: d.TLSConfig})
		before := z.wire.count("refresh_token")
		require.NoError(t, mailauth.SMTP(ctx, c, sc, "a", nil), "mailauth refreshes once and logs in with the new token")
		assert.Equal(t, before+1, z.wire.count("refresh_token"))
		now, err := c.Token(ctx, "a")
		require.NoError(t, err)
		assert.NotEqual(t, tok.AccessToken, now.AccessToken)
	})
}

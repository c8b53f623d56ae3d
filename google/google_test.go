package google_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

const redirect = "https://groupware.example/oauth/callback"

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type env struct {
	fake  *mailtest.Google
	p     *google.Provider
	clock *mailtest.Clock
}

func newEnv(t *testing.T, opts mailtest.GoogleOptions, cfg google.Config) *env {
	t.Helper()
	clock := mailtest.NewClock(t0)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	opts.RedirectURIs = append(opts.RedirectURIs, redirect)
	fake, err := mailtest.NewGoogle(opts)
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	cfg.ClientID = fake.ClientID()
	cfg.ClientSecret = oauth2client.Secret(fake.ClientSecret())
	cfg.AuthURL, cfg.TokenURL, cfg.RevokeURL, cfg.Issuer = fake.AuthURL(), fake.TokenURL(), fake.RevokeURL(), fake.Issuer()
	cfg.HTTPClient = fake.Client()
	if cfg.VerifySignature {
		cfg.JWKSURL = fake.JWKSURL()
	}
	p, err := google.New(cfg)
	require.NoError(t, err)
	return &env{fake: fake, p: p, clock: clock}
}

// connect runs the authorization code flow for loginHint and returns the
// grant.
func (e *env) connect(t *testing.T, loginHint string) *oauth2client.Grant {
	t.Helper()
	code, verifier := e.authorize(t, loginHint, nil)
	g, err := e.p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: code, CodeVerifier: verifier, RedirectURI: redirect})
	require.NoError(t, err)
	return g
}

// authorize sends the user through consent; edit may change the URL's
// query first.
func (e *env) authorize(t *testing.T, loginHint string, edit func(url.Values)) (code, verifier oauth2client.Secret) {
	t.Helper()
	v := oauth2.GenerateVerifier()
	u, err := e.p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st-1", CodeChallenge: oauth2.S256ChallengeFromVerifier(v),
		RedirectURI: redirect, LoginHint: loginHint})
	require.NoError(t, err)
	if edit != nil {
		pu, err := url.Parse(u)
		require.NoError(t, err)
		q := pu.Query()
		edit(q)
		pu.RawQuery = q.Encode()
		u = pu.String()
	}
	cb, err := e.fake.Authorize(context.Background(), u)
	require.NoError(t, err)
	cu, err := url.Parse(cb)
	require.NoError(t, err)
	require.Equal(t, "", cu.Query().Get("error"))
	assert.Equal(t, "st-1", cu.Query().Get("state"))
	return oauth2client.Secret(cu.Query().Get("code")), oauth2client.Secret(v)
}

func TestAuthCodeURL(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	for _, tc := range []struct{ name, prompt, want string }{
		{"default", "", "consent"},
		{"consent", "consent", "consent"},
		{"select account", "select_account", "select_account consent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "xyz", CodeChallenge: "chal",
				RedirectURI: redirect, LoginHint: "bob@gmail.example", Prompt: tc.prompt})
			require.NoError(t, err)
			u, err := url.Parse(s)
			require.NoError(t, err)
			q := u.Query()
			assert.Equal(t, e.fake.AuthURL(), u.Scheme+"://"+u.Host+u.Path)
			assert.Equal(t, "xyz", q.Get("state"))
			assert.Equal(t, "chal", q.Get("code_challenge"))
			assert.Equal(t, "S256", q.Get("code_challenge_method"))
			assert.Equal(t, "offline", q.Get("access_type"))
			assert.Equal(t, tc.want, q.Get("prompt"))
			assert.Equal(t, "bob@gmail.example", q.Get("login_hint"))
			assert.Equal(t, redirect, q.Get("redirect_uri"))
			assert.Equal(t, e.fake.ClientID(), q.Get("client_id"))
			assert.ElementsMatch(t, []string{google.MailScope, "openid", "email"}, strings.Fields(q.Get("scope")))
			assert.NotContains(t, s, e.fake.ClientSecret())
		})
	}
	for _, tc := range []struct {
		name string
		req  oauth2client.AuthRequest
	}{
		{"no redirect", oauth2client.AuthRequest{State: "s", CodeChallenge: "c"}},
		{"no challenge", oauth2client.AuthRequest{State: "s", RedirectURI: redirect}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.p.AuthCodeURL(context.Background(), tc.req)
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, oauth2client.ClassConfig, pe.Class)
		})
	}
}

func TestExchangeAndRefreshKeepsRefreshToken(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{Users: []mailtest.GoogleUser{
		{Email: "bob@gmail.example"}, {Email: "carol@corp.example", Subject: "42", Domain: "corp.example"}}}, google.Config{})
	g := e.connect(t, "carol@corp.example")
	assert.Equal(t, oauth2client.Identity{Username: "carol@corp.example", Subject: "42", Tenant: "corp.example"}, g.Identity)
	assert.False(t, g.RefreshToken.IsZero())
	assert.Equal(t, t0.Add(time.Hour), g.Expiry)
	assert.Contains(t, g.Scopes, google.MailScope)
	_, err := e.fake.Ledger().Check("carol@corp.example", g.AccessToken.Reveal())
	require.NoError(t, err)

	e.clock.Advance(50 * time.Minute)
	before := *g
	ng, err := e.p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, before, *g, "Refresh must not modify its argument")
	assert.Equal(t, g.RefreshToken, ng.RefreshToken, "Google does not rotate: the old refresh token is kept")
	assert.NotEqual(t, g.AccessToken, ng.AccessToken)
	assert.Equal(t, e.clock.Now().Add(time.Hour), ng.Expiry)
	assert.Equal(t, g.Identity, ng.Identity)
	assert.Equal(t, 1, e.fake.TokenRequests(mailtest.GrantRefreshToken))
	_, err = e.fake.Ledger().Check("carol@corp.example", ng.AccessToken.Reveal())
	require.NoError(t, err)
}

func TestRefreshTokenOnlyWithConsent(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	e.connect(t, "")
	// Without prompt=consent a returning user gets no refresh token: the
	// provider refuses such a grant, since it would die within the hour.
	code, v := e.authorize(t, "", func(q url.Values) { q.Del("prompt") })
	_, err := e.p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: code, CodeVerifier: v, RedirectURI: redirect})
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, oauth2client.ClassConfig, pe.Class)
	assert.Contains(t, pe.Remedy, "prompt=consent")
}

func TestExchangeFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mutate    func(*oauth2client.ExchangeRequest)
		reuse     bool
		code      string
		class     oauth2client.Class
		remedyHas string
	}{
		{"wrong verifier", func(r *oauth2client.ExchangeRequest) { r.CodeVerifier = oauth2client.Secret(oauth2.GenerateVerifier()) }, false, "invalid_grant", oauth2client.ClassReauth, "connect the account again"},
		{"code used twice", nil, true, "invalid_grant", oauth2client.ClassReauth, "In production"},
		{"other redirect", func(r *oauth2client.ExchangeRequest) { r.RedirectURI = "https://other.example/cb" }, false, "redirect_uri_mismatch", oauth2client.ClassConfig, "add exactly https://other.example/cb under Authorized redirect URIs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
			code, v := e.authorize(t, "", nil)
			req := oauth2client.ExchangeRequest{Code: code, CodeVerifier: v, RedirectURI: redirect}
			if tc.reuse {
				_, err := e.p.Exchange(context.Background(), req)
				require.NoError(t, err)
			}
			if tc.mutate != nil {
				tc.mutate(&req)
			}
			_, err := e.p.Exchange(context.Background(), req)
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.code, pe.Code)
			assert.Equal(t, tc.class, pe.Class)
			assert.Contains(t, pe.Remedy, tc.remedyHas)
			assert.Equal(t, http.StatusBadRequest, pe.HTTPStatus)
			assert.NotContains(t, err.Error(), string(code))
			assert.NotContains(t, err.Error(), string(v))
		})
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail       mailtest.GoogleFailure
		class      oauth2client.Class
		remedyHas  string
		retryAfter time.Duration
	}{
		{"expired or revoked", mailtest.GoogleFailure{Error: "invalid_grant", Description: "Token has been expired or revoked."}, oauth2client.ClassReauth, "7 days", 0},
		{"bad secret", mailtest.GoogleFailure{Status: 401, Error: "invalid_client", Description: "Unauthorized"}, oauth2client.ClassConfig, "Credentials", 0},
		{"no delegation", mailtest.GoogleFailure{Status: 401, Error: "unauthorized_client"}, oauth2client.ClassAdmin, "Domain-wide delegation", 0},
		{"access denied", mailtest.GoogleFailure{Error: "access_denied"}, oauth2client.ClassUser, "allow access", 0},
		{"admin policy", mailtest.GoogleFailure{Error: "admin_policy_enforced"}, oauth2client.ClassAdmin, "App access control", 0},
		{"org internal", mailtest.GoogleFailure{Error: "org_internal"}, oauth2client.ClassConfig, "External", 0},
		{"bad scope", mailtest.GoogleFailure{Error: "invalid_scope"}, oauth2client.ClassConfig, "https://mail.google.com/", 0},
		{"unknown code", mailtest.GoogleFailure{Error: "unsupported_grant_type"}, oauth2client.ClassConfig, "endpoints", 0},
		{"rfc code not in table", mailtest.GoogleFailure{Error: "consent_required"}, oauth2client.ClassReauth, "sign in again", 0},
		{"unavailable", mailtest.GoogleFailure{Status: 503, Error: "temporarily_unavailable"}, oauth2client.ClassTransient, "try again later", 0},
		{"server error html", mailtest.GoogleFailure{Status: 500}, oauth2client.ClassTransient, "try again later", 0},
		{"throttled", mailtest.GoogleFailure{Status: 429, RetryAfter: 7 * time.Second}, oauth2client.ClassTransient, "try again later", 7 * time.Second},
		{"unclassified", mailtest.GoogleFailure{Error: "something_new"}, oauth2client.ClassUnknown, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
			g := e.connect(t, "")
			e.fake.FailNext(tc.fail)
			ng, err := e.p.Refresh(context.Background(), g)
			assert.Nil(t, ng)
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "google", pe.Provider)
			assert.Equal(t, "refresh", pe.Op)
			assert.Equal(t, tc.fail.Error, pe.Code)
			assert.Equal(t, tc.class, pe.Class)
			assert.Contains(t, pe.Remedy, tc.remedyHas)
			assert.Equal(t, tc.retryAfter, pe.RetryAfter)
			want := tc.fail.Status
			if want == 0 {
				want = http.StatusBadRequest
			}
			assert.Equal(t, want, pe.HTTPStatus)
			assert.Equal(t, tc.class == oauth2client.ClassReauth, pe.Is(oauth2client.ErrReauthRequired))
			assert.Equal(t, tc.class == oauth2client.ClassTransient, pe.Is(oauth2client.ErrTransient))
			for _, s := range []string{g.RefreshToken.Reveal(), g.AccessToken.Reveal(), e.fake.ClientSecret()} {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}

func TestErrorsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, ei := range google.Errors() {
		assert.False(t, seen[ei.Code], "duplicate %s", ei.Code)
		seen[ei.Code] = true
		assert.NotEmpty(t, ei.Meaning, ei.Code)
		assert.NotEmpty(t, ei.Remedy, ei.Code)
		assert.NotEqual(t, oauth2client.ClassUnknown, ei.Class, ei.Code)
	}
	for _, c := range []string{"invalid_grant", "invalid_client", "redirect_uri_mismatch", "access_denied"} {
		assert.True(t, seen[c], c)
	}
	es := google.Errors()
	es[0].Code = "changed"
	assert.Equal(t, "invalid_grant", google.Errors()[0].Code, "Errors returns a copy")
}

func TestNetworkFailureIsTransient(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	g := e.connect(t, "")
	e.fake.Close()
	_, err := e.p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrTransient)
	assert.NotContains(t, err.Error(), g.RefreshToken.Reveal())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.p.Refresh(ctx, g)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, oauth2client.ErrTransient)
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	_, err := e.p.Refresh(context.Background(), &oauth2client.Grant{AccessToken: "ya29.x"})
	require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	assert.Equal(t, 0, e.fake.TokenRequests(mailtest.GrantRefreshToken))
}

func TestRevoke(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	g := e.connect(t, "")
	require.NoError(t, e.p.Revoke(context.Background(), g))
	_, err := e.fake.Ledger().Check("", g.AccessToken.Reveal())
	require.ErrorIs(t, err, mailtest.ErrTokenRevoked)
	_, err = e.p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	// Revoking an already revoked grant succeeds: the account is gone
	// either way.
	require.NoError(t, e.p.Revoke(context.Background(), g))
	require.NoError(t, e.p.Revoke(context.Background(), &oauth2client.Grant{}))

	g2 := e.connect(t, "")
	e.fake.Close()
	require.ErrorIs(t, e.p.Revoke(context.Background(), g2), oauth2client.ErrTransient)
}

func TestUserRevokedAtGoogle(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	g := e.connect(t, "")
	assert.Equal(t, 1, e.fake.RevokeUser("bob@gmail.example"))
	_, err := e.p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	assert.Contains(t, err.Error(), "Token has been expired or revoked.")
}

func TestAccessDenied(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	e.fake.DenyNext()
	u, err := e.p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: redirect})
	require.NoError(t, err)
	cb, err := e.fake.Authorize(context.Background(), u)
	require.NoError(t, err)
	cu, err := url.Parse(cb)
	require.NoError(t, err)
	assert.Equal(t, "access_denied", cu.Query().Get("error"))
	assert.Equal(t, "", cu.Query().Get("code"))
}

func TestRedirectURIMismatchAtAuthorize(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	u, err := e.p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: "https://unregistered.example/cb"})
	require.NoError(t, err)
	_, err = e.fake.Authorize(context.Background(), u)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redirect_uri_mismatch")
}

func TestMail(t *testing.T) {
	p, err := google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s"})
	require.NoError(t, err)
	m := p.Mail()
	assert.Equal(t, oauth2client.ServerAddr{Host: "imap.gmail.com", Port: 993, Security: oauth2client.SecurityTLS}, m.IMAP)
	assert.Equal(t, oauth2client.ServerAddr{Host: "smtp.gmail.com", Port: 465, Security: oauth2client.SecurityTLS}, m.SMTP)
	assert.Equal(t, []string{"XOAUTH2", "OAUTHBEARER"}, m.Mechanisms)
	assert.Equal(t, []string{google.MailScope}, m.Scopes)
	assert.True(t, m.ServerSavesSent)
	m.Mechanisms[0] = "PLAIN"
	assert.Equal(t, "XOAUTH2", p.Mail().Mechanisms[0], "Mail returns a copy")

	smtp := oauth2client.ServerAddr{Host: "smtp.gmail.com", Port: 587, Security: oauth2client.SecuritySTARTTLS}
	imap := oauth2client.ServerAddr{Host: "127.0.0.1", Port: 1993, Security: oauth2client.SecurityNone}
	p, err = google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", SMTP: smtp, IMAP: imap})
	require.NoError(t, err)
	assert.Equal(t, smtp, p.Mail().SMTP)
	assert.Equal(t, imap, p.Mail().IMAP)
}

func TestNewRejects(t *testing.T) {
	key := saKeyJSON(t, newKey(t), "sa@proj.iam.gserviceaccount.com")
	for _, tc := range []struct {
		name, field string
		cfg         google.Config
	}{
		{"nothing", "Config.ClientID", google.Config{}},
		{"no secret", "Config.ClientSecret", google.Config{ClientID: "1-x.apps.googleusercontent.com"}},
		{"not a google client", "Config.ClientID", google.Config{ClientID: "0000-1111", ClientSecret: "s"}},
		{"relative auth url", "Config.AuthURL", google.Config{ClientID: "c", ClientSecret: "s", AuthURL: "/auth"}},
		{"bad token url", "Config.TokenURL", google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", TokenURL: "ftp://x/token"}},
		{"bad revoke url", "Config.RevokeURL", google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s", RevokeURL: "::"}},
		{"key not json", "Config.ServiceAccount.JSONKey", google.Config{ServiceAccount: google.ServiceAccount{JSONKey: []byte("{")}}},
		{"oauth client json", "Config.ServiceAccount.JSONKey", google.Config{ServiceAccount: google.ServiceAccount{JSONKey: []byte(`{"web":{}}`)}}},
		{"no email", "Config.ServiceAccount.JSONKey", google.Config{ServiceAccount: google.ServiceAccount{JSONKey: []byte(`{"type":"service_account"}`)}}},
		{"no pem", "Config.ServiceAccount.JSONKey", google.Config{ServiceAccount: google.ServiceAccount{JSONKey: []byte(`{"type":"service_account","client_email":"a@b","private_key":"x"}`)}}},
		{"not rsa", "Config.ServiceAccount.JSONKey", google.Config{ServiceAccount: google.ServiceAccount{JSONKey: []byte(`{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := google.New(tc.cfg)
			require.ErrorIs(t, err, google.ErrConfig)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	_, err := google.New(google.Config{ServiceAccount: google.ServiceAccount{JSONKey: key}})
	require.NoError(t, err, "a service account alone is a valid configuration")
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

func saKeyJSON(t *testing.T, k *rsa.PrivateKey, email string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "proj", "private_key_id": "kid-1", "client_email": email,
		"client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	})
	require.NoError(t, err)
	return b
}

func TestServiceAccountDelegation(t *testing.T) {
	const sa = "mailer@proj.iam.gserviceaccount.com"
	key := newKey(t)
	// The service account signs with the system clock (x/oauth2/jwt), so
	// this test leaves both clocks real.
	fake, err := mailtest.NewGoogle(mailtest.GoogleOptions{
		Users:           []mailtest.GoogleUser{{Email: "dave@corp.example", Subject: "77", Domain: "corp.example"}},
		ServiceAccounts: []mailtest.GoogleServiceAccount{{Email: sa, PublicKey: &key.PublicKey}},
	})
	require.NoError(t, err)
	defer fake.Close()
	newP := func(t *testing.T, k *rsa.PrivateKey, scopes ...string) *google.Provider {
		p, err := google.New(google.Config{TokenURL: fake.TokenURL(), HTTPClient: fake.Client(),
			ServiceAccount: google.ServiceAccount{JSONKey: saKeyJSON(t, k, sa), Scopes: scopes}})
		require.NoError(t, err)
		return p
	}
	p := newP(t, key)

	g, err := p.AppToken(context.Background(), "dave@corp.example")
	require.NoError(t, err)
	assert.True(t, g.AppOnly)
	assert.True(t, g.RefreshToken.IsZero())
	assert.Equal(t, oauth2client.Identity{Username: "dave@corp.example", Subject: sa, Tenant: "corp.example"}, g.Identity)
	assert.WithinDuration(t, time.Now().Add(time.Hour), g.Expiry, time.Minute)
	ti, err := fake.Ledger().Check("dave@corp.example", g.AccessToken.Reveal())
	require.NoError(t, err)
	assert.Equal(t, []string{google.MailScope}, ti.Scopes)
	assert.Equal(t, 1, fake.TokenRequests(mailtest.GrantJWTBearer))

	// Refresh of an app-only grant takes a new assertion.
	ng, err := p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.NotEqual(t, g.AccessToken, ng.AccessToken)
	assert.Equal(t, 2, fake.TokenRequests(mailtest.GrantJWTBearer))

	t.Run("scope not delegated", func(t *testing.T) {
		_, err := newP(t, key, "https://www.googleapis.com/auth/gmail.imap_admin").AppToken(context.Background(), "dave@corp.example")
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "unauthorized_client", pe.Code)
		assert.Equal(t, oauth2client.ClassAdmin, pe.Class)
		assert.Equal(t, "app_token", pe.Op)
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := newP(t, newKey(t)).AppToken(context.Background(), "dave@corp.example")
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "invalid_grant", pe.Code)
	})
	t.Run("no mailbox", func(t *testing.T) {
		_, err := p.AppToken(context.Background(), "")
		require.ErrorIs(t, err, google.ErrConfig)
	})
	t.Run("no service account", func(t *testing.T) {
		p, err := google.New(google.Config{ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "s"})
		require.NoError(t, err)
		_, err = p.AppToken(context.Background(), "dave@corp.example")
		require.ErrorIs(t, err, oauth2client.ErrAppOnlyUnsupported)
	})
	t.Run("user flow needs a client", func(t *testing.T) {
		_, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: redirect})
		require.ErrorIs(t, err, google.ErrConfig)
		_, err = p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: "c", CodeVerifier: "v", RedirectURI: redirect})
		require.ErrorIs(t, err, google.ErrConfig)
	})
	t.Run("unreachable", func(t *testing.T) {
		fake2, err := mailtest.NewGoogle(mailtest.GoogleOptions{})
		require.NoError(t, err)
		fake2.Close()
		p, err := google.New(google.Config{TokenURL: fake2.TokenURL(), HTTPClient: fake2.Client(),
			ServiceAccount: google.ServiceAccount{JSONKey: saKeyJSON(t, key, sa)}})
		require.NoError(t, err)
		_, err = p.AppToken(context.Background(), "dave@corp.example")
		require.ErrorIs(t, err, oauth2client.ErrTransient)
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	e := newEnv(t, mailtest.GoogleOptions{}, google.Config{})
	g := e.connect(t, "")
	s := fmt.Sprintf("%v %+v %#v", g, *g, g)
	assert.NotContains(t, s, g.AccessToken.Reveal())
	assert.NotContains(t, s, g.RefreshToken.Reveal())
}

func TestServiceAccountKeyNeverPrinted(t *testing.T) {
	key := []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEv-SECRET\n-----END PRIVATE KEY-----\n"}`)
	sa := google.ServiceAccount{JSONKey: key, Scopes: []string{"https://mail.google.com/"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "sa", sa)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", sa, sa, sa), logged.String()} {
		assert.NotContains(t, out, "MIIEv-SECRET")
		assert.NotContains(t, out, "123 34 116", "not even as decimal bytes")
		assert.NotContains(t, out, base64.StdEncoding.EncodeToString(key)[:24], "nor as base64")
		assert.Contains(t, out, "https://mail.google.com/")
	}
}

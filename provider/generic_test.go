package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

const redirect = "https://groupware.example/oauth/callback"

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

var testMail = oauth2client.MailService{
	IMAP:   oauth2client.ServerAddr{Host: "imap.example.net", Port: 993},
	SMTP:   oauth2client.ServerAddr{Host: "smtp.example.net", Port: 587, Security: oauth2client.SecuritySTARTTLS},
	Scopes: []string{"https://mail.google.com/"},
}

func newOIDC(t *testing.T, issParam bool) (*mailtest.Google, *mailtest.Clock) {
	t.Helper()
	clock := mailtest.NewClock(t0)
	fake, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{redirect}, IssuerParameter: issParam, Now: clock.Now,
		Users: []mailtest.GoogleUser{{Email: "erin@idp.example", Subject: "s-erin"}}})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	return fake, clock
}

func discover(t *testing.T, fake *mailtest.Google, clock *mailtest.Clock, scopes ...string) *provider.Generic {
	t.Helper()
	p, err := provider.Discover(context.Background(), fake.Issuer(), provider.GenericConfig{
		ClientID: fake.ClientID(), ClientSecret: oauth2client.Secret(fake.ClientSecret()), Scopes: scopes, Mail: testMail,
		AuthParams: map[string]string{"access_type": "offline", "state": "ignored"}, HTTPClient: fake.Client(), Now: clock.Now})
	require.NoError(t, err)
	return p
}

// flow runs authorization and exchange; it returns the grant and the
// callback URL.
func flow(t *testing.T, p *provider.Generic, fake *mailtest.Google) (*oauth2client.Grant, *url.URL) {
	t.Helper()
	v := oauth2.GenerateVerifier()
	u, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st", CodeChallenge: oauth2.S256ChallengeFromVerifier(v),
		RedirectURI: redirect, LoginHint: "erin@idp.example", Prompt: "consent"})
	require.NoError(t, err)
	cb, err := fake.Authorize(context.Background(), u)
	require.NoError(t, err)
	cu, err := url.Parse(cb)
	require.NoError(t, err)
	require.Equal(t, "", cu.Query().Get("error"))
	assert.Equal(t, "st", cu.Query().Get("state"))
	g, err := p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: oauth2client.Secret(cu.Query().Get("code")),
		CodeVerifier: oauth2client.Secret(v), RedirectURI: redirect})
	require.NoError(t, err)
	return g, cu
}

func TestDiscoveryAndFlow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		issParam bool
		scopes   []string
	}{
		{"iss parameter, email in id_token", true, []string{"https://mail.google.com/", "email"}},
		{"no iss parameter, email from userinfo", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, clock := newOIDC(t, tc.issParam)
			p := discover(t, fake, clock, tc.scopes...)
			var ip oauth2client.IssuerProvider = p
			if tc.issParam {
				assert.Equal(t, fake.Issuer(), ip.Issuer())
			} else {
				assert.Equal(t, "", ip.Issuer())
			}
			g, cu := flow(t, p, fake)
			if tc.issParam {
				assert.Equal(t, fake.Issuer(), cu.Query().Get("iss"))
			} else {
				assert.False(t, cu.Query().Has("iss"))
			}
			assert.Equal(t, oauth2client.Identity{Username: "erin@idp.example", Subject: "s-erin"}, g.Identity)
			assert.Equal(t, t0.Add(time.Hour), g.Expiry)
			assert.False(t, g.RefreshToken.IsZero())
			_, err := fake.Ledger().Check("erin@idp.example", g.AccessToken.Reveal())
			require.NoError(t, err)

			clock.Advance(time.Hour)
			ng, err := p.Refresh(context.Background(), g)
			require.NoError(t, err)
			assert.Equal(t, g.RefreshToken, ng.RefreshToken)
			assert.NotEqual(t, g.AccessToken, ng.AccessToken)
			assert.Equal(t, g.Identity, ng.Identity)
			assert.Equal(t, clock.Now().Add(time.Hour), ng.Expiry)

			require.NoError(t, p.Revoke(context.Background(), ng))
			_, err = p.Refresh(context.Background(), ng)
			require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
			require.NoError(t, p.Revoke(context.Background(), ng), "revoking a revoked token succeeds")
		})
	}
}

func TestAuthCodeURLGeneric(t *testing.T) {
	fake, clock := newOIDC(t, false)
	p := discover(t, fake, clock)
	s, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st", CodeChallenge: "ch", RedirectURI: redirect})
	require.NoError(t, err)
	u, err := url.Parse(s)
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "st", q.Get("state"), "AuthParams cannot replace state")
	assert.Equal(t, "ch", q.Get("code_challenge"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.Equal(t, "offline", q.Get("access_type"))
	assert.Equal(t, "https://mail.google.com/ openid", q.Get("scope"))
	assert.False(t, q.Has("prompt"))
	assert.False(t, q.Has("login_hint"))
	_, err = p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st", RedirectURI: redirect})
	require.ErrorIs(t, err, provider.ErrConfig)
}

// tokenServer is a static OAuth server that rotates refresh tokens and
// records the forms it receives.
type tokenServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []url.Values
	auths []string // the Authorization header of each request
	reply func(w http.ResponseWriter, f url.Values)
}

func newTokenServer(t *testing.T, reply func(w http.ResponseWriter, f url.Values)) *tokenServer {
	ts := &tokenServer{reply: reply}
	ts.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !assert.NoError(t, r.ParseForm()) {
			return
		}
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		ts.reply(w, r.PostForm)
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tokenServer) last() url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[len(ts.forms)-1]
}

func (ts *tokenServer) lastAuth() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.auths[len(ts.auths)-1]
}

func static(t *testing.T, ts *tokenServer, mut func(*provider.GenericConfig)) *provider.Generic {
	t.Helper()
	cfg := provider.GenericConfig{Name: "fastmail", ClientID: "public-client", AuthURL: ts.srv.URL + "/authorize", TokenURL: ts.srv.URL + "/token",
		RevokeURL: ts.srv.URL + "/revoke", Mail: testMail, UsernameClaim: "preferred_username", Now: mailtest.NewClock(t0).Now,
		Issuer: ts.srv.URL, HTTPClient: ts.srv.Client()}
	if mut != nil {
		mut(&cfg)
	}
	p, err := provider.NewGeneric(cfg)
	require.NoError(t, err)
	return p
}

// idToken is an unsigned id_token of the static server (the TLS token
// endpoint stands for the signature) for client public-client.
func idToken(iss string, claims map[string]any) string {
	claims["iss"], claims["aud"], claims["iat"], claims["exp"] = iss, "public-client", t0.Unix(), t0.Add(time.Hour).Unix()
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + strings.TrimRight(b64(b), "=") + ".sig"
}

func TestStaticPublicClientRotation(t *testing.T) {
	n := 0
	var iss string
	ts := newTokenServer(t, func(w http.ResponseWriter, f url.Values) {
		n++
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", n), "refresh_token": fmt.Sprintf("rt-%d", n),
			"expires_in": 600, "token_type": "Bearer", "id_token": idToken(iss, map[string]any{"sub": "u1", "preferred_username": "frank@fm.example"})})
	})
	iss = ts.srv.URL
	p := static(t, ts, nil)
	assert.Equal(t, "", p.Issuer())
	g, err := p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: "c", CodeVerifier: "v", RedirectURI: redirect})
	require.NoError(t, err)
	f := ts.last()
	assert.Equal(t, "public-client", f.Get("client_id"))
	assert.False(t, f.Has("client_secret"), "a public client sends no secret")
	assert.Equal(t, "v", f.Get("code_verifier"))
	assert.Equal(t, oauth2client.Identity{Username: "frank@fm.example", Subject: "u1"}, g.Identity)
	assert.Equal(t, t0.Add(10*time.Minute), g.Expiry)

	ng, err := p.Refresh(context.Background(), g)
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-2"), ng.RefreshToken, "a rotated refresh token replaces the old one")
	assert.Equal(t, "rt-1", ts.last().Get("refresh_token"))
	assert.Equal(t, oauth2client.Secret("rt-1"), g.RefreshToken, "Refresh does not modify its argument")
}

func TestStaticErrors(t *testing.T) {
	var status int
	var body string
	ts := newTokenServer(t, func(w http.ResponseWriter, f url.Values) {
		if status == 429 {
			w.Header().Set("Retry-After", "30")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	p := static(t, ts, func(c *provider.GenericConfig) { c.ClientSecret = "client-secret-value" })
	g := &oauth2client.Grant{RefreshToken: "rt-secret-value", Identity: oauth2client.Identity{Username: "x"}}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		class  oauth2client.Class
		retry  time.Duration
	}{
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"expired"}`, oauth2client.ClassReauth, 0},
		{"invalid_client", 401, `{"error":"invalid_client"}`, oauth2client.ClassConfig, 0},
		{"access_denied", 400, `{"error":"access_denied"}`, oauth2client.ClassUser, 0},
		{"throttled", 429, ``, oauth2client.ClassTransient, 30 * time.Second},
		{"bad gateway", 502, `<html>`, oauth2client.ClassTransient, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body = tc.status, tc.body
			_, err := p.Refresh(context.Background(), g)
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "fastmail", pe.Provider)
			assert.Equal(t, tc.class, pe.Class)
			assert.Equal(t, tc.status, pe.HTTPStatus)
			assert.Equal(t, tc.retry, pe.RetryAfter)
			assert.NotContains(t, err.Error(), "rt-secret-value")
			assert.NotContains(t, err.Error(), "client-secret-value")
			assert.False(t, ts.last().Has("client_secret"), "without server metadata the secret goes by client_secret_basic (RFC 8414's default), not in the body")
			assert.Equal(t, basicAuth("public-client", "client-secret-value"), ts.lastAuth())
		})
	}
	t.Run("no refresh token", func(t *testing.T) {
		_, err := p.Refresh(context.Background(), &oauth2client.Grant{})
		require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	})
	t.Run("revoke failure", func(t *testing.T) {
		status, body = 503, `{"error":"temporarily_unavailable"}`
		require.ErrorIs(t, p.Revoke(context.Background(), g), oauth2client.ErrTransient)
		assert.Equal(t, "refresh_token", ts.last().Get("token_type_hint"))
		status, body = 200, ``
		require.NoError(t, p.Revoke(context.Background(), &oauth2client.Grant{AccessToken: "at"}))
		assert.Equal(t, "access_token", ts.last().Get("token_type_hint"))
	})
	t.Run("no username", func(t *testing.T) {
		status, body = 200, `{"access_token":"a","token_type":"Bearer"}`
		_, err := p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: "c", CodeVerifier: "v", RedirectURI: redirect})
		require.ErrorIs(t, err, provider.ErrConfig)
		assert.Contains(t, err.Error(), "preferred_username")
	})
	t.Run("unreachable", func(t *testing.T) {
		p := static(t, ts, func(c *provider.GenericConfig) { c.TokenURL, c.AllowInsecureHTTP = "http://127.0.0.1:1/token", true })
		_, err := p.Refresh(context.Background(), g)
		require.ErrorIs(t, err, oauth2client.ErrTransient)
	})
	t.Run("without revocation endpoint", func(t *testing.T) {
		p := static(t, ts, func(c *provider.GenericConfig) { c.RevokeURL = "" })
		require.NoError(t, p.Revoke(context.Background(), g))
	})
}

func TestUserinfoFailure(t *testing.T) {
	fake, clock := newOIDC(t, false)
	p, err := provider.NewGeneric(provider.GenericConfig{ClientID: fake.ClientID(), ClientSecret: oauth2client.Secret(fake.ClientSecret()),
		AuthURL: fake.AuthURL(), TokenURL: fake.TokenURL(), UserinfoURL: fake.Issuer() + "/nowhere", Mail: testMail,
		AuthParams: map[string]string{"access_type": "offline"}, HTTPClient: fake.Client(), Now: clock.Now, Scopes: []string{"openid"}})
	require.NoError(t, err)
	v := oauth2.GenerateVerifier()
	u, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: oauth2.S256ChallengeFromVerifier(v), RedirectURI: redirect})
	require.NoError(t, err)
	cb, err := fake.Authorize(context.Background(), u)
	require.NoError(t, err)
	cu, err := url.Parse(cb)
	require.NoError(t, err)
	_, err = p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: oauth2client.Secret(cu.Query().Get("code")), CodeVerifier: oauth2client.Secret(v), RedirectURI: redirect})
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "userinfo", pe.Op)
	assert.Equal(t, http.StatusNotFound, pe.HTTPStatus)
}

func TestDiscoveryFailures(t *testing.T) {
	doc := func(mut func(map[string]any)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/openid-configuration" {
				http.NotFound(w, r)
				return
			}
			base := "https://" + r.Host
			d := map[string]any{"issuer": base, "authorization_endpoint": base + "/a", "token_endpoint": base + "/t"}
			if mut != nil {
				mut(d)
			}
			_ = json.NewEncoder(w).Encode(d)
		}
	}
	for _, tc := range []struct {
		name    string
		h       http.Handler
		issuer  func(string) string
		field   string
		errIs   error
		class   oauth2client.Class
		wantErr bool
	}{
		{name: "issuer mismatch", h: doc(func(d map[string]any) { d["issuer"] = "https://evil.example" }), field: "Issuer"},
		{name: "no S256", h: doc(func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} }), field: "Issuer"},
		{name: "not found", h: http.NotFoundHandler(), class: oauth2client.ClassConfig},
		{name: "not json", h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }), class: oauth2client.ClassConfig},
		{name: "outage", h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }), class: oauth2client.ClassTransient},
		{name: "no token endpoint", h: doc(func(d map[string]any) { delete(d, "token_endpoint") }), field: "Issuer"},
		{name: "relative issuer", h: doc(nil), issuer: func(string) string { return "/realms/x" }, field: "Issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tc.h)
			defer srv.Close()
			iss := srv.URL
			if tc.issuer != nil {
				iss = tc.issuer(iss)
			}
			_, err := provider.Discover(context.Background(), iss, provider.GenericConfig{ClientID: "c", Mail: testMail, HTTPClient: srv.Client()})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "evil.example", "errors never quote the fetched document")
			if tc.field != "" {
				var fe *provider.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tc.field, fe.Field)
				require.ErrorIs(t, err, provider.ErrConfig)
				return
			}
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "discovery", pe.Op)
			assert.Equal(t, tc.class, pe.Class)
		})
	}
	t.Run("trailing slash", func(t *testing.T) {
		srv := httptest.NewTLSServer(doc(nil))
		defer srv.Close()
		p, err := provider.Discover(context.Background(), srv.URL, provider.GenericConfig{ClientID: "c", Mail: testMail, HTTPClient: srv.Client()})
		require.NoError(t, err)
		assert.Equal(t, "", p.Issuer(), "no iss parameter advertised")
		_, err = provider.Discover(context.Background(), srv.URL+"/", provider.GenericConfig{ClientID: "c", Mail: testMail, HTTPClient: srv.Client()})
		var fe *provider.FieldError
		require.ErrorAs(t, err, &fe, "the issuer is compared exactly (Discovery 4.3): a trailing slash is another issuer")
		assert.Equal(t, "Issuer", fe.Field)
	})
}

func TestNewGenericRejects(t *testing.T) {
	ok := provider.GenericConfig{ClientID: "c", AuthURL: "https://idp.example/a", TokenURL: "https://idp.example/t", Mail: testMail}
	for _, tc := range []struct {
		field string
		mut   func(*provider.GenericConfig)
	}{
		{"ClientID", func(c *provider.GenericConfig) { c.ClientID = "" }},
		{"AuthURL", func(c *provider.GenericConfig) { c.AuthURL = "" }},
		{"TokenURL", func(c *provider.GenericConfig) { c.TokenURL = "idp.example/t" }},
		{"RevokeURL", func(c *provider.GenericConfig) { c.RevokeURL = "mailto:x" }},
		{"UserinfoURL", func(c *provider.GenericConfig) { c.UserinfoURL = "::" }},
		{"Issuer", func(c *provider.GenericConfig) { c.IssuerParameter = true }},
		{"IMAP.Host", func(c *provider.GenericConfig) { c.Mail.IMAP.Host = "" }},
		{"IMAP.Port", func(c *provider.GenericConfig) { c.Mail.IMAP.Port = 0 }},
		{"SMTP.Port", func(c *provider.GenericConfig) { c.Mail.SMTP.Port = 70000 }},
		{"SMTP.Security", func(c *provider.GenericConfig) { c.Mail.SMTP.Security = 9 }},
		{"SMTP.Host", func(c *provider.GenericConfig) { c.Mail.SMTP.Host = "" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			cfg := ok
			cfg.Mail = ok.Mail
			tc.mut(&cfg)
			_, err := provider.NewGeneric(cfg)
			var fe *provider.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			require.ErrorIs(t, err, provider.ErrConfig)
			assert.True(t, strings.HasPrefix(err.Error(), "provider: "+tc.field+" "), err.Error())
		})
	}
	p, err := provider.NewGeneric(ok)
	require.NoError(t, err)
	m := p.Mail()
	assert.Equal(t, []string{"XOAUTH2", "OAUTHBEARER"}, m.Mechanisms)
	m.Mechanisms[0] = "PLAIN"
	assert.Equal(t, "XOAUTH2", p.Mail().Mechanisms[0])
}

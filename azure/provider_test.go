package azure_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// fakeAndProvider starts a fake Entra ID and a provider pointed at it,
// without an oauth2client.Client: these tests drive the Provider API.
func fakeAndProvider(t *testing.T, opts mailtest.AzureOptions, cfg azure.Config) (*mailtest.Azure, *azure.Provider) {
	t.Helper()
	opts.RedirectURIs = append(opts.RedirectURIs, redirect)
	az, err := mailtest.NewAzure(opts)
	require.NoError(t, err)
	t.Cleanup(az.Close)
	if cfg.ClientID == "" {
		cfg.ClientID = az.ClientID()
	}
	if cfg.Tenant == "" {
		cfg.Tenant = az.Tenant()
	}
	cfg.AuthorityURL, cfg.HTTPClient = az.URL(), az.Client()
	if cfg.ClientSecret == "" && cfg.CertificatePEM == nil && cfg.Assertion == nil {
		cfg.ClientSecret = oauth2client.Secret(az.ClientSecret())
	}
	p, err := azure.New(cfg)
	require.NoError(t, err)
	return az, p
}

// authorize runs the browser part of the flow and returns the code and
// the verifier to redeem it with.
func authorize(t *testing.T, az *mailtest.Azure, p *azure.Provider, email string) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	authURL, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "st",
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), RedirectURI: redirect, LoginHint: email, Prompt: "consent"})
	require.NoError(t, err)
	cb, err := az.AuthorizeAs(context.Background(), authURL, email)
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	require.Empty(t, u.Query().Get("error"), u.Query().Get("error_description"))
	return u.Query().Get("code"), verifier
}

func signIn(t *testing.T, az *mailtest.Azure, p *azure.Provider, email string) *oauth2client.Grant {
	t.Helper()
	code, verifier := authorize(t, az, p, email)
	g, err := p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: oauth2client.Secret(code),
		CodeVerifier: oauth2client.Secret(verifier), RedirectURI: redirect})
	require.NoError(t, err)
	return g
}

func TestAuthCodeURLCarriesStatePKCEAndScopes(t *testing.T) {
	az, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{DomainHint: "contoso.example"})
	raw, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "the-state", CodeChallenge: "the-challenge",
		RedirectURI: redirect, LoginHint: "alice@contoso.example", Prompt: "select_account"})
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, az.URL()+"/"+az.Tenant()+"/oauth2/v2.0/authorize", u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	for k, v := range map[string]string{"state": "the-state", "code_challenge": "the-challenge", "code_challenge_method": "S256",
		"prompt": "select_account", "response_mode": "query", "response_type": "code", "client_id": az.ClientID(),
		"redirect_uri": redirect, "login_hint": "alice@contoso.example", "domain_hint": "contoso.example"} {
		assert.Equal(t, v, q.Get(k), k)
	}
	assert.ElementsMatch(t, []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send",
		"offline_access", "openid", "profile"}, strings.Fields(q.Get("scope")))
}

func TestAuthCodeURLResponseMode(t *testing.T) {
	_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{ResponseMode: "form_post"})
	raw, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: redirect})
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "form_post", u.Query().Get("response_mode"))

	_, err = azure.New(azure.Config{ClientID: testAppID, Tenant: "organizations", ClientSecret: "s", ResponseMode: "fragment"})
	require.ErrorIs(t, err, azure.ErrConfig)
	assert.ErrorContains(t, err, "ResponseMode")
}

func TestExchangeAndRefreshGrant(t *testing.T) {
	az, p := fakeAndProvider(t, mailtest.AzureOptions{StrictRotation: true}, azure.Config{})
	g := signIn(t, az, p, "alice@contoso.example")
	assert.Equal(t, "alice@contoso.example", g.Identity.Username)
	assert.Equal(t, az.Users()[0].ObjectID+"."+az.Tenant(), g.Identity.Subject, "the home account ID")
	assert.Equal(t, az.Tenant(), g.Identity.Tenant)
	assert.Empty(t, g.RefreshToken, "the refresh token lives in ProviderState")
	assert.False(t, g.AppOnly)
	assert.Contains(t, g.Scopes, "https://outlook.office.com/IMAP.AccessAsUser.All")
	info, err := az.Ledger().Check("alice@contoso.example", string(g.AccessToken))
	require.NoError(t, err)
	// The fake and MSAL each add expires_in to their own reading of the
	// system clock, a few milliseconds apart: equal up to that, not to the
	// second (a second boundary can fall between the two readings).
	assert.WithinDuration(t, info.Expiry, g.Expiry, time.Second)

	// Three refreshes in a row: with strict rotation each must present
	// the refresh token the previous one returned.
	prev := g
	for i := range 3 {
		next, err := p.Refresh(context.Background(), prev)
		require.NoError(t, err, "refresh %d", i)
		assert.NotEqual(t, prev.AccessToken, next.AccessToken)
		assert.NotEqual(t, prev.ProviderState, next.ProviderState, "the rotated refresh token is in the new state")
		assert.Equal(t, g.Identity, next.Identity)
		_, err = az.Ledger().Check("alice@contoso.example", string(next.AccessToken))
		assert.NoError(t, err)
		prev = next
	}
	assert.Equal(t, 3, az.TokenRequests("refresh_token"))

	// The first grant's refresh token was rotated away: reusing it trips
	// reuse detection, and the error says to reconnect.
	_, err = p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
}

func TestCodeReuseAndWrongVerifier(t *testing.T) {
	az, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	code, verifier := authorize(t, az, p, "")
	req := oauth2client.ExchangeRequest{Code: oauth2client.Secret(code), CodeVerifier: oauth2client.Secret("not-the-verifier-" + verifier[:20]), RedirectURI: redirect}
	_, err := p.Exchange(context.Background(), req)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "AADSTS501481", pe.ProviderCode)
	assert.NotContains(t, err.Error(), code)
	assert.NotContains(t, err.Error(), verifier)

	req.CodeVerifier = oauth2client.Secret(verifier)
	_, err = p.Exchange(context.Background(), req)
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "AADSTS54005", pe.ProviderCode, "codes are single-use, even after a failed redemption")
	assert.Equal(t, oauth2client.ClassUser, pe.Class)
	assert.Equal(t, "exchange", pe.Op)
}

func TestSecretsNeverInErrorStrings(t *testing.T) {
	const wrong = "Wq8~wrong-secret-value-that-must-not-leak"
	az, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{ClientSecret: wrong})
	code, verifier := authorize(t, az, p, "")
	_, err := p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: oauth2client.Secret(code),
		CodeVerifier: oauth2client.Secret(verifier), RedirectURI: redirect})
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "AADSTS7000215", pe.ProviderCode)
	assert.Equal(t, oauth2client.ClassConfig, pe.Class)
	assert.Equal(t, 401, pe.HTTPStatus)
	assert.Contains(t, pe.Remedy, "Value")
	for _, s := range []string{wrong, az.ClientSecret(), code, verifier, "Trace ID", "\r\n"} {
		assert.NotContains(t, err.Error(), s)
		assert.NotContains(t, pe.Description, s)
	}

	// A refresh failure does not print the tokens of the grant either.
	az2, p2 := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	g := signIn(t, az2, p2, "alice@contoso.example")
	az2.FailNext(70008)
	_, err = p2.Refresh(context.Background(), g)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), string(g.AccessToken))
	assert.NotContains(t, err.Error(), string(g.ProviderState))
}

func TestThrottlingAndNetworkErrors(t *testing.T) {
	az, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	g := signIn(t, az, p, "alice@contoso.example")
	az.FailNext(429)
	_, err := p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrTransient)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 429, pe.HTTPStatus)
	assert.Equal(t, 7*time.Second, pe.RetryAfter)
	assert.Equal(t, "AADSTS90055", pe.ProviderCode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Refresh(ctx, g)
	require.ErrorIs(t, err, context.Canceled, "the error chain is kept")

	az.Close()
	_, err = p.Refresh(context.Background(), g)
	require.ErrorIs(t, err, oauth2client.ErrTransient, "Entra unreachable")
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, pe.Remedy, az.URL())
}

func TestUnknownTenantAndClient(t *testing.T) {
	_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{Tenant: "no-such-tenant.example"})
	_, err := p.AuthCodeURL(context.Background(), oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: redirect})
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe, "tenant discovery fails")
	assert.Equal(t, "AADSTS90002", pe.ProviderCode)
	assert.Equal(t, oauth2client.ClassConfig, pe.Class)
	assert.Contains(t, pe.Remedy, "no-such-tenant.example")
	assert.Contains(t, pe.Remedy, "cloud")

	az, good := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	code, verifier := authorize(t, az, good, "")
	wrong, err := azure.New(azure.Config{ClientID: "00000000-dead-4000-8000-000000000000", Tenant: az.Tenant(),
		ClientSecret: oauth2client.Secret(az.ClientSecret()), AuthorityURL: az.URL(), HTTPClient: az.Client()})
	require.NoError(t, err)
	_, err = wrong.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: oauth2client.Secret(code),
		CodeVerifier: oauth2client.Secret(verifier), RedirectURI: redirect})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "AADSTS700016", pe.ProviderCode)
	assert.Contains(t, pe.Remedy, "00000000-dead-4000-8000-000000000000", "the remedy names the client ID in use")
	assert.Contains(t, pe.Remedy, az.Tenant())
}

func TestRefreshRejectsUnusableState(t *testing.T) {
	_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	for name, st := range map[string]string{
		"empty":        "",
		"not JSON":     "garbage",
		"no account":   `{"v":1,"msal":{}}`,
		"bad cache":    `{"v":1,"home_account_id":"x.y","msal":[1,2]}`,
		"absent acct":  `{"v":1,"home_account_id":"x.y","tenant":"t","msal":{}}`,
		"no msal blob": `{"v":1,"home_account_id":"x.y"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Refresh(context.Background(), &oauth2client.Grant{ProviderState: []byte(st)})
			require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
		})
	}
}

func TestAppTokenNeedsAppOnly(t *testing.T) {
	_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
	_, err := p.AppToken(context.Background(), "shared@contoso.example")
	require.ErrorIs(t, err, oauth2client.ErrAppOnlyUnsupported)

	az, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{AppOnly: true})
	g, err := p.AppToken(context.Background(), "shared@contoso.example")
	require.NoError(t, err)
	assert.True(t, g.AppOnly)
	assert.Equal(t, "shared@contoso.example", g.Identity.Username)
	assert.Equal(t, az.Tenant(), g.Identity.Tenant)
	assert.Equal(t, 1, az.TokenRequestsAt("client_credentials", az.Tenant()))
	az.FailNext(7000222)
	_, err = p.AppToken(context.Background(), "shared@contoso.example")
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "app_token", pe.Op)
	assert.Equal(t, oauth2client.ClassAdmin, pe.Class)
}

func TestAssertionCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "workload"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)

	var mu sync.Mutex
	var endpoints []string
	var clientID string
	assertion := func(ctx context.Context, tokenEndpoint string) (string, error) {
		mu.Lock()
		endpoints = append(endpoints, tokenEndpoint)
		mu.Unlock()
		sum := sha256.Sum256(der)
		tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"aud": tokenEndpoint, "iss": clientID, "sub": clientID,
			"jti": "j", "nbf": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()})
		tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
		return tok.SignedString(key)
	}
	az, err := mailtest.NewAzure(mailtest.AzureOptions{Certificate: cert, RedirectURIs: []string{redirect}})
	require.NoError(t, err)
	t.Cleanup(az.Close)
	clientID = az.ClientID()
	p, err := azure.New(azure.Config{ClientID: az.ClientID(), Tenant: az.Tenant(), AuthorityURL: az.URL(), HTTPClient: az.Client(),
		Assertion: assertion})
	require.NoError(t, err)
	g := signIn(t, az, p, "alice@contoso.example")
	_, err = p.Refresh(context.Background(), g)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, endpoints)
	assert.Equal(t, az.URL()+"/"+az.Tenant()+"/oauth2/v2.0/token", endpoints[0])
}

// Refreshes of different accounts running at once, with fewer MSAL
// clients than callers, each see only their own account.
func TestConcurrentRefreshesStayPerAccount(t *testing.T) {
	az, p := fakeAndProvider(t, mailtest.AzureOptions{Users: []mailtest.AzureUser{
		{Email: "alice@contoso.example"}, {Email: "bob@contoso.example"}, {Email: "carol@contoso.example"}}},
		azure.Config{Pool: 1})
	var grants []*oauth2client.Grant
	for _, u := range az.Users() {
		grants = append(grants, signIn(t, az, p, u.Email))
	}
	type result struct {
		want string
		g    *oauth2client.Grant
		err  error
	}
	results := make(chan result, 3*len(grants))
	var wg sync.WaitGroup
	for range 3 {
		for _, g := range grants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next, err := p.Refresh(context.Background(), g)
				results <- result{g.Identity.Username, next, err}
			}()
		}
	}
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		require.NoError(t, r.err)
		n++
		assert.Equal(t, r.want, r.g.Identity.Username)
		for _, other := range az.Users() {
			if other.Email != r.want {
				assert.NotContains(t, string(r.g.ProviderState), other.ObjectID, "%s's state holds nothing of %s", r.want, other.Email)
			}
		}
		_, err := az.Ledger().Check(r.want, string(r.g.AccessToken))
		assert.NoError(t, err)
	}
	assert.Equal(t, 9, n)
}

func TestAdminConsentURL(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   azure.Config
		base  string
		scope string
	}{
		{"delegated", azure.Config{Tenant: "contoso.com"}, "https://login.microsoftonline.com/contoso.com/v2.0/adminconsent?",
			"https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"},
		{"app-only global", azure.Config{Tenant: "contoso.com", AppOnly: true}, "https://login.microsoftonline.com/contoso.com/v2.0/adminconsent?",
			"https://ps.outlook.com/.default"},
		{"app-only us government", azure.Config{Tenant: "contoso.us", AppOnly: true, Cloud: azure.USGovernment},
			"https://login.microsoftonline.us/contoso.us/v2.0/adminconsent?", "https://outlook.office365.us/.default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ClientID, tt.cfg.ClientSecret = testAppID, "s"
			p, err := azure.New(tt.cfg)
			require.NoError(t, err)
			raw := p.AdminConsentURL("https://app.example/cb")
			require.True(t, strings.HasPrefix(raw, tt.base), raw)
			u, err := url.Parse(raw)
			require.NoError(t, err)
			assert.Equal(t, tt.scope, u.Query().Get("scope"))
			assert.Equal(t, testAppID, u.Query().Get("client_id"))
			assert.Equal(t, "https://app.example/cb", u.Query().Get("redirect_uri"))
		})
	}
}

// Personal Microsoft accounts sign in at /consumers or /common; their
// home tenant is the MSA tenant.
func TestPersonalAccounts(t *testing.T) {
	for _, tenant := range []string{"consumers", "common"} {
		t.Run(tenant, func(t *testing.T) {
			az, p := fakeAndProvider(t, mailtest.AzureOptions{Users: []mailtest.AzureUser{{Email: "someone@outlook.example", Tenant: mailtest.MSATenant}}},
				azure.Config{Tenant: tenant})
			g := signIn(t, az, p, "someone@outlook.example")
			assert.Equal(t, mailtest.MSATenant, g.Identity.Tenant)
			next, err := p.Refresh(context.Background(), g)
			require.NoError(t, err)
			assert.Equal(t, "someone@outlook.example", next.Identity.Username)
			assert.Equal(t, 1, az.TokenRequests("refresh_token"))
		})
	}
}

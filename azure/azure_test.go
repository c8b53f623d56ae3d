package azure_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const redirect = "http://localhost:8080/oauth2/callback"

type env struct {
	az      *mailtest.Azure
	p       *azure.Provider
	store   *tokenstore.Memory
	client  *oauth2client.Client
	handler http.Handler
}

func newEnv(t *testing.T, opts mailtest.AzureOptions, cfg azure.Config) *env {
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
	e := &env{az: az, p: p, store: tokenstore.NewMemory()}
	e.client, err = oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: e.store})
	require.NoError(t, err)
	require.NoError(t, e.client.SetConnection("m365", p))
	e.handler = e.client.Handler(oauth2client.HandlerConfig{})
	return e
}

// connect walks the authorization-code flow: the fake plays the browser
// and the user, the Client's real handler takes the callback.
func (e *env) connect(t *testing.T, account, loginHint string) *oauth2client.Record {
	t.Helper()
	ctx := context.Background()
	authURL, err := e.client.StartAuthorization(ctx, "m365", account, &oauth2client.AuthOptions{LoginHint: loginHint})
	require.NoError(t, err)
	cb, err := e.az.Authorize(ctx, authURL)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, cb, nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	rec, err := e.store.Load(ctx, account)
	require.NoError(t, err)
	return rec
}

func TestAuthCodeFlowThroughMSAL(t *testing.T) {
	e := newEnv(t, mailtest.AzureOptions{}, azure.Config{})
	rec := e.connect(t, "acct", "")
	assert.Equal(t, "alice@contoso.example", rec.Identity.Username)
	assert.Equal(t, e.az.Tenant(), rec.Identity.Tenant)
	assert.NotEmpty(t, rec.ProviderState)
	assert.WithinDuration(t, time.Now().Add(time.Hour), rec.Expiry, time.Minute)
	_, err := e.az.Ledger().Check("alice@contoso.example", string(rec.AccessToken))
	assert.NoError(t, err, "the stored token is one the provider issued")
	assert.Greater(t, len(rec.AccessToken), 1500, "tokens have realistic JWT size")
	assert.Equal(t, 1, e.az.TokenRequests("authorization_code"))

	authURL, err := e.client.StartAuthorization(context.Background(), "m365", "x", &oauth2client.AuthOptions{Prompt: "select_account"})
	require.NoError(t, err)
	for _, want := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "prompt=select_account", "offline_access", "IMAP.AccessAsUser.All"} {
		assert.Contains(t, authURL, want)
	}
}

func TestSilentRefreshPersistsRotation(t *testing.T) {
	// With strict rotation, reusing an old refresh token revokes the
	// family: two refreshes in a row only work if the rotated token was
	// stored.
	e := newEnv(t, mailtest.AzureOptions{StrictRotation: true}, azure.Config{})
	first := e.connect(t, "acct", "")
	ctx := context.Background()
	tok1, err := e.client.Refresh(ctx, "acct")
	require.NoError(t, err)
	second, err := e.store.Load(ctx, "acct")
	require.NoError(t, err)
	assert.NotEqual(t, first.ProviderState, second.ProviderState, "the rotated refresh token is persisted")
	tok2, err := e.client.Refresh(ctx, "acct")
	require.NoError(t, err, "the second refresh used the rotated token")
	assert.NotEqual(t, tok1.AccessToken, tok2.AccessToken)
	assert.Equal(t, 2, e.az.TokenRequests("refresh_token"))
	_, err = e.az.Ledger().Check("alice@contoso.example", string(tok2.AccessToken))
	assert.NoError(t, err)
}

func TestTwoUsersNeverShareCache(t *testing.T) {
	e := newEnv(t, mailtest.AzureOptions{Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}, {Email: "bob@contoso.example"}}}, azure.Config{})
	a := e.connect(t, "a", "alice@contoso.example")
	b := e.connect(t, "b", "bob@contoso.example")
	assert.Equal(t, "bob@contoso.example", b.Identity.Username)
	assert.NotContains(t, string(b.ProviderState), "alice", "B's record holds nothing of A")
	assert.NotContains(t, string(b.ProviderState), string(a.AccessToken))
	assert.NotContains(t, string(b.ProviderState), a.Identity.Subject)
	rts := refreshTokens(t, a.ProviderState)
	require.NotEmpty(t, rts, "A's state holds A's refresh token")
	for _, rt := range rts {
		assert.NotContains(t, string(b.ProviderState), rt, "B's state holds no refresh token of A")
	}

	ctx := context.Background()
	_, err := e.client.Refresh(ctx, "a")
	require.NoError(t, err)
	b2, err := e.store.Load(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, b.Version, b2.Version, "A's refresh never rewrites B's record")
	a2, err := e.store.Load(ctx, "a")
	require.NoError(t, err)
	assert.NotContains(t, string(a2.ProviderState), "bob")
}

func TestMultiTenantRefreshesAgainstHomeTenant(t *testing.T) {
	const t1, t2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	e := newEnv(t, mailtest.AzureOptions{Tenants: []string{t1, t2}, Users: []mailtest.AzureUser{
		{Email: "alice@one.example", Tenant: t1}, {Email: "bob@two.example", Tenant: t2}}},
		azure.Config{Tenant: "organizations"})
	a := e.connect(t, "a", "alice@one.example")
	b := e.connect(t, "b", "bob@two.example")
	assert.Equal(t, t1, a.Identity.Tenant)
	assert.Equal(t, t2, b.Identity.Tenant)
	ctx := context.Background()
	for _, acct := range []string{"a", "b", "a", "b"} {
		_, err := e.client.Refresh(ctx, acct)
		require.NoError(t, err, "the fake rejects a refresh at another tenant with AADSTS700005")
	}
	assert.Equal(t, 2, e.az.TokenRequestsAt("refresh_token", t1), "alice refreshes at her tenant")
	assert.Equal(t, 2, e.az.TokenRequestsAt("refresh_token", t2), "bob refreshes at his tenant")
	assert.Zero(t, e.az.TokenRequestsAt("refresh_token", "organizations"))
	a2, err := e.store.Load(ctx, "a")
	require.NoError(t, err)
	b2, err := e.store.Load(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, "alice@one.example", a2.Identity.Username)
	assert.Equal(t, "bob@two.example", b2.Identity.Username)
	assert.NotContains(t, string(a2.ProviderState), "bob")
	assert.NotContains(t, string(b2.ProviderState), "alice")
}

func TestAppOnly(t *testing.T) {
	e := newEnv(t, mailtest.AzureOptions{}, azure.Config{AppOnly: true})
	ctx := context.Background()
	tok, err := e.client.ConnectAppOnly(ctx, "m365", "shared", "shared@contoso.example")
	require.NoError(t, err)
	assert.Equal(t, "shared@contoso.example", tok.Username)
	info, ok := e.az.Ledger().Lookup(string(tok.AccessToken))
	require.True(t, ok)
	assert.True(t, info.AppOnly)
	assert.ElementsMatch(t, []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}, info.Scopes)
	tok2, err := e.client.Refresh(ctx, "shared")
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
	assert.Equal(t, 2, e.az.TokenRequests("client_credentials"))
	assert.Equal(t, []string{"https://outlook.office365.com/.default"}, e.p.Mail().Scopes)
	_, err = e.p.AuthCodeURL(ctx, oauth2client.AuthRequest{})
	assert.ErrorContains(t, err, "ConnectAppOnly")
}

func TestCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oauth2mail"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	e := newEnv(t, mailtest.AzureOptions{Certificate: cert}, azure.Config{CertificatePEM: pemData})
	rec := e.connect(t, "acct", "")
	assert.Equal(t, "alice@contoso.example", rec.Identity.Username)
	_, err = e.client.Refresh(context.Background(), "acct")
	assert.NoError(t, err)

	// The same certificate as a password-protected PKCS#12 file, in the
	// AES-256 format of current Windows/OpenSSL and the legacy one.
	for name, enc := range map[string]*pkcs12.Encoder{"modern": pkcs12.Modern, "legacy": pkcs12.LegacyRC2} {
		t.Run("PKCS#12 "+name, func(t *testing.T) {
			pfx, err := enc.Encode(key, cert, nil, "pfx-password")
			require.NoError(t, err)
			e := newEnv(t, mailtest.AzureOptions{Certificate: cert}, azure.Config{CertificatePKCS12: pfx, CertificatePassword: "pfx-password"})
			rec := e.connect(t, "acct", "")
			assert.Equal(t, "alice@contoso.example", rec.Identity.Username)

			_, err = azure.New(azure.Config{ClientID: e.az.ClientID(), Tenant: e.az.Tenant(), CertificatePKCS12: pfx, CertificatePassword: "wrong"})
			require.ErrorIs(t, err, azure.ErrConfig)
			assert.Contains(t, err.Error(), "CertificatePassword: wrong password")
			assert.NotContains(t, err.Error(), "pfx-password")
		})
	}
	_, err = azure.New(azure.Config{ClientID: "11111111-1111-4111-8111-111111111111", Tenant: "contoso.example", CertificatePKCS12: []byte("not a pfx")})
	require.ErrorIs(t, err, azure.ErrConfig)
	assert.Contains(t, err.Error(), "CertificatePKCS12: cannot read the PKCS#12 file")
}

func TestErrorMapping(t *testing.T) {
	for _, info := range azure.Errors() {
		t.Run(strings.ReplaceAll(info.Meaning, " ", "_"), func(t *testing.T) {
			e := newEnv(t, mailtest.AzureOptions{}, azure.Config{})
			e.connect(t, "acct", "")
			e.az.FailNext(info.Code)
			_, err := e.client.Refresh(context.Background(), "acct")
			require.Error(t, err)
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "AADSTS"+itoa(info.Code), pe.ProviderCode)
			assert.Equal(t, info.Class, pe.Class)
			assert.NotEmpty(t, pe.Remedy)
			assert.NotContains(t, pe.Remedy, "{", "placeholders are filled in")
			assert.NotContains(t, err.Error(), e.az.ClientSecret())
			assert.NotContains(t, err.Error(), "Trace ID")
			assert.NotEmpty(t, pe.TraceID)
			rec, lerr := e.store.Load(context.Background(), "acct")
			require.NoError(t, lerr)
			assert.NotEmpty(t, rec.ProviderState, "a failed refresh never destroys the stored token")
		})
	}
}

// Each code's class and remedy, written out here rather than read from
// azure.Errors, through MSAL and the Client from the fake's failure switch.
func TestErrorRemedies(t *testing.T) {
	for _, tt := range []struct {
		code  int
		class oauth2client.Class
		want  string
	}{
		{7000215, oauth2client.ClassConfig, "Value"},
		{7000222, oauth2client.ClassAdmin, "new client secret"},
		{7000218, oauth2client.ClassConfig, "client secret Value or certificate"},
		{50011, oauth2client.ClassConfig, "add exactly " + redirect},
		{500113, oauth2client.ClassConfig, "redirect URI " + redirect},
		{900971, oauth2client.ClassConfig, "redirect URI " + redirect},
		{65001, oauth2client.ClassReauth, "/v2.0/adminconsent?client_id="},
		{700016, oauth2client.ClassConfig, "Application (client) ID"},
		{90002, oauth2client.ClassConfig, "cloud"},
		{70008, oauth2client.ClassReauth, "connect the mailbox again"},
		{54005, oauth2client.ClassUser, "start the connection again"},
		{700082, oauth2client.ClassReauth, "connect the mailbox again"},
		{50173, oauth2client.ClassReauth, "connect the mailbox again"},
		{50076, oauth2client.ClassReauth, "MFA"},
		{50079, oauth2client.ClassReauth, "register MFA"},
		{53003, oauth2client.ClassAdmin, "Conditional Access"},
		{50126, oauth2client.ClassReauth, "password"},
		{9002313, oauth2client.ClassConfig, "missing or duplicated"},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			e := newEnv(t, mailtest.AzureOptions{}, azure.Config{})
			e.connect(t, "acct", "")
			e.az.FailNext(tt.code)
			_, err := e.client.Refresh(context.Background(), "acct")
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "AADSTS"+strconv.Itoa(tt.code), pe.ProviderCode)
			assert.Equal(t, tt.class, pe.Class)
			assert.Contains(t, pe.Remedy, tt.want)
			assert.Equal(t, tt.class == oauth2client.ClassReauth, errors.Is(err, oauth2client.ErrReauthRequired))
		})
	}
}

func TestTransientAndUnknownErrors(t *testing.T) {
	e := newEnv(t, mailtest.AzureOptions{}, azure.Config{})
	before := e.connect(t, "acct", "")
	e.az.FailNext(503)
	_, err := e.client.Refresh(context.Background(), "acct")
	require.ErrorIs(t, err, oauth2client.ErrTransient)
	after, err := e.store.Load(context.Background(), "acct")
	require.NoError(t, err)
	assert.Equal(t, before.ProviderState, after.ProviderState)

	e = newEnv(t, mailtest.AzureOptions{}, azure.Config{})
	e.connect(t, "acct", "")
	e.az.FailNext(123456)
	_, err = e.client.Refresh(context.Background(), "acct")
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "AADSTS123456", pe.ProviderCode, "unknown codes keep the raw code")
	assert.NotEmpty(t, pe.CorrelationID)
}

// testAppID is an Application (client) ID for tests that never reach
// Entra.
const testAppID = "6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10"

func TestConfigValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  azure.Config
		want string
	}{
		{"no client id", azure.Config{Tenant: "contoso.example", ClientSecret: "s"}, "Application (client) ID"},
		{"no tenant", azure.Config{ClientID: testAppID, ClientSecret: "s"}, "Directory (tenant) ID"},
		{"secret id pasted", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "0f3c5a9e-1b2d-4c3e-8f7a-9b8c7d6e5f4a"}, "Value"},
		{"no credential", azure.Config{ClientID: testAppID, Tenant: "contoso.example"}, "exactly one credential"},
		{"two credentials", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", CertificatePEM: []byte("x")}, "exactly one credential"},
		{"app-only at common", azure.Config{ClientID: testAppID, Tenant: "common", ClientSecret: "s", AppOnly: true}, "Directory (tenant) ID"},
		{"app scope as delegated", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", Scopes: []string{"https://outlook.office.com/IMAP.AccessAsApp"}}, "application permission"},
		{"http authority", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", AuthorityURL: "http://login.example"}, "https"},
		{"bad certificate", azure.Config{ClientID: testAppID, Tenant: "contoso.example", CertificatePEM: []byte("not pem")}, "certificate"},
		{"client ID not a GUID", azure.Config{ClientID: "my-app", Tenant: "contoso.example", ClientSecret: "s"}, "Overview > Application (client) ID"},
		{"client ID with a typo", azure.Config{ClientID: testAppID[:35] + "g", Tenant: "contoso.example", ClientSecret: "s"}, "is a GUID"},
		{"secret ID pasted with a newline", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: " 0f3c5a9e-1b2d-4c3e-8f7a-9b8c7d6e5f4a\n"}, "secret's ID"},
		{"secret wrapped over lines", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "abc8Q~first-half\nsecond-half"}, "whitespace inside"},
		{"secret only whitespace", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: " \n"}, "only whitespace"},
		{"lower-case application permission as delegated", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", Scopes: []string{"https://outlook.office.com/smtp.sendasapp"}}, "application permission"},
		{"lower-case IMAP application permission as delegated", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", Scopes: []string{"https://outlook.office.com/imap.accessasapp"}}, "application permission"},
		{"authority with user information", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", AuthorityURL: "https://login.microsoftonline.com@evil.example"}, "https"},
		{"authority with a query", azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", AuthorityURL: "https://login.example/?x=1"}, "https"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := azure.New(tt.cfg)
			require.ErrorIs(t, err, azure.ErrConfig)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// TestHostileTenants: values that would change the authority URL's path
// or host are refused, by New and by Config.Authority alike.
func TestHostileTenants(t *testing.T) {
	for _, tenant := range []string{"x?y", "../", "..", "a/b", "x#y", "@evil.example", "evil.example/..", "%2e%2e", "a b", "contoso.example\\evil",
		"http://evil.example", "-contoso.example", "contoso", "évil.example"} {
		cfg := azure.Config{ClientID: testAppID, Tenant: tenant, ClientSecret: "s"}
		_, err := azure.New(cfg)
		require.ErrorIs(t, err, azure.ErrConfig, tenant)
		assert.ErrorContains(t, err, "Tenant", tenant)
		_, err = cfg.Authority()
		require.ErrorIs(t, err, azure.ErrConfig, tenant)
	}
	for tenant, want := range map[string]string{
		"contoso.onmicrosoft.com":              "https://login.microsoftonline.com/contoso.onmicrosoft.com",
		"0b7e3c2a-8f1d-4e6b-a9c5-3d2f1e0a9b8c": "https://login.microsoftonline.com/0b7e3c2a-8f1d-4e6b-a9c5-3d2f1e0a9b8c",
		"organizations":                        "https://login.microsoftonline.com/organizations",
	} {
		got, err := azure.Config{Tenant: tenant}.Authority()
		require.NoError(t, err, tenant)
		assert.Equal(t, want, got)
	}
	got, err := azure.Config{Tenant: "contoso.example", AuthorityURL: "https://login.example/"}.Authority()
	require.NoError(t, err)
	assert.Equal(t, "https://login.example/contoso.example", got)
}

func TestRedirectURIRules(t *testing.T) {
	p, err := azure.New(azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s"})
	require.NoError(t, err)
	for uri, ok := range map[string]bool{
		"https://mail.example.com/oauth2/callback":             true,
		"http://localhost:8080/cb":                             true,
		"http://127.0.0.1/cb":                                  true,
		"http://[::1]:9000/cb":                                 true,
		"http://mail.example.com/cb":                           false,
		"https://mail.example.com/cb#x":                        false,
		"ftp://mail.example.com/cb":                            false,
		"/relative":                                            false,
		"https://mail.example.com/cb#":                         false,
		"http://localhost.evil.example/cb":                     false,
		"https://mail.example.com/cb;x":                        false,
		"https://mail.example.com/" + strings.Repeat("a", 240): false,
		"https://mail.example.com/" + strings.Repeat("a", 200): true,
	} {
		err := p.ValidateRedirectURI(uri)
		if ok {
			assert.NoError(t, err, uri)
		} else {
			assert.Error(t, err, uri)
		}
	}
	_, err = oauth2client.New(oauth2client.Config{RedirectURL: "http://mail.example.com/cb", Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	c, _ := oauth2client.New(oauth2client.Config{RedirectURL: "http://mail.example.com/cb", Store: tokenstore.NewMemory()})
	assert.ErrorContains(t, c.SetConnection("m365", p), "localhost", "a bad redirect URI fails when the connection is added")
}

func TestCloudsAndMail(t *testing.T) {
	for _, tt := range []struct {
		name, authority, imap, smtp, resource string
	}{
		{"global", "https://login.microsoftonline.com", "outlook.office365.com", "smtp.office365.com", "https://outlook.office.com"},
		{"usgovernment", "https://login.microsoftonline.us", "outlook.office365.us", "outlook.office365.us", "https://outlook.office365.us"},
		{"usgovernmentdod", "https://login.microsoftonline.us", "outlook-dod.office365.us", "outlook-dod.office365.us", "https://outlook-dod.office365.us"},
		{"china", "https://login.partner.microsoftonline.cn", "partner.outlook.cn", "smtp.partner.outlook.cn", "https://partner.outlook.cn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cloud, ok := azure.CloudByName(tt.name)
			require.True(t, ok)
			p, err := azure.New(azure.Config{ClientID: testAppID, Tenant: "contoso.example", ClientSecret: "s", Cloud: cloud})
			require.NoError(t, err)
			m := p.Mail()
			assert.Equal(t, tt.authority, cloud.AuthorityHost)
			assert.Equal(t, oauth2client.ServerAddr{Host: tt.imap, Port: 993, Security: oauth2client.SecurityTLS}, m.IMAP)
			assert.Equal(t, oauth2client.ServerAddr{Host: tt.smtp, Port: 587, Security: oauth2client.SecuritySTARTTLS}, m.SMTP)
			assert.Equal(t, []string{tt.resource + "/IMAP.AccessAsUser.All", tt.resource + "/SMTP.Send"}, m.Scopes)
			assert.Equal(t, []string{"XOAUTH2"}, m.Mechanisms, "Exchange does not offer OAUTHBEARER")
			assert.True(t, m.ServerSavesSent, "Exchange files sent mail itself")
			assert.Contains(t, p.AdminConsentURL("https://x.example/cb"), tt.authority+"/contoso.example/v2.0/adminconsent?")
		})
	}
	_, ok := azure.CloudByName("mars")
	assert.False(t, ok)
}

func itoa(n int) string { return strconv.Itoa(n) }

// refreshTokens digs the refresh tokens out of a grant's ProviderState
// (MSAL's cache format: {"RefreshToken":{key:{"secret":...}}}).
func refreshTokens(t *testing.T, state []byte) []string {
	t.Helper()
	var st struct {
		MSAL struct {
			RefreshToken map[string]struct {
				Secret string `json:"secret"`
			}
		} `json:"msal"`
	}
	require.NoError(t, json.Unmarshal(state, &st))
	var out []string
	for _, rt := range st.MSAL.RefreshToken {
		out = append(out, rt.Secret)
	}
	return out
}

func TestCertificateNeverPrinted(t *testing.T) {
	cfg := azure.Config{ClientID: testAppID, CertificatePEM: []byte("-----BEGIN PRIVATE KEY-----\nkey-SECRET-1\n"),
		CertificatePKCS12: []byte("pfx-SECRET-2"), CertificatePassword: "pw-SECRET-3"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "azure", cfg)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, &cfg), logged.String()} {
		for _, secret := range []string{"key-SECRET-1", "pfx-SECRET-2", "pw-SECRET-3", "107 101 121"} {
			assert.NotContains(t, out, secret)
		}
		assert.Contains(t, out, testAppID)
	}
}

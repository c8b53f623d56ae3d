package provider_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

const tenantID = "11111111-2222-4333-8444-555555555555"

func validSettings() map[string]provider.Settings {
	return map[string]provider.Settings{
		"azure":  {Kind: provider.KindAzure, ClientID: "00000000-0000-4000-8000-00000000c11e", ClientSecret: "abc~secret-value", Tenant: tenantID},
		"google": {Kind: provider.KindGoogle, ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "GOCSPX-x"},
		"generic": {Kind: provider.KindGeneric, Name: "yahoo", ClientID: "c", AuthURL: "https://api.login.yahoo.com/oauth2/request_auth",
			TokenURL: "https://api.login.yahoo.com/oauth2/get_token", Scopes: []string{"mail-w"},
			IMAP: oauth2client.ServerAddr{Host: "imap.mail.yahoo.com", Port: 993}, SMTP: oauth2client.ServerAddr{Host: "smtp.mail.yahoo.com", Port: 465}},
	}
}

func TestCatalogBuildsEachKind(t *testing.T) {
	var c provider.Catalog
	s := validSettings()

	p, err := c.Build(context.Background(), s["azure"])
	require.NoError(t, err)
	require.IsType(t, &azure.Provider{}, p)
	assert.Equal(t, "outlook.office365.com", p.Mail().IMAP.Host)

	p, err = c.Build(context.Background(), s["google"])
	require.NoError(t, err)
	require.IsType(t, &google.Provider{}, p)
	assert.Equal(t, "imap.gmail.com", p.Mail().IMAP.Host)

	p, err = c.Build(context.Background(), s["generic"])
	require.NoError(t, err)
	require.IsType(t, &provider.Generic{}, p)
	assert.Equal(t, "smtp.mail.yahoo.com", p.Mail().SMTP.Host)
	assert.Equal(t, []string{"mail-w"}, p.Mail().Scopes)

	t.Run("azure national cloud and overrides", func(t *testing.T) {
		a := s["azure"]
		a.Cloud = "usgovernment"
		a.SMTP = oauth2client.ServerAddr{Host: "smtp.local", Port: 2525, Security: oauth2client.SecurityNone}
		p, err := c.Build(context.Background(), a)
		require.NoError(t, err)
		assert.Equal(t, "outlook.office365.us", p.Mail().IMAP.Host)
		assert.Equal(t, a.SMTP, p.Mail().SMTP)
	})
	t.Run("azure public client", func(t *testing.T) {
		a := s["azure"]
		a.ClientSecret, a.PublicClient = "", true
		p, err := c.Build(context.Background(), a)
		require.NoError(t, err)
		require.IsType(t, &azure.Provider{}, p)
		a.ClientSecret = "v~alue"
		_, err = c.Build(context.Background(), a)
		var fe *provider.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "PublicClient", fe.Field)
	})
	t.Run("azure certificate", func(t *testing.T) {
		a := s["azure"]
		a.ClientSecret, a.ClientCertificate = "", oauth2client.Secret(rsaCertPEM(t))
		p, err := c.Build(context.Background(), a)
		require.NoError(t, err)
		require.IsType(t, &azure.Provider{}, p)
	})
	t.Run("google service account only", func(t *testing.T) {
		key := saKey(t)
		p, err := c.Build(context.Background(), provider.Settings{Kind: provider.KindGoogle, ServiceAccountKey: oauth2client.Secret(key)})
		require.NoError(t, err)
		_, ok := p.(oauth2client.AppOnlyProvider)
		assert.True(t, ok)
	})
	t.Run("generic by discovery", func(t *testing.T) {
		fake, clock := newOIDC(t, true)
		c := provider.Catalog{HTTPClient: fake.Client(), Now: clock.Now}
		g := s["generic"]
		g.AuthURL, g.TokenURL, g.Issuer = "", "", fake.Issuer()
		p, err := c.Build(context.Background(), g)
		require.NoError(t, err)
		ip, ok := p.(oauth2client.IssuerProvider)
		require.True(t, ok)
		assert.Equal(t, fake.Issuer(), ip.Issuer())
	})
	t.Run("settings round-trip through JSON", func(t *testing.T) {
		b, err := json.Marshal(s["generic"])
		require.NoError(t, err)
		var back provider.Settings
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, s["generic"], back)
	})
}

func TestCatalogRejects(t *testing.T) {
	s := validSettings()
	with := func(kind string, mut func(*provider.Settings)) provider.Settings {
		v := s[kind]
		mut(&v)
		return v
	}
	for _, tc := range []struct {
		name, field string
		s           provider.Settings
	}{
		{"no kind", "Kind", provider.Settings{}},
		{"unknown kind", "Kind", provider.Settings{Kind: "exchange"}},
		{"azure client id", "ClientID", with("azure", func(s *provider.Settings) { s.ClientID = "" })},
		{"azure tenant", "Tenant", with("azure", func(s *provider.Settings) { s.Tenant = "" })},
		{"azure bad tenant", "Tenant", with("azure", func(s *provider.Settings) { s.Tenant = "contoso.com/evil" })},
		{"azure cloud", "Cloud", with("azure", func(s *provider.Settings) { s.Cloud = "germany" })},
		{"azure secret", "ClientSecret", with("azure", func(s *provider.Settings) { s.ClientSecret = "" })},
		{"azure secret id", "ClientSecret", with("azure", func(s *provider.Settings) { s.ClientSecret = tenantID })},
		{"azure two credentials", "ClientCertificate", with("azure", func(s *provider.Settings) { s.ClientCertificate = "-----BEGIN CERTIFICATE-----" })},
		{"azure bad certificate", "ClientCertificate", with("azure", func(s *provider.Settings) { s.ClientSecret, s.ClientCertificate = "", "not pem" })},
		{"azure authority", "AuthorityURL", with("azure", func(s *provider.Settings) { s.AuthorityURL = "login.example" })},
		{"azure app-only scopes", "Scopes", with("azure", func(s *provider.Settings) { s.Scopes = []string{"https://outlook.office.com/IMAP.AccessAsApp"} })},
		{"azure imap port", "IMAP.Port", with("azure", func(s *provider.Settings) { s.IMAP = oauth2client.ServerAddr{Host: "x"} })},
		{"google client id", "ClientID", with("google", func(s *provider.Settings) { s.ClientID = "" })},
		{"google not a client id", "ClientID", with("google", func(s *provider.Settings) { s.ClientID = "12345" })},
		{"google secret", "ClientSecret", with("google", func(s *provider.Settings) { s.ClientSecret = "" })},
		{"google token url", "TokenURL", with("google", func(s *provider.Settings) { s.TokenURL = "oauth2.googleapis.com/token" })},
		{"google key", "ServiceAccountKey", with("google", func(s *provider.Settings) { s.ServiceAccountKey = `{"type":"authorized_user"}` })},
		{"google smtp host", "SMTP.Host", with("google", func(s *provider.Settings) { s.SMTP = oauth2client.ServerAddr{Port: 587} })},
		{"generic client id", "ClientID", with("generic", func(s *provider.Settings) { s.ClientID = "" })},
		{"generic endpoints", "Issuer", with("generic", func(s *provider.Settings) { s.AuthURL, s.TokenURL = "", "" })},
		{"generic token url", "TokenURL", with("generic", func(s *provider.Settings) { s.TokenURL = "" })},
		{"generic imap", "IMAP.Host", with("generic", func(s *provider.Settings) { s.IMAP = oauth2client.ServerAddr{} })},
		{"generic issuer client id", "ClientID", with("generic", func(s *provider.Settings) { s.Issuer, s.ClientID = "https://idp.example", "" })},
		{"generic issuer smtp", "SMTP.Port", with("generic", func(s *provider.Settings) { s.Issuer, s.SMTP.Port = "https://idp.example", 0 })},
		{"generic issuer url", "Issuer", with("generic", func(s *provider.Settings) { s.Issuer = "idp.example" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provider.Catalog{}.Build(context.Background(), tc.s)
			var fe *provider.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			require.ErrorIs(t, err, provider.ErrConfig)
			assert.NotEmpty(t, fe.Problem)
			assert.NotContains(t, err.Error(), "abc~secret-value")
		})
	}
}

func TestFieldErrorUnwrapsProviderError(t *testing.T) {
	s := validSettings()["azure"]
	s.ClientSecret = tenantID // a secret's ID, not its value
	_, err := provider.Catalog{}.Build(context.Background(), s)
	require.ErrorIs(t, err, azure.ErrConfig)
	require.ErrorIs(t, err, provider.ErrConfig)
	assert.Contains(t, err.Error(), "provider: ClientSecret was rejected: azure: invalid configuration: ClientSecret: this looks like the secret's ID")
}

// rsaCertPEM returns a self-signed certificate and its RSA key in PEM, as
// uploaded to an Entra app registration.
func rsaCertPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oauth2mail"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func TestSettingsLogRedacted(t *testing.T) {
	s := provider.Settings{Kind: "azure", ClientID: "app-id-1", ClientSecret: "secret-VALUE-1",
		ClientCertificate: "-----BEGIN CERTIFICATE----- cert-SECRET-2", ServiceAccountKey: `{"private_key":"sa-SECRET-3"}`}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("settings", "s", s)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("settings", "s", &s)
	for _, out := range []string{text.String(), js.String()} {
		for _, secret := range []string{"secret-VALUE-1", "cert-SECRET-2", "sa-SECRET-3"} {
			assert.NotContains(t, out, secret)
		}
		assert.Contains(t, out, "app-id-1")
		assert.Contains(t, out, oauth2client.Redacted)
	}
	assert.Equal(t, oauth2client.Secret("secret-VALUE-1"), s.ClientSecret, "logging does not change the settings")

	stored, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(stored), "secret-VALUE-1", "the JSON a settings table keeps has the value")
}

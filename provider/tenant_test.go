package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/provider"
)

func saKey(t *testing.T) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	return b
}

// entra serves tenant OpenID configurations for contoso.example the way
// login.microsoftonline.com does.
func entra(t *testing.T, issuer string) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/contoso.example/v2.0/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer})
		case "/broken.example/v2.0/.well-known/openid-configuration":
			_, _ = w.Write([]byte("<html>"))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'x' not found."}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFindTenant(t *testing.T) {
	srv := entra(t, "https://login.microsoftonline.com/"+tenantID+"/v2.0")
	opts := provider.TenantOptions{BaseURL: srv.URL, HTTPClient: srv.Client()}
	for _, in := range []string{"contoso.example", "Alice@Contoso.Example", "contoso.example."} {
		tid, err := provider.FindTenant(context.Background(), in, opts)
		require.NoError(t, err, in)
		assert.Equal(t, tenantID, tid, in)
	}
	_, err := provider.FindTenant(context.Background(), "unknown.example", opts)
	require.ErrorIs(t, err, provider.ErrTenantNotFound)
	assert.Contains(t, err.Error(), "AADSTS90002")

	_, err = provider.FindTenant(context.Background(), "broken.example", opts)
	require.Error(t, err)
	assert.NotErrorIs(t, err, provider.ErrTenantNotFound)

	for _, bad := range []string{"", "a/b", "x?y", "a b"} {
		_, err = provider.FindTenant(context.Background(), bad, opts)
		var fe *provider.FieldError
		require.ErrorAs(t, err, &fe, bad)
	}

	noGUID := entra(t, "https://login.microsoftonline.com/common/v2.0")
	_, err = provider.FindTenant(context.Background(), "contoso.example", provider.TenantOptions{BaseURL: noGUID.URL, HTTPClient: noGUID.Client()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no tenant ID")

	_, err = provider.FindTenant(context.Background(), "contoso.example", provider.TenantOptions{BaseURL: "http://127.0.0.1:1"})
	require.ErrorIs(t, err, provider.ErrInsecureURL, "a plain-http base URL needs the explicit opt-in")
	_, err = provider.FindTenant(context.Background(), "contoso.example", provider.TenantOptions{BaseURL: "http://127.0.0.1:1", AllowInsecureHTTP: true})
	require.Error(t, err)
	assert.NotErrorIs(t, err, provider.ErrTenantNotFound)
	assert.NotErrorIs(t, err, provider.ErrInsecureURL)

	away := httptest.NewTLSServer(http.RedirectHandler("https://login.evil.example/x", http.StatusFound))
	defer away.Close()
	_, err = provider.FindTenant(context.Background(), "contoso.example", provider.TenantOptions{BaseURL: away.URL, HTTPClient: away.Client()})
	require.ErrorIs(t, err, provider.ErrInsecureURL, "no redirect to another host")
}

func TestFindTenantAgainstFakeEntra(t *testing.T) {
	fake, err := mailtest.NewAzure(mailtest.AzureOptions{Tenants: []string{tenantID}})
	require.NoError(t, err)
	defer fake.Close()
	tid, err := provider.FindTenant(context.Background(), tenantID, provider.TenantOptions{BaseURL: fake.URL(), HTTPClient: fake.Client()})
	require.NoError(t, err)
	assert.Equal(t, tenantID, tid)
	_, err = provider.FindTenant(context.Background(), "nowhere.example", provider.TenantOptions{BaseURL: fake.URL(), HTTPClient: fake.Client()})
	require.ErrorIs(t, err, provider.ErrTenantNotFound)
	assert.True(t, strings.Contains(err.Error(), "nowhere.example"))
}

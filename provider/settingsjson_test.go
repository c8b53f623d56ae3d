package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

func serviceAccountKey(t *testing.T) oauth2client.Secret {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "mail@p.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "private_key_id": "k1",
		"token_uri": "https://oauth2.googleapis.com/token"})
	require.NoError(t, err)
	return oauth2client.Secret(b)
}

// TestSettingsJSONRoundTrip stores the settings of every kind as JSON,
// reads them back, and builds a provider from what was read.
func TestSettingsJSONRoundTrip(t *testing.T) {
	v := validSettings()
	smtp := oauth2client.ServerAddr{Host: "smtp.example.net", Port: 587, Security: oauth2client.SecuritySTARTTLS}
	kinds := map[string]provider.Settings{
		"azure":        v["azure"],
		"azure full":   {Kind: provider.KindAzure, ClientID: v["azure"].ClientID, ClientSecret: "s~ecret", Tenant: tenantID, Cloud: "usgovernment", Scopes: []string{"https://outlook.office365.us/IMAP.AccessAsUser.All"}, IMAP: oauth2client.ServerAddr{Host: "127.0.0.1", Port: 1143, Security: oauth2client.SecurityNone}, SMTP: smtp},
		"azure cert":   {Kind: provider.KindAzure, ClientID: v["azure"].ClientID, ClientCertificate: oauth2client.Secret(rsaCertPEM(t)), Tenant: tenantID},
		"azure app":    {Kind: provider.KindAzure, ClientID: v["azure"].ClientID, ClientSecret: "s~ecret", Tenant: tenantID, AppOnly: true},
		"azure public": {Kind: provider.KindAzure, ClientID: v["azure"].ClientID, Tenant: "organizations", PublicClient: true, AuthorityURL: "https://login.example.test"},
		"google":       v["google"],
		"google service account": {Kind: provider.KindGoogle, ServiceAccountKey: serviceAccountKey(t),
			TokenURL: "https://oauth2.example.test/token", SMTP: smtp},
		"google both": {Kind: provider.KindGoogle, ClientID: "1-x.apps.googleusercontent.com", ClientSecret: "GOCSPX-x", ServiceAccountKey: serviceAccountKey(t)},
		"generic":     v["generic"],
		"generic full": {Kind: provider.KindGeneric, Name: "corp", ClientID: "c", ClientSecret: "s", AuthURL: "https://id.example.net/auth",
			TokenURL: "https://id.example.net/token", RevokeURL: "https://id.example.net/revoke", UsernameClaim: "preferred_username",
			IMAP: oauth2client.ServerAddr{Host: "imap.example.net", Port: 143, Security: oauth2client.SecuritySTARTTLS},
			SMTP: smtp, Mechanisms: []string{"OAUTHBEARER"}, ServerSavesSent: true},
	}
	var c provider.Catalog
	for name, s := range kinds {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			var back provider.Settings
			require.NoError(t, json.Unmarshal(b, &back), "%s", b)
			assert.Equal(t, s, back)
			again, err := json.Marshal(back)
			require.NoError(t, err)
			assert.JSONEq(t, string(b), string(again))
			_, err = c.Build(context.Background(), back)
			assert.NoError(t, err)
		})
	}
	t.Run("generic with an issuer", func(t *testing.T) {
		s := provider.Settings{Kind: provider.KindGeneric, Name: "oidc", ClientID: "c", Issuer: "https://id.example.net",
			IMAP: oauth2client.ServerAddr{Host: "imap.example.net", Port: 993}, SMTP: smtp}
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var back provider.Settings
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, s, back) // building needs discovery: see the Discover tests
	})
}

func TestSettingsJSONNames(t *testing.T) {
	s := provider.Settings{Kind: provider.KindGeneric, Name: "n", ClientID: "i", ClientSecret: "s", Scopes: []string{"x"},
		ClientCertificate: "c", Tenant: "t", Cloud: "china", AuthorityURL: "https://a", AppOnly: true, PublicClient: true,
		ServiceAccountKey: "k", Issuer: "https://i", AuthURL: "https://au", TokenURL: "https://tu", RevokeURL: "https://ru",
		UsernameClaim: "email", IMAP: oauth2client.ServerAddr{Host: "h", Port: 1, Security: oauth2client.SecurityNone},
		SMTP: oauth2client.ServerAddr{Host: "h2", Port: 2, Security: oauth2client.SecuritySTARTTLS}, Mechanisms: []string{"XOAUTH2"}, ServerSavesSent: true}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"generic","name":"n","client_id":"i","client_secret":"s","scopes":["x"],
		"client_certificate":"c","tenant":"t","cloud":"china","authority_url":"https://a","app_only":true,"public_client":true,
		"service_account_key":"k","issuer":"https://i","auth_url":"https://au","token_url":"https://tu","revoke_url":"https://ru",
		"username_claim":"email","imap":{"host":"h","port":1,"security":"none"},"smtp":{"host":"h2","port":2,"security":"starttls"},
		"mechanisms":["XOAUTH2"],"server_saves_sent":true}`, string(b))
}

func TestSettingsJSONSecurity(t *testing.T) {
	var s provider.Settings
	require.NoError(t, json.Unmarshal([]byte(`{"kind":"generic","smtp":{"host":"smtp.example.net","port":587,"security":"starttls"},"imap":{"host":"imap.example.net","port":993,"security":"TLS"}}`), &s))
	assert.Equal(t, oauth2client.ServerAddr{Host: "smtp.example.net", Port: 587, Security: oauth2client.SecuritySTARTTLS}, s.SMTP)
	assert.Equal(t, oauth2client.SecurityTLS, s.IMAP.Security)

	// Settings stored before Security had a text form still read.
	require.NoError(t, json.Unmarshal([]byte(`{"kind":"azure","imap":{"Host":"127.0.0.1","Port":1143,"Security":2}}`), &s))
	assert.Equal(t, oauth2client.ServerAddr{Host: "127.0.0.1", Port: 1143, Security: oauth2client.SecurityNone}, s.IMAP)

	for _, tc := range []struct{ doc, field string }{
		{`{"imap":{"host":"h","security":"startls"}}`, "IMAP.Security"},
		{`{"smtp":{"host":"h","security":""}}`, "SMTP.Security"},
		{`{"smtp":{"host":"h","security":7}}`, "SMTP.Security"},
		{`{"smtp":{"host":"h","security":true}}`, "SMTP.Security"},
		{`{"imap":{"host":"h","port":"993"}}`, "IMAP.Port"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			before := provider.Settings{Kind: "kept"}
			err := json.Unmarshal([]byte(tc.doc), &before)
			var fe *provider.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.ErrorIs(t, err, provider.ErrConfig)
			assert.Equal(t, "kept", before.Kind, "a failed decode leaves the settings as they were")
			if tc.field != "IMAP.Port" {
				assert.Contains(t, err.Error(), `"tls"`)
				assert.Contains(t, err.Error(), `"starttls"`)
				assert.Contains(t, err.Error(), `"none"`)
			}
		})
	}
}

func TestSecurityText(t *testing.T) {
	for _, sec := range []oauth2client.Security{oauth2client.SecurityTLS, oauth2client.SecuritySTARTTLS, oauth2client.SecurityNone} {
		b, err := sec.MarshalText()
		require.NoError(t, err)
		var back oauth2client.Security
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, sec, back)
	}
	_, err := oauth2client.Security(7).MarshalText()
	assert.Error(t, err)
}

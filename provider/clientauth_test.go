package provider_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// okTokens answers every token request with a rotated refresh token.
func okTokens(w http.ResponseWriter, _ url.Values) {
	_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}`))
}

func TestChooseClientAuth(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		cfg       func(*provider.GenericConfig)
		want      provider.ClientAuthMethod
		wantError string
	}{
		{"secret, server says nothing: basic (RFC 8414 default)", func(c *provider.GenericConfig) { c.ClientSecret = "s" }, provider.ClientSecretBasic, ""},
		{"secret, server lists both: basic", func(c *provider.GenericConfig) {
			c.ClientSecret, c.TokenAuthMethods = "s", []string{"client_secret_post", "client_secret_basic"}
		}, provider.ClientSecretBasic, ""},
		{"secret, server lists post only: post", func(c *provider.GenericConfig) {
			c.ClientSecret, c.TokenAuthMethods = "s", []string{"client_secret_post", "private_key_jwt"}
		}, provider.ClientSecretPost, ""},
		{"no secret: none", nil, provider.ClientAuthNone, ""},
		{"key: private_key_jwt", func(c *provider.GenericConfig) { c.ClientKey = rsaKey }, provider.PrivateKeyJWT, ""},
		{"configured post", func(c *provider.GenericConfig) { c.ClientSecret, c.ClientAuth = "s", provider.ClientSecretPost }, provider.ClientSecretPost, ""},
		{"configured post without secret", func(c *provider.GenericConfig) { c.ClientAuth = provider.ClientSecretPost }, "", "ClientSecret is empty"},
		{"configured private_key_jwt without key", func(c *provider.GenericConfig) { c.ClientAuth = provider.PrivateKeyJWT }, "", "ClientKey is empty"},
		{"configured none with a secret", func(c *provider.GenericConfig) { c.ClientSecret, c.ClientAuth = "s", provider.ClientAuthNone }, "", "public client"},
		{"configured method the server does not list", func(c *provider.GenericConfig) {
			c.ClientSecret, c.ClientAuth, c.TokenAuthMethods = "s", provider.ClientSecretPost, []string{"client_secret_basic"}
		}, "", "does not accept"},
		{"server accepts only key-based methods", func(c *provider.GenericConfig) {
			c.ClientSecret, c.TokenAuthMethods = "s", []string{"private_key_jwt", "tls_client_auth"}
		}, "", "configure ClientKey"},
		{"unknown method", func(c *provider.GenericConfig) { c.ClientAuth = "client_secret_jwt" }, "", "is not client_secret_basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := provider.GenericConfig{ClientID: "c", AuthURL: "https://idp.example/a", TokenURL: "https://idp.example/t", Mail: testMail}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p, err := provider.NewGeneric(cfg)
			if tc.wantError != "" {
				require.ErrorIs(t, err, provider.ErrConfig)
				assert.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.ClientAuth())
		})
	}
}

func TestClientAuthOnTheWire(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		cfg   func(*provider.GenericConfig)
		check func(t *testing.T, f url.Values, auth string)
	}{
		{"client_secret_basic", func(c *provider.GenericConfig) { c.ClientSecret, c.ClientAuth = "s3cret/+", provider.ClientSecretBasic },
			func(t *testing.T, f url.Values, auth string) {
				assert.Equal(t, basicAuth("public-client", "s3cret/+"), auth, "RFC 6749 §2.3.1: form-encoded, then base64")
				assert.False(t, f.Has("client_secret"))
			}},
		{"client_secret_post", func(c *provider.GenericConfig) { c.ClientSecret, c.ClientAuth = "s3cret", provider.ClientSecretPost },
			func(t *testing.T, f url.Values, auth string) {
				assert.Empty(t, auth)
				assert.Equal(t, "public-client", f.Get("client_id"))
				assert.Equal(t, "s3cret", f.Get("client_secret"))
			}},
		{"none", nil, func(t *testing.T, f url.Values, auth string) {
			assert.Empty(t, auth)
			assert.Equal(t, "public-client", f.Get("client_id"))
			assert.False(t, f.Has("client_secret"))
			assert.False(t, f.Has("client_assertion"))
		}},
		{"private_key_jwt", func(c *provider.GenericConfig) { c.ClientKey, c.ClientKeyID = ecKey, "key-1" },
			func(t *testing.T, f url.Values, auth string) {
				assert.Empty(t, auth)
				assert.False(t, f.Has("client_secret"))
				assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", f.Get("client_assertion_type"))
				claims := jwt.RegisteredClaims{}
				tok, err := jwt.ParseWithClaims(f.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &ecKey.PublicKey, nil },
					jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return t0 }))
				require.NoError(t, err, "the assertion is signed with the configured key")
				assert.Equal(t, "key-1", tok.Header["kid"])
				assert.Equal(t, "public-client", claims.Issuer)
				assert.Equal(t, "public-client", claims.Subject)
				assert.NotEmpty(t, claims.ID)
				assert.Len(t, claims.Audience, 1)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, okTokens)
			p := static(t, ts, tc.cfg)
			_, err := p.Refresh(context.Background(), &oauth2client.Grant{RefreshToken: "rt-1"})
			require.NoError(t, err)
			tc.check(t, ts.last(), ts.lastAuth())
			assert.Equal(t, "refresh_token", ts.last().Get("grant_type"))

			_, err = p.Exchange(context.Background(), oauth2client.ExchangeRequest{Code: "code", CodeVerifier: "v", RedirectURI: redirect})
			// The token answer has no id_token: the exchange fails after
			// the request, which is all this test looks at.
			require.Error(t, err)
			tc.check(t, ts.last(), ts.lastAuth())
			assert.Equal(t, "authorization_code", ts.last().Get("grant_type"))

			require.NoError(t, p.Revoke(context.Background(), &oauth2client.Grant{RefreshToken: "rt-1"}))
			tc.check(t, ts.last(), ts.lastAuth())
			assert.Equal(t, "rt-1", ts.last().Get("token"))
		})
	}
}

func TestInvalidClientNamesTheMethod(t *testing.T) {
	for _, tc := range []struct {
		name, desc, want string
	}{
		{"Ory Hydra wording", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). The OAuth 2.0 Client supports client authentication method 'client_secret_post', but method 'client_secret_basic' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept 'client_secret_basic'.",
			`set ClientAuth (Settings.ClientAuthMethod) to "client_secret_post"`},
		{"private_key_jwt expected", "client is registered for private_key_jwt", `to "private_key_jwt" and give ClientKey`},
		{"unsupported method", "supports only tls_client_auth", "which this library does not support"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, func(w http.ResponseWriter, _ url.Values) {
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": tc.desc})
			})
			p := static(t, ts, func(c *provider.GenericConfig) { c.ClientSecret = "client-secret-value" })
			_, err := p.Refresh(context.Background(), &oauth2client.Grant{RefreshToken: "rt-1"})
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, oauth2client.ClassConfig, pe.Class)
			assert.Contains(t, pe.Remedy, tc.want)
			assert.NotContains(t, err.Error(), "client-secret-value")
		})
	}
	t.Run("invalid_client without a method keeps the generic remedy", func(t *testing.T) {
		ts := newTokenServer(t, func(w http.ResponseWriter, _ url.Values) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret"}`))
		})
		p := static(t, ts, func(c *provider.GenericConfig) { c.ClientSecret = "s" })
		_, err := p.Refresh(context.Background(), &oauth2client.Grant{RefreshToken: "rt-1"})
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.NotContains(t, pe.Remedy, "ClientAuth")
	})
}

func TestClientAuthSettingsTextForm(t *testing.T) {
	m, err := provider.ParseClientAuthMethod(" Client_Secret_Post ")
	require.NoError(t, err)
	assert.Equal(t, provider.ClientSecretPost, m)
	var s struct {
		M provider.ClientAuthMethod `json:"m"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"m":"private_key_jwt"}`), &s))
	assert.Equal(t, provider.PrivateKeyJWT, s.M)
	require.ErrorIs(t, json.Unmarshal([]byte(`{"m":"magic"}`), &s), provider.ErrConfig)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	ts := newTokenServer(t, okTokens)
	p, err := provider.Catalog{HTTPClient: ts.srv.Client()}.Build(context.Background(), provider.Settings{Kind: provider.KindGeneric, ClientID: "c",
		AuthURL: ts.srv.URL + "/authorize", TokenURL: ts.srv.URL + "/token", IMAP: testMail.IMAP, SMTP: testMail.SMTP,
		ClientAuthMethod: "private_key_jwt", ClientPrivateKey: oauth2client.Secret(keyPEM), ClientKeyID: "k"})
	require.NoError(t, err)
	assert.Equal(t, provider.PrivateKeyJWT, p.(*provider.Generic).ClientAuth())
	_, err = p.Refresh(context.Background(), &oauth2client.Grant{RefreshToken: "rt-1"})
	require.NoError(t, err)
	assert.NotEmpty(t, ts.last().Get("client_assertion"))

	_, err = provider.Catalog{}.Build(context.Background(), provider.Settings{Kind: provider.KindGeneric, ClientID: "c",
		AuthURL: ts.srv.URL + "/authorize", TokenURL: ts.srv.URL + "/token", IMAP: testMail.IMAP, SMTP: testMail.SMTP,
		ClientAuthMethod: "basic-ish"})
	var fe *provider.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "ClientAuth", fe.Field)
	_, err = provider.ParseClientKey([]byte("not a key"))
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "ClientPrivateKey", fe.Field)
}

func TestClientKeyNeverPrinted(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cfg := provider.GenericConfig{Name: "idp", ClientID: "app", ClientSecret: "secret-VALUE-1", ClientKey: key, ClientKeyID: "k1"}
	raw, err := key.Bytes()
	require.NoError(t, err)
	d := new(big.Int).SetBytes(raw).String() // how fmt and encoding/json would show the scalar
	dx := fmt.Sprintf("%x", raw)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("cfg", "cfg", cfg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("cfg", "cfg", cfg)
	outs := []string{fmt.Sprintf("%v|%+v|%#v|%s|%d|%x", cfg, cfg, cfg, cfg, cfg, cfg), fmt.Sprintf("%v", struct{ C provider.GenericConfig }{cfg}),
		text.String(), js.String()}
	for _, out := range outs {
		assert.NotContains(t, out, d)
		assert.NotContains(t, out, dx)
		assert.NotContains(t, out, "secret-VALUE-1")
		assert.Contains(t, out, "app")
	}
	assert.Contains(t, text.String(), "client_key="+oauth2client.Redacted)
	assert.Same(t, key, cfg.ClientKey, "printing does not change the configuration")

	// An Ed25519 key is a byte slice, which fmt would print.
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	cfg.ClientKey = edKey
	seed := fmt.Sprint([]byte(edKey.Seed()))
	seed = seed[1 : len(seed)-1]
	js.Reset()
	slog.New(slog.NewJSONHandler(&js, nil)).Info("cfg", "cfg", cfg)
	for _, out := range []string{fmt.Sprintf("%v|%+v|%#v|%d|%x", cfg, cfg, cfg, cfg, cfg), js.String()} {
		assert.NotContains(t, out, seed)
		assert.NotContains(t, out, fmt.Sprintf("%x", edKey.Seed()))
	}
}

func TestSettingsPrivateKeyLogRedacted(t *testing.T) {
	s := provider.Settings{Kind: provider.KindGeneric, ClientID: "app", ClientPrivateKey: "-----BEGIN PRIVATE KEY----- key-SECRET-4", ClientKeyID: "k1"}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("settings", "s", s)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("settings", "s", s)
	for _, out := range []string{text.String(), js.String(), fmt.Sprintf("%v %+v %#v", s, s, s)} {
		assert.NotContains(t, out, "key-SECRET-4")
		assert.Contains(t, out, "k1")
	}
}

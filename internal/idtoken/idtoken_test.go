package idtoken_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/idtoken"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

const (
	iss    = "https://idp.example"
	client = "client-1"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func sign(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func good() jwt.MapClaims {
	return jwt.MapClaims{"iss": iss, "aud": client, "sub": "sub-1", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		"nonce": "n-1", "email": "alice@corp.example", "email_verified": true, "hd": "corp.example"}
}

func jwks(t *testing.T, key *rsa.PublicKey) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]string{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVerifyRefusesEachLie(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := func() time.Time { return t0 }
	v := idtoken.New(idtoken.Config{Issuer: iss, ClientID: client, Now: now})

	c, err := v.Verify(context.Background(), sign(t, key, good()), "n-1", true)
	require.NoError(t, err)
	assert.Equal(t, "sub-1", c.Subject)
	assert.Equal(t, "alice@corp.example", c.Email)
	assert.True(t, c.EmailVerified)
	assert.Equal(t, "corp.example", c.HostedDomain)

	for _, tc := range []struct {
		name, claim string
		mut         func(jwt.MapClaims)
		nonce       string
	}{
		{"foreign issuer", "iss", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }, "n-1"},
		{"issuer with trailing slash", "iss", func(c jwt.MapClaims) { c["iss"] = iss + "/" }, "n-1"},
		{"another client's audience", "aud", func(c jwt.MapClaims) { c["aud"] = "client-2" }, "n-1"},
		{"several audiences without azp", "azp", func(c jwt.MapClaims) { c["aud"] = []string{client, "client-2"} }, "n-1"},
		{"azp of another client", "azp", func(c jwt.MapClaims) { c["azp"] = "client-2" }, "n-1"},
		{"expired yesterday", "exp", func(c jwt.MapClaims) { c["exp"] = t0.Add(-24 * time.Hour).Unix() }, "n-1"},
		{"issued in the future", "iat", func(c jwt.MapClaims) { c["iat"] = t0.Add(time.Hour).Unix() }, "n-1"},
		{"no issue time", "iat", func(c jwt.MapClaims) { delete(c, "iat") }, "n-1"},
		{"wrong nonce", "nonce", func(c jwt.MapClaims) { c["nonce"] = "n-2" }, "n-1"},
		{"missing nonce", "nonce", func(c jwt.MapClaims) { delete(c, "nonce") }, "n-1"},
		{"no subject", "sub", func(c jwt.MapClaims) { delete(c, "sub") }, "n-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mut(c)
			_, err := v.Verify(context.Background(), sign(t, key, c), tc.nonce, true)
			require.ErrorIs(t, err, oauth2client.ErrInvalidIDToken)
			var ie *oauth2client.IdentityError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.claim, ie.Claim)
			assert.NotContains(t, err.Error(), "evil.example", "errors never quote the token's values")
			assert.NotContains(t, err.Error(), "client-2")
		})
	}

	t.Run("skew", func(t *testing.T) {
		c := good()
		c["exp"] = t0.Add(-time.Minute).Unix()
		c["iat"] = t0.Add(time.Minute).Unix()
		_, err := v.Verify(context.Background(), sign(t, key, c), "n-1", true)
		assert.NoError(t, err, "a minute of skew either way is tolerated")
	})
	t.Run("azp with several audiences", func(t *testing.T) {
		c := good()
		c["aud"], c["azp"] = []string{client, "client-2"}, client
		_, err := v.Verify(context.Background(), sign(t, key, c), "n-1", true)
		assert.NoError(t, err)
	})
	t.Run("not a jwt", func(t *testing.T) {
		_, err := v.Verify(context.Background(), "a.b", "", true)
		assert.ErrorIs(t, err, oauth2client.ErrInvalidIDToken)
	})
}

func TestVerifySignature(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	srv := jwks(t, &key.PublicKey)
	now := func() time.Time { return t0 }
	forged := sign(t, other, good())

	t.Run("skipped for a token from the token endpoint over TLS", func(t *testing.T) {
		v := idtoken.New(idtoken.Config{Issuer: iss, ClientID: client, Now: now})
		_, err := v.Verify(context.Background(), forged, "n-1", true)
		assert.NoError(t, err)
	})
	for _, tc := range []struct {
		name    string
		always  bool
		overTLS bool
	}{{"always, as configured", true, true}, {"a token that did not come over TLS", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			v := idtoken.New(idtoken.Config{Issuer: iss, ClientID: client, Now: now, JWKSURL: srv.URL, HTTPClient: srv.Client(), AlwaysVerifySignature: tc.always})
			_, err := v.Verify(context.Background(), forged, "n-1", tc.overTLS)
			var ie *oauth2client.IdentityError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, "signature", ie.Claim)
			_, err = v.Verify(context.Background(), sign(t, key, good()), "n-1", tc.overTLS)
			assert.NoError(t, err)
		})
	}
	t.Run("no JWKS to check against", func(t *testing.T) {
		v := idtoken.New(idtoken.Config{Issuer: iss, ClientID: client, Now: now})
		_, err := v.Verify(context.Background(), sign(t, key, good()), "n-1", false)
		var ie *oauth2client.IdentityError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, "signature", ie.Claim)
	})
}

func TestVerifyMultiTenantIssuer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	v := idtoken.New(idtoken.Config{ClientID: client, Now: func() time.Time { return t0 },
		IssuerFor: func(tid string) string { return "https://login.example/" + tid + "/v2.0" }})
	c := good()
	c["tid"], c["iss"] = "t-1", "https://login.example/t-1/v2.0"
	got, err := v.Verify(context.Background(), sign(t, key, c), "", true)
	require.NoError(t, err)
	assert.Equal(t, "t-1", got.TenantID)

	c["iss"] = "https://login.example/t-2/v2.0"
	_, err = v.Verify(context.Background(), sign(t, key, c), "", true)
	assert.ErrorIs(t, err, oauth2client.ErrInvalidIDToken, "the issuer must be the one of the token's own tenant")
	delete(c, "tid")
	_, err = v.Verify(context.Background(), sign(t, key, c), "", true)
	assert.True(t, err != nil && strings.Contains(err.Error(), "tid"))
}

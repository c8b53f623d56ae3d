package mailtest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/mailtest"
)

const gRedirect = "http://127.0.0.1:8080/cb"

func newGoogle(t *testing.T, opts mailtest.GoogleOptions) *mailtest.Google {
	t.Helper()
	opts.RedirectURIs = append(opts.RedirectURIs, gRedirect)
	g, err := mailtest.NewGoogle(opts)
	require.NoError(t, err)
	t.Cleanup(g.Close)
	return g
}

func gAuthURL(g *mailtest.Google, mut func(url.Values)) string {
	q := url.Values{"client_id": {g.ClientID()}, "redirect_uri": {gRedirect}, "response_type": {"code"}, "state": {"s"},
		"scope": {"https://mail.google.com/ openid email"}, "code_challenge": {oauth2.S256ChallengeFromVerifier("v")},
		"code_challenge_method": {"S256"}, "access_type": {"offline"}}
	if mut != nil {
		mut(q)
	}
	return g.AuthURL() + "?" + q.Encode()
}

func TestGoogleAuthorizeErrors(t *testing.T) {
	g := newGoogle(t, mailtest.GoogleOptions{})
	for _, tc := range []struct {
		name, page, redirectErr string
		mut                     func(url.Values)
	}{
		{name: "unknown client", page: "invalid_client", mut: func(q url.Values) { q.Set("client_id", "other") }},
		{name: "unregistered redirect", page: "redirect_uri_mismatch", mut: func(q url.Values) { q.Set("redirect_uri", "http://evil.example/cb") }},
		{name: "implicit flow", redirectErr: "unsupported_response_type", mut: func(q url.Values) { q.Set("response_type", "token") }},
		{name: "no scope", redirectErr: "invalid_request", mut: func(q url.Values) { q.Del("scope") }},
		{name: "no PKCE", redirectErr: "invalid_request", mut: func(q url.Values) { q.Del("code_challenge") }},
		{name: "plain PKCE", redirectErr: "invalid_request", mut: func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{name: "unknown user", redirectErr: "access_denied", mut: func(q url.Values) { q.Set("login_hint", "nobody@gmail.example") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := g.Authorize(context.Background(), gAuthURL(g, tc.mut))
			if tc.page != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.page)
				return
			}
			require.NoError(t, err)
			u, err := url.Parse(cb)
			require.NoError(t, err)
			assert.Equal(t, tc.redirectErr, u.Query().Get("error"))
			assert.Equal(t, "s", u.Query().Get("state"))
		})
	}
}

func postToken(t *testing.T, g *mailtest.Google, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := g.Client().PostForm(g.TokenURL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestGoogleTokenEndpoint(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newGoogle(t, mailtest.GoogleOptions{Now: clock.Now})
	cb, err := g.Authorize(context.Background(), gAuthURL(g, nil))
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	code := u.Query().Get("code")
	client := url.Values{"client_id": {g.ClientID()}, "client_secret": {g.ClientSecret()}}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range client {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}

	st, body := postToken(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {g.ClientID()}, "client_secret": {"wrong"}})
	assert.Equal(t, http.StatusUnauthorized, st)
	assert.Equal(t, "invalid_client", body["error"])

	st, body = postToken(t, g, with("grant_type", "password"))
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "unsupported_grant_type", body["error"])

	st, body = postToken(t, g, with("grant_type", "authorization_code", "code", code, "redirect_uri", gRedirect))
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "Missing code verifier.", body["error_description"])

	// The fake spends a code on any redemption attempt, failed ones too.
	st, body = postToken(t, g, with("grant_type", "authorization_code", "code", code, "redirect_uri", gRedirect, "code_verifier", "v"))
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "invalid_grant", body["error"])

	// Codes expire after 10 minutes.
	cb, err = g.Authorize(context.Background(), gAuthURL(g, nil))
	require.NoError(t, err)
	u, err = url.Parse(cb)
	require.NoError(t, err)
	clock.Advance(11 * time.Minute)
	st, body = postToken(t, g, with("grant_type", "authorization_code", "code", u.Query().Get("code"), "redirect_uri", gRedirect, "code_verifier", "v"))
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "Malformed auth code.", body["error_description"])
	assert.Equal(t, 4, g.TokenRequests(mailtest.GrantAuthorizationCode))
}

func TestGoogleRevokeAndUserinfo(t *testing.T) {
	g := newGoogle(t, mailtest.GoogleOptions{})
	resp, err := g.Client().PostForm(g.RevokeURL(), url.Values{"token": {"unknown"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	req, err := http.NewRequest(http.MethodGet, g.Issuer()+"/userinfo", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer ya29.forged")
	resp, err = g.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, err = g.Client().Get(g.Issuer() + "/nowhere")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestGoogleJWTBearerWithoutScope(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	g := newGoogle(t, mailtest.GoogleOptions{ServiceAccounts: []mailtest.GoogleServiceAccount{{Email: "sa@p.example", PublicKey: &key.PublicKey}}})
	sign := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
		require.NoError(t, err)
		return s
	}
	now := time.Now()
	base := jwt.MapClaims{"iss": "sa@p.example", "aud": g.TokenURL(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	st, body := postToken(t, g, url.Values{"grant_type": {mailtest.GrantJWTBearer}, "assertion": {sign(base)}})
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "invalid_scope", body["error"])

	base["scope"] = "https://mail.google.com/"
	base["aud"] = "https://elsewhere.example/token"
	st, body = postToken(t, g, url.Values{"grant_type": {mailtest.GrantJWTBearer}, "assertion": {sign(base)}})
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "invalid_grant", body["error"])

	// Without sub, the token is the service account's own.
	base["aud"] = g.TokenURL()
	st, body = postToken(t, g, url.Values{"grant_type": {mailtest.GrantJWTBearer}, "assertion": {sign(base)}})
	require.Equal(t, http.StatusOK, st)
	at, _ := body["access_token"].(string)
	assert.True(t, strings.HasPrefix(at, "ya29."))
	ti, err := g.Ledger().Check("sa@p.example", at)
	require.NoError(t, err)
	assert.Equal(t, "sa@p.example", ti.Username)
}

func TestGoogleInjectedFailureAndRefreshTokens(t *testing.T) {
	g := newGoogle(t, mailtest.GoogleOptions{})
	assert.Equal(t, 0, g.RefreshTokens())
	cb, err := g.Authorize(context.Background(), gAuthURL(g, func(q url.Values) { q.Set("prompt", "consent") }))
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	st, body := postToken(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {gRedirect},
		"code_verifier": {"v"}, "client_id": {g.ClientID()}, "client_secret": {g.ClientSecret()}})
	require.Equal(t, http.StatusOK, st)
	assert.NotEmpty(t, body["refresh_token"])
	assert.Equal(t, 1, g.RefreshTokens())

	g.FailNext(mailtest.GoogleFailure{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable", RetryAfter: 3 * time.Second})
	resp, err := g.Client().PostForm(g.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	assert.Equal(t, 1, g.RevokeUser("bob@gmail.example"))
	assert.Equal(t, 0, g.RefreshTokens())
}

// gConsent signs the default user in and returns the first refresh token.
func gConsent(t *testing.T, g *mailtest.Google) string {
	t.Helper()
	cb, err := g.Authorize(context.Background(), gAuthURL(g, func(q url.Values) { q.Set("prompt", "consent") }))
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	st, body := postToken(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {gRedirect}, "code_verifier": {"v"}, "client_id": {g.ClientID()}, "client_secret": {g.ClientSecret()}})
	require.Equal(t, http.StatusOK, st, "%v", body)
	rt, _ := body["refresh_token"].(string)
	require.NotEmpty(t, rt)
	return rt
}

func gRefresh(t *testing.T, g *mailtest.Google, rt string) (int, map[string]any) {
	t.Helper()
	return postToken(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {g.ClientID()}, "client_secret": {g.ClientSecret()}})
}

func TestGoogleStrictRotation(t *testing.T) {
	t.Run("off, as at Google", func(t *testing.T) {
		g := newGoogle(t, mailtest.GoogleOptions{})
		rt := gConsent(t, g)
		for range 3 {
			st, body := gRefresh(t, g, rt)
			require.Equal(t, http.StatusOK, st)
			assert.NotContains(t, body, "refresh_token", "Google does not rotate")
		}
		assert.Zero(t, g.RotatedOutRedemptions())
	})
	t.Run("on", func(t *testing.T) {
		g := newGoogle(t, mailtest.GoogleOptions{StrictRotation: true})
		rt1 := gConsent(t, g)
		st, body := gRefresh(t, g, rt1)
		require.Equal(t, http.StatusOK, st)
		rt2, _ := body["refresh_token"].(string)
		require.NotEmpty(t, rt2, "each refresh answer carries a new refresh token")
		assert.NotEqual(t, rt1, rt2)
		at2, _ := body["access_token"].(string)
		st, body = gRefresh(t, g, rt2)
		require.Equal(t, http.StatusOK, st)
		rt3, _ := body["refresh_token"].(string)
		assert.Equal(t, 1, g.RefreshTokens(), "rotated-out tokens are not live")
		assert.Zero(t, g.RotatedOutRedemptions())

		st, body = gRefresh(t, g, rt1)
		assert.Equal(t, http.StatusBadRequest, st)
		assert.Equal(t, "invalid_grant", body["error"])
		assert.Equal(t, "Token has been expired or revoked.", body["error_description"])
		assert.Equal(t, 1, g.RotatedOutRedemptions())
		st, body = gRefresh(t, g, rt3)
		assert.Equal(t, http.StatusBadRequest, st, "the newest token of the family is revoked too")
		assert.Equal(t, "invalid_grant", body["error"])
		assert.Zero(t, g.RefreshTokens())
		_, err := g.Ledger().Check("", at2)
		assert.ErrorIs(t, err, mailtest.ErrTokenRevoked, "the grant's access tokens are revoked with it")
		assert.Equal(t, 1, g.RotatedOutRedemptions(), "only rotated-out tokens count")

		// Another consent is a new family, untouched.
		rt := gConsent(t, g)
		st, _ = gRefresh(t, g, rt)
		assert.Equal(t, http.StatusOK, st)
	})
	t.Run("concurrent redemptions of one token", func(t *testing.T) {
		g := newGoogle(t, mailtest.GoogleOptions{StrictRotation: true})
		rt := gConsent(t, g)
		const n = 8
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				st, _ := gRefresh(t, g, rt)
				codes <- st
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for st := range codes {
			if st == http.StatusOK {
				ok++
			}
		}
		assert.Equal(t, 1, ok, "a refresh token is redeemed once")
		assert.Equal(t, n-1, g.RotatedOutRedemptions())
	})
}

package mailtest_test

import (
	"context"
	"encoding/base64"
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

const azRedirect = "http://localhost:8080/cb"

func newAzure(t *testing.T, opts mailtest.AzureOptions) *mailtest.Azure {
	t.Helper()
	opts.RedirectURIs = append(opts.RedirectURIs, azRedirect)
	az, err := mailtest.NewAzure(opts)
	require.NoError(t, err)
	t.Cleanup(az.Close)
	return az
}

// post sends a form to the fake's token (or device code) endpoint and
// decodes the JSON answer.
func post(t *testing.T, az *mailtest.Azure, path string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := az.Client().PostForm(az.URL()+path, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, resp.Header, body
}

func authURL(az *mailtest.Azure, tenant, verifier string, mod func(url.Values)) string {
	q := url.Values{"client_id": {az.ClientID()}, "redirect_uri": {azRedirect}, "response_type": {"code"},
		"scope": {"https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	if mod != nil {
		mod(q)
	}
	return az.URL() + "/" + tenant + "/oauth2/v2.0/authorize?" + q.Encode()
}

func codeFrom(t *testing.T, callback string) string {
	t.Helper()
	u, err := url.Parse(callback)
	require.NoError(t, err)
	require.Empty(t, u.Query().Get("error"), u.Query().Get("error_description"))
	assert.Equal(t, "st", u.Query().Get("state"))
	return u.Query().Get("code")
}

func redeem(t *testing.T, az *mailtest.Azure, code, verifier string) (int, map[string]any) {
	t.Helper()
	status, _, body := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {azRedirect},
		"scope": {"https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"}})
	return status, body
}

func TestAzureAuthCodeTokensAndErrors(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{})
	bob := az.AddUser(mailtest.AzureUser{Email: "bob@contoso.example"})
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()

	cb, err := az.AuthorizeAs(ctx, authURL(az, az.Tenant(), verifier, nil), "bob@contoso.example")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(cb, azRedirect+"?"))
	code := codeFrom(t, cb)

	status, body := redeem(t, az, code, "wrong-verifier")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])

	cb, err = az.AuthorizeAs(ctx, authURL(az, az.Tenant(), verifier, nil), "bob@contoso.example")
	require.NoError(t, err)
	code = codeFrom(t, cb)
	status, body = redeem(t, az, code, verifier)
	require.Equal(t, http.StatusOK, status, body)
	for _, k := range []string{"access_token", "refresh_token", "id_token", "client_info", "scope"} {
		assert.NotEmpty(t, body[k], k)
	}
	assert.Equal(t, "Bearer", body["token_type"])
	assert.EqualValues(t, 3600, body["expires_in"])

	at := body["access_token"].(string)
	assert.Greater(t, len(at), 1500)
	assert.Less(t, len(at), 3072)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(at, claims, func(*jwt.Token) (any, error) { return az.PublicKey(), nil })
	require.NoError(t, err, "access tokens are signed with the fake's key")
	assert.Equal(t, "https://outlook.office.com", claims["aud"])
	assert.Equal(t, "IMAP.AccessAsUser.All", claims["scp"])
	assert.Equal(t, bob.ObjectID, claims["oid"])
	_, err = az.Ledger().Check("bob@contoso.example", at)
	assert.NoError(t, err)

	ci, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	require.NoError(t, err)
	assert.JSONEq(t, `{"uid":"`+bob.ObjectID+`","utid":"`+bob.Tenant+`"}`, string(ci))

	// A code is single-use.
	status, body = redeem(t, az, code, verifier)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, []any{float64(54005)}, body["error_codes"])

	// Entra's error JSON.
	desc := body["error_description"].(string)
	assert.True(t, strings.HasPrefix(desc, "AADSTS54005: "), desc)
	assert.Contains(t, desc, "\r\nTrace ID: "+body["trace_id"].(string)+"\r\nCorrelation ID: "+body["correlation_id"].(string)+"\r\nTimestamp: ")
	for _, k := range []string{"timestamp", "error_uri"} {
		assert.NotEmpty(t, body[k], k)
	}
	assert.Equal(t, 3, az.TokenRequests("authorization_code"))
	assert.Equal(t, 3, az.TokenRequestsAt("authorization_code", az.Tenant()))
	assert.Zero(t, az.TokenRequestsAt("authorization_code", "organizations"))
}

func TestAzureRefreshRotation(t *testing.T) {
	for _, strict := range []bool{false, true} {
		az := newAzure(t, mailtest.AzureOptions{StrictRotation: strict})
		verifier := oauth2.GenerateVerifier()
		cb, err := az.Authorize(context.Background(), authURL(az, az.Tenant(), verifier, nil))
		require.NoError(t, err)
		_, body := redeem(t, az, codeFrom(t, cb), verifier)
		rt1 := body["refresh_token"].(string)
		refresh := func(rt string) (int, map[string]any) {
			status, _, body := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"refresh_token"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()},
				"refresh_token": {rt}, "scope": {"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"}})
			return status, body
		}
		status, body := refresh(rt1)
		require.Equal(t, http.StatusOK, status)
		rt2 := body["refresh_token"].(string)
		assert.NotEqual(t, rt1, rt2, "refresh tokens rotate")
		status, body = refresh(rt1)
		assert.Equal(t, 1, az.RotatedOutRedemptions(), "strict=%v: the rotated-out token was counted", strict)
		if strict {
			assert.Equal(t, http.StatusBadRequest, status, "reuse is detected")
			assert.Equal(t, "invalid_grant", body["error"])
			assert.Equal(t, []any{float64(50173)}, body["error_codes"])
			assert.Contains(t, body["error_description"], "AADSTS50173: The provided grant has expired due to it being revoked")
			status, body = refresh(rt2)
			assert.Equal(t, http.StatusBadRequest, status, "the whole family is revoked")
			assert.Equal(t, "invalid_grant", body["error"])
			assert.Equal(t, []any{float64(50173)}, body["error_codes"])
			assert.Equal(t, 1, az.RotatedOutRedemptions(), "the newest token of a revoked family is not rotated out")
		} else {
			assert.Equal(t, http.StatusOK, status, "Entra keeps old refresh tokens valid")
		}
		want := 2
		if strict {
			want = 3
		}
		assert.Equal(t, want, az.TokenRequests("refresh_token"))
	}
}

func TestAzureStrictRotationConcurrentRedemptions(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{StrictRotation: true})
	verifier := oauth2.GenerateVerifier()
	cb, err := az.Authorize(context.Background(), authURL(az, az.Tenant(), verifier, nil))
	require.NoError(t, err)
	_, body := redeem(t, az, codeFrom(t, cb), verifier)
	rt := body["refresh_token"].(string)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			status, _, _ := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"refresh_token"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()},
				"refresh_token": {rt}, "scope": {"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"}})
			codes <- status
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
	assert.Equal(t, n-1, az.RotatedOutRedemptions())
}

func TestAzureClientAndTenantErrors(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{})
	for _, tt := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   float64
	}{
		{"wrong secret", az.Tenant(), url.Values{"client_secret": {"wrong"}}, 401, 7000215},
		{"secret ID pasted", az.Tenant(), url.Values{"client_secret": {"0f3c5a9e-1b2d-4c3e-8f7a-9b8c7d6e5f4a"}}, 401, 7000215},
		{"no credential", az.Tenant(), url.Values{}, 401, 7000218},
		{"unknown client", az.Tenant(), url.Values{"client_id": {"nope"}, "client_secret": {az.ClientSecret()}}, 400, 700016},
		{"unknown tenant", "no-such-tenant", url.Values{"client_secret": {az.ClientSecret()}}, 400, 90002},
		{"client credentials at common", "common", url.Values{"client_secret": {az.ClientSecret()}}, 400, 9001023},
		{"bad app scope", az.Tenant(), url.Values{"client_secret": {az.ClientSecret()}, "scope": {"https://graph.microsoft.com/.default"}}, 400, 1002012},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{"grant_type": {"client_credentials"}, "client_id": {az.ClientID()}, "scope": {"https://outlook.office365.com/.default"}}
			for k, v := range tt.form {
				f[k] = v
			}
			status, _, body := post(t, az, "/"+tt.tenant+"/oauth2/v2.0/token", f)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, []any{tt.code}, body["error_codes"])
		})
	}

	// Bad redirect URI and unknown client are errors on Entra's own page.
	_, err := az.Authorize(context.Background(), authURL(az, az.Tenant(), "v", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }))
	assert.ErrorContains(t, err, "AADSTS50011")
	_, err = az.Authorize(context.Background(), authURL(az, az.Tenant(), "v", func(q url.Values) { q.Set("client_id", "nope") }))
	assert.ErrorContains(t, err, "AADSTS700016")
	// Missing PKCE and declined consent go back to the application.
	cb, err := az.Authorize(context.Background(), authURL(az, az.Tenant(), "v", func(q url.Values) { q.Del("code_challenge") }))
	require.NoError(t, err)
	assert.Contains(t, cb, "error=invalid_request")
	az.DenyNext("access_denied")
	cb, err = az.Authorize(context.Background(), authURL(az, az.Tenant(), "v", nil))
	require.NoError(t, err)
	assert.Contains(t, cb, "error=access_denied")
	assert.Contains(t, cb, "AADSTS65004")
	assert.Contains(t, cb, "state=st")
}

func TestAzureFailNextAndAppOnly(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{})
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()},
		"scope": {"https://outlook.office365.com/.default"}}
	az.FailNext(7000222)
	az.FailNext(429)
	status, _, body := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", f)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, []any{float64(7000222)}, body["error_codes"])
	status, hdr, body := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", f)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "7", hdr.Get("Retry-After"))
	assert.Equal(t, "temporarily_unavailable", body["error"])
	status, _, body = post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", f)
	require.Equal(t, http.StatusOK, status)
	info, ok := az.Ledger().Lookup(body["access_token"].(string))
	require.True(t, ok)
	assert.True(t, info.AppOnly)
	assert.Equal(t, []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}, info.Scopes)
	assert.Nil(t, body["refresh_token"], "client credentials issue no refresh token")
	assert.Equal(t, 3, az.TokenRequestsAt("client_credentials", az.Tenant()))
}

func TestAzureDeviceCode(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	az := newAzure(t, mailtest.AzureOptions{AllowPublicClientFlows: true, Now: clock.Now})
	status, _, dc := post(t, az, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {az.ClientID()},
		"scope": {"https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"}})
	require.Equal(t, http.StatusOK, status)
	poll := func() (int, map[string]any) {
		status, _, body := post(t, az, "/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"device_code"},
			"client_id": {az.ClientID()}, "device_code": {dc["device_code"].(string)}})
		return status, body
	}
	status, body := poll()
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "authorization_pending", body["error"])
	assert.Error(t, az.ApproveDevice("WRONGCODE", "alice@contoso.example"))
	require.NoError(t, az.ApproveDevice(dc["user_code"].(string), "alice@contoso.example"))
	status, body = poll()
	require.Equal(t, http.StatusOK, status, body)
	_, err := az.Ledger().Check("alice@contoso.example", body["access_token"].(string))
	assert.NoError(t, err)
	status, _ = poll()
	assert.Equal(t, http.StatusBadRequest, status, "a device code is redeemed once")

	// Declined, and expired.
	_, _, dc = post(t, az, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {az.ClientID()}, "scope": {"openid"}})
	require.NoError(t, az.DenyDevice(dc["user_code"].(string)))
	_, body = poll()
	assert.Equal(t, "authorization_declined", body["error"])
	_, _, dc = post(t, az, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {az.ClientID()}, "scope": {"openid"}})
	clock.Advance(16 * time.Minute)
	_, body = poll()
	assert.Equal(t, "expired_token", body["error"])
}

func TestAzureFailHook(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{Fail: func(r *http.Request) *mailtest.AzureError {
		if r.PostForm.Get("grant_type") != "client_credentials" {
			return nil
		}
		return &mailtest.AzureError{Status: 503, Error: "temporarily_unavailable", Code: 90033, Description: "Try later.", RetryAfter: 30 * time.Second}
	}})
	status, hdr, body := post(t, az, "/"+az.Tenant()+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()}, "scope": {"https://outlook.office365.com/.default"}})
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "30", hdr.Get("Retry-After"))
	assert.Equal(t, []any{float64(90033)}, body["error_codes"])
	assert.True(t, strings.HasPrefix(body["error_description"].(string), "AADSTS90033: Try later.\r\n"))

	verifier := oauth2.GenerateVerifier()
	cb, err := az.Authorize(context.Background(), authURL(az, az.Tenant(), verifier, nil))
	require.NoError(t, err)
	status, _ = redeem(t, az, codeFrom(t, cb), verifier)
	assert.Equal(t, http.StatusOK, status, "other grants pass")
}

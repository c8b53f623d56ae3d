package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// TestWebappOnboardsTenantByAdminConsent drives /tenants as the -demo
// setup serves it: an administrator's browser onboards the customer
// tenant through Entra's admin consent (the fake's adminconsent
// endpoint) and the callback handler, then a mailbox of that tenant is
// connected app-only.
func TestWebappOnboardsTenantByAdminConsent(t *testing.T) {
	var handler atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	defer srv.Close()
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{srv.URL + "/oauth2/callback"}})
	require.NoError(t, err)
	defer entra.Close()
	entra.AddTenant(demoCustomerTenant)
	cfg := entra.AzureConfig()
	p, err := azure.New(cfg)
	require.NoError(t, err)
	a, err := newApp(srv.URL, tokenstore.NewMemory(), p, appOptions{Azure: cfg, Log: io.Discard})
	require.NoError(t, err)
	handler.Store(a.routes())

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := newBrowser(entra, jar)
	var visited []string
	browser.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		visited = append(visited, r.URL.Path)
		return nil
	}
	onboard := func(tenant string) (int, string) {
		t.Helper()
		resp, err := browser.Get(srv.URL + "/tenants") // the session cookie
		require.NoError(t, err)
		resp.Body.Close()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/tenants/onboard", strings.NewReader(url.Values{"tenant": {tenant}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err = browser.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, body := onboard(demoCustomerTenant)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []string{"/" + demoCustomerTenant + "/v2.0/adminconsent", "/oauth2/callback", "/tenants"}, visited,
		"the browser went to Entra's admin consent, back through the callback, to the tenants page")
	assert.Contains(t, body, `<li class=tenant>`+demoCustomerTenant+`</li>`)
	assert.Contains(t, body, "Access was granted for your organisation.")
	assert.Equal(t, []string{demoCustomerTenant}, entra.ConsentedTenants())

	// The tenant's app-only connection works: a mailbox there connects.
	tok, err := a.client.ConnectAppOnly(t.Context(), "tenant-"+demoCustomerTenant, "shared-"+demoCustomerTenant, "shared@fabrikam.example")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.Equal(t, 1, entra.TokenRequestsAt("client_credentials", demoCustomerTenant))

	// An administrator who declines sees why, and nothing is added.
	entra.DenyNext("access_denied")
	visited = nil
	status, body = onboard("")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, "access was not granted")
	assert.NotContains(t, body, "AADSTS")
	assert.Equal(t, []string{demoCustomerTenant}, entra.ConsentedTenants())

	// A callback from another browser session does not onboard anything.
	resp, err := browser.Get(srv.URL + "/tenants")
	require.NoError(t, err)
	resp.Body.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/tenants/onboard", strings.NewReader("tenant="+demoCustomerTenant))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	stop := *browser
	stop.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/oauth2/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err = stop.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(callback, srv.URL+"/oauth2/callback?"), callback)
	otherJar, _ := cookiejar.New(nil)
	resp, err = newBrowser(entra, otherJar).Get(callback)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(b), "another browser session")
}

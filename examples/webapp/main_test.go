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

// newBrowser returns an HTTP client that trusts the fake's certificate
// and keeps its own cookies (httptest's Client is shared: copy it).
func newBrowser(entra *mailtest.Azure, jar http.CookieJar) *http.Client {
	c := *entra.Client()
	c.Jar = jar
	return &c
}

// TestWebappFlow drives the web app with a browser-like client (cookies,
// redirects followed, Origin sent on POSTs) through connect → the fake
// Entra ID → callback → status → disconnect.
func TestWebappFlow(t *testing.T) {
	var handler atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	defer srv.Close()
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{srv.URL + "/oauth2/callback"},
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	require.NoError(t, err)
	defer entra.Close()
	store := tokenstore.NewMemory()
	p, err := azure.New(entra.AzureConfig())
	require.NoError(t, err)
	a, err := newApp(srv.URL, store, p, appOptions{})
	require.NoError(t, err)
	handler.Store(a.routes())

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := newBrowser(entra, jar)
	get := func(u string) (int, string) {
		resp, err := browser.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := browser.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, body := get(srv.URL + "/")
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "alice@contoso.example")

	// Connect: /connect → fake Entra (signs alice in) → /oauth2/callback → /.
	status, body = post("/connect", url.Values{"mailbox": {"work"}})
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "alice@contoso.example")
	assert.Contains(t, body, "<td class=state>connected</td>")
	accounts, err := store.List(t.Context())
	require.NoError(t, err)
	require.Len(t, accounts, 1)

	// Another browser (another session) neither sees the mailbox nor can
	// finish an authorization started by the first.
	otherJar, _ := cookiejar.New(nil)
	other := newBrowser(entra, otherJar)
	resp, err := other.Get(srv.URL + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.NotContains(t, string(b), "alice@contoso.example")

	// A cross-site POST is refused.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/disconnect/work", nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = browser.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Disconnect.
	status, body = post("/disconnect/work", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotContains(t, body, "alice@contoso.example")
	accounts, err = store.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, accounts)
}

func TestWebappCallbackFromAnotherSession(t *testing.T) {
	var handler atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	defer srv.Close()
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{srv.URL + "/oauth2/callback"}})
	require.NoError(t, err)
	defer entra.Close()
	p, err := azure.New(entra.AzureConfig())
	require.NoError(t, err)
	a, err := newApp(srv.URL, tokenstore.NewMemory(), p, appOptions{})
	require.NoError(t, err)
	handler.Store(a.routes())

	// The attacker starts a sign-in in their session and stops before
	// the callback; the victim's browser is made to open it (login CSRF).
	jar, _ := cookiejar.New(nil)
	attacker := newBrowser(entra, jar)
	attacker.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), srv.URL+"/oauth2/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/connect", strings.NewReader("mailbox=evil"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := attacker.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(callback, srv.URL+"/oauth2/callback"), callback)

	vjar, _ := cookiejar.New(nil)
	victim := newBrowser(entra, vjar)
	resp, err = victim.Get(callback)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(b), "another browser session")
	assert.NotContains(t, string(b), "code=")
}

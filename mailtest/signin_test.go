package mailtest_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
)

// browserGet fetches u the way a browser does (no mailtest header) and
// returns the status, the Location and the body; redirects are not
// followed.
func browserGet(t *testing.T, hc *http.Client, method, u string, form url.Values) (int, string, string) {
	t.Helper()
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// pageForm returns the hidden request field of a sign-in page.
func pageForm(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name=request value="([^"]*)"`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	return html.UnescapeString(m[1])
}

func TestAzureSignInPage(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{SignInPage: true})
	u := authURL(az, az.Tenant(), "verifier", nil)

	status, _, page := browserGet(t, az.Client(), http.MethodGet, u, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "alice@contoso.example")
	request := pageForm(t, page)
	action := az.URL() + "/" + az.Tenant() + "/oauth2/v2.0/authorize"

	status, loc, _ := browserGet(t, az.Client(), http.MethodPost, action, url.Values{"request": {request}, "action": {"continue"}})
	require.Equal(t, http.StatusFound, status)
	code := codeFrom(t, loc)
	status, body := redeem(t, az, code, "verifier")
	assert.Equal(t, http.StatusOK, status, body)

	status, loc, _ = browserGet(t, az.Client(), http.MethodPost, action, url.Values{"request": {request}, "action": {"cancel"}})
	require.Equal(t, http.StatusFound, status)
	back, err := url.Parse(loc)
	require.NoError(t, err)
	assert.Equal(t, "access_denied", back.Query().Get("error"))
	assert.Empty(t, back.Query().Get("code"))

	status, _, _ = browserGet(t, az.Client(), http.MethodPost, action, url.Values{"request": {request}})
	assert.Equal(t, http.StatusBadRequest, status)

	// Authorize plays the user without the page.
	cb, err := az.Authorize(t.Context(), u)
	require.NoError(t, err)
	assert.NotEmpty(t, codeFrom(t, cb))
}

func TestAzureFormPostAndBrowserHost(t *testing.T) {
	az := newAzure(t, mailtest.AzureOptions{BrowserHost: "login.idp.test"})
	status, _, body := browserGet(t, az.Client(), http.MethodGet, az.URL()+"/"+az.Tenant()+"/v2.0/.well-known/openid-configuration", nil)
	require.Equal(t, http.StatusOK, status)
	port := az.URL()[strings.LastIndex(az.URL(), ":"):]
	assert.Contains(t, body, `"authorization_endpoint":"https://login.idp.test`+port+"/"+az.Tenant()+`/oauth2/v2.0/authorize"`)
	assert.Contains(t, body, `"token_endpoint":"`+az.URL()+"/")

	u := authURL(az, az.Tenant(), "verifier", func(q url.Values) { q.Set("response_mode", "form_post") })
	status, loc, page := browserGet(t, az.Client(), http.MethodGet, u, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, loc)
	assert.Contains(t, page, `<form method=post action="`+azRedirect+`">`)
	assert.Contains(t, page, `<input type=hidden name="state" value="st">`)
	m := regexp.MustCompile(`name="code" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	status, tokens := redeem(t, az, html.UnescapeString(m[1]), "verifier")
	assert.Equal(t, http.StatusOK, status, tokens)
}

func TestGoogleSignInPage(t *testing.T) {
	g := newGoogle(t, mailtest.GoogleOptions{SignInPage: true, BrowserHost: "accounts.idp.test"})
	assert.True(t, strings.HasPrefix(g.AuthURL(), "https://accounts.idp.test:"), g.AuthURL())
	u := strings.Replace(gAuthURL(g, nil), g.AuthURL(), g.URL()+"/o/oauth2/v2/auth", 1)

	status, _, page := browserGet(t, g.Client(), http.MethodGet, u, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "bob@gmail.example")
	request := pageForm(t, page)
	status, loc, _ := browserGet(t, g.Client(), http.MethodPost, g.URL()+"/o/oauth2/v2/auth", url.Values{"request": {request}, "action": {"cancel"}})
	require.Equal(t, http.StatusFound, status)
	back, err := url.Parse(loc)
	require.NoError(t, err)
	assert.Equal(t, "access_denied", back.Query().Get("error"))
	status, loc, _ = browserGet(t, g.Client(), http.MethodPost, g.URL()+"/o/oauth2/v2/auth", url.Values{"request": {request}, "action": {"continue"}})
	require.Equal(t, http.StatusFound, status)
	back, err = url.Parse(loc)
	require.NoError(t, err)
	assert.NotEmpty(t, back.Query().Get("code"))

	cb, err := g.Authorize(t.Context(), u)
	require.NoError(t, err)
	assert.Contains(t, cb, "code=")
}

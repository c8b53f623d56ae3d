package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// TestGenericThroughClient runs a discovered provider through
// oauth2client's Client: the callback handler checks the RFC 9207 iss
// the provider announces.
func TestGenericThroughClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tamper   func(url.Values)
		wantFail bool
	}{
		{"iss matches", nil, false},
		{"iss from another server", func(q url.Values) { q.Set("iss", "https://evil.example") }, true},
		{"iss missing", func(q url.Values) { q.Del("iss") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, clock := newOIDC(t, true)
			p := discover(t, fake, clock, "https://mail.google.com/", "email")
			c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock})
			require.NoError(t, err)
			require.NoError(t, c.SetConnection("idp", p))
			ctx := context.Background()
			authURL, err := c.StartAuthorization(ctx, "idp", "acct", nil)
			require.NoError(t, err)
			cb, err := fake.Authorize(ctx, authURL)
			require.NoError(t, err)
			cu, err := url.Parse(cb)
			require.NoError(t, err)
			if tc.tamper != nil {
				q := cu.Query()
				tc.tamper(q)
				cu.RawQuery = q.Encode()
			}
			rec := httptest.NewRecorder()
			c.Handler(oauth2client.HandlerConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, cu.String(), nil))
			tok, err := c.Token(ctx, "acct")
			if tc.wantFail {
				assert.GreaterOrEqual(t, rec.Code, 400)
				require.Error(t, err)
				return
			}
			require.Less(t, rec.Code, 400, rec.Body.String())
			require.NoError(t, err)
			assert.Equal(t, "erin@idp.example", tok.Username)
		})
	}
}

package oauth2client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// FuzzCallback sends arbitrary query strings (and form bodies) to the
// callback handler with its default pages, while a real authorization is
// pending: no panic, never a success without a valid state, always the
// no-store and no-referrer headers, and no echo of the code, state or
// error text the request carried.
func FuzzCallback(f *testing.F) {
	f.Add("code=abc&state=def", false)
	f.Add("error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x", false)
	f.Add("code=1&code=2&state=s&state=t&iss=https%3A%2F%2Fevil.example", false)
	f.Add("state="+strings.Repeat("A", 43)+"&code=c0de", true)
	f.Add("%zz=%%%&;;&==", false)
	f.Add(strings.Repeat("a=b&", 5000), true)
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock})
	if err != nil {
		f.Fatal(err)
	}
	if err := c.SetConnection("corp", newFakeProvider(clock.Now)); err != nil {
		f.Fatal(err)
	}
	if _, err := c.StartAuthorization(context.Background(), "corp", "acct", nil); err != nil {
		f.Fatal(err)
	}
	h := c.Handler(oauth2client.HandlerConfig{AllowFormPost: true})
	f.Fuzz(func(t *testing.T, query string, post bool) {
		var r *http.Request
		if post {
			r = httptest.NewRequest(http.MethodPost, "/oauth2/callback", strings.NewReader(query))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(http.MethodGet, "/oauth2/callback", nil)
			r.URL.RawQuery = query
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 400 || w.Code > 499 {
			t.Fatalf("status %d for %q", w.Code, query)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control %q", got)
		}
		if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Fatalf("Referrer-Policy %q", got)
		}
		// The page's text is fixed prose without digits, '_' or '~';
		// codes, states and tokens have them.
		q, _ := url.ParseQuery(query)
		page := w.Body.String()
		if i := strings.Index(page, "<title>"); i >= 0 {
			page = page[i:]
		}
		for _, k := range []string{"code", "state", "error", "error_description", "iss"} {
			for _, v := range q[k] {
				if len(v) >= 6 && strings.ContainsAny(v, "0123456789_~") && strings.Contains(page, v) {
					t.Fatalf("the response echoes %s=%q", k, v)
				}
			}
		}
	})
}

package oauth2client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const redirect = "https://mail.example.com/oauth2/callback"

type harness struct {
	clock    *mailtest.Clock
	store    *tokenstore.Memory
	provider *fakeProvider
	client   *oauth2client.Client
	handler  http.Handler
	lastErr  error
}

func newHarness(t *testing.T, hc oauth2client.HandlerConfig) *harness {
	t.Helper()
	h := &harness{clock: mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)), store: tokenstore.NewMemory()}
	h.provider = newFakeProvider(h.clock.Now)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	h.client = c
	if hc.OnError == nil {
		hc.OnError = func(w http.ResponseWriter, r *http.Request, err error) {
			h.lastErr = err
			w.WriteHeader(http.StatusTeapot)
		}
	}
	h.handler = c.Handler(hc)
	return h
}

// callback sends the browser's return to the handler.
func (h *harness) callback(method string, q url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, redirect+"?"+q.Encode(), nil)
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func TestHandlerHappyPath(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{}) // default pages
	ctx := context.Background()

	authURL, err := h.client.StartAuthorization(ctx, "corp", "acct-1", &oauth2client.AuthOptions{LoginHint: "alice@example.com"})
	require.NoError(t, err)
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	state := u.Query().Get("state")
	assert.Len(t, state, 43, "state carries 256 random bits, base64url")
	assert.Equal(t, "S256", u.Query().Get("code_challenge_method"))
	assert.Equal(t, redirect, u.Query().Get("redirect_uri"))

	q := h.provider.approve(authURL)
	w := h.callback(http.MethodGet, q)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
	assert.Contains(t, w.Body.String(), "alice@example.com")
	assert.NotContains(t, w.Body.String(), q.Get("code"))

	rec, err := h.store.Load(ctx, "acct-1")
	require.NoError(t, err)
	assert.Equal(t, "corp", rec.Connection)
	assert.Equal(t, "alice@example.com", rec.Identity.Username)
	assert.Equal(t, oauth2client.Secret("rt-"+q.Get("code")), rec.RefreshToken)

	tok, err := h.client.Token(ctx, "acct-1")
	require.NoError(t, err)
	assert.Equal(t, rec.AccessToken, tok.AccessToken)
	assert.Equal(t, int64(0), h.provider.refreshes.Load(), "a fresh token needs no refresh")
}

func TestHandlerRedirectsToReturnTo(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	authURL, err := h.client.StartAuthorization(context.Background(), "corp", "a", &oauth2client.AuthOptions{ReturnTo: "/settings/mail?tab=2"})
	require.NoError(t, err)
	w := h.callback(http.MethodGet, h.provider.approve(authURL))
	assert.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/settings/mail?tab=2", w.Header().Get("Location"))
}

func TestHandlerFailures(t *testing.T) {
	start := func(t *testing.T, h *harness, opts *oauth2client.AuthOptions) url.Values {
		authURL, err := h.client.StartAuthorization(context.Background(), "corp", "acct", opts)
		require.NoError(t, err)
		return h.provider.approve(authURL)
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, h *harness) (method string, q url.Values)
		want    error
		status  int
	}{
		{"malformed state", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Set("state", "not-a-state")
			return http.MethodGet, q
		}, oauth2client.ErrStateInvalid, http.StatusBadRequest},
		{"state never issued", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Set("state", strings.Repeat("A", 43))
			return http.MethodGet, q
		}, oauth2client.ErrStateInvalid, http.StatusBadRequest},
		{"state with a forged secret half", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			s := q.Get("state")
			q.Set("state", s[:22]+strings.Repeat("B", 21))
			return http.MethodGet, q
		}, oauth2client.ErrStateInvalid, http.StatusBadRequest},
		{"expired state", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			h.clock.Advance(oauth2client.DefaultStateTTL + time.Second)
			return http.MethodGet, q
		}, oauth2client.ErrStateExpired, http.StatusBadRequest},
		{"replayed state", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			w := h.callback(http.MethodGet, q)
			require.Equal(t, http.StatusOK, w.Code)
			return http.MethodGet, q
		}, oauth2client.ErrStateReplayed, http.StatusBadRequest},
		{"provider error", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "AADSTS65004: User declined to consent to access the app.")
			return http.MethodGet, q
		}, &oauth2client.AuthorizationError{}, http.StatusBadRequest},
		{"missing code", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Del("code")
			return http.MethodGet, q
		}, oauth2client.ErrMissingCode, http.StatusBadRequest},
		{"wrong method", func(t *testing.T, h *harness) (string, url.Values) {
			return http.MethodPut, start(t, h, nil)
		}, oauth2client.ErrMethodNotAllowed, http.StatusMethodNotAllowed},
		{"POST without form_post", func(t *testing.T, h *harness) (string, url.Values) {
			return http.MethodPost, start(t, h, nil)
		}, oauth2client.ErrMethodNotAllowed, http.StatusMethodNotAllowed},
		{"oversize query", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Set("pad", strings.Repeat("x", 9<<10))
			return http.MethodGet, q
		}, oauth2client.ErrRequestTooLarge, http.StatusRequestURITooLong},
		{"duplicate code", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Add("code", "other")
			return http.MethodGet, q
		}, oauth2client.ErrDuplicateParameter, http.StatusBadRequest},
		{"duplicate iss, the first one right", func(t *testing.T, h *harness) (string, url.Values) {
			h.provider.issuer = "https://idp.example"
			q := start(t, h, nil)
			q.Add("iss", "https://evil.example")
			return http.MethodGet, q
		}, oauth2client.ErrDuplicateParameter, http.StatusBadRequest},
		{"duplicate state", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Add("state", q.Get("state"))
			return http.MethodGet, q
		}, oauth2client.ErrDuplicateParameter, http.StatusBadRequest},
		{"duplicate error", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Del("code")
			q.Add("error", "access_denied")
			q.Add("error", "server_error")
			return http.MethodGet, q
		}, oauth2client.ErrDuplicateParameter, http.StatusBadRequest},
		{"session from another browser", func(t *testing.T, h *harness) (string, url.Values) {
			return http.MethodGet, start(t, h, &oauth2client.AuthOptions{Session: "victim-session"})
		}, oauth2client.ErrSessionMismatch, http.StatusForbidden},
		{"issuer mismatch", func(t *testing.T, h *harness) (string, url.Values) {
			q := start(t, h, nil)
			q.Set("iss", "https://evil.example")
			return http.MethodGet, q
		}, oauth2client.ErrIssuerMismatch, http.StatusBadRequest},
		{"code injected from another PKCE flow (the verifier does not match)", func(t *testing.T, h *harness) (string, url.Values) {
			authURL, err := h.client.StartAuthorization(context.Background(), "corp", "acct", nil)
			require.NoError(t, err)
			// The attacker's code was issued for the attacker's challenge;
			// the victim's callback carries it with the victim's state.
			u, err := url.Parse(authURL)
			require.NoError(t, err)
			q := u.Query()
			q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
			u.RawQuery = q.Encode()
			injected := h.provider.approve(u.String())
			return http.MethodGet, injected
		}, &oauth2client.ProviderError{}, http.StatusBadGateway},
		{"identity mismatch", func(t *testing.T, h *harness) (string, url.Values) {
			return http.MethodGet, start(t, h, &oauth2client.AuthOptions{RequireUsername: "bob@example.com"})
		}, oauth2client.ErrIdentityMismatch, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotStatus int
			var h *harness
			h = newHarness(t, oauth2client.HandlerConfig{
				Session: func(r *http.Request) string { return "attacker-session" },
				OnError: func(w http.ResponseWriter, r *http.Request, err error) {
					h.lastErr = err
					var ce *oauth2client.CallbackError
					if errors.As(err, &ce) {
						gotStatus = ce.Status
					}
					w.WriteHeader(ce.Status)
				},
			})
			method, q := tt.prepare(t, h)
			w := h.callback(method, q)
			require.Error(t, h.lastErr)
			var ce *oauth2client.CallbackError
			require.ErrorAs(t, h.lastErr, &ce)
			if target, ok := tt.want.(*oauth2client.AuthorizationError); ok {
				assert.ErrorAs(t, h.lastErr, &target)
			} else if target, ok := tt.want.(*oauth2client.ProviderError); ok {
				require.ErrorAs(t, h.lastErr, &target)
				assert.Equal(t, "invalid_grant", target.Code)
			} else {
				assert.ErrorIs(t, h.lastErr, tt.want)
			}
			assert.Equal(t, tt.status, gotStatus)
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
			if c := q.Get("code"); c != "" {
				assert.NotContains(t, h.lastErr.Error(), c, "errors never carry the code")
			}
			_, err := h.store.Load(context.Background(), "acct")
			if tt.name != "replayed state" {
				assert.ErrorIs(t, err, oauth2client.ErrNotFound, "a failed callback stores nothing")
			}
		})
	}
}

func TestHandlerDefaultErrorPageIsSafe(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	authURL, err := h.client.StartAuthorization(context.Background(), "corp", "a", nil)
	require.NoError(t, err)
	q := h.provider.approve(authURL)
	q.Set("error", "access_denied")
	q.Set("error_description", "<script>alert(1)</script> internal detail")
	w := h.callback(http.MethodGet, q)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	body := w.Body.String()
	assert.NotContains(t, body, "<script>")
	assert.NotContains(t, body, "internal detail")
	assert.NotContains(t, body, q.Get("code"))
	assert.Contains(t, body, "cancelled")

	w = h.callback(http.MethodDelete, q)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET", w.Header().Get("Allow"))
}

func TestHandlerFormPost(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{AllowFormPost: true})
	authURL, err := h.client.StartAuthorization(context.Background(), "corp", "a", nil)
	require.NoError(t, err)
	q := h.provider.approve(authURL)
	r := httptest.NewRequest(http.MethodPost, redirect, strings.NewReader(q.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)

	big := httptest.NewRequest(http.MethodPost, redirect, strings.NewReader("state="+strings.Repeat("x", 20<<10)))
	big.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.handler.ServeHTTP(w, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
}

func TestHandlerSessionBindingAccepted(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{Session: func(r *http.Request) string {
		c, err := r.Cookie("sid")
		if err != nil {
			return ""
		}
		return c.Value
	}})
	authURL, err := h.client.StartAuthorization(context.Background(), "corp", "a", &oauth2client.AuthOptions{Session: "s-123"})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, redirect+"?"+h.provider.approve(authURL).Encode(), nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: "s-123"})
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
}

func TestStartAuthorizationRejects(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	ctx := context.Background()
	for _, bad := range []string{"//evil.example", "https://evil.example", `/\evil.example`, "evil", "/a\nb", "javascript:alert(1)"} {
		_, err := h.client.StartAuthorization(ctx, "corp", "a", &oauth2client.AuthOptions{ReturnTo: bad})
		assert.Error(t, err, bad)
	}
	_, err := h.client.StartAuthorization(ctx, "nope", "a", nil)
	assert.ErrorIs(t, err, oauth2client.ErrUnknownConnection)
	_, err = h.client.StartAuthorization(ctx, "corp", "", nil)
	assert.Error(t, err)
}

package oauth2client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const customerTenant = "7c3f0b1e-5d2a-4e8f-9b6c-0a1d2e3f4a5b"

// adminConsentFixture is a multi-tenant Entra app ("organizations") on a
// fake Entra with a second, customer tenant whose administrator consents.
type adminConsentFixture struct {
	entra *mailtest.Azure
	c     *oauth2client.Client
}

func newAdminConsentFixture(t *testing.T) *adminConsentFixture {
	t.Helper()
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect},
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}, {Email: "admin@fabrikam.example", Tenant: customerTenant}}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	cfg := entra.AzureConfig()
	cfg.Tenant = "organizations"
	p, err := azure.New(cfg)
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	return &adminConsentFixture{entra: entra, c: c}
}

// consent runs the administrator's browser: it starts the flow, lets the
// fake Entra answer as admin, and serves the answer to the callback
// handler in a request with session.
func (f *adminConsentFixture) consent(t *testing.T, opts *oauth2client.AdminConsentOptions, admin, session string, cfg oauth2client.HandlerConfig) *httptest.ResponseRecorder {
	t.Helper()
	u, err := f.c.StartAdminConsent(context.Background(), "m365", opts)
	require.NoError(t, err)
	back, err := f.entra.AuthorizeAs(context.Background(), u, admin)
	require.NoError(t, err)
	require.True(t, len(back) > len(redirect) && back[:len(redirect)] == redirect, back)
	cfg.Session = func(*http.Request) string { return session }
	rec := httptest.NewRecorder()
	f.c.Handler(cfg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, back, nil))
	return rec
}

func TestAdminConsentOnboardsATenant(t *testing.T) {
	f := newAdminConsentFixture(t)
	var got *oauth2client.AdminConsent
	rec := f.consent(t, &oauth2client.AdminConsentOptions{Session: "admin-session", ReturnTo: "/tenants"}, "admin@fabrikam.example", "admin-session",
		oauth2client.HandlerConfig{OnAdminConsent: func(w http.ResponseWriter, _ *http.Request, res *oauth2client.AdminConsent) {
			got = res
			w.WriteHeader(http.StatusNoContent)
		}})
	assert.Equal(t, http.StatusNoContent, rec.Code)
	require.NotNil(t, got, "the hook received the outcome")
	assert.True(t, got.Granted)
	assert.Equal(t, customerTenant, got.Tenant, "the customer's tenant, from the administrator's sign-in")
	assert.Equal(t, "m365", got.Connection)
	assert.Equal(t, "/tenants", got.ReturnTo)
	assert.NoError(t, got.Err)
	assert.Equal(t, []string{customerTenant}, f.entra.ConsentedTenants())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestAdminConsentURLCarriesStateAndTenant(t *testing.T) {
	f := newAdminConsentFixture(t)
	raw, err := f.c.StartAdminConsent(context.Background(), "m365", &oauth2client.AdminConsentOptions{Tenant: "fabrikam.example"})
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "/fabrikam.example/v2.0/adminconsent", u.Path)
	assert.Equal(t, f.entra.ClientID(), u.Query().Get("client_id"))
	assert.Equal(t, redirect, u.Query().Get("redirect_uri"))
	assert.Len(t, u.Query().Get("state"), 43, "a fresh 32-byte state")

	_, err = f.c.StartAdminConsent(context.Background(), "m365", &oauth2client.AdminConsentOptions{ReturnTo: "https://evil.example/"})
	require.Error(t, err, "ReturnTo must be a same-origin path")
	_, err = f.c.StartAdminConsent(context.Background(), "nope", nil)
	require.ErrorIs(t, err, oauth2client.ErrUnknownConnection)
}

func TestAdminConsentRefused(t *testing.T) {
	f := newAdminConsentFixture(t)
	f.entra.DenyNext("access_denied")
	var got *oauth2client.AdminConsent
	f.consent(t, nil, "admin@fabrikam.example", "", oauth2client.HandlerConfig{
		OnAdminConsent: func(w http.ResponseWriter, _ *http.Request, res *oauth2client.AdminConsent) { got = res },
		OnError: func(http.ResponseWriter, *http.Request, error) {
			t.Error("a refusal goes to OnAdminConsent, not OnError")
		},
	})
	require.NotNil(t, got)
	assert.False(t, got.Granted)
	assert.Equal(t, customerTenant, got.Tenant)
	var ae *oauth2client.AuthorizationError
	require.ErrorAs(t, got.Err, &ae)
	assert.Equal(t, "access_denied", ae.Code)
	assert.Contains(t, ae.Description, "AADSTS65004")
	assert.Equal(t, "The sign-in was cancelled or access was not granted. You can start again.", oauth2client.UserMessage(got.Err))
	assert.Empty(t, f.entra.ConsentedTenants())

	// Without a hook, the default page says so.
	f.entra.DenyNext("access_denied")
	rec := f.consent(t, nil, "admin@fabrikam.example", "", oauth2client.HandlerConfig{})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "You can start again.")
	assert.NotContains(t, rec.Body.String(), "AADSTS")
}

func TestAdminConsentDefaultPages(t *testing.T) {
	f := newAdminConsentFixture(t)
	rec := f.consent(t, &oauth2client.AdminConsentOptions{ReturnTo: "/tenants?added=1"}, "admin@fabrikam.example", "", oauth2client.HandlerConfig{})
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/tenants?added=1", rec.Header().Get("Location"))
	rec = f.consent(t, nil, "admin@fabrikam.example", "", oauth2client.HandlerConfig{})
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "Access granted")
}

func TestAdminConsentStateIsBoundAndSingleUse(t *testing.T) {
	f := newAdminConsentFixture(t)
	ctx := context.Background()
	u, err := f.c.StartAdminConsent(ctx, "m365", &oauth2client.AdminConsentOptions{Session: "admin-session"})
	require.NoError(t, err)
	back, err := f.entra.AuthorizeAs(ctx, u, "admin@fabrikam.example")
	require.NoError(t, err)
	var errs []error
	var hooks int
	h := f.c.Handler(oauth2client.HandlerConfig{
		Session: func(r *http.Request) string { return r.Header.Get("X-Session") },
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			errs = append(errs, err)
			w.WriteHeader(http.StatusBadRequest)
		},
		OnAdminConsent: func(http.ResponseWriter, *http.Request, *oauth2client.AdminConsent) { hooks++ },
	})
	serve := func(session string) {
		r := httptest.NewRequest(http.MethodGet, back, nil)
		r.Header.Set("X-Session", session)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	serve("attacker-session")
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], oauth2client.ErrSessionMismatch, "another browser cannot complete the administrator's flow")
	assert.Zero(t, hooks)

	// The state was spent by that attempt, as for a user's sign-in.
	serve("admin-session")
	require.Len(t, errs, 2)
	assert.ErrorIs(t, errs[1], oauth2client.ErrStateReplayed)
	assert.Zero(t, hooks)

	// A fresh flow in the right session completes once.
	u, err = f.c.StartAdminConsent(ctx, "m365", &oauth2client.AdminConsentOptions{Session: "admin-session"})
	require.NoError(t, err)
	back, err = f.entra.AuthorizeAs(ctx, u, "admin@fabrikam.example")
	require.NoError(t, err)
	serve("admin-session")
	assert.Equal(t, 1, hooks)
	serve("admin-session")
	require.Len(t, errs, 3)
	assert.ErrorIs(t, errs[2], oauth2client.ErrStateReplayed)
}

func TestAdminConsentAnswerMustBeWellFormed(t *testing.T) {
	f := newAdminConsentFixture(t)
	ctx := context.Background()
	u, err := f.c.StartAdminConsent(ctx, "m365", nil)
	require.NoError(t, err)
	pu, err := url.Parse(u)
	require.NoError(t, err)
	state := pu.Query().Get("state")
	var got error
	h := f.c.Handler(oauth2client.HandlerConfig{
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) { got = err },
		OnAdminConsent: func(http.ResponseWriter, *http.Request, *oauth2client.AdminConsent) {
			t.Error("a malformed answer is no consent")
		},
	})
	// A code instead of admin_consent=True&tenant=...: not exchanged.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, redirect+"?"+url.Values{"state": {state}, "code": {"stolen-code"}}.Encode(), nil))
	assert.ErrorIs(t, got, oauth2client.ErrMalformedRequest)
	assert.Zero(t, f.entra.TokenRequests("authorization_code"), "an admin consent state never redeems a code")
}

func TestAdminConsentNeedsAnAdminConsenter(t *testing.T) {
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("fake", newFakeProvider(nil)))
	_, err = c.StartAdminConsent(context.Background(), "fake", nil)
	require.ErrorIs(t, err, oauth2client.ErrAdminConsentUnsupported)
}

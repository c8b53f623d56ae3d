package oauth2client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// idProvider signs in a fixed identity and records the nonces it sees.
type idProvider struct {
	id          oauth2client.Identity
	multi       bool
	exchangeErr error
	sent, got   []string
}

func (p *idProvider) AuthCodeURL(_ context.Context, req oauth2client.AuthRequest) (string, error) {
	p.sent = append(p.sent, req.Nonce)
	return "https://idp.example/authorize?" + url.Values{"state": {req.State}}.Encode(), nil
}

func (p *idProvider) Exchange(_ context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	p.got = append(p.got, req.Nonce)
	if p.exchangeErr != nil {
		return nil, p.exchangeErr
	}
	return &oauth2client.Grant{AccessToken: "at", RefreshToken: "rt", Identity: p.id}, nil
}

func (p *idProvider) Refresh(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
	return nil, errors.New("not used")
}

func (p *idProvider) Mail() oauth2client.MailService { return oauth2client.MailService{} }
func (p *idProvider) MultiTenant() bool              { return p.multi }

// callback starts an authorization with opts and serves its callback.
func callback(t *testing.T, p *idProvider, opts *oauth2client.AuthOptions) (*httptest.ResponseRecorder, error) {
	t.Helper()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: "https://app.example/cb", Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", p))
	authURL, err := c.StartAuthorization(context.Background(), "idp", "acct", opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	var failed error
	h := c.Handler(oauth2client.HandlerConfig{OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
		failed = err
		w.WriteHeader(http.StatusTeapot)
	}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example/cb?code=c&state="+url.QueryEscape(u.Query().Get("state")), nil))
	return w, failed
}

func TestNoncePerAuthorization(t *testing.T) {
	p := &idProvider{id: oauth2client.Identity{Username: "alice@example.com"}}
	for range 2 {
		_, err := callback(t, p, nil)
		require.NoError(t, err)
	}
	require.Len(t, p.sent, 2)
	assert.NotEmpty(t, p.sent[0])
	assert.NotEqual(t, p.sent[0], p.sent[1], "a fresh nonce per authorization")
	assert.Equal(t, p.sent, p.got, "the exchange gets the nonce sent with its own authorization")
}

func TestIdentityRequirements(t *testing.T) {
	corp := oauth2client.Identity{Username: "alice@corp.example", Subject: "s", Tenant: "11111111-1111-4111-8111-111111111111"}
	for _, tc := range []struct {
		name  string
		id    oauth2client.Identity
		opts  oauth2client.AuthOptions
		multi bool
		want  error // nil: accepted
	}{
		{"tenant matches", corp, oauth2client.AuthOptions{RequireUsername: "Alice@Corp.Example", RequireTenant: "11111111-1111-4111-8111-111111111111"}, true, nil},
		{"another tenant", corp, oauth2client.AuthOptions{RequireTenant: "66666666-6666-4666-8666-666666666666"}, false, oauth2client.ErrIdentityMismatch},
		{"no tenant at all", oauth2client.Identity{Username: "alice@corp.example"}, oauth2client.AuthOptions{RequireTenant: "11111111-1111-4111-8111-111111111111"}, false, oauth2client.ErrIdentityMismatch},
		{"workspace domain matches", oauth2client.Identity{Username: "a@corp.example", Tenant: "corp.example"}, oauth2client.AuthOptions{RequireDomain: "corp.example"}, false, nil},
		{"another workspace domain", oauth2client.Identity{Username: "a@corp.example", Tenant: "evil.example"}, oauth2client.AuthOptions{RequireDomain: "corp.example"}, false, oauth2client.ErrIdentityMismatch},
		{"username without tenant, single-tenant", corp, oauth2client.AuthOptions{RequireUsername: "alice@corp.example"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := callback(t, &idProvider{id: tc.id, multi: tc.multi}, &tc.opts)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			var ce *oauth2client.CallbackError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, http.StatusForbidden, ce.Status)
			assert.Equal(t, http.StatusTeapot, w.Code)
		})
	}
	t.Run("username alone on a multi-tenant connection", func(t *testing.T) {
		_, err := callback(t, &idProvider{id: corp, multi: true}, &oauth2client.AuthOptions{RequireUsername: "alice@corp.example"})
		require.ErrorIs(t, err, oauth2client.ErrTenantRequired)
	})
}

func TestIdentityErrorsThroughHandler(t *testing.T) {
	for _, sentinel := range []error{oauth2client.ErrInvalidIDToken, oauth2client.ErrUnverifiedIdentity} {
		ie := &oauth2client.IdentityError{Claim: "email_verified", Reason: "not verified", Err: sentinel}
		p := &idProvider{exchangeErr: &oauth2client.ProviderError{Provider: "generic", Op: "exchange", Class: oauth2client.ClassConfig, Err: ie}}
		_, err := callback(t, p, nil)
		require.ErrorIs(t, err, sentinel)
		var got *oauth2client.IdentityError
		require.ErrorAs(t, err, &got)
		assert.Equal(t, "email_verified", got.Claim)
		var ce *oauth2client.CallbackError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, http.StatusForbidden, ce.Status, "a refused identity is a 403, not a gateway error")
		msg := oauth2client.UserMessage(err)
		assert.NotContains(t, msg, "email_verified")
		assert.NotEqual(t, oauth2client.UserMessage(errors.New("x")), msg, "a specific explanation")
	}
}

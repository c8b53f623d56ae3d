package oauth2client_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// These lifecycle tests run the real Azure provider against the fake
// Entra ID over HTTP, so 503s, 429s and Retry-After headers come from
// the wire as they would from login.microsoftonline.com.

type entraFixture struct {
	clock *mailtest.Clock
	entra *mailtest.Azure
	store *tokenstore.Memory
	// down makes every refresh answer 503 with Retry-After: 7.
	down atomic.Bool
}

func newEntraFixture(t *testing.T) *entraFixture {
	t.Helper()
	f := &entraFixture{clock: mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)), store: tokenstore.NewMemory()}
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Now: f.clock.Now,
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}},
		Fail: func(r *http.Request) *mailtest.AzureError {
			if f.down.Load() && r.PostForm.Get("grant_type") == "refresh_token" {
				return &mailtest.AzureError{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable", Code: 90033,
					Description: "A transient error has occurred. Please try again.", RetryAfter: 7 * time.Second}
			}
			return nil
		}})
	require.NoError(t, err)
	t.Cleanup(func() {
		entra.Close()
		entra.Client().CloseIdleConnections()
	})
	f.entra = entra
	return f
}

// client returns a Client on the fixture's store with the "m365"
// connection.
func (f *entraFixture) client(t *testing.T, cfg oauth2client.Config) *oauth2client.Client {
	t.Helper()
	p, err := azure.New(f.entra.AzureConfig()) // on the fixture's clock
	require.NoError(t, err)
	cfg.RedirectURL, cfg.Store, cfg.Clock = redirect, f.store, f.clock
	c, err := oauth2client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	return c
}

// connect authorizes account through c's callback handler.
func (f *entraFixture) connect(t *testing.T, c *oauth2client.Client, account string) {
	t.Helper()
	require.NoError(t, mailtest.Connect(context.Background(), c, f.entra, "m365", account, nil))
}

func TestTwoClientsSharingAStoreRefreshOnce(t *testing.T) {
	f := newEntraFixture(t)
	a := f.client(t, oauth2client.Config{})
	b := f.client(t, oauth2client.Config{})
	f.connect(t, a, "acct")
	ctx := context.Background()
	first, err := b.Token(ctx, "acct")
	require.NoError(t, err)
	f.clock.Set(first.Expiry.Add(time.Minute)) // both caches hold an expired token

	before := f.entra.TokenRequests("refresh_token")
	var wg sync.WaitGroup
	tokens := make(chan oauth2client.Secret, 50)
	for i := range 50 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			tok, err := c.Token(ctx, "acct")
			if assert.NoError(t, err) {
				tokens <- tok.AccessToken
			}
		})
	}
	wg.Wait()
	close(tokens)
	assert.Equal(t, before+1, f.entra.TokenRequests("refresh_token"), "two Clients, one store: one refresh")
	seen := map[oauth2client.Secret]bool{}
	for tok := range tokens {
		seen[tok] = true
	}
	assert.Len(t, seen, 1, "every caller got the one new token")
	assert.False(t, seen[first.AccessToken])
}

func TestOutageServesValidTokenAndRecovers(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the fake closed
	f := newEntraFixture(t)
	failed := make(chan error, 16)
	refreshed := make(chan string, 16)
	c := f.client(t, oauth2client.Config{RefreshAhead: 10 * time.Minute, RefreshJitter: time.Nanosecond,
		Hooks: oauth2client.Hooks{
			RefreshFailed: func(_ context.Context, _ string, err error) { failed <- err },
			Refreshed:     func(_ context.Context, a string) { refreshed <- a },
		}})
	f.connect(t, c, "acct")
	ctx := context.Background()
	old, err := c.Token(ctx, "acct")
	require.NoError(t, err)
	stored, err := f.store.Load(ctx, "acct")
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	defer func() { stop(); assert.NoError(t, <-done) }()

	f.down.Store(true)
	f.clock.Set(old.Expiry.Add(-10 * time.Minute)) // the proactive refresh is due
	var ferr error
	select {
	case ferr = <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduler did not try to refresh")
	}
	assert.ErrorIs(t, ferr, oauth2client.ErrTransient)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, ferr, &pe)
	assert.Equal(t, http.StatusServiceUnavailable, pe.HTTPStatus)
	assert.Equal(t, 7*time.Second, pe.RetryAfter, "Retry-After read from the 503")

	// During the outage the still-valid token is served without a call,
	// and the stored record is untouched.
	requests := f.entra.TokenRequests("refresh_token")
	tok, err := c.Token(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, old.AccessToken, tok.AccessToken)
	assert.Equal(t, requests, f.entra.TokenRequests("refresh_token"))
	now, err := f.store.Load(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, stored.RefreshToken, now.RefreshToken)
	assert.Equal(t, stored.AccessToken, now.AccessToken)
	assert.Equal(t, stored.Version, now.Version, "a transient failure writes nothing")
	info, err := c.Account(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateFailing, info.State)
	assert.NotContains(t, info.LastError, string(old.AccessToken))
	assert.NotEmpty(t, info.LastError)

	// The provider comes back: the retry after the backoff succeeds
	// without user action.
	f.down.Store(false)
	f.clock.Advance(time.Minute)
	select {
	case <-refreshed:
	case err := <-failed:
		t.Fatalf("refresh failed after the outage: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no refresh after the outage")
	}
	tok, err = c.Token(ctx, "acct")
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, tok.AccessToken)
	info, err = c.Account(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateConnected, info.State)
	assert.Zero(t, info.Failures)
}

func TestInvalidGrantFromEntraNeedsReauthOnce(t *testing.T) {
	f := newEntraFixture(t)
	var calls atomic.Int32
	var hookErr error
	c := f.client(t, oauth2client.Config{Hooks: oauth2client.Hooks{ReauthRequired: func(_ context.Context, _ string, err error) {
		calls.Add(1)
		hookErr = err
	}}})
	f.connect(t, c, "acct")
	ctx := context.Background()
	tok, err := c.Token(ctx, "acct")
	require.NoError(t, err)
	before, err := f.store.Load(ctx, "acct")
	require.NoError(t, err)
	f.entra.FailNext(50173) // the grant was revoked (password changed)
	f.clock.Set(tok.Expiry.Add(time.Minute))

	for range 5 {
		_, err = c.Token(ctx, "acct")
		assert.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	}
	assert.Equal(t, int32(1), calls.Load(), "the app is told once")
	assert.ErrorIs(t, hookErr, oauth2client.ErrReauthRequired)
	assert.Equal(t, 1, f.entra.TokenRequests("refresh_token"), "no retry storm")
	rec, err := f.store.Load(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StatusNeedsReauth, rec.Status, "persisted")
	assert.Equal(t, before.ProviderState, rec.ProviderState, "the refresh token (in the MSAL cache) is kept, not deleted")
	assert.Equal(t, before.AccessToken, rec.AccessToken)
}

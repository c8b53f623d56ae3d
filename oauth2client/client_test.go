package oauth2client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// connect walks one authorization through the handler and returns the
// stored record.
func (h *harness) connect(t *testing.T, account string) *oauth2client.Record {
	t.Helper()
	authURL, err := h.client.StartAuthorization(context.Background(), "corp", account, nil)
	require.NoError(t, err)
	w := h.callback(http.MethodGet, h.provider.approve(authURL))
	require.Equal(t, http.StatusOK, w.Code, "callback failed: %v", h.lastErr)
	rec, err := h.store.Load(context.Background(), account)
	require.NoError(t, err)
	return rec
}

func TestTokenSingleRefreshUnderConcurrency(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	old := h.connect(t, "a")
	h.clock.Advance(time.Hour) // the access token is now expired

	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	h.provider.refreshFn = func(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
		entered <- struct{}{}
		<-release
		return &oauth2client.Grant{AccessToken: "at-new", RefreshToken: "rt-rotated", Expiry: h.clock.Now().Add(time.Hour)}, nil
	}

	const callers = 50
	var wg sync.WaitGroup
	var started sync.WaitGroup
	results := make([]*oauth2client.Token, callers)
	errs := make([]error, callers)
	started.Add(callers)
	for i := range callers {
		wg.Go(func() {
			started.Done()
			results[i], errs[i] = h.client.Token(context.Background(), "a")
		})
	}
	started.Wait()
	<-entered // the one refresh is in flight; the rest are waiting
	close(release)
	wg.Wait()

	assert.Equal(t, int64(1), h.provider.refreshes.Load(), "exactly one token-endpoint call")
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, oauth2client.Secret("at-new"), results[i].AccessToken)
	}
	rec, err := h.store.Load(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-rotated"), rec.RefreshToken, "the rotated refresh token is stored")
	assert.Greater(t, rec.Version, old.Version)
	assert.Equal(t, old.Identity, rec.Identity, "identity survives a refresh that does not repeat it")
}

func TestTokenWaiterGivesUpOnItsOwnContext(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	h.clock.Advance(time.Hour)

	release := make(chan struct{})
	entered := make(chan struct{})
	h.provider.refreshFn = func(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
		close(entered)
		<-release
		return &oauth2client.Grant{AccessToken: "at-new", Expiry: h.clock.Now().Add(time.Hour)}, nil
	}
	done := make(chan error)
	go func() {
		_, err := h.client.Token(context.Background(), "a")
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.client.Token(ctx, "a")
	require.ErrorIs(t, err, context.Canceled, "an impatient caller returns on its own context")
	close(release)
	require.NoError(t, <-done, "the refresh itself was not cancelled")
	assert.Equal(t, int64(1), h.provider.refreshes.Load())
}

func TestTokenRefreshSaveFailureServesAndKeepsTheNewGrant(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	h.clock.Advance(time.Hour)
	failing := &failingStore{TokenStore: h.store}
	var hookErr error
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: failing, Clock: h.clock,
		Hooks: oauth2client.Hooks{RefreshFailed: func(_ context.Context, _ string, err error) { hookErr = err }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	failing.failSave.Store(true)
	ctx := context.Background()
	tok, err := c.Token(ctx, "a")
	require.NoError(t, err, "the provider's new grant is served although the store refused it")
	assert.Equal(t, oauth2client.Secret("at-refresh-1"), tok.AccessToken)
	for range 10 {
		again, err := c.Token(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, again.AccessToken)
	}
	assert.Equal(t, int64(1), h.provider.refreshes.Load(), "the rotated refresh token is not redeemed again")
	require.ErrorIs(t, hookErr, oauth2client.ErrStoreUnavailable)
	assert.ErrorIs(t, hookErr, oauth2client.ErrTransient)
	info, err := c.Account(ctx, "a")
	require.NoError(t, err)
	assert.True(t, info.Unsaved)
	assert.Equal(t, oauth2client.StateFailing, info.State)
	assert.Contains(t, info.LastError, "disk full")

	failing.failSave.Store(false)
	h.clock.Advance(info.NextRefresh.Sub(h.clock.Now())) // the retry is due
	again, err := c.Token(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, again.AccessToken, "the write is retried, not the refresh")
	assert.Equal(t, int64(1), h.provider.refreshes.Load())
	rec, err := h.store.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-refresh-1"), rec.RefreshToken, "the rotated refresh token landed")
	info, err = c.Account(ctx, "a")
	require.NoError(t, err)
	assert.False(t, info.Unsaved)
	assert.Equal(t, oauth2client.StateConnected, info.State)
}

type failingStore struct {
	oauth2client.TokenStore
	failSave atomic.Bool
}

func (s *failingStore) Save(ctx context.Context, rec *oauth2client.Record) error {
	if s.failSave.Load() {
		return errors.New("disk full")
	}
	return s.TokenStore.Save(ctx, rec)
}

func TestTokenTransientFailureKeepsStoredToken(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	before := h.connect(t, "a")
	h.clock.Advance(59 * time.Minute) // inside the renewal margin, not yet expired
	outage := &oauth2client.ProviderError{Provider: "fake", Op: "refresh", HTTPStatus: 503, Class: oauth2client.ClassTransient}
	h.provider.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) { return nil, outage }

	tok, err := h.client.Token(context.Background(), "a")
	require.NoError(t, err, "a still-valid token is served during an outage")
	assert.Equal(t, before.AccessToken, tok.AccessToken)
	after, err := h.store.Load(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, before, after, "a transient failure changes nothing stored")

	h.clock.Advance(2 * time.Minute) // now really expired
	_, err = h.client.Token(context.Background(), "a")
	require.ErrorIs(t, err, oauth2client.ErrTransient)
	after, err = h.store.Load(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, before.RefreshToken, after.RefreshToken, "the refresh token survives the outage")

	h.provider.refreshFn = nil
	calls := h.provider.refreshes.Load()
	_, err = h.client.Token(context.Background(), "a")
	require.ErrorIs(t, err, oauth2client.ErrTransient, "inside the backoff delay the provider is not asked again")
	assert.Equal(t, calls, h.provider.refreshes.Load())
	h.clock.Advance(oauth2client.DefaultBackoffMax)
	tok, err = h.client.Token(context.Background(), "a")
	require.NoError(t, err, "the account recovers by itself after the outage")
	assert.NotEqual(t, before.AccessToken, tok.AccessToken)
}

func TestTokenInvalidGrantMarksAccount(t *testing.T) {
	var hookCalls atomic.Int64
	h := newHarness(t, oauth2client.HandlerConfig{})
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock,
		Hooks: oauth2client.Hooks{ReauthRequired: func(ctx context.Context, account string, err error) {
			hookCalls.Add(1)
		}}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	h.client = c
	h.handler = c.Handler(oauth2client.HandlerConfig{})
	before := h.connect(t, "a")
	h.clock.Advance(time.Hour)
	h.provider.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
		return nil, &oauth2client.ProviderError{Provider: "fake", Op: "refresh", Code: "invalid_grant", Class: oauth2client.ClassReauth}
	}
	for range 3 {
		_, err = c.Token(context.Background(), "a")
		require.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	}
	assert.Equal(t, int64(1), h.provider.refreshes.Load(), "no retry storm after invalid_grant")
	assert.Equal(t, int64(1), hookCalls.Load(), "the app is told once")
	rec, err := h.store.Load(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StatusNeedsReauth, rec.Status)
	assert.Equal(t, before.RefreshToken, rec.RefreshToken, "the stored token is kept")
	info, err := c.Account(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateNeedsReauth, info.State)

	h.provider.refreshFn = nil
	h.connect(t, "a") // the user signs in again
	_, err = c.Token(context.Background(), "a")
	require.NoError(t, err)
}

func TestTokenUnknownAccount(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	_, err := h.client.Token(context.Background(), "nobody")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound)
}

func TestRefreshForcesNewTokenOnce(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	rec := h.connect(t, "a")
	tok, err := h.client.Refresh(context.Background(), "a")
	require.NoError(t, err)
	assert.NotEqual(t, rec.AccessToken, tok.AccessToken, "the rejected token is replaced")
	assert.Equal(t, int64(1), h.provider.refreshes.Load())
	again, err := h.client.Token(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, again.AccessToken)
	assert.Equal(t, int64(1), h.provider.refreshes.Load())
}

func TestTokenHotPathDoesNotAllocate(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	ctx := context.Background()
	_, err := h.client.Token(ctx, "a")
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := h.client.Token(ctx, "a"); err != nil {
			panic(err)
		}
	})
	assert.Equal(t, 0.0, allocs)
}

func TestDisconnectRevokesAndDeletes(t *testing.T) {
	var disconnected []string
	h := newHarness(t, oauth2client.HandlerConfig{})
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock,
		Hooks: oauth2client.Hooks{Disconnected: func(_ context.Context, a string) { disconnected = append(disconnected, a) }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	h.client, h.handler = c, c.Handler(oauth2client.HandlerConfig{})
	rec := h.connect(t, "a")
	require.NoError(t, c.Disconnect(context.Background(), "a"))
	assert.Equal(t, []oauth2client.Secret{rec.RefreshToken}, h.provider.revoked)
	_, err = h.store.Load(context.Background(), "a")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound)
	_, err = c.Token(context.Background(), "a")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound, "no cached token survives a disconnect")
	assert.Equal(t, []string{"a"}, disconnected)
	assert.NoError(t, c.Disconnect(context.Background(), "a"), "disconnecting twice is fine")
}

func TestConnectAppOnly(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	ap := &appOnlyProvider{fakeProvider: h.provider}
	require.NoError(t, h.client.SetConnection("app", ap))
	ctx := context.Background()
	tok, err := h.client.ConnectAppOnly(ctx, "app", "shared", "shared@example.com")
	require.NoError(t, err)
	assert.Equal(t, "shared@example.com", tok.Username)
	h.clock.Advance(time.Hour)
	tok2, err := h.client.Token(ctx, "shared")
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, tok2.AccessToken)
	assert.Equal(t, int64(2), ap.calls.Load())
	assert.Equal(t, int64(0), h.provider.refreshes.Load(), "app-only accounts are renewed with client credentials")

	_, err = h.client.ConnectAppOnly(ctx, "corp", "x", "x@example.com")
	assert.ErrorIs(t, err, oauth2client.ErrAppOnlyUnsupported)
}

func TestNewValidatesConfig(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	_, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect})
	assert.ErrorContains(t, err, "Store")
	for _, bad := range []string{"/relative", "https://x.example/cb#frag"} {
		_, err := oauth2client.New(oauth2client.Config{RedirectURL: bad, Store: h.store})
		assert.Error(t, err, bad)
	}

	// Without a redirect URL: app-only use works, user sign-in says why not.
	c, err := oauth2client.New(oauth2client.Config{Store: h.store})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", &appOnlyProvider{fakeProvider: h.provider}))
	_, err = c.ConnectAppOnly(context.Background(), "corp", "shared", "shared@example.com")
	assert.NoError(t, err)
	_, err = c.StartAuthorization(context.Background(), "corp", "acct", nil)
	assert.ErrorContains(t, err, "Config.RedirectURL is empty")
}

func TestSecretRedaction(t *testing.T) {
	s := oauth2client.Secret("eyJ0eXAiOiJKV1Qi.secret")
	g := oauth2client.Grant{AccessToken: s, RefreshToken: s}
	for _, out := range []string{
		s.String(), s.GoString(),
		fmt.Sprintf("%v %s %q %x %#v %+v", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", g, g, g),
	} {
		assert.NotContains(t, out, "secret")
	}
	assert.Equal(t, "eyJ0eXAiOiJKV1Qi.secret", s.Reveal())
}

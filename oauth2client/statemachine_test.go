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

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// Issue 13 item 9: a refresh of alice's grant held at the provider while
// the account is connected again to bob fails transiently; on main its
// outcome republished alice's token over bob's. Here it changes nothing.
func TestLateRefreshFailureDoesNotRepublishReplacedGrant(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now, Lifetime: 10 * time.Minute})
	var fail bool
	var mu sync.Mutex
	p := &faultyProvider{Rotator: idp, entered: make(chan struct{}), fail: func() bool { mu.Lock(); defer mu.Unlock(); return fail }}
	c, err := oauth2client.New(oauth2client.Config{Store: tokenstore.NewMemory(), Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", p))
	ctx := context.Background()
	_, err = c.ConnectGrant(ctx, "idp", "acct", idp.Grant("alice"))
	require.NoError(t, err)
	clock.Advance(9 * time.Minute) // due
	release := idp.Hold()
	mu.Lock()
	fail = true
	mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := c.Token(ctx, "acct"); done <- err }()
	<-p.entered // alice's refresh is in flight
	connected := make(chan error, 1)
	go func() { _, err := c.ConnectGrant(ctx, "idp", "acct", idp.Grant("bob")); connected <- err }()
	release()
	<-done
	require.NoError(t, <-connected)
	tok, err := c.Token(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, "bob", tok.Username, "the late failure did not bring alice's token back")
	info, err := c.Account(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateConnected, info.State, "re-authorization cleared the old failure")
	assert.Zero(t, info.Failures)
}

// faultyProvider fails refreshes with a 503 after they were held.
type faultyProvider struct {
	*mailtest.Rotator
	fail    func() bool
	entered chan struct{}
	once    sync.Once
}

func (p *faultyProvider) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	p.once.Do(func() { close(p.entered) })
	ng, err := p.Rotator.Refresh(ctx, g)
	if err == nil && p.fail() {
		return nil, mailtest.Unavailable()
	}
	return ng, err
}

// Issue 13 contract item 5: a refresh returning another subject is
// refused; the stored grant is kept and the account needs re-authorizing.
func TestRefreshWithAnotherIdentityIsRefused(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	before := h.connect(t, "a")
	h.provider.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
		return &oauth2client.Grant{AccessToken: "at-mallory", RefreshToken: "rt-mallory", Expiry: h.clock.Now().Add(time.Hour),
			Identity: oauth2client.Identity{Username: "mallory@example.com", Subject: "sub-mallory"}}, nil
	}
	var hooked error
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock,
		Hooks: oauth2client.Hooks{ReauthRequired: func(_ context.Context, _ string, err error) { hooked = err }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	h.clock.Advance(time.Hour)
	_, err = c.Token(context.Background(), "a")
	require.ErrorIs(t, err, oauth2client.ErrIdentityChanged)
	assert.ErrorIs(t, err, oauth2client.ErrReauthRequired)
	var re *oauth2client.ReauthError
	assert.ErrorAs(t, err, &re)
	assert.ErrorIs(t, hooked, oauth2client.ErrIdentityChanged)
	rec, err := h.store.Load(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, before.AccessToken, rec.AccessToken, "the stored grant is kept")
	assert.Equal(t, before.RefreshToken, rec.RefreshToken)
	assert.Equal(t, oauth2client.StatusNeedsReauth, rec.Status)
}

// Issue 13 item 12: a hook that asks for its own account's token (here,
// forces one more refresh) does not wait on its own flight or lease; on
// main it waited until its context ended.
func TestHookMayAskForItsOwnToken(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	var c *oauth2client.Client
	type result struct {
		tok *oauth2client.Token
		err error
	}
	got := make(chan result, 1)
	var first atomic.Bool
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock,
		Hooks: oauth2client.Hooks{Refreshed: func(ctx context.Context, account string) {
			if !first.CompareAndSwap(false, true) {
				return
			}
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			tok, err := c.Refresh(hctx, account)
			got <- result{tok, err}
		}}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	h.clock.Advance(time.Hour)
	tok, err := c.Token(context.Background(), "a")
	require.NoError(t, err)
	r := <-got
	require.NoError(t, r.err, "the hook got a token")
	assert.NotEqual(t, tok.AccessToken, r.tok.AccessToken, "the hook's refresh ran: it did not fall back to the old token")
	assert.Equal(t, int64(2), h.provider.refreshes.Load())
}

// Issue 13 item 12: five connections rejected with the same token cause
// one refresh when they name it (RefreshIfCurrent).
func TestRefreshIfCurrentRefreshesOncePerRejectedToken(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	ctx := context.Background()
	tok, err := h.client.Token(ctx, "a")
	require.NoError(t, err)
	for range 5 {
		fresh, err := h.client.RefreshIfCurrent(ctx, "a", tok.AccessToken)
		require.NoError(t, err)
		assert.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	}
	assert.Equal(t, int64(1), h.provider.refreshes.Load())
}

// Issue 13 items 4 and 10: Disconnect removes a record that cannot be
// read, and the callback replaces it.
func TestUnreadableRecordCanBeReplaced(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.handler = h.client.Handler(oauth2client.HandlerConfig{})
	h.connect(t, "a")
	u := &unreadableStore{Memory: h.store, broken: true}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: u, Clock: h.clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))
	ctx := context.Background()
	_, err = c.Token(ctx, "a")
	require.ErrorIs(t, err, oauth2client.ErrUnreadable)
	authURL, err := c.StartAuthorization(ctx, "corp", "a", nil)
	require.NoError(t, err)
	h.handler = c.Handler(oauth2client.HandlerConfig{})
	w := h.callback(http.MethodGet, h.provider.approve(authURL))
	require.Equal(t, http.StatusOK, w.Code, "re-authorizing replaces the unreadable record")
	tok, err := c.Token(ctx, "a")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	u.set(true)
	require.NoError(t, c.Disconnect(ctx, "a"), "Disconnect removes an unreadable record")
	_, err = h.store.Load(ctx, "a")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound)
}

// unreadableStore makes Load fail with ErrUnreadable until Delete.
type unreadableStore struct {
	*tokenstore.Memory
	mu     sync.Mutex
	broken bool
}

func (s *unreadableStore) set(b bool) { s.mu.Lock(); s.broken = b; s.mu.Unlock() }

func (s *unreadableStore) Load(ctx context.Context, a string) (*oauth2client.Record, error) {
	s.mu.Lock()
	b := s.broken
	s.mu.Unlock()
	if b {
		return nil, &unreadableErr{}
	}
	return s.Memory.Load(ctx, a)
}

func (s *unreadableStore) Delete(ctx context.Context, a string) error {
	s.set(false)
	return s.Memory.Delete(ctx, a)
}

type unreadableErr struct{}

func (*unreadableErr) Error() string        { return "record truncated" }
func (*unreadableErr) Is(target error) bool { return target == oauth2client.ErrUnreadable }

// Issue 13 item 10: an instance in backoff serves the valid token another
// instance stored instead of refusing.
func TestBackoffServesTokenAnotherInstanceStored(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	store := tokenstore.NewMemory()
	seed(t, store, 1, clock.Now().Add(-time.Minute)) // expired
	down := newFakeProvider(clock.Now)
	down.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
		return nil, &oauth2client.ProviderError{Provider: "fake", Op: "refresh", HTTPStatus: 503, Class: oauth2client.ClassTransient}
	}
	a, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, a.SetConnection("corp", down))
	b, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, b.SetConnection("corp", newFakeProvider(clock.Now)))
	ctx := context.Background()
	_, err = a.Token(ctx, "acct-0000")
	require.ErrorIs(t, err, oauth2client.ErrTransient, "a is in backoff")
	fresh, err := b.Token(ctx, "acct-0000")
	require.NoError(t, err)
	got, err := a.Token(ctx, "acct-0000")
	require.NoError(t, err, "a serves b's token during its backoff")
	assert.Equal(t, fresh.AccessToken, got.AccessToken)
	require.NoError(t, b.Disconnect(ctx, "acct-0000"))
	clock.Advance(oauth2client.DefaultStoreRecheck)
	_, err = a.Token(ctx, "acct-0000")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound, "a stops serving a disconnected account within StoreRecheck")
}

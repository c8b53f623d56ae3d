package oauth2client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// seed stores n connected accounts whose tokens all expire at exp.
func seed(t *testing.T, store oauth2client.TokenStore, n int, exp time.Time) []string {
	t.Helper()
	accounts := make([]string, n)
	for i := range n {
		accounts[i] = fmt.Sprintf("acct-%04d", i)
		require.NoError(t, store.Save(context.Background(), &oauth2client.Record{
			Account: accounts[i], Connection: "corp",
			Grant: oauth2client.Grant{AccessToken: oauth2client.Secret("at-" + accounts[i]), RefreshToken: "rt", Expiry: exp,
				Identity: oauth2client.Identity{Username: accounts[i] + "@example.com"}},
		}))
	}
	return accounts
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	store := tokenstore.NewMemory()
	seed(t, store, 1, clock.Now().Add(-time.Minute)) // expired
	p := newFakeProvider(clock.Now)
	throttled := true
	p.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
		if throttled {
			return nil, &oauth2client.ProviderError{Provider: "fake", Op: "refresh", HTTPStatus: 429, RetryAfter: 7 * time.Second, Class: oauth2client.ClassTransient}
		}
		return &oauth2client.Grant{AccessToken: "at-new", Expiry: clock.Now().Add(time.Hour)}, nil
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", p))
	ctx := context.Background()

	_, err = c.Token(ctx, "acct-0000")
	require.ErrorIs(t, err, oauth2client.ErrTransient)
	require.Equal(t, int64(1), p.refreshes.Load())
	throttled = false

	clock.Advance(6 * time.Second)
	_, err = c.Token(ctx, "acct-0000")
	require.ErrorIs(t, err, oauth2client.ErrTransient, "6 s after Retry-After: 7 the provider is not asked")
	assert.Equal(t, int64(1), p.refreshes.Load())
	info, err := c.Account(ctx, "acct-0000")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateFailing, info.State)
	assert.Equal(t, 1, info.Failures)

	clock.Advance(time.Second)
	tok, err := c.Token(ctx, "acct-0000")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("at-new"), tok.AccessToken)
	assert.Equal(t, int64(2), p.refreshes.Load())
	info, err = c.Account(ctx, "acct-0000")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.StateConnected, info.State)
	assert.Equal(t, clock.Now(), info.LastRefresh)
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	store := tokenstore.NewMemory()
	seed(t, store, 1, clock.Now().Add(-time.Minute))
	p := newFakeProvider(clock.Now)
	p.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
		return nil, &oauth2client.ProviderError{Provider: "fake", Op: "refresh", HTTPStatus: 503, Class: oauth2client.ClassTransient}
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock,
		BackoffMin: time.Second, BackoffMax: 16 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", p))
	ctx := context.Background()
	var waits []time.Duration
	for range 8 {
		_, err := c.Token(ctx, "acct-0000")
		require.ErrorIs(t, err, oauth2client.ErrTransient)
		info, err := c.Account(ctx, "acct-0000")
		require.NoError(t, err)
		wait := info.NextRefresh.Sub(clock.Now())
		waits = append(waits, wait)
		clock.Advance(wait)
	}
	assert.Equal(t, int64(8), p.refreshes.Load(), "one provider call per backoff step, no storm")
	for i, w := range waits {
		full := min(time.Second<<i, 16*time.Second)
		assert.GreaterOrEqual(t, w, full/2, "step %d", i)
		assert.LessOrEqual(t, w, full, "step %d", i)
	}
	rec, err := store.Load(ctx, "acct-0000")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt"), rec.RefreshToken, "eight failures later the refresh token is intact")
	assert.Equal(t, oauth2client.StatusConnected, rec.Status)
}

func TestSchedulerRefreshesAheadWithJitter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clock := mailtest.NewClock(t0)
	store := tokenstore.NewMemory()
	exp := t0.Add(time.Hour)
	const n = 200
	accounts := seed(t, store, n, exp)
	p := newFakeProvider(clock.Now)
	refreshed := make(chan string, n)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock,
		RefreshAhead: 10 * time.Minute, RefreshJitter: 5 * time.Minute, RefreshRate: 1e6,
		Hooks: oauth2client.Hooks{Refreshed: func(_ context.Context, a string) { refreshed <- a }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", p))
	ctx := context.Background()
	for _, a := range accounts { // the accounts are in use: their tokens are cached
		_, err := c.Token(ctx, a)
		require.NoError(t, err)
	}
	require.Equal(t, n, c.Scheduled())

	// Every refresh is scheduled in [exp-15m, exp-10m], spread over it.
	var buckets [10]int
	for _, a := range accounts {
		info, err := c.Account(ctx, a)
		require.NoError(t, err)
		lead := exp.Sub(info.NextRefresh)
		require.GreaterOrEqual(t, lead, 10*time.Minute)
		require.LessOrEqual(t, lead, 15*time.Minute)
		buckets[int((lead-10*time.Minute)*10/(5*time.Minute+1))]++
	}
	for i, b := range buckets {
		assert.Positive(t, b, "jitter bucket %d of 10 is empty: refreshes are not spread", i)
		assert.Less(t, b, n/3, "jitter bucket %d holds a third of all refreshes", i)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	clock.Set(exp.Add(-10 * time.Minute)) // every proactive refresh is due
	got := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case a := <-refreshed:
			got[a] = true
		case <-clock.TimerAdded():
			// The scheduler re-armed its timer; nothing to do.
		case <-deadline:
			t.Fatalf("only %d of %d accounts were refreshed ahead", len(got), n)
		}
	}
	assert.Equal(t, int64(n), p.refreshes.Load(), "exactly one refresh per account")

	// Past the old expiry, tokens come from memory without a call.
	clock.Set(exp.Add(time.Minute))
	for _, a := range accounts {
		tok, err := c.Token(ctx, a)
		require.NoError(t, err)
		assert.True(t, tok.Expiry.After(clock.Now()))
	}
	assert.Equal(t, int64(n), p.refreshes.Load())

	stop()
	require.NoError(t, <-done)
}

func TestRefreshRateLimitPerConnection(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, ignore)
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clock := mailtest.NewClock(t0)
	store := tokenstore.NewMemory()
	exp := t0.Add(time.Hour)
	const n, workers, burst, perSecond = 100, 8, 5, 10
	accounts := seed(t, store, n, exp)
	p := newFakeProvider(clock.Now)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock,
		RefreshAhead: 10 * time.Minute, RefreshJitter: time.Minute,
		RefreshRate: perSecond, RefreshBurst: burst, RefreshWorkers: workers})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", p))
	ctx := context.Background()
	for _, a := range accounts {
		_, err := c.Token(ctx, a)
		require.NoError(t, err)
	}

	// settled waits until every worker waits for the bucket: then no
	// refresh can happen until the clock moves.
	settled := func() {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for clock.Timers() < workers {
			select {
			case <-clock.TimerAdded():
			case <-deadline:
				t.Fatalf("%d of %d workers wait for the rate limit", clock.Timers(), workers)
			}
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	clock.Set(exp.Add(-10 * time.Minute)) // all 100 are due at once
	settled()
	assert.Equal(t, int64(burst), p.refreshes.Load(), "only the burst goes out at once")

	for i := 1; i <= 3; i++ {
		clock.Advance(time.Second)
		settled()
		got := p.refreshes.Load()
		assert.LessOrEqual(t, got, int64(burst+perSecond*i), "after %d s", i)
		assert.Greater(t, got, int64(burst+perSecond*(i-1)-workers), "after %d s the bucket keeps flowing", i)
	}
	stop()
	require.NoError(t, <-done)
}

package oauth2client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStartAuthorizationFlood makes 200,000 StartAuthorization calls, as
// strangers shown a "connect" link could: the default in-memory state
// store never holds more than the cap, the calls beyond it fail with the
// typed error, and the memory held stays bounded.
func TestStartAuthorizationFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 authorizations")
	}
	ctx := context.Background()
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	states := oauth2client.NewMemoryStateStore(clock.Now)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock, States: states})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", newFakeProvider(clock.Now)))

	before := heapInUse()
	const calls = 200_000
	refused := 0
	for i := range calls {
		_, err := c.StartAuthorization(ctx, "corp", fmt.Sprintf("acct-%d", i), nil)
		if err != nil {
			require.ErrorIs(t, err, oauth2client.ErrTooManyPending)
			var le *oauth2client.PendingLimitError
			require.ErrorAs(t, err, &le)
			assert.False(t, le.Session)
			refused++
		}
		if i%10_000 == 0 {
			require.LessOrEqual(t, states.Len(), oauth2client.DefaultMaxPending)
		}
	}
	held := heapInUse() - min(before, heapInUse())
	assert.Equal(t, oauth2client.DefaultMaxPending, states.Len())
	assert.Equal(t, calls-oauth2client.DefaultMaxPending, refused)
	t.Logf("%d calls, %d held, %d refused; heap grew by %.1f MiB (%d bytes per held authorization)",
		calls, states.Len(), refused, float64(held)/(1<<20), held/uint64(states.Len()))
	assert.Less(t, held, uint64(64<<20), "the memory held is bounded by the cap")

	// Once they lapse, sign-ins are possible again.
	clock.Advance(oauth2client.DefaultStateTTL + time.Second)
	_, err = c.StartAuthorization(ctx, "corp", "late", nil)
	require.NoError(t, err)
}

func TestStateLimitsPerSession(t *testing.T) {
	ctx := context.Background()
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock,
		StateLimits: oauth2client.StateLimits{MaxPending: 5, MaxPerSession: 2}})
	require.NoError(t, err)
	p := newFakeProvider(clock.Now)
	require.NoError(t, c.SetConnection("corp", p))

	var urls []string
	for range 2 {
		u, err := c.StartAuthorization(ctx, "corp", "a", &oauth2client.AuthOptions{Session: "s1"})
		require.NoError(t, err)
		urls = append(urls, u)
	}
	_, err = c.StartAuthorization(ctx, "corp", "a", &oauth2client.AuthOptions{Session: "s1"})
	var le *oauth2client.PendingLimitError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Session)
	assert.Equal(t, 2, le.Limit)
	assert.ErrorIs(t, err, oauth2client.ErrTooManyPending)

	_, err = c.StartAuthorization(ctx, "corp", "b", &oauth2client.AuthOptions{Session: "s2"})
	require.NoError(t, err, "another session is not affected")

	// Completing one frees a place in the session.
	h := c.Handler(oauth2client.HandlerConfig{Session: func(*http.Request) string { return "s1" }})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, redirect+"?"+p.approve(urls[0]).Encode(), nil))
	require.Less(t, w.Code, 400, w.Body.String())
	_, err = c.StartAuthorization(ctx, "corp", "a", &oauth2client.AuthOptions{Session: "s1"})
	require.NoError(t, err)

	// The total limit.
	for range 2 {
		_, err = c.StartAuthorization(ctx, "corp", "c", nil)
		require.NoError(t, err)
	}
	_, err = c.StartAuthorization(ctx, "corp", "c", nil)
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Session)
	assert.Equal(t, 5, le.Limit)
}

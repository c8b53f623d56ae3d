package tokenstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() })
}

func TestMemoryInvalidRecord(t *testing.T) {
	testInvalidRecord(t, tokenstore.NewMemory())
}

type casStore interface {
	oauth2client.TokenStore
	oauth2client.CompareAndSwapper
	oauth2client.Locker
}

func testInvalidRecord(t *testing.T, s casStore) {
	ctx := context.Background()
	tests := []struct {
		name string
		rec  *oauth2client.Record
	}{
		{"nil", nil},
		{"empty account", &oauth2client.Record{Connection: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, s.Save(ctx, tt.rec), tokenstore.ErrInvalidRecord)
			assert.ErrorIs(t, s.CompareAndSwap(ctx, tt.rec), tokenstore.ErrInvalidRecord)
		})
	}
	t.Run("lock ttl", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			_, err := s.Lock(ctx, "a", ttl)
			assert.ErrorContains(t, err, "ttl must be positive")
		}
	})
}

func TestConflictError(t *testing.T) {
	s := tokenstore.NewMemory()
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	err := s.CompareAndSwap(ctx, storetest.Record("a"))
	var ce *tokenstore.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, tokenstore.ConflictError{Account: "a", Expected: 0, Actual: 1}, *ce)
	assert.ErrorIs(t, err, tokenstore.ErrConflict)
	assert.ErrorContains(t, err, "reload it and try again")
}

// TestMemoryLockWaitersLeaveNoGoroutines lets many waiters time out and
// checks that nothing keeps running for them.
func TestMemoryLockWaitersLeaveNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := tokenstore.NewMemory()
	unlock, err := s.Lock(context.Background(), "a", time.Hour)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	const waiters = 20
	errs := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := s.Lock(ctx, "a", time.Hour)
			errs <- err
		}()
	}
	for range waiters {
		assert.ErrorIs(t, <-errs, context.DeadlineExceeded)
	}
	require.NoError(t, unlock.Release(context.Background()))
	u, err := s.Lock(context.Background(), "a", time.Hour)
	require.NoError(t, err, "released after the waiters gave up")
	require.NoError(t, u.Release(context.Background()))
}

package faultstore_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/faultstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

type fullStore interface {
	oauth2client.TokenStore
	oauth2client.CompareAndSwapper
	oauth2client.Locker
	oauth2client.Lister
}

func newFaulty(t *testing.T) (*faultstore.Store, fullStore) {
	t.Helper()
	f := faultstore.New(tokenstore.NewMemory(), faultstore.Config{Seed: 1})
	s, ok := f.TokenStore().(fullStore)
	require.True(t, ok, "the wrapper of a Memory store has all its interfaces")
	return f, s
}

// With no rules the wrapper is the store: it passes the conformance
// suite, over Memory and over File.
func TestConformance(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) oauth2client.TokenStore {
			return faultstore.New(tokenstore.NewMemory(), faultstore.Config{}).TokenStore()
		})
	})
	t.Run("File", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) oauth2client.TokenStore {
			f, err := tokenstore.OpenFile(filepath.Join(t.TempDir(), "tokens"))
			require.NoError(t, err)
			return faultstore.New(f, faultstore.Config{}).TokenStore()
		})
	})
}

type bare struct{ oauth2client.TokenStore }

func TestKeepsOptionalInterfaces(t *testing.T) {
	mem := tokenstore.NewMemory()
	tests := []struct {
		name            string
		inner           oauth2client.TokenStore
		cas, lock, list bool
	}{
		{"none", bare{mem}, false, false, false},
		{"cas", struct {
			oauth2client.TokenStore
			oauth2client.CompareAndSwapper
		}{mem, mem}, true, false, false},
		{"lock+list", struct {
			oauth2client.TokenStore
			oauth2client.Locker
			oauth2client.Lister
		}{mem, mem, mem}, false, true, true},
		{"all", mem, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := faultstore.New(tt.inner, faultstore.Config{}).TokenStore()
			_, cas := s.(oauth2client.CompareAndSwapper)
			_, lock := s.(oauth2client.Locker)
			_, list := s.(oauth2client.Lister)
			assert.Equal(t, []bool{tt.cas, tt.lock, tt.list}, []bool{cas, lock, list})
		})
	}
}

func TestFailNext(t *testing.T) {
	f, s := newFaulty(t)
	ctx := context.Background()
	f.FailNext(faultstore.OpSave, 2)
	rec := storetest.Record("alice")
	for range 2 {
		err := s.Save(ctx, rec)
		require.ErrorIs(t, err, faultstore.ErrInjected)
		var ne *net.OpError
		assert.ErrorAs(t, err, &ne, "looks like a driver's network error")
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		var fe *faultstore.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, faultstore.OpSave, fe.Op)
		assert.Equal(t, "alice", fe.Account)
		assert.False(t, fe.Landed)
		assert.NotContains(t, err.Error(), rec.AccessToken.Reveal())
		assert.NotContains(t, err.Error(), rec.RefreshToken.Reveal())
		_, err = s.Load(ctx, "alice")
		assert.ErrorIs(t, err, oauth2client.ErrNotFound, "a failed save wrote nothing")
	}
	require.NoError(t, s.Save(ctx, rec), "the rule is used up")
	assert.NoError(t, s.CompareAndSwap(ctx, rec), "other operations were never affected")
	assert.Equal(t, 3, f.Calls(faultstore.OpSave))
	assert.Equal(t, 2, f.Injected(faultstore.OpSave))
	assert.Equal(t, 0, f.Injected(faultstore.OpCompareAndSwap))
	assert.Equal(t, 2, f.TotalInjected())
}

func TestRuleForOneAccountLanded(t *testing.T) {
	f, s := newFaulty(t)
	ctx := context.Background()
	cause := errors.New("pq: the database system is shutting down")
	remove := f.Add(faultstore.Rule{Ops: []faultstore.Op{faultstore.OpCompareAndSwap}, Account: "bob", Landed: true, Cause: cause})
	require.NoError(t, s.CompareAndSwap(ctx, storetest.Record("alice")), "another account")
	bob := storetest.Record("bob")
	err := s.CompareAndSwap(ctx, bob)
	require.ErrorIs(t, err, cause)
	require.ErrorIs(t, err, faultstore.ErrInjected)
	var fe *faultstore.Error
	require.ErrorAs(t, err, &fe)
	assert.True(t, fe.Landed)
	assert.ErrorContains(t, err, "after it was carried out")
	got, err := f.Unwrap().Load(ctx, "bob")
	require.NoError(t, err, "a landed failure wrote the record: only the reply was lost")
	assert.Equal(t, bob.AccessToken, got.AccessToken)
	remove()
	stale := storetest.Record("bob")
	assert.ErrorIs(t, s.CompareAndSwap(ctx, stale), oauth2client.ErrConflict, "a retry of the landed write conflicts, as with a real store")
}

func TestDownAndUp(t *testing.T) {
	f, s := newFaulty(t)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("alice")))
	lease, err := s.Lock(ctx, "alice", time.Minute)
	require.NoError(t, err)

	f.Down()
	_, err = s.Load(ctx, "alice")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.ErrorIs(t, s.Save(ctx, storetest.Record("alice")), faultstore.ErrInjected)
	assert.ErrorIs(t, s.CompareAndSwap(ctx, storetest.Record("x")), faultstore.ErrInjected)
	assert.ErrorIs(t, s.Delete(ctx, "alice"), faultstore.ErrInjected)
	_, err = s.List(ctx)
	assert.ErrorIs(t, err, faultstore.ErrInjected)
	_, err = s.Lock(ctx, "bob", time.Minute)
	assert.ErrorIs(t, err, faultstore.ErrInjected)
	assert.ErrorIs(t, lease.Extend(ctx, time.Minute), faultstore.ErrInjected)
	assert.ErrorIs(t, lease.Release(ctx), faultstore.ErrInjected)
	for _, op := range faultstore.AllOps {
		assert.Equal(t, 1, f.Injected(op), "%s", op)
	}

	// The failed Release did not release: the lease is still held.
	f.Up()
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = s.Lock(wctx, "alice", time.Minute)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, lease.Release(ctx), "Release again once the store is back")
	again, err := s.Lock(ctx, "alice", time.Minute)
	require.NoError(t, err)
	require.NoError(t, again.Release(ctx))
	got, err := s.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Account, "nothing failed during the outage reached the store")
}

func TestFailAtRandomIsSeeded(t *testing.T) {
	run := func(seed uint64) []bool {
		f := faultstore.New(tokenstore.NewMemory(), faultstore.Config{Seed: seed})
		f.FailAtRandom(0.3, faultstore.OpLoad)
		s := f.TokenStore()
		out := make([]bool, 1000)
		for i := range out {
			_, err := s.Load(context.Background(), "a")
			out[i] = errors.Is(err, faultstore.ErrInjected)
			if !out[i] {
				require.ErrorIs(t, err, oauth2client.ErrNotFound)
			}
		}
		assert.Equal(t, count(out), f.Injected(faultstore.OpLoad))
		return out
	}
	a, b, c := run(7), run(7), run(8)
	assert.Equal(t, a, b, "the same seed fails the same calls")
	assert.NotEqual(t, a, c)
	assert.InDelta(t, 300, count(a), 60, "about 30%% of the calls fail")
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestFailSaveAfterRefresh(t *testing.T) {
	f, s := newFaulty(t)
	ctx := context.Background()
	f.FailSaveAfterRefresh(1)

	rec := storetest.Record("alice")
	require.NoError(t, s.CompareAndSwap(ctx, rec), "the first write of an account is no refresh")
	rec.Status, rec.LastError = oauth2client.StatusNeedsReauth, "x"
	require.NoError(t, s.CompareAndSwap(ctx, rec), "a write keeping the access token is no refresh")

	cur, err := s.Load(ctx, "alice")
	require.NoError(t, err)
	cur.AccessToken, cur.RefreshToken = "rotated-access", "rotated-refresh"
	err = s.CompareAndSwap(ctx, cur)
	require.ErrorIs(t, err, faultstore.ErrInjected, "the write of a new grant fails")
	got, err := f.Unwrap().Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, rec.AccessToken, got.AccessToken, "the new grant did not reach the store")
	require.NoError(t, s.CompareAndSwap(ctx, cur), "the retry lands: the rule was for one write")
	assert.Equal(t, 1, f.Injected(faultstore.OpCompareAndSwap))
}

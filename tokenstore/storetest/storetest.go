// Package storetest is a conformance suite for oauth2client.TokenStore
// implementations. Run it from a test of your store:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) oauth2client.TokenStore {
//			return mystore.New(...) // a fresh, empty store
//		})
//	}
//
// It checks the contract documented on oauth2client.TokenStore, and the
// optional CompareAndSwapper, Locker and Lister extensions when the store
// implements them (the subtests of the others are skipped). A store must
// return an error wrapping the context's error when it is given a context
// that is already done, and must not write anything then.
//
// The suite runs its subtests one after the other. The Locker subtest
// takes a few hundred milliseconds, since it waits for a short lease to
// lapse.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Run runs the conformance suite. newStore must return a fresh, empty
// store for each call.
func Run(t *testing.T, newStore func(t *testing.T) oauth2client.TokenStore) {
	t.Helper()
	t.Run("LoadSaveDelete", func(t *testing.T) { testLoadSaveDelete(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("LoadReturnsCopy", func(t *testing.T) { testCopy(t, newStore(t)) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore(t)) })
	t.Run("OddKeys", func(t *testing.T) { testOddKeys(t, newStore(t)) })
	t.Run("LargeRecord", func(t *testing.T) { testLarge(t, newStore(t)) })
	t.Run("ContextCancelled", func(t *testing.T) { testCancelled(t, newStore(t)) })
	t.Run("ConcurrentSavers", func(t *testing.T) { testConcurrentSavers(t, newStore(t)) })
	t.Run("CompareAndSwap", func(t *testing.T) {
		s, ok := newStore(t).(interface {
			oauth2client.TokenStore
			oauth2client.CompareAndSwapper
		})
		if !ok {
			t.Skip("store does not implement oauth2client.CompareAndSwapper")
		}
		testCAS(t, s)
	})
	t.Run("Locker", func(t *testing.T) {
		l, ok := newStore(t).(oauth2client.Locker)
		if !ok {
			t.Skip("store does not implement oauth2client.Locker")
		}
		testLocker(t, l)
	})
	t.Run("Lister", func(t *testing.T) {
		s, ok := newStore(t).(interface {
			oauth2client.TokenStore
			oauth2client.Lister
		})
		if !ok {
			t.Skip("store does not implement oauth2client.Lister")
		}
		testLister(t, s)
	})
}

// Record returns a populated record for account, for tests.
func Record(account string) *oauth2client.Record {
	return &oauth2client.Record{
		Account:    account,
		Connection: "conn-1",
		Grant: oauth2client.Grant{
			AccessToken:   "access-" + oauth2client.Secret(account),
			RefreshToken:  "refresh-" + oauth2client.Secret(account),
			Expiry:        time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
			Scopes:        []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"},
			Identity:      oauth2client.Identity{Username: "user@example.com", Subject: "sub", Tenant: "tid"},
			ProviderState: []byte(`{"msal":"cache"}`),
		},
		Updated: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
	}
}

func equalRecords(t *testing.T, want, got *oauth2client.Record) {
	t.Helper()
	assert.Equal(t, want.Account, got.Account)
	assert.Equal(t, want.Connection, got.Connection)
	assert.Equal(t, want.AccessToken, got.AccessToken)
	assert.Equal(t, want.RefreshToken, got.RefreshToken)
	assert.True(t, want.Expiry.Equal(got.Expiry), "expiry %v != %v", want.Expiry, got.Expiry)
	assert.Equal(t, want.Scopes, got.Scopes)
	assert.Equal(t, want.Identity, got.Identity)
	assert.Equal(t, want.AppOnly, got.AppOnly)
	assert.True(t, bytes.Equal(want.ProviderState, got.ProviderState), "provider state differs")
	assert.Equal(t, want.Version, got.Version)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.LastError, got.LastError)
	assert.True(t, want.Updated.Equal(got.Updated), "updated %v != %v", want.Updated, got.Updated)
}

func testLoadSaveDelete(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	rec := Record("alice")
	require.NoError(t, s.Save(ctx, rec))
	got, err := s.Load(ctx, "alice")
	require.NoError(t, err)
	equalRecords(t, rec, got)

	rec.AccessToken, rec.Status, rec.LastError = "access-2", oauth2client.StatusNeedsReauth, "invalid_grant"
	require.NoError(t, s.Save(ctx, rec))
	got, err = s.Load(ctx, "alice")
	require.NoError(t, err)
	equalRecords(t, rec, got)

	require.NoError(t, s.Delete(ctx, "alice"))
	_, err = s.Load(ctx, "alice")
	require.ErrorIs(t, err, oauth2client.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "alice"), "deleting a missing account is not an error")
}

func testNotFound(t *testing.T, s oauth2client.TokenStore) {
	_, err := s.Load(context.Background(), "nobody")
	require.ErrorIs(t, err, oauth2client.ErrNotFound)
}

func testCopy(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	rec := Record("bob")
	require.NoError(t, s.Save(ctx, rec))
	rec.Scopes[0] = "changed after save"
	rec.ProviderState[0] = 'X'
	got, err := s.Load(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office.com/IMAP.AccessAsUser.All", got.Scopes[0], "Save kept a reference to the caller's slice")
	got.Scopes[0] = "changed after load"
	got.ProviderState[0] = 'Y'
	again, err := s.Load(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office.com/IMAP.AccessAsUser.All", again.Scopes[0], "Load returned the store's own slice")
	assert.Equal(t, byte('{'), again.ProviderState[0])
}

func testVersions(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	rec := Record("carol")
	var last int64
	for i := range 3 {
		require.NoError(t, s.Save(ctx, rec))
		assert.Greater(t, rec.Version, last, "save %d did not raise the version", i)
		last = rec.Version
		got, err := s.Load(ctx, "carol")
		require.NoError(t, err)
		assert.Equal(t, rec.Version, got.Version)
	}
}

func testOddKeys(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	keys := []string{"ü/../x", "with space", "emoji 📬", "../../etc/passwd", "a\\b", "UPPER", "upper", "x;DROP TABLE tokens;--", "日本語"}
	for _, k := range keys {
		require.NoError(t, s.Save(ctx, Record(k)), k)
	}
	for _, k := range keys {
		got, err := s.Load(ctx, k)
		require.NoError(t, err, k)
		assert.Equal(t, k, got.Account)
		assert.Equal(t, oauth2client.Secret("access-"+k), got.AccessToken, "keys must not collide: %q", k)
	}
}

func testLarge(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	rec := Record("large")
	rec.ProviderState = bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	rec.AccessToken = oauth2client.Secret(bytes.Repeat([]byte("a"), 8<<10))
	require.NoError(t, s.Save(ctx, rec))
	got, err := s.Load(ctx, "large")
	require.NoError(t, err)
	assert.Len(t, got.ProviderState, 1<<20)
	assert.True(t, bytes.Equal(rec.ProviderState, got.ProviderState))
	assert.Equal(t, rec.AccessToken, got.AccessToken)
}

func testCancelled(t *testing.T, s oauth2client.TokenStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Load(ctx, "x")
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Save(ctx, Record("x")), context.Canceled)
	assert.ErrorIs(t, s.Delete(ctx, "x"), context.Canceled)
	_, err = s.Load(context.Background(), "x")
	assert.ErrorIs(t, err, oauth2client.ErrNotFound, "a cancelled Save wrote nothing")

	require.NoError(t, s.Save(context.Background(), Record("y")))
	assert.ErrorIs(t, s.Delete(ctx, "y"), context.Canceled)
	_, err = s.Load(context.Background(), "y")
	assert.NoError(t, err, "a cancelled Delete deleted nothing")
	if c, ok := s.(oauth2client.CompareAndSwapper); ok {
		assert.ErrorIs(t, c.CompareAndSwap(ctx, Record("x")), context.Canceled, "CompareAndSwap")
		_, err = s.Load(context.Background(), "x")
		assert.ErrorIs(t, err, oauth2client.ErrNotFound, "a cancelled CompareAndSwap wrote nothing")
	}
	if l, ok := s.(oauth2client.Lister); ok {
		_, err := l.List(ctx)
		assert.ErrorIs(t, err, context.Canceled, "List")
	}
	if l, ok := s.(oauth2client.Locker); ok {
		_, err := l.Lock(ctx, "free", time.Minute)
		assert.ErrorIs(t, err, context.Canceled, "Lock of a free account with a cancelled context")
	}
}

// testConcurrentSavers: unconditional saves from many goroutines leave a
// whole record, one of those written.
func testConcurrentSavers(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			rec := Record("shared")
			rec.AccessToken = oauth2client.Secret(fmt.Sprintf("writer-%02d", i))
			errs <- s.Save(ctx, rec)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Load(ctx, "shared")
	require.NoError(t, err)
	assert.Regexp(t, `^writer-\d\d$`, string(got.AccessToken))
	assert.Equal(t, int64(n), got.Version, "each save raised the version once")
}

func testCAS(t *testing.T, s interface {
	oauth2client.TokenStore
	oauth2client.CompareAndSwapper
}) {
	ctx := context.Background()
	rec := Record("dave")
	require.NoError(t, s.CompareAndSwap(ctx, rec), "version 0 creates")
	assert.Equal(t, int64(1), rec.Version)

	again := Record("dave")
	require.ErrorIs(t, s.CompareAndSwap(ctx, again), oauth2client.ErrConflict, "version 0 on an existing record conflicts")

	stale := rec.Clone()
	rec.AccessToken = "second"
	require.NoError(t, s.CompareAndSwap(ctx, rec))
	stale.AccessToken = "lost update"
	require.ErrorIs(t, s.CompareAndSwap(ctx, stale), oauth2client.ErrConflict)
	assert.Equal(t, int64(1), stale.Version, "a lost race leaves the caller's version alone")
	got, err := s.Load(ctx, "dave")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("second"), got.AccessToken, "a lost race writes nothing")
	assert.Equal(t, rec.Version, got.Version)

	// A deleted record can be created again from version 0.
	require.NoError(t, s.Delete(ctx, "dave"))
	require.ErrorIs(t, s.CompareAndSwap(ctx, rec), oauth2client.ErrConflict, "a stale version after a delete conflicts")
	fresh := Record("dave")
	require.NoError(t, s.CompareAndSwap(ctx, fresh), "version 0 after a delete creates")
	got, err = s.Load(ctx, "dave")
	require.NoError(t, err)
	equalRecords(t, fresh, got)

	// Concurrent increments: every successful CAS is one increment.
	const workers, each = 8, 10
	counter := Record("counter")
	require.NoError(t, s.CompareAndSwap(ctx, counter))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				cur, err := s.Load(ctx, "counter")
				if !assert.NoError(t, err) {
					return
				}
				cur.Scopes = append(cur.Scopes, "x")
				err = s.CompareAndSwap(ctx, cur)
				if errors.Is(err, oauth2client.ErrConflict) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				done++
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got, err = s.Load(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, workers*each, wins)
	assert.Len(t, got.Scopes, 2+workers*each, "no lost update")
}

func testLocker(t *testing.T, l oauth2client.Locker) {
	ctx := context.Background()
	unlock, err := l.Lock(ctx, "erin", time.Minute)
	require.NoError(t, err)

	// A second locker waits, and gives up with its context.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = l.Lock(wctx, "erin", time.Minute)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the lock was granted twice")

	// Another account is independent.
	other, err := l.Lock(ctx, "frank", time.Minute)
	require.NoError(t, err)
	require.NoError(t, other.Release(ctx))

	// Release hands it over.
	got := make(chan error, 1)
	go func() {
		u, err := l.Lock(ctx, "erin", time.Minute)
		if err == nil {
			err = u.Release(ctx)
		}
		got <- err
	}()
	require.NoError(t, unlock.Release(ctx))
	require.NoError(t, <-got)
	assert.NoError(t, unlock.Release(ctx), "a second unlock is harmless")

	// A holder that never releases loses the lock after its ttl.
	_, err = l.Lock(ctx, "gina", 100*time.Millisecond)
	require.NoError(t, err)
	start := time.Now()
	wctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := l.Lock(wctx, "gina", time.Minute)
	require.NoError(t, err, "a crashed holder's lease must lapse")
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "the lease was not honoured")

	require.NoError(t, u.Release(ctx))

	// A holder whose lease lapsed cannot release its successor's lock.
	oldUnlock, err := l.Lock(ctx, "hank", 100*time.Millisecond)
	require.NoError(t, err)
	newUnlock, err := l.Lock(wctx, "hank", time.Minute) // waits for the lapse
	require.NoError(t, err)
	assert.NoError(t, oldUnlock.Release(ctx), "unlocking a lapsed lock is harmless")
	sctx, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = l.Lock(sctx, "hank", time.Minute)
	scancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the lapsed holder released its successor's lock")
	require.NoError(t, newUnlock.Release(ctx))

	// Mutual exclusion under contention.
	const workers = 8
	var inside, overlaps, entries atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range 5 {
				unlock, err := l.Lock(wctx, "ivy", time.Minute)
				if !assert.NoError(t, err) {
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				entries.Add(1)
				runtime.Gosched()
				inside.Add(-1)
				assert.NoError(t, unlock.Release(ctx))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(workers*5), entries.Load())
	assert.Equal(t, int32(0), overlaps.Load(), "two holders at once")
}

func testLister(t *testing.T, s interface {
	oauth2client.TokenStore
	oauth2client.Lister
}) {
	ctx := context.Background()
	keys, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys)
	want := []string{"a", "b", "ü"}
	for _, k := range want {
		require.NoError(t, s.Save(ctx, Record(k)))
	}
	require.NoError(t, s.Save(ctx, Record("gone")))
	require.NoError(t, s.Delete(ctx, "gone"))
	keys, err = s.List(ctx)
	require.NoError(t, err)
	sort.Strings(keys)
	assert.Equal(t, want, keys)
}

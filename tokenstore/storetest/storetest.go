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
// Beyond the basic contract it checks what the Client relies on when a
// refresh races with a disconnect: versions never repeat for an account,
// not even after Delete (a compare-and-swap with a version read before
// the Delete conflicts with the record created after it), compare-and-swap
// from version zero succeeds over a deleted record, leases are
// owner-checked (a lapsed lease taken by another caller cannot be
// extended, and releasing it is harmless), a released or lapsed lease is
// taken within a second, and Record.Updated is kept exactly as given. With
// [RunWith] and [Options].Corrupt it also checks that an undecodable
// record loads as oauth2client.ErrUnreadable and that Delete removes it.
//
// The suite runs its subtests one after the other. The Locker and Lease
// subtests take a few seconds, since they wait for short leases to lapse.
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
	RunWith(t, newStore, Options{})
}

// Options are extra checks for [RunWith].
type Options struct {
	// Corrupt damages the stored record of account in s (a store that
	// newStore returned, holding a readable record of account), so that
	// it can no longer be decoded: for example by writing invalid data
	// where the store keeps the record. It may fail t if it cannot. Zero
	// skips the Unreadable subtest.
	Corrupt func(t *testing.T, s oauth2client.TokenStore, account string)
}

// RunWith runs the conformance suite like [Run], with the extra checks
// opts enables.
func RunWith(t *testing.T, newStore func(t *testing.T) oauth2client.TokenStore, opts Options) {
	t.Helper()
	t.Run("LoadSaveDelete", func(t *testing.T) { testLoadSaveDelete(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("LoadReturnsCopy", func(t *testing.T) { testCopy(t, newStore(t)) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore(t)) })
	t.Run("OddKeys", func(t *testing.T) { testOddKeys(t, newStore(t)) })
	t.Run("LargeRecord", func(t *testing.T) { testLarge(t, newStore(t)) })
	t.Run("ContextCancelled", func(t *testing.T) { testCancelled(t, newStore(t)) })
	t.Run("ConcurrentSavers", func(t *testing.T) { testConcurrentSavers(t, newStore(t)) })
	t.Run("KeepsUpdated", func(t *testing.T) { testKeepsUpdated(t, newStore(t)) })
	t.Run("VersionsAfterDelete", func(t *testing.T) { testVersionsAfterDelete(t, newStore(t)) })
	t.Run("Unreadable", func(t *testing.T) {
		if opts.Corrupt == nil {
			t.Skip("no Options.Corrupt: the suite cannot make an unreadable record in this store")
		}
		testUnreadable(t, newStore(t), opts.Corrupt)
	})
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
	t.Run("Lease", func(t *testing.T) {
		l, ok := newStore(t).(oauth2client.Locker)
		if !ok {
			t.Skip("store does not implement oauth2client.Locker")
		}
		testLease(t, l)
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
	type result struct {
		version int64
		err     error
	}
	results := make(chan result, n)
	for i := range n {
		wg.Go(func() {
			rec := Record("shared")
			rec.AccessToken = oauth2client.Secret(fmt.Sprintf("writer-%02d", i))
			err := s.Save(ctx, rec)
			results <- result{rec.Version, err}
		})
	}
	wg.Wait()
	close(results)
	seen := map[int64]bool{}
	var top int64
	for r := range results {
		require.NoError(t, r.err)
		assert.False(t, seen[r.version], "two saves got version %d", r.version)
		seen[r.version] = true
		top = max(top, r.version)
	}
	got, err := s.Load(ctx, "shared")
	require.NoError(t, err)
	assert.Regexp(t, `^writer-\d\d$`, string(got.AccessToken))
	assert.Equal(t, top, got.Version, "the last save is the one stored")
}

// testKeepsUpdated: the Client stamps Updated by its own (possibly
// injected) clock; a store keeps it to the nanosecond, through Save and
// CompareAndSwap, and keeps a zero Updated zero.
func testKeepsUpdated(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	rec := Record("updated")
	rec.Updated = time.Date(2031, 2, 3, 4, 5, 6, 789012345, time.UTC)
	require.NoError(t, s.Save(ctx, rec))
	got, err := s.Load(ctx, "updated")
	require.NoError(t, err)
	assert.True(t, rec.Updated.Equal(got.Updated), "Save: Updated %v stored as %v", rec.Updated, got.Updated)

	if c, ok := s.(oauth2client.CompareAndSwapper); ok {
		got.Updated = time.Date(2019, 12, 31, 23, 59, 59, 1, time.UTC)
		require.NoError(t, c.CompareAndSwap(ctx, got))
		again, err := s.Load(ctx, "updated")
		require.NoError(t, err)
		assert.True(t, got.Updated.Equal(again.Updated), "CompareAndSwap: Updated %v stored as %v", got.Updated, again.Updated)
	}

	zero := Record("zero-updated")
	zero.Updated = time.Time{}
	require.NoError(t, s.Save(ctx, zero))
	got, err = s.Load(ctx, "zero-updated")
	require.NoError(t, err)
	assert.True(t, got.Updated.IsZero(), "a zero Updated was stored as %v", got.Updated)
}

// testVersionsAfterDelete: the ABA case. A refresh reads version v, the
// user disconnects (Delete) and connects again (a new record); the
// refresh's write with v must not land on the new record.
func testVersionsAfterDelete(t *testing.T, s oauth2client.TokenStore) {
	ctx := context.Background()
	cas, hasCAS := s.(oauth2client.CompareAndSwapper)
	var highest int64
	for round := range 3 {
		old := Record("aba")
		old.AccessToken = "old-grant"
		require.NoError(t, s.Save(ctx, old))
		require.NoError(t, s.Save(ctx, old))
		read, err := s.Load(ctx, "aba")
		require.NoError(t, err)
		assert.Greater(t, read.Version, highest, "round %d: version %d was given before", round, read.Version)
		highest = read.Version

		require.NoError(t, s.Delete(ctx, "aba"))
		_, err = s.Load(ctx, "aba")
		require.ErrorIs(t, err, oauth2client.ErrNotFound, "round %d: Load returned a deleted record", round)
		if l, ok := s.(oauth2client.Lister); ok {
			keys, err := l.List(ctx)
			require.NoError(t, err)
			assert.NotContains(t, keys, "aba", "round %d: List returned a deleted record", round)
		}

		fresh := Record("aba")
		fresh.AccessToken = "new-grant"
		if hasCAS && round%2 == 0 {
			require.NoError(t, cas.CompareAndSwap(ctx, fresh), "round %d: compare-and-swap from version 0 over a deleted record", round)
		} else {
			require.NoError(t, s.Save(ctx, fresh))
		}
		assert.Greater(t, fresh.Version, highest, "round %d: the record created after Delete got version %d, not above %d", round, fresh.Version, highest)
		highest = max(highest, fresh.Version)

		if hasCAS {
			stale := read.Clone()
			stale.AccessToken = "late-refresh-of-the-old-grant"
			require.ErrorIs(t, cas.CompareAndSwap(ctx, stale), oauth2client.ErrConflict,
				"round %d: a write with a version read before Delete landed on the new record", round)
			require.ErrorIs(t, cas.CompareAndSwap(ctx, Record("aba")), oauth2client.ErrConflict,
				"round %d: compare-and-swap from version 0 over a live record", round)
		}
		got, err := s.Load(ctx, "aba")
		require.NoError(t, err)
		assert.Equal(t, oauth2client.Secret("new-grant"), got.AccessToken, "round %d", round)
		assert.Equal(t, fresh.Version, got.Version, "round %d", round)
		require.NoError(t, s.Delete(ctx, "aba"))
	}
}

// testUnreadable: a record that cannot be decoded is not a missing one,
// never leaks into the error, and Delete clears it so the account can be
// authorized again.
func testUnreadable(t *testing.T, s oauth2client.TokenStore, corrupt func(*testing.T, oauth2client.TokenStore, string)) {
	ctx := context.Background()
	rec := Record("broken")
	require.NoError(t, s.Save(ctx, rec))
	before := rec.Version
	corrupt(t, s, "broken")

	_, err := s.Load(ctx, "broken")
	require.Error(t, err, "Options.Corrupt did not make the record unreadable")
	assert.ErrorIs(t, err, oauth2client.ErrUnreadable)
	assert.NotErrorIs(t, err, oauth2client.ErrNotFound, "an unreadable record is not a missing one")
	assert.NotContains(t, err.Error(), rec.AccessToken.Reveal())
	assert.NotContains(t, err.Error(), rec.RefreshToken.Reveal())

	require.NoError(t, s.Delete(ctx, "broken"), "Delete must remove a record it cannot read")
	_, err = s.Load(ctx, "broken")
	require.ErrorIs(t, err, oauth2client.ErrNotFound)

	fresh := Record("broken")
	if c, ok := s.(oauth2client.CompareAndSwapper); ok {
		require.NoError(t, c.CompareAndSwap(ctx, fresh), "compare-and-swap from version 0 after the unreadable record was deleted")
		stale := rec.Clone()
		stale.Version = before
		require.ErrorIs(t, c.CompareAndSwap(ctx, stale), oauth2client.ErrConflict, "a version read before the record broke")
	} else {
		require.NoError(t, s.Save(ctx, fresh))
	}
	assert.Greater(t, fresh.Version, before, "versions repeat after an unreadable record was deleted")
	got, err := s.Load(ctx, "broken")
	require.NoError(t, err)
	equalRecords(t, fresh, got)
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

// leaseTTL is the short lease the Lease subtest lets lapse.
const leaseTTL = 300 * time.Millisecond

// takeover is how soon after a lease is released or lapses a waiter
// must hold it: stores poll at most every 200ms.
const takeover = time.Second

func testLease(t *testing.T, l oauth2client.Locker) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held := func(account string) bool {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer wcancel()
		lease, err := l.Lock(wctx, account, time.Minute)
		if err == nil {
			require.NoError(t, lease.Release(ctx))
			return false
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return true
	}

	// Extend keeps a lease past its first ttl.
	a, err := l.Lock(ctx, "lease-extend", leaseTTL)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, a.Extend(ctx, time.Minute))
	wctx, wcancel := context.WithTimeout(ctx, leaseTTL+200*time.Millisecond)
	_, err = l.Lock(wctx, "lease-extend", time.Minute)
	wcancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the lease lapsed at its first ttl although it was extended")
	assert.GreaterOrEqual(t, time.Since(start), leaseTTL+200*time.Millisecond)

	// A released lease is taken within a second, and Release again is
	// harmless; Extend after Release reports the lease lost.
	got := make(chan time.Time, 1)
	go func() {
		b, err := l.Lock(ctx, "lease-extend", time.Minute)
		if assert.NoError(t, err) {
			got <- time.Now()
			assert.NoError(t, b.Release(ctx))
		}
		close(got)
	}()
	released := time.Now()
	require.NoError(t, a.Release(ctx))
	took, ok := <-got
	require.True(t, ok, "the waiter did not get the released lease")
	assert.Less(t, took.Sub(released), takeover, "a released lease was taken only after %v", took.Sub(released))
	assert.NoError(t, a.Release(ctx), "a second Release is harmless")
	assert.ErrorIs(t, a.Extend(ctx, time.Minute), oauth2client.ErrLeaseLost, "Extend after Release")

	// A lapsed lease is taken within a second of lapsing by another
	// owner; the old holder's Extend reports it lost and its Release
	// leaves the new holder's lease alone.
	old, err := l.Lock(ctx, "lease-lapse", leaseTTL)
	require.NoError(t, err)
	lapses := time.Now().Add(leaseTTL)
	successor, err := l.Lock(ctx, "lease-lapse", time.Minute)
	require.NoError(t, err)
	assert.Less(t, time.Since(lapses), takeover, "a lapsed lease was taken only %v after it lapsed", time.Since(lapses))
	assert.ErrorIs(t, old.Extend(ctx, time.Minute), oauth2client.ErrLeaseLost, "Extend of a lease another owner holds")
	assert.True(t, held("lease-lapse"), "the old holder's Extend took the lease back")
	assert.NoError(t, old.Release(ctx), "releasing a lapsed lease is harmless")
	assert.True(t, held("lease-lapse"), "the old holder released its successor's lease")
	require.NoError(t, successor.Extend(ctx, time.Minute), "the successor extends its own lease")
	require.NoError(t, successor.Release(ctx))
	assert.False(t, held("lease-lapse"), "Release did not free the lease")

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

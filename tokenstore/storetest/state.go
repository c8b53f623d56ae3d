package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// stateClock is the clock RunStateStore gives a state store: Now
// returns the suite's current time, which the suite moves forward to
// make entries expire. It is safe for concurrent use.
type stateClock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *stateClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stateClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RunStateStore runs the conformance suite for [oauth2client.StateStore]
// implementations (oauth2client.MemoryStateStore, redisstore.StateStore,
// tokenstore.SQLStateStore, or yours):
//
//	func TestMyStateStore(t *testing.T) {
//		storetest.RunStateStore(t, func(t *testing.T, now func() time.Time) oauth2client.StateStore {
//			return mystore.NewStates(..., now) // a fresh, empty store judging expiry by now
//		})
//	}
//
// newStore must return a fresh, empty store for each call that reads the
// time from now. The suite checks the contract documented on
// StateStore, with the precise errors: an unknown id gives
// [oauth2client.ErrStateInvalid], a used one [oauth2client.ErrStateReplayed]
// and an expired one [oauth2client.ErrStateExpired]; of concurrent Takes
// of one id exactly one succeeds; Put refuses an id already stored; and
// a context that is already done gives an error wrapping its error and
// stores nothing. Lifetimes stay within minutes of real time, so stores
// that also expire entries by their server's clock (Redis) keep them.
func RunStateStore(t *testing.T, newStore func(t *testing.T, now func() time.Time) oauth2client.StateStore) {
	t.Helper()
	var n atomic.Int64
	fresh := func(t *testing.T) (oauth2client.StateStore, *stateClock) {
		t.Helper()
		clock := &stateClock{t: time.Now().Truncate(time.Millisecond)}
		s := newStore(t, clock.Now)
		require.NotNil(t, s, "newStore returned nil")
		return s, clock
	}
	pending := func(clock *stateClock, life time.Duration) *oauth2client.Pending {
		i := n.Add(1)
		return &oauth2client.Pending{
			Connection: "conn", Account: fmt.Sprintf("account-%d", i), MAC: []byte(fmt.Sprintf("mac-%d", i)),
			Verifier: oauth2client.Secret(fmt.Sprintf("verifier-%d-abcdefghijklmnopqrstuvwxyz0123456789", i)), Session: []byte{9, 8, 7},
			ReturnTo: "/settings/mail?x=1", RequireUsername: "alice@example.com", Expires: clock.Now().Add(life),
			RequireTenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", RequireDomain: "example.com",
			Nonce: fmt.Sprintf("nonce-%d-0123456789abcdef", i), AdminConsent: true,
		}
	}
	id := func() string { return fmt.Sprintf("storetest-state-%d-%d", time.Now().UnixNano(), n.Add(1)) }
	ctx := context.Background()

	t.Run("Put then Take returns the entry", func(t *testing.T) {
		s, clock := fresh(t)
		p := pending(clock, 10*time.Minute)
		k := id()
		require.NoError(t, s.Put(ctx, k, p))
		got, err := s.Take(ctx, k)
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Equal(t, p.Connection, got.Connection)
		assert.Equal(t, p.Account, got.Account)
		assert.Equal(t, p.MAC, got.MAC)
		assert.Equal(t, p.Verifier.Reveal(), got.Verifier.Reveal())
		assert.Equal(t, p.Session, got.Session)
		assert.Equal(t, p.ReturnTo, got.ReturnTo)
		assert.Equal(t, p.RequireUsername, got.RequireUsername)
		assert.Equal(t, p.RequireTenant, got.RequireTenant)
		assert.Equal(t, p.RequireDomain, got.RequireDomain)
		assert.Equal(t, p.Nonce, got.Nonce)
		assert.Equal(t, p.AdminConsent, got.AdminConsent)
		assert.True(t, p.Expires.Equal(got.Expires), "Expires: want %v, got %v", p.Expires, got.Expires)
		// Every field must survive: a field added to Pending that a store
		// drops would silently disable a check (a nonce, a required tenant).
		want, have := *p, *got
		want.Expires, have.Expires = time.Time{}, time.Time{}
		assert.Equal(t, want, have, "every field of oauth2client.Pending must round-trip")
	})
	t.Run("optional fields may be empty", func(t *testing.T) {
		s, clock := fresh(t)
		p := &oauth2client.Pending{Connection: "c", Account: "a", MAC: []byte{1}, Verifier: "v", Expires: clock.Now().Add(time.Minute)}
		k := id()
		require.NoError(t, s.Put(ctx, k, p))
		got, err := s.Take(ctx, k)
		require.NoError(t, err)
		assert.Empty(t, got.Session)
		assert.Empty(t, got.ReturnTo)
		assert.Empty(t, got.RequireUsername)
	})
	t.Run("unknown id is invalid", func(t *testing.T) {
		s, _ := fresh(t)
		got, err := s.Take(ctx, id())
		require.ErrorIs(t, err, oauth2client.ErrStateInvalid)
		assert.Nil(t, got)
	})
	t.Run("second Take is a replay", func(t *testing.T) {
		s, clock := fresh(t)
		k := id()
		require.NoError(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
		_, err := s.Take(ctx, k)
		require.NoError(t, err)
		got, err := s.Take(ctx, k)
		require.ErrorIs(t, err, oauth2client.ErrStateReplayed)
		assert.Nil(t, got)
	})
	t.Run("Take after expiry is expired, and uses the entry", func(t *testing.T) {
		s, clock := fresh(t)
		k := id()
		require.NoError(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
		clock.advance(10 * time.Minute)
		got, err := s.Take(ctx, k)
		require.ErrorIs(t, err, oauth2client.ErrStateExpired)
		assert.Nil(t, got)
		_, err = s.Take(ctx, k)
		assert.Error(t, err, "an expired state never succeeds later")
	})
	t.Run("Take just before expiry succeeds", func(t *testing.T) {
		s, clock := fresh(t)
		k := id()
		require.NoError(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
		clock.advance(10*time.Minute - time.Second)
		_, err := s.Take(ctx, k)
		require.NoError(t, err)
	})
	t.Run("Put refuses an id already stored", func(t *testing.T) {
		s, clock := fresh(t)
		k := id()
		first := pending(clock, 10*time.Minute)
		require.NoError(t, s.Put(ctx, k, first))
		assert.Error(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
		got, err := s.Take(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, first.Account, got.Account, "the first entry is kept")
	})
	t.Run("entries are independent", func(t *testing.T) {
		s, clock := fresh(t)
		k1, k2 := id(), id()
		p1, p2 := pending(clock, 10*time.Minute), pending(clock, 10*time.Minute)
		require.NoError(t, s.Put(ctx, k1, p1))
		require.NoError(t, s.Put(ctx, k2, p2))
		got, err := s.Take(ctx, k2)
		require.NoError(t, err)
		assert.Equal(t, p2.Account, got.Account)
		got, err = s.Take(ctx, k1)
		require.NoError(t, err)
		assert.Equal(t, p1.Account, got.Account)
	})
	t.Run("concurrent Takes: exactly one succeeds", func(t *testing.T) {
		s, clock := fresh(t)
		const takers = 16
		for round := 0; round < 5; round++ {
			k := id()
			require.NoError(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
			var ok, replayed atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range takers {
				wg.Go(func() {
					<-start
					_, err := s.Take(ctx, k)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, oauth2client.ErrStateReplayed):
						replayed.Add(1)
					default:
						assert.NoError(t, err)
					}
				})
			}
			close(start)
			wg.Wait()
			assert.Equal(t, int32(1), ok.Load(), "round %d: successful Takes", round)
			assert.Equal(t, int32(takers-1), replayed.Load(), "round %d: replays", round)
		}
	})
	t.Run("a done context stores nothing", func(t *testing.T) {
		s, clock := fresh(t)
		done, cancel := context.WithCancel(ctx)
		cancel()
		k := id()
		err := s.Put(done, k, pending(clock, 10*time.Minute))
		require.ErrorIs(t, err, context.Canceled)
		_, err = s.Take(ctx, k)
		require.ErrorIs(t, err, oauth2client.ErrStateInvalid, "nothing was stored")

		require.NoError(t, s.Put(ctx, k, pending(clock, 10*time.Minute)))
		_, err = s.Take(done, k)
		require.ErrorIs(t, err, context.Canceled)
		_, err = s.Take(ctx, k)
		assert.NoError(t, err, "a Take with a done context does not use the entry")
	})
}

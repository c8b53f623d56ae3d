package tokenstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/leasewait"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// pollLease calls take until it takes a cross-process lease (see
// leasewait.Poll), or until ctx ends; where names the lease's place in
// errors. On failure it releases the in-process lease local, which the
// caller holds.
func pollLease(ctx context.Context, account, where string, local *lease, take func() (bool, error)) error {
	err := leasewait.Poll(ctx, take)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		local.release()
		return fmt.Errorf("tokenstore: waiting for the refresh lock of account %q: %w", account, ctx.Err())
	default:
		local.release()
		return fmt.Errorf("tokenstore: taking the refresh lock of account %q%s: %w", account, where, err)
	}
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("tokenstore: lock ttl must be positive, got %v", ttl)
	}
	return nil
}

func leaseLost(account string) error {
	return fmt.Errorf("tokenstore: the refresh lease of account %q lapsed and may be held by another owner: %w", account, oauth2client.ErrLeaseLost)
}

// leases are in-process refresh leases with an expiry. The zero value is
// ready to use.
type leases struct {
	mu   sync.Mutex
	held map[string]*lease
}

// lease is one holder's in-process lease. Its fields other than ls,
// account and free are guarded by ls.mu.
type lease struct {
	ls       *leases
	account  string
	expires  time.Time
	released bool
	free     chan struct{} // closed when released
}

func (ls *leases) lock(ctx context.Context, account string, ttl time.Duration) (*lease, error) {
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tokenstore: waiting for the refresh lock of account %q: %w", account, err)
		}
		ls.mu.Lock()
		now := time.Now()
		cur, held := ls.held[account]
		if !held || !now.Before(cur.expires) {
			mine := &lease{ls: ls, account: account, expires: now.Add(ttl), free: make(chan struct{})}
			if ls.held == nil {
				ls.held = make(map[string]*lease)
			}
			ls.held[account] = mine
			ls.mu.Unlock()
			return mine, nil
		}
		wait := cur.expires.Sub(now)
		ls.mu.Unlock()

		// Wake when the holder releases, its lease lapses (or was
		// extended: the loop looks again), or ctx ends.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-cur.free:
		case <-t.C:
		}
		t.Stop()
	}
}

// extend renews l for ttl from now if it is still held and has not
// lapsed.
func (l *lease) extend(ttl time.Duration) bool {
	l.ls.mu.Lock()
	defer l.ls.mu.Unlock()
	now := time.Now()
	if l.released || l.ls.held[l.account] != l || !now.Before(l.expires) {
		return false
	}
	l.expires = now.Add(ttl)
	return true
}

// release gives l up, unless it lapsed and someone else holds the
// account now. Calling it more than once is harmless.
func (l *lease) release() {
	l.ls.mu.Lock()
	defer l.ls.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	if l.ls.held[l.account] == l {
		delete(l.ls.held, l.account)
	}
	close(l.free)
}

// memLease is the [oauth2client.Lease] of [Memory].
type memLease struct{ l *lease }

// Extend implements [oauth2client.Lease].
func (m memLease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokenstore: extending the refresh lease of account %q: %w", m.l.account, err)
	}
	if !m.l.extend(ttl) {
		return leaseLost(m.l.account)
	}
	return nil
}

// Release implements [oauth2client.Lease]; it never fails.
func (m memLease) Release(context.Context) error {
	m.l.release()
	return nil
}

// sharedLease is a lease held in a place several processes share (a
// lease file, a database row) on top of an in-process lease, which
// makes waiters of the same process queue without touching the store.
// Both extend and release act only if the shared lease still has this
// holder's owner ID.
type sharedLease struct {
	local   *lease
	account string
	where   string // the store's place, for errors
	// extend renews the shared lease if this owner still holds it and
	// it has not lapsed, reporting whether it did.
	extend func(ctx context.Context, ttl time.Duration) (bool, error)
	// release deletes the shared lease if this owner still holds it.
	release func(ctx context.Context) error

	mu       sync.Mutex
	released bool
}

// Extend implements [oauth2client.Lease].
func (s *sharedLease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokenstore: extending the refresh lease of account %q: %w", s.account, err)
	}
	s.mu.Lock()
	released := s.released
	s.mu.Unlock()
	if released {
		return leaseLost(s.account)
	}
	ok, err := s.extend(ctx, ttl)
	if err != nil {
		return fmt.Errorf("tokenstore: extending the refresh lease of account %q%s (it lapses at its old time unless extended): %w", s.account, s.where, err)
	}
	if !ok {
		return leaseLost(s.account)
	}
	// Best effort: if the in-process lease lapsed and another goroutine
	// holds it now, that goroutine waits for the shared lease anyway.
	s.local.extend(ttl)
	return nil
}

// Release implements [oauth2client.Lease]. It frees the in-process lease
// at once, so that waiters of this process start polling the shared
// lease; if releasing the shared lease fails, Release may be called
// again.
func (s *sharedLease) Release(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil
	}
	s.local.release()
	if err := s.release(ctx); err != nil {
		return fmt.Errorf("tokenstore: releasing the refresh lock of account %q%s (call Release again, or it lapses by itself): %w", s.account, s.where, err)
	}
	s.released = true
	return nil
}

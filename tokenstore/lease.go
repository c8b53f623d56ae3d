package tokenstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/leasewait"
)

// pollLease calls take until it takes a cross-process lease (see
// leasewait.Poll), or until ctx ends; where names the lease's place in
// errors. On failure it releases the in-process lock local, which the
// caller holds.
func pollLease(ctx context.Context, account, where string, local func(context.Context) error, take func() (bool, error)) error {
	err := leasewait.Poll(ctx, take)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		_ = local(ctx)
		return fmt.Errorf("tokenstore: waiting for the refresh lock of account %q: %w", account, ctx.Err())
	default:
		_ = local(ctx)
		return fmt.Errorf("tokenstore: taking the refresh lock of account %q%s: %w", account, where, err)
	}
}

// leases are in-process refresh locks with an expiry. The zero value is
// ready to use.
type leases struct {
	mu   sync.Mutex
	held map[string]*lease
}

type lease struct {
	expires time.Time
	free    chan struct{} // closed when released
}

func (ls *leases) lock(ctx context.Context, account string, ttl time.Duration) (func(context.Context) error, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("tokenstore: lock ttl must be positive, got %v", ttl)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tokenstore: waiting for the refresh lock of account %q: %w", account, err)
		}
		ls.mu.Lock()
		now := time.Now()
		cur, held := ls.held[account]
		if !held || !now.Before(cur.expires) {
			mine := &lease{expires: now.Add(ttl), free: make(chan struct{})}
			if ls.held == nil {
				ls.held = make(map[string]*lease)
			}
			ls.held[account] = mine
			ls.mu.Unlock()
			return ls.unlocker(account, mine), nil
		}
		wait := cur.expires.Sub(now)
		ls.mu.Unlock()

		// Wake when the holder releases, its lease lapses, or ctx ends.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-cur.free:
		case <-t.C:
		}
		t.Stop()
	}
}

// unlocker releases mine, unless it lapsed and someone else holds the
// lock now. Calling it more than once is harmless.
func (ls *leases) unlocker(account string, mine *lease) func(context.Context) error {
	var once sync.Once
	return func(context.Context) error {
		once.Do(func() {
			ls.mu.Lock()
			if ls.held[account] == mine {
				delete(ls.held, account)
			}
			ls.mu.Unlock()
			close(mine.free)
		})
		return nil
	}
}

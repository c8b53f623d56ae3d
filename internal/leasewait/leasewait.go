// Package leasewait waits for leases held in a shared store (a database row, a
// Redis key) that cannot notify waiters, by polling with backoff.
package leasewait

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Poll calls take until it reports the lease taken or fails, waiting from
// 5 ms up to 200 ms between tries. It returns take's error, or ctx's error
// once ctx ends.
func Poll(ctx context.Context, take func() (bool, error)) error {
	wait := 5 * time.Millisecond
	for {
		took, err := take()
		if err != nil {
			return err
		}
		if took {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// NewOwner returns a random lease owner ID: 128 bits, hex-encoded.
func NewOwner() string {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails
	return hex.EncodeToString(id[:])
}

// Orphans remembers, per account, the owner IDs of lease takes that
// failed with an error: the take may have landed in the store with its
// reply lost (the server restarted between the two), leaving a lease that
// no caller knows it holds and that would block the account until it
// lapses. The next Lock of the account releases them first. The zero
// value is ready to use; it is safe for concurrent use.
type Orphans struct {
	mu sync.Mutex
	m  map[string][]string
}

// Add records that owner's take of account's lease failed.
func (o *Orphans) Add(account, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[string][]string)
	}
	o.m[account] = append(o.m[account], owner)
}

// Release calls release for each orphaned owner of account, forgetting
// those it released; the others are kept for the next call. It returns
// the first error.
func (o *Orphans) Release(account string, release func(owner string) error) error {
	o.mu.Lock()
	owners := o.m[account]
	delete(o.m, account)
	o.mu.Unlock()
	var first error
	var kept []string
	for _, owner := range owners {
		if err := release(owner); err != nil {
			kept = append(kept, owner)
			if first == nil {
				first = err
			}
		}
	}
	if len(kept) > 0 {
		o.mu.Lock()
		if o.m == nil {
			o.m = make(map[string][]string)
		}
		o.m[account] = append(o.m[account], kept...)
		o.mu.Unlock()
	}
	return first
}

package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrNotFound is [oauth2client.ErrNotFound], repeated here for callers
// that only import tokenstore.
var ErrNotFound = oauth2client.ErrNotFound

// ErrConflict is [oauth2client.ErrConflict], repeated here for callers
// that only import tokenstore.
var ErrConflict = oauth2client.ErrConflict

// Memory is an [oauth2client.TokenStore] in process memory, for tests and
// for applications that re-authorize every mailbox after a restart. It
// implements [oauth2client.CompareAndSwapper], [oauth2client.Locker]
// (within the process) and [oauth2client.Lister].
//
// Load returns deep copies and Save stores one, so callers never share
// slices with the store. Versions come from one sequence for the whole
// store, so an account written again after Delete never gets a version
// it had before (and no tombstone is kept). Memory never blocks except in Lock; the other
// methods only check that ctx is not already done.
//
// The zero value is not usable; call [NewMemory]. A Memory is safe for
// concurrent use by multiple goroutines.
type Memory struct {
	mu     sync.Mutex
	recs   map[string]*oauth2client.Record
	seq    int64 // the last version given to any record
	leases leases
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{recs: make(map[string]*oauth2client.Record)}
}

// Load implements [oauth2client.TokenStore].
func (m *Memory) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctxErr(ctx, "loading", account); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[account]
	if !ok {
		return nil, notFound(account)
	}
	return r.Clone(), nil
}

// Save implements [oauth2client.TokenStore]: an unconditional write.
func (m *Memory) Save(ctx context.Context, rec *oauth2client.Record) error {
	return m.write(ctx, rec, false)
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper]. A lost race
// returns a [*ConflictError].
func (m *Memory) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return m.write(ctx, rec, true)
}

func (m *Memory) write(ctx context.Context, rec *oauth2client.Record, cas bool) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur int64
	if old, ok := m.recs[rec.Account]; ok {
		cur = old.Version
	}
	if cas && cur != rec.Version {
		return &ConflictError{Account: rec.Account, Expected: rec.Version, Actual: cur}
	}
	m.seq++
	rec.Version = m.seq
	m.recs[rec.Account] = rec.Clone()
	return nil
}

// Delete implements [oauth2client.TokenStore]. Deleting a missing account
// is not an error.
func (m *Memory) Delete(ctx context.Context, account string) error {
	if err := ctxErr(ctx, "deleting", account); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, account)
	return nil
}

// List implements [oauth2client.Lister]; the keys come sorted.
func (m *Memory) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokenstore: listing accounts: %w", err)
	}
	m.mu.Lock()
	keys := make([]string, 0, len(m.recs))
	for k := range m.recs {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	sort.Strings(keys)
	return keys, nil
}

// Lock implements [oauth2client.Locker] within the process: it waits
// until no other holder has account's lease (or the holder's lease of
// ttl has run out) or ctx ends, whichever comes first; a waiter is woken
// as soon as the lease is released. ttl must be positive. The lease's
// Release never fails.
func (m *Memory) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	l, err := m.leases.lock(ctx, account, ttl)
	if err != nil {
		return nil, err
	}
	return memLease{l}, nil
}

// ConflictError reports a lost compare-and-swap race: nothing was
// written. It matches [oauth2client.ErrConflict] with [errors.Is].
type ConflictError struct {
	// Account is the record's key.
	Account string
	// Expected is the version the caller read; Actual the stored one
	// (zero: no record).
	Expected, Actual int64
}

// Error describes the race and what to do.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("tokenstore: account %q was written by someone else (expected version %d, found %d): reload it and try again", e.Account, e.Expected, e.Actual)
}

// Is matches [oauth2client.ErrConflict].
func (e *ConflictError) Is(target error) bool { return target == oauth2client.ErrConflict }

// ErrInvalidRecord is wrapped by the error of a write given a nil record
// or one with an empty Account.
var ErrInvalidRecord = errors.New("tokenstore: invalid record")

func checkRecord(ctx context.Context, rec *oauth2client.Record) error {
	if rec == nil {
		return fmt.Errorf("%w: nil record", ErrInvalidRecord)
	}
	if err := ctxErr(ctx, "saving", rec.Account); err != nil {
		return err
	}
	if rec.Account == "" {
		return fmt.Errorf("%w: empty Account: set it to the mail account's key", ErrInvalidRecord)
	}
	return nil
}

func ctxErr(ctx context.Context, op, account string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokenstore: %s account %q: %w", op, account, err)
	}
	return nil
}

func notFound(account string) error {
	return fmt.Errorf("tokenstore: account %q: %w", account, ErrNotFound)
}

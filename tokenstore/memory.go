package tokenstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrNotFound is [oauth2client.ErrNotFound], repeated here for callers
// that only import tokenstore.
var ErrNotFound = oauth2client.ErrNotFound

// ErrConflict is [oauth2client.ErrConflict].
var ErrConflict = oauth2client.ErrConflict

// Memory is a [oauth2client.TokenStore] in process memory, for tests and
// for applications that re-authorize after every restart. It implements
// [oauth2client.CompareAndSwapper], [oauth2client.Locker] (within the
// process) and [oauth2client.Lister]. The zero value is not usable; call
// [NewMemory]. It is safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu    sync.Mutex
	recs  map[string]*oauth2client.Record
	locks map[string]*lease
}

type lease struct {
	expires time.Time
	free    chan struct{} // closed when released
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{now: time.Now, recs: make(map[string]*oauth2client.Record), locks: make(map[string]*lease)}
}

// Load implements [oauth2client.TokenStore].
func (m *Memory) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[account]
	if !ok {
		return nil, fmt.Errorf("tokenstore: account %q: %w", account, ErrNotFound)
	}
	return r.Clone(), nil
}

// Save implements [oauth2client.TokenStore].
func (m *Memory) Save(ctx context.Context, rec *oauth2client.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Account == "" {
		return errEmptyAccount
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var v int64
	if cur, ok := m.recs[rec.Account]; ok {
		v = cur.Version
	}
	m.put(rec, v+1)
	return nil
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper].
func (m *Memory) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Account == "" {
		return errEmptyAccount
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var v int64
	if cur, ok := m.recs[rec.Account]; ok {
		v = cur.Version
	}
	if v != rec.Version {
		return &ConflictError{Account: rec.Account, Expected: rec.Version, Actual: v}
	}
	m.put(rec, v+1)
	return nil
}

func (m *Memory) put(rec *oauth2client.Record, version int64) {
	rec.Version = version
	m.recs[rec.Account] = rec.Clone()
}

// Delete implements [oauth2client.TokenStore].
func (m *Memory) Delete(ctx context.Context, account string) error {
	if err := ctx.Err(); err != nil {
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
		return nil, err
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
// until no other holder has account's lock, or the holder's lease of ttl
// has run out, or ctx ends.
func (m *Memory) Lock(ctx context.Context, account string, ttl time.Duration) (func(context.Context) error, error) {
	for {
		m.mu.Lock()
		now := m.now()
		l, held := m.locks[account]
		if !held || !now.Before(l.expires) {
			mine := &lease{expires: now.Add(ttl), free: make(chan struct{})}
			m.locks[account] = mine
			m.mu.Unlock()
			var once sync.Once
			return func(context.Context) error {
				once.Do(func() {
					m.mu.Lock()
					if m.locks[account] == mine {
						delete(m.locks, account)
					}
					m.mu.Unlock()
					close(mine.free)
				})
				return nil
			}, nil
		}
		wait := l.expires.Sub(now)
		m.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("tokenstore: waiting for the refresh lock of account %q: %w", account, ctx.Err())
		case <-l.free:
		case <-t.C:
		}
		t.Stop()
	}
}

// ConflictError reports a lost compare-and-swap race. It matches
// [oauth2client.ErrConflict].
type ConflictError struct {
	Account          string
	Expected, Actual int64
}

// Error describes the race.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("tokenstore: account %q was written by someone else (expected version %d, found %d): reload it and try again", e.Account, e.Expected, e.Actual)
}

// Is matches [oauth2client.ErrConflict].
func (e *ConflictError) Is(target error) bool { return target == oauth2client.ErrConflict }

var errEmptyAccount = fmt.Errorf("tokenstore: record has an empty Account")

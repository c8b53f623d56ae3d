// Package faultstore makes a token store fail on purpose, for testing how
// an application (and oauth2client.Client) behaves when its store
// misbehaves: a database restart, a full disk, a lost reply.
//
// [New] wraps any oauth2client.TokenStore; [Store.TokenStore] returns the
// wrapper to hand to the Client. It has exactly the optional interfaces
// the wrapped store has (oauth2client.CompareAndSwapper, Locker, Lister),
// so the Client takes the same code paths as with the real store. Faults
// are [Rule]s: which operations, which account, how many times, at what
// seeded random rate, and whether the operation still reaches the
// wrapped store before the error is returned (a lost reply).
// Shorthands cover the usual cases: [Store.FailNext], [Store.Down] and
// [Store.Up] (an outage), [Store.FailAtRandom], and
// [Store.FailSaveAfterRefresh], which fails the write of a grant the
// provider has just rotated, the moment that decides whether a rotated
// refresh token is lost.
//
// An injected failure is an [*Error]: it matches [ErrInjected] with
// errors.Is and wraps a *net.OpError (connection reset by peer) unless
// the rule names another cause, so that it looks like what a database
// driver returns. It never contains a token. Every operation is counted
// ([Store.Calls], [Store.Injected]).
//
// A Store is safe for concurrent use by multiple goroutines.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Op names a store operation that can fail.
type Op string

// The operations of oauth2client.TokenStore and its optional interfaces.
const (
	OpLoad           Op = "Load"
	OpSave           Op = "Save"
	OpCompareAndSwap Op = "CompareAndSwap"
	OpDelete         Op = "Delete"
	OpList           Op = "List"
	OpLock           Op = "Lock"
	// OpExtend is Lease.Extend of a lease taken through the wrapper.
	OpExtend Op = "Extend"
	// OpRelease is Lease.Release of a lease taken through the wrapper.
	OpRelease Op = "Release"
)

// AllOps lists every operation.
var AllOps = []Op{OpLoad, OpSave, OpCompareAndSwap, OpDelete, OpList, OpLock, OpExtend, OpRelease}

// ErrInjected is matched (with errors.Is) by every failure the Store
// injects.
var ErrInjected = errors.New("faultstore: injected store failure")

// Error is an injected failure. It matches [ErrInjected] and its Cause
// with errors.Is and errors.As.
type Error struct {
	// Op is the operation that failed.
	Op Op
	// Account is the account it was called for (empty for List).
	Account string
	// Landed reports that the operation was carried out on the wrapped
	// store before the error was returned: the reply was lost.
	Landed bool
	// Cause is what the failure looks like: by default a *net.OpError
	// for a connection reset by peer.
	Cause error
}

// Error describes the failure like a driver would, naming the account
// but never a token.
func (e *Error) Error() string {
	landed := ""
	if e.Landed {
		landed = " after it was carried out"
	}
	return fmt.Sprintf("faultstore: %s of account %q failed%s: %v", e.Op, e.Account, landed, e.Cause)
}

// Unwrap returns [ErrInjected] and the cause.
func (e *Error) Unwrap() []error { return []error{ErrInjected, e.Cause} }

// Timeout reports whether the cause is a timeout, as net.Error does.
func (e *Error) Timeout() bool {
	var ne net.Error
	return errors.As(e.Cause, &ne) && ne.Timeout()
}

// connReset is the default cause: what a driver reports when the
// database server restarts under it.
func connReset() error {
	return &net.OpError{Op: "read", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432},
		Err:  &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
}

// Rule describes faults to inject. Calls are matched against the rules
// in the order they were added; the first rule that fires decides.
type Rule struct {
	// Ops are the operations the rule applies to; empty means all.
	Ops []Op
	// Account limits the rule to one account; empty means every
	// account (List has none: it matches only rules without Account).
	Account string
	// Times is how many failures the rule injects before it is used
	// up; zero means no limit (until the rule is removed).
	Times int
	// Rate is the probability that a matching call fails, drawn from
	// the Store's seeded generator; zero means every matching call.
	Rate float64
	// AfterRefresh limits the rule to writes (Save, CompareAndSwap)
	// of a record whose access token differs from the one the wrapper
	// last saw stored for the account: the write of a grant the
	// provider has just issued. The first write of an account (nothing
	// seen before) does not count.
	AfterRefresh bool
	// Landed makes the operation reach the wrapped store first, and
	// fail only on the way back: the write (or lock, or release) took
	// effect, but the caller sees an error.
	Landed bool
	// Cause is the error the failure wraps; nil means a *net.OpError
	// for a connection reset by peer.
	Cause error
}

// Config configures [New].
type Config struct {
	// Seed seeds the generator behind [Rule].Rate, so that a failing
	// run can be repeated. Zero is a valid seed.
	Seed uint64
}

// Store wraps a token store and injects faults by its rules. The zero
// value is not usable: call [New].
type Store struct {
	inner oauth2client.TokenStore
	ts    oauth2client.TokenStore

	mu       sync.Mutex
	rules    []*rule
	rng      *rand.Rand
	calls    map[Op]int
	injected map[Op]int
	tokens   map[string]oauth2client.Secret // last access token seen stored, by account
}

type rule struct {
	Rule
	fired int
}

// New wraps inner. With no rules added, the wrapper passes every call
// through unchanged.
func New(inner oauth2client.TokenStore, cfg Config) *Store {
	s := &Store{
		inner:    inner,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x6f617574683273)), // #nosec G404 -- seeded on purpose, so that a test run can be repeated; not a secret
		calls:    map[Op]int{},
		injected: map[Op]int{},
		tokens:   map[string]oauth2client.Secret{},
	}
	s.ts = s.wrap()
	return s
}

// TokenStore returns the faulty store, to use in place of the wrapped
// one. It implements exactly those of oauth2client.CompareAndSwapper,
// Locker and Lister that the wrapped store implements.
func (s *Store) TokenStore() oauth2client.TokenStore { return s.ts }

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() oauth2client.TokenStore { return s.inner }

// Add adds a rule and returns a function that removes it.
func (s *Store) Add(r Rule) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rr := &rule{Rule: r}
	s.rules = append(s.rules, rr)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, x := range s.rules {
			if x == rr {
				s.rules = append(s.rules[:i], s.rules[i+1:]...)
				return
			}
		}
	}
}

// Reset removes every rule. The counters are kept.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// FailNext makes the next n calls of op fail (without reaching the
// wrapped store).
func (s *Store) FailNext(op Op, n int) { s.Add(Rule{Ops: []Op{op}, Times: max(n, 1)}) }

// Down makes every operation fail until [Store.Up], as while the store's
// server is restarting.
func (s *Store) Down() { s.Add(Rule{Cause: errDown}) }

// Up ends every outage [Store.Down] started. Other rules stay.
func (s *Store) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.rules[:0]
	for _, r := range s.rules {
		if r.Cause != errDown {
			kept = append(kept, r)
		}
	}
	s.rules = kept
}

// errDown marks the rules of Down; failures under it look like a
// refused connection.
var errDown = &net.OpError{Op: "dial", Net: "tcp",
	Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432},
	Err:  &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}

// FailAtRandom makes calls of ops (all operations if none are given)
// fail with probability rate, drawn from the seeded generator. It returns
// a function that stops it.
func (s *Store) FailAtRandom(rate float64, ops ...Op) (stop func()) {
	return s.Add(Rule{Ops: ops, Rate: rate})
}

// FailSaveAfterRefresh makes the next n writes (Save or CompareAndSwap)
// of a record with a new access token fail without reaching the wrapped
// store: the provider has rotated the grant, and the store loses it.
func (s *Store) FailSaveAfterRefresh(n int) {
	s.Add(Rule{Ops: []Op{OpSave, OpCompareAndSwap}, AfterRefresh: true, Times: max(n, 1)})
}

// Calls returns how many times op was called, failed or not.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Injected returns how many calls of op failed by a rule.
func (s *Store) Injected(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected[op]
}

// TotalInjected returns how many calls failed by a rule, over all
// operations.
func (s *Store) TotalInjected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.injected {
		n += c
	}
	return n
}

// decide counts a call and returns the rule that fails it, if any.
func (s *Store) decide(op Op, account string, rec *oauth2client.Record) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	for i, r := range s.rules {
		if !r.matches(op, account) {
			continue
		}
		if r.AfterRefresh {
			prev, seen := s.tokens[account]
			if rec == nil || !seen || prev == rec.AccessToken {
				continue
			}
		}
		if r.Rate > 0 && s.rng.Float64() >= r.Rate {
			continue
		}
		r.fired++
		if r.Times > 0 && r.fired >= r.Times {
			s.rules = append(s.rules[:i], s.rules[i+1:]...)
		}
		s.injected[op]++
		fired := r.Rule
		return &fired
	}
	return nil
}

func (r *rule) matches(op Op, account string) bool {
	if r.Account != "" && r.Account != account {
		return false
	}
	if len(r.Ops) == 0 {
		return true
	}
	for _, o := range r.Ops {
		if o == op {
			return true
		}
	}
	return false
}

func (r *Rule) fail(op Op, account string, landed bool) error {
	cause := r.Cause
	if cause == nil {
		cause = connReset()
	}
	return &Error{Op: op, Account: account, Landed: landed, Cause: cause}
}

// seen records the access token stored for account (after a successful
// Load or write); forget drops it (after Delete).
func (s *Store) seen(account string, tok oauth2client.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[account] = tok
}

func (s *Store) forget(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, account)
}

// do runs one operation under the rules.
func (s *Store) do(op Op, account string, rec *oauth2client.Record, call func() error) error {
	r := s.decide(op, account, rec)
	if r != nil && !r.Landed {
		return r.fail(op, account, false)
	}
	if err := call(); err != nil {
		return err
	}
	if r != nil {
		return r.fail(op, account, true)
	}
	return nil
}

// Load implements oauth2client.TokenStore.
func (s *Store) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	var rec *oauth2client.Record
	err := s.do(OpLoad, account, nil, func() error {
		var err error
		rec, err = s.inner.Load(ctx, account)
		if err == nil {
			s.seen(account, rec.AccessToken)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Save implements oauth2client.TokenStore.
func (s *Store) Save(ctx context.Context, rec *oauth2client.Record) error {
	return s.write(ctx, OpSave, rec, s.inner.Save)
}

func (s *Store) write(ctx context.Context, op Op, rec *oauth2client.Record, w func(context.Context, *oauth2client.Record) error) error {
	if rec == nil {
		return w(ctx, rec) // the wrapped store reports it
	}
	return s.do(op, rec.Account, rec, func() error {
		if err := w(ctx, rec); err != nil {
			return err
		}
		s.seen(rec.Account, rec.AccessToken)
		return nil
	})
}

// Delete implements oauth2client.TokenStore.
func (s *Store) Delete(ctx context.Context, account string) error {
	return s.do(OpDelete, account, nil, func() error {
		if err := s.inner.Delete(ctx, account); err != nil {
			return err
		}
		s.forget(account)
		return nil
	})
}

type casPart struct {
	s     *Store
	inner oauth2client.CompareAndSwapper
}

// CompareAndSwap implements oauth2client.CompareAndSwapper.
func (c casPart) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return c.s.write(ctx, OpCompareAndSwap, rec, c.inner.CompareAndSwap)
}

type listPart struct {
	s     *Store
	inner oauth2client.Lister
}

// List implements oauth2client.Lister.
func (l listPart) List(ctx context.Context) ([]string, error) {
	var keys []string
	err := l.s.do(OpList, "", nil, func() error {
		var err error
		keys, err = l.inner.List(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

type lockPart struct {
	s     *Store
	inner oauth2client.Locker
}

// Lock implements oauth2client.Locker. A Lock that fails after it landed
// leaves the lease held in the wrapped store until it lapses, as a lost
// reply would.
func (l lockPart) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	var lease oauth2client.Lease
	err := l.s.do(OpLock, account, nil, func() error {
		var err error
		lease, err = l.inner.Lock(ctx, account, ttl)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &faultyLease{s: l.s, account: account, inner: lease}, nil
}

// faultyLease is a lease taken through the wrapper: its Extend and
// Release fail by the rules too.
type faultyLease struct {
	s       *Store
	account string
	inner   oauth2client.Lease
}

// Extend implements oauth2client.Lease.
func (f *faultyLease) Extend(ctx context.Context, ttl time.Duration) error {
	return f.s.do(OpExtend, f.account, nil, func() error { return f.inner.Extend(ctx, ttl) })
}

// Release implements oauth2client.Lease. A Release that fails without
// landing leaves the lease held, so that calling Release again works
// as it would once the store is back.
func (f *faultyLease) Release(ctx context.Context) error {
	return f.s.do(OpRelease, f.account, nil, func() error { return f.inner.Release(ctx) })
}

// wrap returns s with exactly the optional interfaces of s.inner.
func (s *Store) wrap() oauth2client.TokenStore {
	cas, _ := s.inner.(oauth2client.CompareAndSwapper)
	lock, _ := s.inner.(oauth2client.Locker)
	list, _ := s.inner.(oauth2client.Lister)
	c, l, ls := casPart{s, cas}, lockPart{s, lock}, listPart{s, list}
	switch {
	case cas != nil && lock != nil && list != nil:
		return struct {
			*Store
			casPart
			lockPart
			listPart
		}{s, c, l, ls}
	case cas != nil && lock != nil:
		return struct {
			*Store
			casPart
			lockPart
		}{s, c, l}
	case cas != nil && list != nil:
		return struct {
			*Store
			casPart
			listPart
		}{s, c, ls}
	case lock != nil && list != nil:
		return struct {
			*Store
			lockPart
			listPart
		}{s, l, ls}
	case cas != nil:
		return struct {
			*Store
			casPart
		}{s, c}
	case lock != nil:
		return struct {
			*Store
			lockPart
		}{s, l}
	case list != nil:
		return struct {
			*Store
			listPart
		}{s, ls}
	}
	return s
}

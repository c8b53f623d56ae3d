package oauth2client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Errors about the state parameter of an authorization response. They are
// returned wrapped in a [*CallbackError].
var (
	// ErrStateInvalid means the state is missing, malformed or was never
	// issued by this Client (or the instance that issued it: see
	// [StateStore] for multi-instance apps).
	ErrStateInvalid = errors.New("oauth2client: unknown or malformed state")
	// ErrStateExpired means the user took longer than the state's lifetime
	// to come back.
	ErrStateExpired = errors.New("oauth2client: the authorization request has expired")
	// ErrStateReplayed means the state was already used: a callback URL
	// replayed, or a double submission.
	ErrStateReplayed = errors.New("oauth2client: the authorization response was already used")
)

// Pending is what the Client remembers between sending a user to the
// provider and the user's return to the callback.
type Pending struct {
	// Connection and Account say what is being authorized.
	Connection string
	Account    string
	// MAC is the SHA-256 of the state's secret half; the handler compares
	// it in constant time.
	MAC []byte
	// Verifier is the PKCE verifier.
	Verifier Secret
	// Session is the SHA-256 of the browser-session binding the
	// application passed to StartAuthorization, or nil for none.
	Session []byte
	// ReturnTo is the same-origin path to send the browser to afterwards.
	ReturnTo string
	// RequireUsername, when set, must equal the username the provider
	// returns (case-insensitive).
	RequireUsername string
	// Expires is when the pending authorization lapses.
	Expires time.Time
	// AdminConsent marks an admin consent flow ([Client.StartAdminConsent]):
	// no account, no PKCE verifier; the answer carries a tenant, not a
	// code.
	AdminConsent bool
}

// StateStore keeps pending authorizations between the redirect to the
// provider and the callback. The default, [NewMemoryStateStore], keeps
// them in process memory: an application with several instances behind a
// load balancer must either route a user's callback to the instance that
// started the flow (sticky sessions) or supply a shared StateStore
// (redisstore.NewStateStore, or a database table of your own).
//
// Implementations must be safe for concurrent use. Take must be atomic:
// two concurrent Takes of one id must not both succeed.
type StateStore interface {
	// Put stores p under id until p.Expires.
	Put(ctx context.Context, id string, p *Pending) error
	// Take returns the entry of id and marks it used. It returns an error
	// wrapping [ErrStateInvalid] for an unknown id, [ErrStateReplayed] for
	// one already taken and [ErrStateExpired] for one past its expiry
	// (stores that cannot tell may return ErrStateInvalid for all three).
	Take(ctx context.Context, id string) (*Pending, error)
}

// MemoryStateStore is the default [StateStore], in process memory. Used
// and expired entries are remembered until twice their lifetime so that
// replays and late arrivals get a precise error, then dropped.
type MemoryStateStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*memState
	ops int
}

type memState struct {
	p    *Pending
	used bool
	drop time.Time
}

// NewMemoryStateStore returns an empty in-memory store reading the time
// from now (time.Now if nil).
func NewMemoryStateStore(now func() time.Time) *MemoryStateStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStateStore{now: now, m: make(map[string]*memState)}
}

// Put implements [StateStore].
func (s *MemoryStateStore) Put(_ context.Context, id string, p *Pending) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if _, dup := s.m[id]; dup {
		return errors.New("oauth2client: state id collision")
	}
	cp := *p
	s.m[id] = &memState{p: &cp, drop: p.Expires.Add(p.Expires.Sub(now))}
	return nil
}

// Take implements [StateStore].
func (s *MemoryStateStore) Take(_ context.Context, id string) (*Pending, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	switch {
	case !ok:
		return nil, ErrStateInvalid
	case e.used:
		return nil, ErrStateReplayed
	}
	e.used = true
	if !now.Before(e.p.Expires) {
		return nil, ErrStateExpired
	}
	cp := *e.p
	return &cp, nil
}

// Len returns the number of entries held, used ones included.
func (s *MemoryStateStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweep drops entries past their drop time, amortised: a full pass every
// 64 Puts keeps the cost constant per operation.
func (s *MemoryStateStore) sweep(now time.Time) {
	s.ops++
	if s.ops%64 != 0 {
		return
	}
	for id, e := range s.m {
		if now.After(e.drop) {
			delete(s.m, id)
		}
	}
}

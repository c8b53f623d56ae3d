package oauth2client

import (
	"context"
	"errors"
	"fmt"
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
	// RequireTenant and RequireDomain, when set, must equal the
	// identity's Tenant (case-insensitive): see [AuthOptions].
	RequireTenant, RequireDomain string
	// Nonce is the OpenID Connect nonce sent with the authorization
	// request; the id_token of the exchange must carry it.
	Nonce string
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
// (redisstore.NewStateStore, tokenstore.NewSQLStateStore, or your own,
// checked with storetest.RunStateStore).
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

// Defaults for the zero values of [StateLimits].
const (
	// DefaultMaxPending bounds the pending authorizations of a state
	// store: about 6 MB in a [MemoryStateStore].
	DefaultMaxPending = 10000
	// DefaultMaxPendingPerSession bounds the pending authorizations of
	// one browser session.
	DefaultMaxPendingPerSession = 10
)

// ErrTooManyPending means a state store holds as many pending
// authorizations as its [StateLimits] allow, in total or for the browser
// session: [Client.StartAuthorization] fails until some complete or lapse
// (after [Config.StateTTL]). It is returned as a [*PendingLimitError].
var ErrTooManyPending = errors.New("oauth2client: too many pending authorizations")

// StateLimits bound what a [StateStore] holds, so that whoever can make
// the application call [Client.StartAuthorization] (a "connect" link
// shown to low-trust users) cannot make it hold unbounded memory.
type StateLimits struct {
	// MaxPending is the most pending authorizations (neither used nor
	// expired) held at once. Zero means [DefaultMaxPending]; negative
	// means no limit.
	MaxPending int
	// MaxPerSession is the most pending authorizations of one browser
	// session ([AuthOptions.Session]). Zero means
	// [DefaultMaxPendingPerSession]; negative means no limit.
	// Authorizations started without a session count towards MaxPending
	// only.
	MaxPerSession int
}

// resolve returns l with its defaults filled in; a limit of 0 means none.
func (l StateLimits) resolve() StateLimits {
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	return StateLimits{MaxPending: pick(l.MaxPending, DefaultMaxPending), MaxPerSession: pick(l.MaxPerSession, DefaultMaxPendingPerSession)}
}

// Exceeded returns the error for a store holding total pending
// authorizations, session of them for the browser session of the new one
// (0 without a session), or nil when one more is allowed. Defaults apply
// as documented on the fields. Shared [StateStore] implementations use it
// to enforce the same limits.
func (l StateLimits) Exceeded(total, session int, hasSession bool) error {
	r := l.resolve()
	switch {
	case r.MaxPending > 0 && total >= r.MaxPending:
		return &PendingLimitError{Limit: r.MaxPending}
	case hasSession && r.MaxPerSession > 0 && session >= r.MaxPerSession:
		return &PendingLimitError{Session: true, Limit: r.MaxPerSession}
	}
	return nil
}

// PendingLimitError says which [StateLimits] limit a new pending
// authorization would exceed. It matches [ErrTooManyPending].
type PendingLimitError struct {
	// Session is true when the limit of one browser session was reached,
	// false for the store's total.
	Session bool
	// Limit is the limit reached.
	Limit int
}

// Error says which limit was reached and what to do.
func (e *PendingLimitError) Error() string {
	if e.Session {
		return fmt.Sprintf("oauth2client: this browser session already has %d sign-ins in progress: finish one, or wait until they lapse (StateLimits.MaxPerSession)", e.Limit)
	}
	return fmt.Sprintf("oauth2client: %d sign-ins are in progress, the most the state store holds: try again once some finish or lapse (raise StateLimits.MaxPending if this is normal load)", e.Limit)
}

// Is matches [ErrTooManyPending].
func (e *PendingLimitError) Is(target error) bool { return target == ErrTooManyPending }

// MemoryStateStore is the default [StateStore], in process memory. Used
// and expired entries are remembered (without their contents) until
// twice their lifetime so that replays and late arrivals get a precise
// error, then dropped. It holds at most [StateLimits] pending entries,
// and at most as many remembered ones (beyond that, the oldest knowledge
// is dropped: a replay then gets [ErrStateInvalid], still a refusal).
type MemoryStateStore struct {
	now    func() time.Time
	limits StateLimits // resolved: 0 means no limit

	mu       sync.Mutex
	m        map[string]*memState
	live     int            // entries with p != nil
	sessions map[string]int // live entries per session hash
	ops      int
	lastFull time.Time
}

type memState struct {
	p       *Pending // nil once used or expired
	session string
	expires time.Time
	used    bool
	drop    time.Time
}

// NewMemoryStateStore returns an empty in-memory store reading the time
// from now (time.Now if nil), with the default [StateLimits].
func NewMemoryStateStore(now func() time.Time) *MemoryStateStore {
	return NewMemoryStateStoreWithLimits(now, StateLimits{})
}

// NewMemoryStateStoreWithLimits returns an empty in-memory store reading
// the time from now (time.Now if nil) that holds at most limits.
func NewMemoryStateStoreWithLimits(now func() time.Time, limits StateLimits) *MemoryStateStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStateStore{now: now, limits: limits.resolve(), m: make(map[string]*memState), sessions: make(map[string]int)}
}

// Put implements [StateStore]. It returns a [*PendingLimitError] when
// the store holds as many pending authorizations as its limits allow.
func (s *MemoryStateStore) Put(ctx context.Context, id string, p *Pending) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("oauth2client: storing the state of account %q: %w", p.Account, err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now, false)
	if _, dup := s.m[id]; dup {
		return errors.New("oauth2client: state id collision")
	}
	sess := string(p.Session)
	if s.full(sess) {
		// Entries may have lapsed since the last sweep.
		s.sweep(now, true)
		if s.full(sess) {
			return s.limitError(sess)
		}
	}
	cp := *p
	s.m[id] = &memState{p: &cp, session: sess, expires: p.Expires, drop: p.Expires.Add(p.Expires.Sub(now))}
	s.live++
	if sess != "" {
		s.sessions[sess]++
	}
	return nil
}

func (s *MemoryStateStore) full(sess string) bool {
	return (s.limits.MaxPending > 0 && s.live >= s.limits.MaxPending) ||
		(sess != "" && s.limits.MaxPerSession > 0 && s.sessions[sess] >= s.limits.MaxPerSession)
}

func (s *MemoryStateStore) limitError(sess string) error {
	if s.limits.MaxPending > 0 && s.live >= s.limits.MaxPending {
		return &PendingLimitError{Limit: s.limits.MaxPending}
	}
	return &PendingLimitError{Session: true, Limit: s.limits.MaxPerSession}
}

// Take implements [StateStore].
func (s *MemoryStateStore) Take(ctx context.Context, id string) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("oauth2client: taking a state: %w", err)
	}
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
	if e.p == nil || !now.Before(e.expires) {
		s.release(e)
		return nil, ErrStateExpired
	}
	cp := *e.p
	s.release(e)
	return &cp, nil
}

// release turns e into a remembered entry without contents.
func (s *MemoryStateStore) release(e *memState) {
	if e.p == nil {
		return
	}
	e.p = nil
	s.live--
	if e.session != "" {
		if s.sessions[e.session]--; s.sessions[e.session] <= 0 {
			delete(s.sessions, e.session)
		}
	}
	s.trim()
}

// trim drops remembered entries beyond the limit on pending ones.
func (s *MemoryStateStore) trim() {
	max := s.limits.MaxPending
	if max <= 0 || len(s.m)-s.live <= max {
		return
	}
	for id, e := range s.m {
		if e.p == nil {
			delete(s.m, id)
			if len(s.m)-s.live <= max/2 {
				return
			}
		}
	}
}

// Len returns the number of entries held, used ones included.
func (s *MemoryStateStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweep drops entries past their drop time and empties expired ones,
// amortised: a full pass every 64 Puts keeps the cost constant per
// operation. force asks for a pass now (the store is full), at most once
// a second, so that a flood of refused Puts costs no more than accepted
// ones.
func (s *MemoryStateStore) sweep(now time.Time, force bool) {
	s.ops++
	if force {
		if !s.lastFull.IsZero() && now.Sub(s.lastFull) < time.Second {
			return
		}
	} else if s.ops%64 != 0 {
		return
	}
	s.lastFull = now
	for id, e := range s.m {
		if e.p != nil && !now.Before(e.expires) {
			s.release(e)
		}
		if now.After(e.drop) {
			delete(s.m, id)
		}
	}
}

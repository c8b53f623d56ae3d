package oauth2client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Every account has one state machine, its cacheEntry. Its generation
// only grows: re-authorization and Disconnect raise it when they begin and
// again when they are done, and every outcome of a refresh (publishing a
// token, marking the account, backoff, scheduling, hooks) is applied only
// if the entry is still at the generation the refresh started from. Across
// processes the store's version plays the same part: it never repeats
// (see [TokenStore]) and every write is a compare-and-swap against the
// version read, under the account's lease when the store is a [Locker].

func notConnected(account string, err error) error {
	return fmt.Errorf("oauth2client: account %q has no tokens: connect it with StartAuthorization (or ConnectAppOnly): %w", account, err)
}

// entry returns the account's in-memory entry, or nil.
func (c *Client) entry(account string) *cacheEntry {
	if v, ok := c.cache.Load(account); ok {
		return v.(*cacheEntry)
	}
	return nil
}

// entryFor returns the account's entry, creating it.
func (c *Client) entryFor(account string) *cacheEntry {
	if e := c.entry(account); e != nil {
		return e
	}
	v, _ := c.cache.LoadOrStore(account, new(cacheEntry))
	return v.(*cacheEntry)
}

func (c *Client) cached(account string) *cachedToken {
	if e := c.entry(account); e != nil {
		return e.tok.Load()
	}
	return nil
}

func (e *cacheEntry) generation() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen
}

// bump raises the generation: whatever a refresh in flight learns from
// now on is not applied.
func (e *cacheEntry) bump() {
	e.mu.Lock()
	e.gen++
	e.mu.Unlock()
}

// Token returns a valid access token for account. A token cached in
// memory and not due is returned at once, without I/O or allocation.
// Otherwise the Client reads the stored record (without taking the
// refresh lease) and serves its token unless it is due; a due token is
// refreshed: one refresh per account at a time (callers that arrive
// meanwhile wait for it on their own ctx), under the store's lease
// ([Locker]) so that instances sharing the store redeem a rotated
// refresh token exactly once.
//
// An access token that has not expired is always served rather than an
// error: when the store or the provider fails, when a refresh is in
// backoff, when the caller's ctx ends while it waits, a token inside
// [Config.ExpiryMargin] is returned as long as it is valid. A cached token
// is checked against the store at least every [Config.StoreRecheck], so
// a token replaced or disconnected by another instance stops being served
// within that bound.
//
// Errors wrap [ErrNotFound] for an account never connected,
// [ErrReauthRequired] when the user must sign in again, [ErrTransient]
// (through a [*ProviderError]) for provider outages and
// [ErrStoreUnavailable] (a [*StoreError], which also matches ErrTransient)
// when the store fails and no valid token is known.
func (c *Client) Token(ctx context.Context, account string) (*Token, error) {
	if ct := c.cached(account); ct != nil && c.now().Before(ct.renewAt) {
		return &ct.Token, nil
	}
	return c.obtain(ctx, account, want{}, false)
}

// Refresh renews the access token of account now, unless another caller
// already replaced the token that was current when Refresh was called.
// Use it when a mail server rejects a token the Client believed valid
// (revoked, or clock skew), and retry the login once with the result.
// When several connections may be rejected with the same token, prefer
// [Client.RefreshIfCurrent], which names the rejected token, so that they
// cause one refresh.
//
// After a transient failure, Refresh does not call the provider again
// before the backoff delay (at most [Config.BackoffMax]): it returns a
// newer token if the store has one (another instance refreshed), else an
// error that says when the next attempt is due.
func (c *Client) Refresh(ctx context.Context, account string) (*Token, error) {
	var stale Secret
	if ct := c.cached(account); ct != nil {
		stale = ct.AccessToken
	} else if rec, err := c.store.Load(ctx, account); err == nil {
		stale = rec.AccessToken
	}
	if stale == "" {
		stale = noToken
	}
	return c.obtain(ctx, account, want{rejected: stale}, false)
}

// RefreshIfCurrent renews the access token of account if rejected (the
// token a mail server refused) is still the current one, and otherwise
// returns the current token without calling the provider. N connections
// rejected with one token cause one refresh. The backoff rules of
// [Client.Refresh] apply. The rejected token is never returned.
func (c *Client) RefreshIfCurrent(ctx context.Context, account string, rejected Secret) (*Token, error) {
	if rejected == "" {
		rejected = noToken
	}
	return c.obtain(ctx, account, want{rejected: rejected}, false)
}

// noToken stands for "no current token" when forcing a refresh.
const noToken Secret = "\x00none"

// want says what a caller of obtain needs.
type want struct {
	// rejected is a token a server refused: never returned, and
	// refreshed unless already replaced.
	rejected Secret
	// ahead is set by the scheduler: refresh from the start of the
	// proactive window on.
	ahead bool
}

// obtain gets a token through the per-account single flight. For Run's
// workers (run), the flight is cancelled with ctx and obtain waits for it
// to end; for everyone else it outlives impatient callers, bounded by
// RefreshTimeout.
func (c *Client) obtain(ctx context.Context, account string, w want, run bool) (*Token, error) {
	for attempt := 0; ; attempt++ {
		ch := c.flight.DoChan(account, func() (any, error) {
			base := ctx
			if !run {
				base = context.WithoutCancel(ctx)
			}
			rctx, cancel := context.WithTimeout(base, c.refreshTimeout)
			defer cancel()
			return c.renew(rctx, account, w)
		})
		var done <-chan struct{}
		if !run {
			done = ctx.Done()
		}
		select {
		case <-done:
			if t := c.fallback(account, w.rejected); t != nil {
				return t, nil
			}
			return nil, fmt.Errorf("oauth2client: waiting for the token of account %q: %w", account, ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				if t := c.fallback(account, w.rejected); t != nil {
					return t, nil
				}
				if attempt == 0 && ctx.Err() == nil && !run && errors.Is(r.Err, context.Canceled) {
					continue // we joined a flight of Run's that Run cancelled
				}
				return nil, r.Err
			}
			t := r.Val.(*Token)
			if !t.Expiry.IsZero() && !c.now().Before(t.Expiry) && attempt == 0 {
				continue // a flight that began long ago; its token has expired since
			}
			if w.rejected != "" && t.AccessToken == w.rejected {
				if attempt == 0 {
					// We joined a flight that started before our token
					// was rejected; go again.
					continue
				}
				return nil, fmt.Errorf("oauth2client: account %q: the provider returned the rejected token again: %w", account, ErrTransient)
			}
			return t, nil
		}
	}
}

// fallback returns the cached token of account if it has not expired and
// is not the rejected one.
func (c *Client) fallback(account string, rejected Secret) *Token {
	ct := c.cached(account)
	if ct == nil || ct.AccessToken == rejected || ct.AccessToken == "" {
		return nil
	}
	if !ct.Expiry.IsZero() && !c.now().Before(ct.Expiry) {
		return nil
	}
	return &ct.Token
}

// Lifetime rule. A token issued at I that expires at E lives L = E - I.
// The hot path serves it until E - m, the scheduler renews it at
// E - a - U[0, j), where
//
//	m = min(ExpiryMargin, L/8), a = min(RefreshAhead, L/4), j = min(RefreshJitter, L/4)
//
// so a token is never renewed before half its lifetime (I + L/2 <=
// E - a - j), proactively before the hot path needs it (a >= m), and
// an account sees at most one proactive refresh per token it was issued.
// An unknown issue time (records written before the Client stamped it)
// counts as an infinite lifetime: the configured values apply.
func (c *Client) scaled(issued, expiry time.Time) (margin, ahead, jitter time.Duration) {
	life := time.Duration(math.MaxInt64)
	if !issued.IsZero() {
		life = max(expiry.Sub(issued), 0)
	}
	return min(c.margin, life/8), min(c.ahead, life/4), min(c.jitter, life/4)
}

// dueAt is when the hot path stops serving rec's token.
func (c *Client) dueAt(rec *Record) time.Time {
	if rec.Expiry.IsZero() {
		return farFuture
	}
	m, _, _ := c.scaled(rec.Updated, rec.Expiry)
	return rec.Expiry.Add(-m)
}

// windowStart is the first instant at which the scheduler may renew rec's
// token.
func (c *Client) windowStart(rec *Record) time.Time {
	if rec.Expiry.IsZero() {
		return farFuture
	}
	_, a, j := c.scaled(rec.Updated, rec.Expiry)
	return rec.Expiry.Add(-a - j)
}

// proactiveAt draws the instant the scheduler renews rec's token.
func (c *Client) proactiveAt(rec *Record) time.Time {
	_, a, j := c.scaled(rec.Updated, rec.Expiry)
	at := rec.Expiry.Add(-a)
	if j > 0 {
		at = at.Add(-rand.N(j)) // #nosec G404 -- scheduling jitter, not a secret
	}
	return at
}

var farFuture = time.Unix(1<<62, 0)

// due reports whether rec's token needs the provider for a caller that
// wants w.
func (c *Client) due(rec *Record, w want, now time.Time) bool {
	switch {
	case rec.AccessToken == "":
		return true
	case w.rejected != "":
		return rec.AccessToken == w.rejected
	case w.ahead:
		return !now.Before(c.windowStart(rec))
	}
	return !now.Before(c.dueAt(rec))
}

// valid reports whether rec's token may be served to a caller who
// rejected rejected: it has not expired.
func (c *Client) valid(rec *Record, rejected Secret, now time.Time) bool {
	return rec.AccessToken != "" && rec.AccessToken != rejected && (rec.Expiry.IsZero() || now.Before(rec.Expiry))
}

// backoff is the delay before retry number n (1-based) after a transient
// failure: exponential from BackoffMin, capped at BackoffMax, with "equal
// jitter" (between half and all of it), or the provider's Retry-After when
// that is longer.
func (c *Client) backoff(n int, err error) time.Duration {
	d := c.backoffMin
	for i := 1; i < n && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	d = d/2 + rand.N(d/2+1) // #nosec G404 -- backoff jitter, not a secret
	var pe *ProviderError
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = pe.RetryAfter
	}
	return d
}

// events are hooks to call once the flight is over: after the lease is
// released and the flight forgotten, so that a hook may ask for its own
// account's token without waiting on itself.
type events []func()

// renew runs one step of account's state machine for a caller that wants
// w.
func (c *Client) renew(ctx context.Context, account string, w want) (*Token, error) {
	e := c.entryFor(account)
	var ev events
	tok, err := c.step(ctx, e, account, w, &ev)
	if len(ev) > 0 {
		c.flight.Forget(account)
		for _, f := range ev {
			f()
		}
	}
	return tok, err
}

// current reads account's record: the stored one, or the unsaved grant
// this Client holds when the store has nothing newer. unsaved says which.
func (c *Client) current(ctx context.Context, e *cacheEntry, account string) (rec *Record, unsaved bool, err error) {
	rec, err = c.store.Load(ctx, account)
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.unsaved; u != nil {
		switch {
		case err == nil && rec.Version <= u.Version:
			return u.Clone(), true, nil
		case err == nil || errors.Is(err, ErrNotFound):
			// Someone re-authorized or disconnected the account since:
			// their record wins over a grant of the replaced consent.
			e.unsaved = nil
			c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: dropping an unsaved grant: the account was replaced in the store",
				slog.String("account", account))
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, false, notConnected(account, err)
		case errors.Is(err, ErrUnreadable):
			return nil, false, fmt.Errorf("oauth2client: the stored record of account %q cannot be read: authorize the account again (or Disconnect it), which replaces the record: %w", account, err)
		}
		return nil, false, &StoreError{Op: "load", Account: account, Err: err}
	}
	return rec, false, nil
}

func (c *Client) step(ctx context.Context, e *cacheEntry, account string, w want, ev *events) (*Token, error) {
	gen := e.generation()
	rec, unsaved, err := c.current(ctx, e, account)
	if err != nil {
		return c.readFailed(ctx, e, gen, account, w, err, ev)
	}
	if rec.Status == StatusNeedsReauth {
		return nil, c.markedReauth(e, gen, rec)
	}
	now := c.now()
	if !unsaved && !c.due(rec, w, now) {
		c.dropLease(ctx, e)
		return c.adopted(c.adopt(e, gen, rec, false, time.Time{}), account)
	}
	e.mu.Lock()
	retryAt, lastErr := e.retryAt, e.lastErr
	e.mu.Unlock()
	if now.Before(retryAt) && lastErr != nil {
		// In backoff: the provider is not asked before the delay.
		if c.valid(rec, w.rejected, now) {
			return c.adopted(c.adopt(e, gen, rec, unsaved, retryAt), account)
		}
		if t := c.fallback(account, w.rejected); t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("oauth2client: account %q: the last refresh failed; the next attempt is due in %v (until then the provider is not asked): %w",
			account, retryAt.Sub(now).Round(time.Second), lastErr)
	}

	e.setRefreshing(true)
	defer e.setRefreshing(false)
	lease, err := c.acquire(ctx, e, account)
	if err != nil {
		return c.fail(ctx, e, gen, account, rec, unsaved, w, err, ev)
	}
	keep := false
	defer func() { c.release(ctx, e, account, lease, keep) }()
	stop := c.extend(ctx, account, lease)
	defer stop()

	// Under the lease: read again, the way every other holder left it.
	gen = e.generation()
	rec, unsaved, err = c.current(ctx, e, account)
	if err != nil {
		return c.readFailed(ctx, e, gen, account, w, err, ev)
	}
	if rec.Status == StatusNeedsReauth {
		return nil, c.markedReauth(e, gen, rec)
	}
	now = c.now()
	refresh := c.due(rec, w, now)
	if !unsaved && !refresh {
		return c.adopted(c.adopt(e, gen, rec, false, time.Time{}), account)
	}

	next := rec
	if refresh {
		g, err := c.callProvider(ctx, rec)
		if err != nil {
			if ClassOf(err) == ClassReauth {
				return nil, c.refused(ctx, e, gen, rec, unsaved, err, ev)
			}
			return c.fail(ctx, e, gen, account, rec, unsaved, w, err, ev)
		}
		if err := identityChanged(&rec.Identity, &g.Identity); err != nil {
			return nil, c.refused(ctx, e, gen, rec, unsaved, err, ev)
		}
		next = merge(rec, g, c.now())
		// From here the new grant is authoritative: the provider may
		// have rotated the refresh token, so the old one is dead.
		if !c.hold(e, gen, next) {
			return nil, fmt.Errorf("oauth2client: account %q was authorized again or disconnected during the refresh; the refreshed tokens were discarded: %w", account, ErrConflict)
		}
	}
	base := next.Version
	werr := c.write(ctx, next)
	switch {
	case werr == nil:
		return c.adopted(c.saved(ctx, e, gen, next, refresh, ev), account)
	case errors.Is(werr, ErrConflict):
		// Another writer got there first (a lapsed lease, or a store
		// without a Locker): the store's record is newer than ours.
		e.mu.Lock()
		if e.gen == gen {
			e.unsaved = nil
		}
		e.mu.Unlock()
		c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: the record changed while refreshing; using the stored one",
			slog.String("account", account), slog.Int64("version", base))
		cur, _, lerr := c.current(ctx, e, account)
		if lerr == nil && cur.Status != StatusNeedsReauth && c.valid(cur, w.rejected, c.now()) {
			return c.adopted(c.adopt(e, gen, cur, false, time.Time{}), account)
		}
		return nil, fmt.Errorf("oauth2client: saving the refreshed tokens of account %q: %w", account, werr)
	}
	// The store failed: keep the grant (served, used for the next
	// refresh) and the lease, and retry the write with backoff.
	keep = true
	serr := &StoreError{Op: "save", Account: account, Err: werr, Unsaved: true}
	return c.fail(ctx, e, gen, account, next, true, w, serr, ev)
}

// callProvider asks rec's connection for a new grant.
func (c *Client) callProvider(ctx context.Context, rec *Record) (*Grant, error) {
	p, err := c.Connection(rec.Connection)
	if err != nil {
		return nil, fmt.Errorf("oauth2client: account %q: %w", rec.Account, err)
	}
	if rec.AppOnly {
		ap, ok := p.(AppOnlyProvider)
		if !ok {
			return nil, fmt.Errorf("oauth2client: account %q: connection %q: %w", rec.Account, rec.Connection, ErrAppOnlyUnsupported)
		}
		g, err := ap.AppToken(ctx, rec.Identity.Username)
		return g, scrubProviderErr(err, rec)
	}
	g, err := p.Refresh(ctx, &rec.Grant)
	return g, scrubProviderErr(err, rec)
}

// scrubProviderErr removes rec's secrets from a provider's error before
// it is returned, logged, handed to a hook or stored: the provider may
// have echoed the request.
func scrubProviderErr(err error, rec *Record) error {
	return ScrubError(err, grantSecrets(&rec.Grant)...)
}

// merge returns rec with g's tokens, keeping what g does not repeat.
func merge(rec *Record, g *Grant, now time.Time) *Record {
	next := rec.Clone()
	next.Grant = *g
	if g.RefreshToken == "" {
		next.RefreshToken = rec.RefreshToken
	}
	if g.Identity == (Identity{}) {
		next.Identity = rec.Identity
	}
	if g.ProviderState == nil {
		next.ProviderState = rec.ProviderState
	}
	if len(g.Scopes) == 0 {
		next.Scopes = rec.Scopes
	}
	next.AppOnly = rec.AppOnly
	next.Status, next.LastError, next.Updated = StatusConnected, "", now
	return next
}

// identityChanged refuses a grant naming another user or tenant than the
// stored one.
func identityChanged(old, got *Identity) error {
	if old.Subject != "" && got.Subject != "" && old.Subject != got.Subject {
		return fmt.Errorf("%w: the provider's subject changed", ErrIdentityChanged)
	}
	if old.Tenant != "" && got.Tenant != "" && old.Tenant != got.Tenant {
		return fmt.Errorf("%w: the provider's tenant changed from %q to %q", ErrIdentityChanged, old.Tenant, got.Tenant)
	}
	return nil
}

// hold makes next the account's authoritative grant before it is stored:
// served and used for the next refresh. It fails if the account left
// generation gen.
func (c *Client) hold(e *cacheEntry, gen uint64, next *Record) bool {
	now := c.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen != gen {
		return false
	}
	e.unsaved = next.Clone()
	e.lastRefresh = now
	c.publishLocked(e, next, true, time.Time{})
	return true
}

// saved applies a successful write of next.
func (c *Client) saved(ctx context.Context, e *cacheEntry, gen uint64, next *Record, refreshed bool, ev *events) *Token {
	now := c.now()
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return c.fallback(next.Account, "")
	}
	e.unsaved = nil
	e.failures, e.retryAt, e.lastErr = 0, time.Time{}, nil
	if !next.Expiry.IsZero() && !next.Expiry.After(now) {
		// The provider's token has expired by this host's clock: serve
		// it (the server may disagree) but do not ask again at once.
		e.failures = 1
		e.lastErr = fmt.Errorf("oauth2client: account %q: the provider issued an access token that expired at %v, before this host's time %v; check the clock: %w",
			next.Account, next.Expiry.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), ErrTransient)
		e.retryAt = now.Add(c.backoff(1, nil))
	}
	tok := c.publishLocked(e, next, false, e.retryAt)
	e.refreshing = false
	e.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: token refreshed",
		slog.String("account", next.Account), slog.Any("grant", &next.Grant)) // the grant's secrets print as [redacted]
	if refreshed && c.hooks.Refreshed != nil {
		*ev = append(*ev, func() { c.hooks.Refreshed(ctx, next.Account) })
	}
	return tok
}

// adopt publishes rec (read from the store, or the unsaved grant) if the
// account is still at generation gen and rec is not older than the
// cached token. It returns the token now cached (which may be newer).
func (c *Client) adopt(e *cacheEntry, gen uint64, rec *Record, unsaved bool, retryAt time.Time) *Token {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.tok.Load()
	if e.gen != gen || (cur != nil && order(rec.Version, unsaved) < order(cur.version, cur.unsaved)) {
		if cur != nil {
			return &cur.Token
		}
		return nil
	}
	e.needsReauth = false
	return c.publishLocked(e, rec, unsaved, retryAt)
}

// adopted turns a token that could not be published (the account
// changed meanwhile) into an error.
func (c *Client) adopted(tok *Token, account string) (*Token, error) {
	if tok == nil {
		return nil, fmt.Errorf("oauth2client: account %q was authorized again or disconnected meanwhile; ask again: %w", account, ErrConflict)
	}
	if !tok.Expiry.IsZero() && !c.now().Before(tok.Expiry) {
		return nil, fmt.Errorf("oauth2client: account %q: the newest token known expired at %v: %w", account, tok.Expiry.UTC().Format(time.RFC3339), ErrTransient)
	}
	return tok, nil
}

// order ranks records: an unsaved grant replaces the stored version it
// was refreshed from.
func order(version int64, unsaved bool) int64 {
	if unsaved {
		return version*2 + 1
	}
	return version * 2
}

// publishLocked caches rec's token and schedules its proactive refresh
// (not before retryAt). e.mu is held.
func (c *Client) publishLocked(e *cacheEntry, rec *Record, unsaved bool, retryAt time.Time) *Token {
	now := c.now()
	old := e.tok.Load()
	ct := &cachedToken{
		Token: Token{
			AccessToken: rec.AccessToken,
			Expiry:      rec.Expiry,
			Username:    rec.Identity.Username,
			Account:     rec.Account,
			Connection:  rec.Connection,
		},
		version: rec.Version,
		unsaved: unsaved,
	}
	ct.renewAt = c.dueAt(rec)
	if c.recheck > 0 {
		ct.renewAt = minTime(ct.renewAt, now.Add(c.recheck))
	}
	if !retryAt.IsZero() && now.Before(retryAt) {
		// In backoff: serve until the retry, or the expiry.
		ct.renewAt = retryAt
		if !rec.Expiry.IsZero() {
			ct.renewAt = minTime(retryAt, rec.Expiry)
		}
	}
	if !rec.Expiry.IsZero() {
		if old != nil && old.AccessToken == rec.AccessToken && !old.proactive.IsZero() {
			ct.proactive = old.proactive // keep the draw for the same token
		} else {
			ct.proactive = c.proactiveAt(rec)
		}
		at := ct.proactive
		if retryAt.After(at) {
			at = retryAt
		}
		c.sched.add(rec.Account, rec.Connection, at)
	}
	e.tok.Store(ct)
	return &ct.Token
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (e *cacheEntry) setRefreshing(v bool) {
	e.mu.Lock()
	e.refreshing = v
	e.mu.Unlock()
}

// readFailed handles a failed read of the account's record.
func (c *Client) readFailed(ctx context.Context, e *cacheEntry, gen uint64, account string, w want, err error, ev *events) (*Token, error) {
	if errors.Is(err, ErrNotFound) {
		// Disconnected (perhaps by another instance).
		e.mu.Lock()
		if e.gen == gen {
			c.forgetLocked(e, account)
		}
		e.mu.Unlock()
		return nil, err
	}
	return c.fail(ctx, e, gen, account, nil, false, w, err, ev)
}

// forgetLocked clears the account's state after it was disconnected.
func (c *Client) forgetLocked(e *cacheEntry, account string) {
	e.gen++
	e.tok.Store(nil)
	e.unsaved = nil
	e.failures, e.retryAt, e.lastErr, e.needsReauth = 0, time.Time{}, nil, false
	c.sched.remove(account)
}

// markedReauth applies a stored needs-reauth mark.
func (c *Client) markedReauth(e *cacheEntry, gen uint64, rec *Record) error {
	e.mu.Lock()
	if e.gen == gen {
		e.tok.Store(nil)
		e.needsReauth = true
		c.sched.remove(rec.Account)
	}
	e.mu.Unlock()
	return &ReauthError{Account: rec.Account, Connection: rec.Connection, Reason: rec.LastError}
}

// refused applies a provider's refusal (or a grant for another identity):
// the record is marked, tokens kept, the app told once.
func (c *Client) refused(ctx context.Context, e *cacheEntry, gen uint64, rec *Record, unsaved bool, err error, ev *events) error {
	account := rec.Account
	if e.generation() != gen {
		return fmt.Errorf("oauth2client: refreshing account %q (since re-authorized or disconnected): %w", account, err)
	}
	marked := rec.Clone()
	marked.Status, marked.LastError, marked.Updated = StatusNeedsReauth, err.Error(), c.now()
	if werr := c.write(ctx, marked); werr != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: could not mark account as needing re-authorization",
			slog.String("account", account), slog.String("error", werr.Error()))
	}
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return fmt.Errorf("oauth2client: refreshing account %q (since re-authorized or disconnected): %w", account, err)
	}
	if unsaved {
		e.unsaved = nil
	}
	e.tok.Store(nil)
	e.needsReauth = true
	e.failures, e.retryAt, e.lastErr = 0, time.Time{}, err
	e.refreshing = false
	c.sched.remove(account)
	e.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: account needs re-authorization",
		slog.String("account", account), slog.String("error", err.Error()))
	if c.hooks.ReauthRequired != nil {
		*ev = append(*ev, func() { c.hooks.ReauthRequired(ctx, account, err) })
	}
	if errors.Is(err, ErrIdentityChanged) {
		return &ReauthError{Account: account, Connection: rec.Connection, Reason: err.Error(), Err: err}
	}
	return fmt.Errorf("oauth2client: refreshing account %q: %w", account, err)
}

// fail applies a transient failure (provider, store, lease, unknown
// connection): backoff, a scheduled retry, the RefreshFailed hook, and a
// still-valid token served. rec is the record the refresh worked from, or
// nil.
func (c *Client) fail(ctx context.Context, e *cacheEntry, gen uint64, account string, rec *Record, unsaved bool, w want, err error, ev *events) (*Token, error) {
	var serr *StoreError
	errors.As(err, &serr)
	now := c.now()
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return nil, fmt.Errorf("oauth2client: account %q (since re-authorized or disconnected): %w", account, err)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Run is stopping: no failure, but keep the account scheduled.
		if ct := e.tok.Load(); ct != nil {
			c.sched.add(account, ct.Connection, now)
		}
		e.mu.Unlock()
		return nil, err
	}
	var delay time.Duration
	if serr != nil && serr.Op == "load" && e.lastErr != nil && now.Before(e.retryAt) {
		// A read while the account is already in backoff is not another
		// attempt: counting it would push the next attempt out with
		// every caller, minutes after the store is back.
		delay = e.retryAt.Sub(now)
	} else {
		e.failures++
		delay = c.backoff(e.failures, err)
		if e.unsaved != nil {
			// The lease is kept while the write waits: retry well within it.
			delay = min(delay, c.lockTTL/3)
		}
		e.retryAt = now.Add(delay)
	}
	e.lastErr = err
	e.refreshing = false
	retryAt, failures := e.retryAt, e.failures
	var tok *Token
	if rec != nil && c.valid(rec, w.rejected, now) {
		e.mu.Unlock()
		tok = c.adopt(e, gen, rec, unsaved, retryAt)
		e.mu.Lock()
		if tok != nil && (tok.AccessToken == w.rejected || (!tok.Expiry.IsZero() && !now.Before(tok.Expiry))) {
			tok = nil
		}
	} else if ct := e.tok.Load(); ct != nil {
		if ct.AccessToken != w.rejected && (ct.Expiry.IsZero() || now.Before(ct.Expiry)) {
			cp := *ct
			cp.renewAt = retryAt
			if !ct.Expiry.IsZero() {
				cp.renewAt = minTime(retryAt, ct.Expiry)
			}
			e.tok.Store(&cp)
			tok = &cp.Token
		}
		c.sched.add(account, ct.Connection, retryAt)
	}
	if rec != nil && tok == nil {
		c.sched.add(account, rec.Connection, retryAt)
	}
	e.mu.Unlock()
	msg := "oauth2client: refresh failed; will retry"
	if serr != nil {
		msg = "oauth2client: token store failed; will retry"
		if serr.Unsaved {
			msg = "oauth2client: refreshed tokens not saved yet (store failing); serving them from memory and retrying the write"
		}
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("account", account), slog.Int("failures", failures),
		slog.Duration("retry_in", delay), slog.String("error", err.Error()))
	if c.hooks.RefreshFailed != nil {
		*ev = append(*ev, func() { c.hooks.RefreshFailed(ctx, account, err) })
	}
	if tok != nil {
		return tok, nil
	}
	return nil, fmt.Errorf("oauth2client: refreshing account %q: %w", account, err)
}

// acquire takes account's lease: the one this Client kept while an
// unsaved grant waits for the store, or a new one. It returns nil when
// the store is not a Locker.
func (c *Client) acquire(ctx context.Context, e *cacheEntry, account string) (Lease, error) {
	l, ok := c.store.(Locker)
	if !ok {
		return nil, nil
	}
	e.mu.Lock()
	kept := e.lease
	e.lease = nil
	e.mu.Unlock()
	if kept != nil {
		err := kept.Extend(ctx, c.lockTTL)
		if err == nil {
			return kept, nil
		}
		if !errors.Is(err, ErrLeaseLost) {
			// Still ours as far as anyone knows, but the store cannot
			// be asked: waiting in Lock would wait for ourselves until
			// the lease lapses. Keep it and retry with backoff.
			e.mu.Lock()
			if e.lease == nil {
				e.lease = kept
			}
			e.mu.Unlock()
			return nil, &StoreError{Op: "lock", Account: account, Err: err}
		}
		// Lapsed, perhaps taken by another instance: Lock waits for it.
		// Releasing it is harmless and frees what the store keeps of it
		// in this process.
		_ = kept.Release(ctx)
	}
	lease, err := l.Lock(ctx, account, c.lockTTL)
	if err != nil {
		return nil, &StoreError{Op: "lock", Account: account, Err: err}
	}
	return lease, nil
}

// release gives the lease up, or keeps it for the next attempt.
func (c *Client) release(ctx context.Context, e *cacheEntry, account string, lease Lease, keep bool) {
	if lease == nil {
		return
	}
	if keep {
		e.mu.Lock()
		e.lease = lease
		e.mu.Unlock()
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.refreshTimeout)
	defer cancel()
	var err error
	for range 3 {
		if err = lease.Release(rctx); err == nil {
			return
		}
	}
	// Keep it: the next visit of the account releases or reuses it, long
	// before it lapses by itself.
	e.mu.Lock()
	e.lease = lease
	e.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: releasing the refresh lease failed; will retry",
		slog.String("account", account), slog.String("error", err.Error()))
}

// dropLease releases a lease kept from an earlier attempt that is no
// longer needed.
func (c *Client) dropLease(ctx context.Context, e *cacheEntry) {
	e.mu.Lock()
	l := e.lease
	if e.unsaved != nil {
		l = nil
	}
	if l != nil {
		e.lease = nil
	}
	e.mu.Unlock()
	if l != nil {
		if err := l.Release(ctx); err != nil {
			e.mu.Lock()
			if e.lease == nil {
				e.lease = l
			}
			e.mu.Unlock()
		}
	}
}

// extend renews the lease every LockTTL/3 while a refresh runs, when the
// refresh may outlive half the lease. stop ends it.
func (c *Client) extend(ctx context.Context, account string, lease Lease) (stop func()) {
	if lease == nil || c.refreshTimeout <= c.lockTTL/2 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			t := c.clock.NewTimer(c.lockTTL / 3)
			select {
			case <-done:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
				if err := lease.Extend(ctx, c.lockTTL); err != nil {
					c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: extending the refresh lease failed",
						slog.String("account", account), slog.String("error", err.Error()))
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func (c *Client) write(ctx context.Context, rec *Record) error {
	if cas, ok := c.store.(CompareAndSwapper); ok {
		return cas.CompareAndSwap(ctx, rec)
	}
	return c.store.Save(ctx, rec)
}

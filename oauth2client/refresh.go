package oauth2client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

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

func (c *Client) evict(account string) {
	c.cache.Delete(account)
	c.sched.remove(account)
}

// Token returns a valid access token for account. A token cached in
// memory and not due for renewal is returned at once, without I/O or
// allocation. Otherwise the Client loads the stored record and, if the
// access token is due, refreshes it: one refresh per account at a time
// (callers that arrive meanwhile wait for it on their own ctx), saved to
// the store before any caller gets the new token, so that a rotated
// refresh token is never lost. If the provider fails transiently while the
// stored access token is still valid, that token is returned, and the
// provider is not asked again before the backoff delay.
//
// Errors wrap [ErrNotFound] for an account never connected,
// [ErrReauthRequired] when the user must sign in again, and
// [ErrTransient] (through a [*ProviderError]) for outages.
func (c *Client) Token(ctx context.Context, account string) (*Token, error) {
	if ct := c.cached(account); ct != nil && c.now().Before(ct.renewAt) {
		return &ct.Token, nil
	}
	return c.obtain(ctx, account, "")
}

// Refresh renews the access token of account now, unless another caller
// already replaced the token that was current when Refresh was called.
// Use it when a mail server rejects a token the Client believed valid
// (revoked, or clock skew), and retry the login once with the result.
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
	return c.obtain(ctx, account, stale)
}

// noToken stands for "no current token" when forcing a refresh.
const noToken Secret = "\x00none"

// obtain gets a token through the per-account single flight. A non-empty
// stale token is never returned: it forces a refresh unless someone else
// already replaced it.
func (c *Client) obtain(ctx context.Context, account string, stale Secret) (*Token, error) {
	for range 2 {
		ch := c.flight.DoChan(account, func() (any, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.refreshTimeout)
			defer cancel()
			return c.renew(rctx, account, stale)
		})
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("oauth2client: waiting for the token of account %q: %w", account, ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			t := r.Val.(*Token)
			if stale != "" && t.AccessToken == stale {
				// We joined a flight that started before our token
				// was rejected; go again.
				continue
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("oauth2client: account %q: the provider returned the rejected token again: %w", account, ErrTransient)
}

func (c *Client) usable(g *Grant, now time.Time) bool {
	return g.AccessToken != "" && (g.Expiry.IsZero() || now.Add(c.margin).Before(g.Expiry))
}

// publish caches rec's token until renewAt and schedules its proactive
// refresh.
func (c *Client) publish(rec *Record, renewAt time.Time) *Token {
	ct := &cachedToken{
		Token: Token{
			AccessToken: rec.AccessToken,
			Expiry:      rec.Expiry,
			Username:    rec.Identity.Username,
			Account:     rec.Account,
			Connection:  rec.Connection,
		},
		renewAt: renewAt,
	}
	e := c.entryFor(rec.Account)
	e.tok.Store(ct)
	e.mu.Lock()
	e.needsReauth = false
	retryAt := e.retryAt
	e.mu.Unlock()
	if !rec.Expiry.IsZero() {
		at := c.proactiveAt(rec.Account, rec.Expiry, rec.Updated)
		if retryAt.After(at) {
			at = retryAt
		}
		c.sched.add(rec.Account, rec.Connection, at)
	}
	return &ct.Token
}

// renewAt is when the hot path stops handing out g's access token.
func (c *Client) renewAt(g *Grant) time.Time {
	if g.Expiry.IsZero() {
		return farFuture
	}
	return g.Expiry.Add(-c.margin)
}

var farFuture = time.Unix(1<<62, 0)

// proactiveAt is when the scheduler renews a token expiring at expiry: at
// a random point in the jitter window before the RefreshAhead mark.
//
// A token whose whole life (from issued, when its record was written, to
// expiry) is no longer than that window — 5-minute tokens against the
// default 10 + 5 minutes — would be due the moment it arrives, and each
// refresh would bring another such token: a refresh storm. It is renewed
// instead in the last quarter of its usable life (the time before
// ExpiryMargin), with jitter over the quarter before that; one that lives
// no longer than ExpiryMargin, halfway through its life.
func (c *Client) proactiveAt(account string, expiry, issued time.Time) time.Time {
	ahead, jitter := c.ahead, c.jitter
	if life := expiry.Sub(issued); !issued.IsZero() && life > 0 && ahead+jitter >= life {
		usable := life - c.margin
		if usable <= 0 {
			return issued.Add(life / 2)
		}
		ahead, jitter = c.margin+usable/4, usable/4
	}
	at := expiry.Add(-ahead)
	if jitter > 0 {
		at = at.Add(-rand.N(jitter)) // #nosec G404 -- scheduling jitter, not a secret
	}
	return at
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

func (c *Client) renew(ctx context.Context, account string, stale Secret) (*Token, error) {
	e := c.entryFor(account)
	now := c.now()
	e.mu.Lock()
	if now.Before(e.retryAt) && e.lastErr != nil {
		// In backoff after a transient failure: a still-valid token is
		// already being served from the cache, so the caller's token is
		// expired. Don't ask the provider before the delay is over.
		err := e.lastErr
		e.mu.Unlock()
		if ct := e.tok.Load(); ct != nil && ct.AccessToken != stale && (ct.Expiry.IsZero() || now.Before(ct.Expiry)) {
			return &ct.Token, nil
		}
		return nil, fmt.Errorf("oauth2client: account %q: waiting %v before the next attempt: %w", account, e.retryAt.Sub(now).Round(time.Second), err)
	}
	e.refreshing = true
	e.mu.Unlock()
	defer e.setRefreshing(false)

	if l, ok := c.store.(Locker); ok {
		unlock, err := l.Lock(ctx, account, c.lockTTL)
		if err != nil {
			return nil, fmt.Errorf("oauth2client: locking account %q for refresh: %w: %w", account, ErrTransient, err)
		}
		defer func() {
			if err := unlock(context.WithoutCancel(ctx)); err != nil {
				c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: releasing refresh lock failed",
					slog.String("account", account), slog.String("error", err.Error()))
			}
		}()
	}
	rec, err := c.store.Load(ctx, account)
	if errors.Is(err, ErrNotFound) {
		c.evict(account)
		return nil, notConnected(account, err)
	}
	if err != nil {
		return nil, fmt.Errorf("oauth2client: loading the tokens of account %q: %w", account, err)
	}
	if rec.Status == StatusNeedsReauth {
		c.markReauth(account)
		return nil, &ReauthError{Account: account, Connection: rec.Connection, Reason: rec.LastError}
	}
	now = c.now()
	// Another process (or an earlier flight) may have refreshed already.
	if c.usable(&rec.Grant, now) && rec.AccessToken != stale && (stale == "" || !rec.Expiry.Add(-c.ahead).Before(now)) {
		return c.publish(rec, c.renewAt(&rec.Grant)), nil
	}
	p, err := c.Connection(rec.Connection)
	if err != nil {
		return nil, fmt.Errorf("oauth2client: account %q: %w", account, err)
	}
	var g *Grant
	if rec.AppOnly {
		ap, ok := p.(AppOnlyProvider)
		if !ok {
			return nil, fmt.Errorf("oauth2client: account %q: connection %q: %w", account, rec.Connection, ErrAppOnlyUnsupported)
		}
		g, err = ap.AppToken(ctx, rec.Identity.Username)
	} else {
		g, err = p.Refresh(ctx, &rec.Grant)
	}
	if err != nil {
		return c.refreshFailed(ctx, e, rec, stale, err)
	}
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
	now = c.now()
	next.Status, next.LastError, next.Updated = StatusConnected, "", now
	if err := c.write(ctx, next); err != nil {
		if errors.Is(err, ErrConflict) {
			// Another instance wrote meanwhile (a store without a
			// Locker). Theirs is stored: use it if it is good.
			if cur, lerr := c.store.Load(ctx, account); lerr == nil && c.usable(&cur.Grant, now) && cur.AccessToken != stale {
				return c.publish(cur, c.renewAt(&cur.Grant)), nil
			}
		}
		return nil, fmt.Errorf("oauth2client: saving the refreshed tokens of account %q: %w", account, err)
	}
	e.mu.Lock()
	e.failures, e.retryAt, e.lastErr, e.lastRefresh = 0, time.Time{}, nil, now
	e.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: token refreshed",
		slog.String("account", account), slog.Any("grant", &next.Grant)) // the grant's secrets print as [redacted]
	tok := c.publish(next, c.renewAt(&next.Grant))
	e.setRefreshing(false) // a hook that reads the status sees the outcome
	if c.hooks.Refreshed != nil {
		c.hooks.Refreshed(ctx, account)
	}
	return tok, nil
}

func (e *cacheEntry) setRefreshing(v bool) {
	e.mu.Lock()
	e.refreshing = v
	e.mu.Unlock()
}

func (c *Client) markReauth(account string) {
	e := c.entryFor(account)
	e.tok.Store(nil)
	e.mu.Lock()
	e.needsReauth = true
	e.mu.Unlock()
	c.sched.remove(account)
}

func (c *Client) refreshFailed(ctx context.Context, e *cacheEntry, rec *Record, stale Secret, err error) (*Token, error) {
	account := rec.Account
	now := c.now()
	if ClassOf(err) == ClassReauth {
		marked := rec.Clone()
		marked.Status, marked.LastError, marked.Updated = StatusNeedsReauth, err.Error(), now
		if werr := c.write(ctx, marked); werr != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: could not mark account as needing re-authorization",
				slog.String("account", account), slog.String("error", werr.Error()))
		}
		c.markReauth(account)
		e.mu.Lock()
		e.lastErr = err
		e.mu.Unlock()
		c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: account needs re-authorization",
			slog.String("account", account), slog.String("error", err.Error()))
		e.setRefreshing(false)
		if c.hooks.ReauthRequired != nil {
			c.hooks.ReauthRequired(ctx, account, err)
		}
		return nil, fmt.Errorf("oauth2client: refreshing account %q: %w", account, err)
	}
	e.mu.Lock()
	e.failures++
	delay := c.backoff(e.failures, err)
	e.retryAt = now.Add(delay)
	e.lastErr = err
	retryAt, failures := e.retryAt, e.failures
	e.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: refresh failed; will retry",
		slog.String("account", account), slog.Int("failures", failures),
		slog.Duration("retry_in", delay), slog.String("error", err.Error()))
	c.sched.add(account, rec.Connection, retryAt)
	var tok *Token
	if rec.AccessToken != "" && rec.AccessToken != stale && (rec.Expiry.IsZero() || now.Before(rec.Expiry)) {
		renew := retryAt
		if !rec.Expiry.IsZero() && renew.After(rec.Expiry) {
			renew = rec.Expiry
		}
		tok = c.publish(rec, renew)
	}
	e.setRefreshing(false)
	if c.hooks.RefreshFailed != nil {
		c.hooks.RefreshFailed(ctx, account, err)
	}
	if tok != nil {
		return tok, nil
	}
	return nil, fmt.Errorf("oauth2client: refreshing account %q: %w", account, err)
}

func (c *Client) write(ctx context.Context, rec *Record) error {
	if cas, ok := c.store.(CompareAndSwapper); ok {
		return cas.CompareAndSwap(ctx, rec)
	}
	return c.store.Save(ctx, rec)
}

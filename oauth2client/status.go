package oauth2client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is an account's condition, for admin pages.
type State string

const (
	// StateConnected: the account has working tokens.
	StateConnected State = "connected"
	// StateRefreshing: a refresh is in flight.
	StateRefreshing State = "refreshing"
	// StateFailing: refreshes are failing transiently (outage,
	// throttling); a still-valid token may be served and retries follow.
	StateFailing State = "failing"
	// StateNeedsReauth: the provider refused to renew the tokens; the
	// user must sign in again.
	StateNeedsReauth State = "needs_reauth"
)

// AccountInfo describes a stored account for status pages. It never
// carries a token.
type AccountInfo struct {
	Account, Connection string
	// Username is the mailbox address.
	Username string
	// State is the account's condition.
	State State
	// Expiry is the expiry of the stored access token.
	Expiry time.Time
	// LastRefresh is when this process last renewed the token (zero if
	// it has not).
	LastRefresh time.Time
	// NextRefresh is when the scheduler will renew it (zero if none is
	// scheduled).
	NextRefresh time.Time
	// Failures counts consecutive transient failures.
	Failures int
	// LastError describes the last failure; it contains no secret.
	LastError string
	// AppOnly is true for app-only accounts.
	AppOnly bool
	// Updated is when the tokens were last written.
	Updated time.Time
	// Unsaved is true when this Client holds tokens the provider issued
	// that the store has not taken yet (it is failing): they are served
	// from memory and the write is retried. LastError says why.
	Unsaved bool
	// Mail describes the connection's mail service (zero if the
	// connection is unknown).
	Mail MailService
}

// Account returns the status of account: what is stored, without tokens,
// and what this Client knows of its refreshes. The error wraps
// [ErrNotFound] for an account never connected.
func (c *Client) Account(ctx context.Context, account string) (*AccountInfo, error) {
	rec, err := c.store.Load(ctx, account)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, notConnected(account, err)
		}
		return nil, fmt.Errorf("oauth2client: account status: %w", &StoreError{Op: "load", Account: account, Err: err})
	}
	info := &AccountInfo{
		Account: rec.Account, Connection: rec.Connection, Username: rec.Identity.Username,
		State: StateConnected, LastError: rec.LastError, Expiry: rec.Expiry, AppOnly: rec.AppOnly, Updated: rec.Updated,
		NextRefresh: c.sched.next(account),
	}
	if e := c.entry(account); e != nil {
		e.mu.Lock()
		info.LastRefresh, info.Failures = e.lastRefresh, e.failures
		if u := e.unsaved; u != nil && u.Version >= rec.Version {
			info.Unsaved = true
			info.Expiry, info.Updated = u.Expiry, u.Updated
		}
		switch {
		case e.refreshing:
			info.State = StateRefreshing
		case e.failures > 0:
			info.State = StateFailing
		}
		if e.lastErr != nil && info.LastError == "" {
			info.LastError = e.lastErr.Error()
		}
		e.mu.Unlock()
	}
	if rec.Status == StatusNeedsReauth {
		info.State = StateNeedsReauth
	}
	if p, err := c.Connection(rec.Connection); err == nil {
		info.Mail = p.Mail()
	}
	return info, nil
}

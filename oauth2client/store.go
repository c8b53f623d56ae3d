package oauth2client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by [TokenStore.Load] when no record is stored for
// the account.
var ErrNotFound = errors.New("oauth2client: no token stored for this account")

// ErrConflict is returned (wrapped) by [CompareAndSwapper.CompareAndSwap]
// when the stored record's version is not the one expected: another writer
// got there first. Nothing was written; reload and decide again.
var ErrConflict = errors.New("oauth2client: token record changed since it was read")

// ErrUnreadable is wrapped by the error of [TokenStore.Load] when a record
// is stored for the account but cannot be decoded: corrupt, truncated,
// tampered with, or sealed with a key that is not configured. Such a
// record is not the same as no record: [TokenStore.Delete] removes it
// (without decoding it), so that the account can be disconnected and
// authorized again.
var ErrUnreadable = errors.New("oauth2client: stored token record cannot be read")

// ErrLeaseLost is wrapped by the error of [Lease.Extend] when the caller
// no longer holds the lease: it lapsed, and another owner may hold it
// now. Whatever the caller was doing under the lease must be re-checked
// against the store (its compare-and-swap will conflict if another owner
// wrote in the meantime).
var ErrLeaseLost = errors.New("oauth2client: refresh lease lost")

// Status is the state of a stored account.
type Status string

const (
	// StatusConnected means the account has working tokens (or tokens that
	// are only failing transiently).
	StatusConnected Status = ""
	// StatusNeedsReauth means the provider refused to renew the tokens
	// (revoked, expired refresh token, consent withdrawn): the user must
	// sign in again. The Client does not call the provider for such an
	// account until it is authorized again.
	StatusNeedsReauth Status = "needs_reauth"
)

// Record is what a [TokenStore] keeps for one account.
type Record struct {
	// Account is the key: the identifier the application chose for the
	// mail account (any non-empty string, unicode allowed).
	Account string `json:"account"`
	// Connection is the identifier of the connection (provider and
	// application credentials) the tokens were issued through.
	Connection string `json:"connection"`
	// Grant holds the tokens, the granted scopes, the identity and the
	// provider's opaque state.
	Grant
	// Version is the version the record was read at. Stores raise it on
	// every write, and never give an account a version it had before,
	// not even after [TokenStore.Delete]; [CompareAndSwapper] uses it to
	// detect lost races. Zero means the record has never been stored.
	Version int64 `json:"version"`
	// Status says whether the account needs the user to sign in again.
	Status Status `json:"status,omitempty"`
	// LastError is a redacted description of the last permanent failure.
	LastError string `json:"last_error,omitempty"`
	// Updated is when the record was last written.
	Updated time.Time `json:"updated"`
}

// Clone returns a deep copy of r, so that a store never shares slices with
// its callers.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Scopes = append([]string(nil), r.Scopes...)
	c.ProviderState = append(SecretBytes(nil), r.ProviderState...)
	if r.Scopes == nil {
		c.Scopes = nil
	}
	if r.ProviderState == nil {
		c.ProviderState = nil
	}
	return &c
}

// TokenStore keeps token records by account.
//
// Implementations must be safe for concurrent use by multiple goroutines.
// Load must return a record the caller may modify (a copy, not the store's
// own), and Save must not keep a reference to the caller's record. Save is
// an unconditional write that stores rec with the next version number and
// sets rec.Version to it; a store that can do better implements
// [CompareAndSwapper], which the [Client] then uses for every write so that
// two writers cannot silently overwrite each other. Delete of a missing
// account is not an error. All methods must honour ctx's deadline. A store
// keeps every field of the record as it was given, Updated included (the
// Client stamps it by its own clock).
//
// Versions never repeat for an account: a record saved after Delete gets
// a version greater than any version the account ever had. A store keeps
// a tombstone of a deleted record (Load and Lister.List never return it),
// or draws versions from a sequence shared by all accounts. So a writer
// holding a version read before a Delete cannot overwrite the record
// created after it.
//
// A record that exists but cannot be decoded makes Load fail with an
// error wrapping [ErrUnreadable]; Delete removes it without decoding it.
//
// The package tokenstore has an in-memory and an on-disk implementation,
// and tokenstore/storetest a conformance suite for your own.
type TokenStore interface {
	// Load returns the record of account, or an error wrapping
	// [ErrNotFound] (nothing stored, or deleted) or [ErrUnreadable] (a
	// record that cannot be decoded).
	Load(ctx context.Context, account string) (*Record, error)
	// Save stores rec under rec.Account and sets rec.Version to the new
	// version.
	Save(ctx context.Context, rec *Record) error
	// Delete removes the record of account, readable or not. The
	// account's next record gets a higher version than any before.
	Delete(ctx context.Context, account string) error
}

// CompareAndSwapper is an optional [TokenStore] extension: a write that
// only succeeds when the stored record still has the version the caller
// read.
type CompareAndSwapper interface {
	// CompareAndSwap stores rec if the stored version equals rec.Version
	// (zero: no live record, that is nothing stored or only a deleted
	// record's tombstone), then sets rec.Version to the new version,
	// which is greater than any version the account had before.
	// Otherwise it writes nothing and returns an error wrapping
	// [ErrConflict].
	CompareAndSwap(ctx context.Context, rec *Record) error
}

// Lease is a refresh lease taken with [Locker.Lock]. It lapses by itself
// ttl after it was taken or last extended, so a crashed holder cannot
// block its account for ever. Each lease has its own owner identity: a
// lease that lapsed and was taken by another caller is not that caller's
// lease, and neither Extend nor Release of the old one touches it.
//
// A Lease is safe for concurrent use by multiple goroutines.
type Lease interface {
	// Extend renews the lease so it lapses ttl from now. It fails with
	// an error wrapping [ErrLeaseLost] when the caller no longer holds
	// the lease (it lapsed, and another owner may hold it); other errors
	// mean the store could not be asked, and the lease may still lapse
	// at its old time.
	Extend(ctx context.Context, ttl time.Duration) error
	// Release gives the lease up. Releasing a lapsed lease is harmless,
	// and Release may be called again after it failed (the Client
	// retries a failed release, so that a store outage does not block
	// the account until the lease lapses); after a successful Release
	// further calls do nothing.
	Release(ctx context.Context) error
}

// Locker is an optional [TokenStore] extension for stores shared by
// several processes: it serialises refreshes of one account across all of
// them, so that a rotated refresh token is redeemed exactly once.
type Locker interface {
	// Lock blocks until the caller holds the refresh lease of account or
	// ctx ends. The lease lapses by itself after ttl unless it is
	// extended, so the holder must finish or call [Lease.Extend] within
	// ttl. A waiter takes a released or lapsed lease within a fraction
	// of a second (stores poll at most every 200ms). ttl must be
	// positive.
	Lock(ctx context.Context, account string, ttl time.Duration) (Lease, error)
}

// Lister is an optional [TokenStore] extension that enumerates the stored
// accounts, used to schedule refreshes and for status pages.
type Lister interface {
	// List returns the account keys of all stored records, in no
	// particular order.
	List(ctx context.Context) ([]string, error)
}

// ErrStoreUnavailable is matched by a [*StoreError]: the [TokenStore]
// failed (unreachable, read-only, full, restarting). It is transient:
// StoreError matches [ErrTransient] too. The Client retries with backoff
// and serves a still-valid token meanwhile.
var ErrStoreUnavailable = errors.New("oauth2client: token store unavailable")

// ErrIdentityChanged is wrapped by the error of a refresh whose new grant
// names another user (Identity.Subject) or tenant (Identity.Tenant) than
// the stored grant, both being non-empty. The new grant is refused, the
// stored record kept and marked [StatusNeedsReauth]: the user must
// authorize the account again. The error is a [*ReauthError], so it also
// matches [ErrReauthRequired].
var ErrIdentityChanged = errors.New("oauth2client: the provider returned tokens for another identity")

// StoreError is a failure of the [TokenStore] as the [Client] met it. It
// matches [ErrStoreUnavailable] and [ErrTransient] and wraps the store's
// own error.
type StoreError struct {
	// Op is what failed: "load", "save", "delete" or "lock".
	Op string
	// Account is the account concerned.
	Account string
	// Unsaved is set when the provider issued new tokens that could not
	// be saved: the Client serves them from memory and keeps retrying
	// the write (under the account's lease).
	Unsaved bool
	// Err is the store's error.
	Err error
}

// Error says what failed and what happens next.
func (e *StoreError) Error() string {
	what := "the stored tokens are unchanged"
	if e.Unsaved {
		what = "the new tokens are kept in memory and the write is retried"
	}
	return fmt.Sprintf("oauth2client: token store: %s of account %q failed (%s; the Client retries with backoff: check the store): %v",
		e.Op, e.Account, what, e.Err)
}

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// Is matches [ErrStoreUnavailable] and [ErrTransient].
func (e *StoreError) Is(target error) bool {
	return target == ErrStoreUnavailable || target == ErrTransient
}

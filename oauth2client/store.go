package oauth2client

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by [TokenStore.Load] when no record is stored for
// the account.
var ErrNotFound = errors.New("oauth2client: no token stored for this account")

// ErrConflict is returned (wrapped) by [CompareAndSwapper.CompareAndSwap]
// when the stored record's version is not the one expected: another writer
// got there first. Nothing was written; reload and decide again.
var ErrConflict = errors.New("oauth2client: token record changed since it was read")

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
	// Version is the version the record was read at. Stores increment it
	// on every write; [CompareAndSwapper] uses it to detect lost races.
	// Zero means the record has never been stored.
	Version int64 `json:"version"`
	// Status says whether the account needs the user to sign in again.
	Status Status `json:"status,omitempty"`
	// LastError is a redacted description of the last permanent failure.
	LastError string `json:"last_error,omitempty"`
	// Updated is when the record was last written, by the Client's clock
	// (Config.Clock): the Client sets it before every Save and
	// CompareAndSwap. A store must keep it exactly as given, as every
	// other field, and return it unchanged from Load: it must not stamp
	// its own time (a test's injected clock and status pages,
	// [AccountInfo].Updated, read it). Keep a store-side write time in a
	// column of your own if you need one.
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
// account is not an error. All methods must honour ctx's deadline.
//
// The package tokenstore has an in-memory and an on-disk implementation,
// and tokenstore/storetest a conformance suite for your own.
type TokenStore interface {
	// Load returns the record of account, or an error wrapping
	// [ErrNotFound].
	Load(ctx context.Context, account string) (*Record, error)
	// Save stores rec under rec.Account and sets rec.Version to the new
	// version.
	Save(ctx context.Context, rec *Record) error
	// Delete removes the record of account.
	Delete(ctx context.Context, account string) error
}

// CompareAndSwapper is an optional [TokenStore] extension: a write that
// only succeeds when the stored record still has the version the caller
// read.
type CompareAndSwapper interface {
	// CompareAndSwap stores rec if the stored version equals rec.Version
	// (zero: no record stored yet), then sets rec.Version to the new
	// version. Otherwise it writes nothing and returns an error wrapping
	// [ErrConflict].
	CompareAndSwap(ctx context.Context, rec *Record) error
}

// Locker is an optional [TokenStore] extension for stores shared by
// several processes: it serialises refreshes of one account across all of
// them, so that a rotated refresh token is redeemed exactly once.
type Locker interface {
	// Lock blocks until the caller holds the refresh lock of account or
	// ctx ends. The lock lapses by itself after ttl, so a crashed holder
	// cannot block the account for ever; the holder must finish within
	// ttl. The returned unlock function releases it; calling it after the
	// lock lapsed is harmless.
	Lock(ctx context.Context, account string, ttl time.Duration) (unlock func(context.Context) error, err error)
}

// Lister is an optional [TokenStore] extension that enumerates the stored
// accounts, used to schedule refreshes and for admin pages. It lists every
// account of every user: to show one user's accounts, keep a user →
// account table in the application (written when the callback succeeds,
// cleared on Disconnect) rather than scanning List on each page view.
type Lister interface {
	// List returns the account keys of all stored records, in no
	// particular order.
	List(ctx context.Context) ([]string, error)
}

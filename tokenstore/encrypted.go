package tokenstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// KeySize is the length in bytes of a [Key]'s secret: AES-256.
const KeySize = 32

// maxKeyID bounds a key ID's length; it is stored in every envelope.
const maxKeyID = 64

// Key is an AES-256 key for [NewEncrypted], under an ID stored with every
// record it seals, so that the right key is picked when several are
// configured (key rotation). Keep the secret out of source code and logs:
// load it with [LoadOrCreateKeyFile] or from a secrets manager.
type Key struct {
	// ID names the key: 1 to 64 bytes of letters, digits, '-', '_' or
	// '.'. It is stored in the clear with each record. Never reuse an ID
	// for a different secret.
	ID string
	// Secret is the key material: [KeySize] random bytes.
	Secret []byte
}

// EncryptionConfig configures [NewEncrypted].
type EncryptionConfig struct {
	// Keys are the keys records may be sealed with. Keys[0] is the
	// primary: every write is sealed with it. Every key opens the records
	// sealed with it, so to rotate, put a new key first and keep the old
	// ones until every record has been written again (each refresh writes
	// its account's record). Required; IDs must be distinct.
	Keys []Key
	// InsecureAcceptPlaintext lets Load return records that were stored
	// before encryption was turned on (records without an envelope), so
	// that an existing store can be migrated: each such record is
	// encrypted when next written. Anyone who can write to the inner
	// store can then plant tokens of their choosing; turn it off once
	// every record has been written again. Zero means such records fail
	// with [ErrNotEncrypted].
	InsecureAcceptPlaintext bool
}

// Errors wrapped by [*DecryptError], for [errors.Is].
var (
	// ErrDecrypt matches every [*DecryptError].
	ErrDecrypt = errors.New("tokenstore: cannot decrypt the stored record")
	// ErrUnknownKey: the record was sealed with a key ID that is not
	// configured.
	ErrUnknownKey = errors.New("the record was sealed with a key that is not configured")
	// ErrWrongKey: a key with the record's key ID is configured, but it is
	// not the key that sealed the record.
	ErrWrongKey = errors.New("the configured key with this ID is not the key that sealed the record")
	// ErrTampered: the key is right but the ciphertext does not
	// authenticate for this account: it was copied from another account's
	// row or modified.
	ErrTampered = errors.New("the ciphertext does not authenticate for this account")
	// ErrMalformed: the stored envelope cannot be parsed.
	ErrMalformed = errors.New("the encrypted envelope is malformed")
	// ErrNotEncrypted: the record has no envelope (it was stored in the
	// clear) and [EncryptionConfig].InsecureAcceptPlaintext is off.
	ErrNotEncrypted = errors.New("the record is not encrypted")
)

// DecryptError reports a stored record that the encrypting store cannot
// open. Nothing was written. It never contains key material, tokens or
// ciphertext. It matches [ErrDecrypt], [oauth2client.ErrUnreadable] and
// its Err with [errors.Is].
type DecryptError struct {
	// Account is the record's key.
	Account string
	// KeyID is the ID of the key the record names (empty if unknown).
	KeyID string
	// Err is one of [ErrUnknownKey], [ErrWrongKey], [ErrTampered],
	// [ErrMalformed] or [ErrNotEncrypted].
	Err error
}

// Error says what failed and what to do.
func (e *DecryptError) Error() string {
	var todo string
	switch e.Err {
	case ErrUnknownKey:
		todo = fmt.Sprintf("add key %q to EncryptionConfig.Keys (keep old keys until every record was rewritten)", e.KeyID)
	case ErrWrongKey:
		todo = fmt.Sprintf("configure the secret that was used under key ID %q", e.KeyID)
	case ErrTampered:
		todo = "the row was copied from another account or altered: delete it and have the account authorized again"
	case ErrNotEncrypted:
		todo = "set EncryptionConfig.InsecureAcceptPlaintext while migrating, or delete the record"
	default:
		todo = "delete the record and have the account authorized again"
	}
	id := ""
	if e.KeyID != "" {
		id = fmt.Sprintf(" (key %q)", e.KeyID)
	}
	return fmt.Sprintf("tokenstore: decrypting account %q%s: %v: %s", e.Account, id, e.Err, todo)
}

// Unwrap returns [ErrDecrypt], [oauth2client.ErrUnreadable] and Err.
func (e *DecryptError) Unwrap() []error {
	return []error{ErrDecrypt, oauth2client.ErrUnreadable, e.Err}
}

// Encrypted seals the secrets of every record with AES-256-GCM before
// they reach an inner [oauth2client.TokenStore]; [NewEncrypted] builds
// it. See there for what is sealed. The zero value is not usable. It is
// safe for concurrent use by multiple goroutines when the inner store is.
type Encrypted struct {
	inner     oauth2client.TokenStore
	primary   *sealKey
	keys      map[string]*sealKey
	plaintext bool
}

type sealKey struct {
	id    string
	check [checkSize]byte
	aead  cipher.AEAD
}

// NewEncrypted wraps inner so that the access token, the refresh token
// and the provider state (which may hold further tokens) of every record
// are stored only encrypted, with AES-256-GCM under cfg.Keys[0]. The
// sealed envelope goes in the inner record's ProviderState, and the token
// fields are left empty. The other fields (account, connection, expiry,
// scopes, identity, status, version, update time) stay in the clear, so
// the inner store's versions, locks and listing work as before, and an
// operator can see which accounts need attention without the key.
//
// The account key is authenticated with the ciphertext: an envelope
// copied to another account's record fails to open with [ErrTampered].
// A record that cannot be opened gives a [*DecryptError] and is left as
// it is. Writes always seal with the primary key, so records move to it
// as they are written again; [Reencrypt] moves all of them at once, so
// that an old key can be retired.
//
// The returned store implements exactly those of
// [oauth2client.CompareAndSwapper], [oauth2client.Locker] and
// [oauth2client.Lister] that inner implements (the [oauth2client.Client]
// finds them by type assertion), which is why NewEncrypted returns the
// interface rather than *[Encrypted]. Its dynamic type embeds
// *[Encrypted].
//
// Each write draws a random 96-bit nonce: rotate the primary key before
// it has sealed 2³² records (a year of hourly refreshes of 400,000
// accounts).
func NewEncrypted(inner oauth2client.TokenStore, cfg EncryptionConfig) (oauth2client.TokenStore, error) {
	e, err := newEncrypted(inner, cfg)
	if err != nil {
		return nil, err
	}
	cas, _ := inner.(oauth2client.CompareAndSwapper)
	lock, _ := inner.(oauth2client.Locker)
	list, _ := inner.(oauth2client.Lister)
	c, l, s := encCAS{e, cas}, encLock{lock}, encList{list}
	switch {
	case cas != nil && lock != nil && list != nil:
		return struct {
			*Encrypted
			encCAS
			encLock
			encList
		}{e, c, l, s}, nil
	case cas != nil && lock != nil:
		return struct {
			*Encrypted
			encCAS
			encLock
		}{e, c, l}, nil
	case cas != nil && list != nil:
		return struct {
			*Encrypted
			encCAS
			encList
		}{e, c, s}, nil
	case lock != nil && list != nil:
		return struct {
			*Encrypted
			encLock
			encList
		}{e, l, s}, nil
	case cas != nil:
		return struct {
			*Encrypted
			encCAS
		}{e, c}, nil
	case lock != nil:
		return struct {
			*Encrypted
			encLock
		}{e, l}, nil
	case list != nil:
		return struct {
			*Encrypted
			encList
		}{e, s}, nil
	}
	return e, nil
}

func newEncrypted(inner oauth2client.TokenStore, cfg EncryptionConfig) (*Encrypted, error) {
	if inner == nil {
		return nil, errors.New("tokenstore: NewEncrypted: the inner store is nil")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("tokenstore: EncryptionConfig.Keys is empty: give at least one key (see LoadOrCreateKeyFile)")
	}
	e := &Encrypted{inner: inner, keys: make(map[string]*sealKey, len(cfg.Keys)), plaintext: cfg.InsecureAcceptPlaintext}
	for i, k := range cfg.Keys {
		sk, err := newSealKey(k)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: EncryptionConfig.Keys[%d]: %w", i, err)
		}
		if _, dup := e.keys[k.ID]; dup {
			return nil, fmt.Errorf("tokenstore: EncryptionConfig.Keys[%d]: key ID %q is used twice: give every key its own ID", i, k.ID)
		}
		e.keys[k.ID] = sk
		if i == 0 {
			e.primary = sk
		}
	}
	return e, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyID {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func newSealKey(k Key) (*sealKey, error) {
	if !validKeyID(k.ID) {
		return nil, fmt.Errorf("key ID %q is invalid: use 1 to %d letters, digits, '-', '_' or '.'", k.ID, maxKeyID)
	}
	if len(k.Secret) != KeySize {
		return nil, fmt.Errorf("key %q has %d bytes: AES-256 needs exactly %d random bytes", k.ID, len(k.Secret), KeySize)
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	sk := &sealKey{id: k.ID, aead: aead}
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("oauth2mail tokenstore key check v1"))
	copy(sk.check[:], m.Sum(nil))
	return sk, nil
}

// The envelope, stored in the inner record's ProviderState:
//
//	magic "O2ME" | version 1 | key ID length n (1 byte) | key ID (n bytes)
//	| key check (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The key check is HMAC-SHA256(secret, "oauth2mail tokenstore key check
// v1") cut to 8 bytes: it tells a wrong key from a moved or altered
// ciphertext. The associated data is adPrefix, the header (magic to key
// check) and the account key.
const (
	envelopeMagic   = "O2ME"
	envelopeVersion = 1
	checkSize       = 8
	nonceSize       = 12
	tagSize         = 16
	adPrefix        = "oauth2mail tokenstore record\x00"
)

// sealed is the plaintext inside an envelope.
type sealed struct {
	AccessToken   string `json:"a"`
	RefreshToken  string `json:"r"`
	ProviderState []byte `json:"p"` // null for nil, "" for empty
}

func header(k *sealKey) []byte {
	h := make([]byte, 0, len(envelopeMagic)+2+len(k.id)+checkSize)
	h = append(h, envelopeMagic...)
	h = append(h, envelopeVersion, byte(len(k.id))) // #nosec G115 -- key IDs are at most maxKeyID (64) bytes, checked when keys are loaded
	h = append(h, k.id...)
	return append(h, k.check[:]...)
}

func associatedData(hdr []byte, account string) []byte {
	ad := make([]byte, 0, len(adPrefix)+len(hdr)+len(account))
	ad = append(ad, adPrefix...)
	ad = append(ad, hdr...)
	return append(ad, account...)
}

// seal returns a copy of rec whose secrets are replaced by an envelope.
func (e *Encrypted) seal(rec *oauth2client.Record) (*oauth2client.Record, error) {
	pt, err := json.Marshal(sealed{string(rec.AccessToken), string(rec.RefreshToken), rec.ProviderState}) // #nosec G117 -- the plaintext that is sealed with AES-256-GCM right below, then cleared
	if err != nil {
		return nil, fmt.Errorf("tokenstore: encrypting account %q: %w", rec.Account, err)
	}
	hdr := header(e.primary)
	env := e.primary.aead.Seal(hdr, nil, pt, associatedData(hdr, rec.Account)) // #nosec G407 -- the AEAD is cipher.NewGCMWithRandomNonce: nil means a fresh random nonce per seal
	clear(pt)
	out := rec.Clone()
	out.AccessToken, out.RefreshToken, out.ProviderState = "", "", env
	return out, nil
}

// isEnvelope reports whether b starts like an envelope.
func isEnvelope(b []byte) bool { return bytes.HasPrefix(b, []byte(envelopeMagic)) }

// openEnvelope decrypts env, sealed for account. Every failure is a
// *DecryptError.
func (e *Encrypted) openEnvelope(account string, env []byte) (*sealed, error) {
	fail := func(id string, err error) (*sealed, error) {
		return nil, &DecryptError{Account: account, KeyID: id, Err: err}
	}
	if !isEnvelope(env) {
		return fail("", ErrNotEncrypted)
	}
	rest := env[len(envelopeMagic):]
	if len(rest) < 2 || rest[0] != envelopeVersion {
		return fail("", ErrMalformed)
	}
	n := int(rest[1])
	rest = rest[2:]
	if n == 0 || n > maxKeyID || len(rest) < n+checkSize+nonceSize+tagSize {
		return fail("", ErrMalformed)
	}
	id := string(rest[:n])
	if !validKeyID(id) {
		return fail("", ErrMalformed)
	}
	check := rest[n : n+checkSize]
	k, ok := e.keys[id]
	if !ok {
		return fail(id, ErrUnknownKey)
	}
	if !hmac.Equal(check, k.check[:]) {
		return fail(id, ErrWrongKey)
	}
	hdrLen := len(envelopeMagic) + 2 + n + checkSize
	pt, err := k.aead.Open(nil, nil, env[hdrLen:], associatedData(env[:hdrLen], account))
	if err != nil {
		return fail(id, ErrTampered)
	}
	var s sealed
	err = json.Unmarshal(pt, &s)
	clear(pt)
	if err != nil {
		// Authentic but unreadable: written by a newer or broken writer.
		return fail(id, ErrMalformed)
	}
	return &s, nil
}

// open returns the caller's view of a record read from the inner store.
func (e *Encrypted) open(rec *oauth2client.Record) (*oauth2client.Record, error) {
	if !isEnvelope(rec.ProviderState) {
		if e.plaintext {
			return rec, nil
		}
		return nil, &DecryptError{Account: rec.Account, Err: ErrNotEncrypted}
	}
	if rec.AccessToken != "" || rec.RefreshToken != "" {
		// An envelope never comes with tokens in the clear.
		return nil, &DecryptError{Account: rec.Account, Err: ErrMalformed}
	}
	s, err := e.openEnvelope(rec.Account, rec.ProviderState)
	if err != nil {
		return nil, err
	}
	rec.AccessToken = oauth2client.Secret(s.AccessToken)
	rec.RefreshToken = oauth2client.Secret(s.RefreshToken)
	rec.ProviderState = s.ProviderState
	return rec, nil
}

// Unwrap returns the inner store.
func (e *Encrypted) Unwrap() oauth2client.TokenStore { return e.inner }

// Load implements [oauth2client.TokenStore]: it loads the inner record
// and opens its envelope. A record that cannot be opened gives a
// [*DecryptError]; the stored record is not touched.
func (e *Encrypted) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	rec, err := e.inner.Load(ctx, account)
	if err != nil {
		return nil, err
	}
	if rec.Account != account {
		return nil, &CorruptError{Path: fmt.Sprintf("the record of account %q", account), Err: errors.New("the inner store returned another account's record")}
	}
	return e.open(rec)
}

// Save implements [oauth2client.TokenStore]: it seals rec with the
// primary key and saves it unconditionally in the inner store.
func (e *Encrypted) Save(ctx context.Context, rec *oauth2client.Record) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	s, err := e.seal(rec)
	if err != nil {
		return err
	}
	if err := e.inner.Save(ctx, s); err != nil {
		return err
	}
	rec.Version = s.Version
	return nil
}

// Delete implements [oauth2client.TokenStore].
func (e *Encrypted) Delete(ctx context.Context, account string) error {
	return e.inner.Delete(ctx, account)
}

// encCAS, encLock and encList add the inner store's optional methods to
// the value NewEncrypted returns.
type encCAS struct {
	e     *Encrypted
	inner oauth2client.CompareAndSwapper
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper]: it seals
// rec with the primary key and swaps it in the inner store.
func (c encCAS) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	s, err := c.e.seal(rec)
	if err != nil {
		return err
	}
	if err := c.inner.CompareAndSwap(ctx, s); err != nil {
		return err
	}
	rec.Version = s.Version
	return nil
}

type encLock struct{ inner oauth2client.Locker }

// Lock implements [oauth2client.Locker] with the inner store's lock.
func (l encLock) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	return l.inner.Lock(ctx, account, ttl)
}

type encList struct{ inner oauth2client.Lister }

// List implements [oauth2client.Lister] with the inner store's list.
func (l encList) List(ctx context.Context) ([]string, error) { return l.inner.List(ctx) }

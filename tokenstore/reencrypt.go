package tokenstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ReencryptResult counts what [Reencrypt] did.
type ReencryptResult struct {
	// Rewritten records were sealed with a key other than the primary,
	// or in the format of an earlier release (envelope version 1, which
	// did not authenticate the clear fields), or (with
	// InsecureAcceptPlaintext) stored in the clear, and are now sealed in
	// the current format with the primary key.
	Rewritten int
	// Current records were already sealed with the primary key.
	Current int
	// Skipped records changed or disappeared while Reencrypt ran; whoever
	// wrote them wrote through a store of their own, so run Reencrypt
	// again if other processes still use an older key list.
	Skipped int
	// Failed records could not be opened or written; the error Reencrypt
	// returns names each of them. They are left as they were.
	Failed int
}

// encryptedStore is what every store NewEncrypted returns implements.
type encryptedStore interface{ encrypted() *Encrypted }

func (e *Encrypted) encrypted() *Encrypted { return e }

// Reencrypt seals every record of store, which must come from
// [NewEncrypted], with the primary key, so that older keys can be
// removed from the configuration (and from the key file) afterwards.
// Records are rewritten one at a time with compare-and-swap: a record
// that a refresh rewrites meanwhile is left to that refresh (it counts as
// Skipped), so Reencrypt never overwrites a newer token, and the
// application may keep running. The inner store must implement
// [oauth2client.Lister] and [oauth2client.CompareAndSwapper], as the
// stores of this package do.
//
// A record that cannot be opened (a key missing from the configuration,
// tampering) is counted as Failed and left untouched; the returned error
// joins one [*DecryptError] (or store error) per such account, so remove
// no key while Reencrypt reports failures.
func Reencrypt(ctx context.Context, store oauth2client.TokenStore) (ReencryptResult, error) {
	var res ReencryptResult
	es, ok := store.(encryptedStore)
	if !ok {
		return res, fmt.Errorf("tokenstore: Reencrypt: the store is a %T, not one returned by NewEncrypted", store)
	}
	e := es.encrypted()
	list, ok := e.inner.(oauth2client.Lister)
	if !ok {
		return res, fmt.Errorf("tokenstore: Reencrypt: the inner store (%T) cannot list its accounts (oauth2client.Lister): rewrite the records by loading and saving each account instead", e.inner)
	}
	cas, ok := e.inner.(oauth2client.CompareAndSwapper)
	if !ok {
		return res, fmt.Errorf("tokenstore: Reencrypt: the inner store (%T) has no compare-and-swap (oauth2client.CompareAndSwapper), so a rewrite could overwrite a concurrent refresh: stop the application and load and save each account instead", e.inner)
	}
	accounts, err := list.List(ctx)
	if err != nil {
		return res, fmt.Errorf("tokenstore: Reencrypt: listing accounts: %w", err)
	}
	var failures []error
	for _, account := range accounts {
		if err := ctx.Err(); err != nil {
			return res, errors.Join(append(failures, fmt.Errorf("tokenstore: Reencrypt stopped after %d of %d accounts: %w", res.Rewritten+res.Current+res.Skipped+res.Failed, len(accounts), err))...)
		}
		switch err := e.reencrypt(ctx, cas, account); {
		case err == nil:
			res.Rewritten++
		case errors.Is(err, errCurrent):
			res.Current++
		case errors.Is(err, oauth2client.ErrNotFound), errors.Is(err, oauth2client.ErrConflict):
			res.Skipped++
		default:
			res.Failed++
			failures = append(failures, err)
		}
	}
	return res, errors.Join(failures...)
}

// errCurrent says a record is already sealed with the primary key.
var errCurrent = errors.New("sealed with the primary key")

// reencrypt rewrites one account's record with the primary key.
func (e *Encrypted) reencrypt(ctx context.Context, cas oauth2client.CompareAndSwapper, account string) error {
	raw, err := e.inner.Load(ctx, account)
	if err != nil {
		return err
	}
	if id, version, ok := envelopeHeader(raw.ProviderState); ok && id == e.primary.id && version == envelopeVersion {
		return errCurrent
	}
	rec, err := e.open(raw)
	if err != nil {
		return err
	}
	// rec carries the version just read: the swap fails if anyone wrote
	// since, and then their record (sealed by their own store) stands.
	sealed, err := e.seal(rec)
	if err != nil {
		return err
	}
	return cas.CompareAndSwap(ctx, sealed)
}

// envelopeHeader returns the ID of the key env names in its header, and
// the envelope's version.
func envelopeHeader(env []byte) (string, byte, bool) {
	if !isEnvelope(env) {
		return "", 0, false
	}
	rest := env[len(envelopeMagic):]
	if len(rest) < 2 || (rest[0] != envelopeVersion && rest[0] != legacyVersion) || len(rest) < 2+int(rest[1]) {
		return "", 0, false
	}
	return string(rest[2 : 2+int(rest[1])]), rest[0], true
}

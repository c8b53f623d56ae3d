package tokenstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func reencryptRecord(account string) *oauth2client.Record {
	return &oauth2client.Record{Account: account, Connection: "corp", Grant: oauth2client.Grant{
		AccessToken:   oauth2client.Secret("at-" + account),
		RefreshToken:  oauth2client.Secret("rt-" + account),
		ProviderState: oauth2client.SecretBytes("state-" + account),
		Expiry:        time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC),
	}}
}

func TestReencrypt(t *testing.T) {
	oldKey, newKey := testKey("2025", 1), testKey("2026", 2)
	for _, in := range everyStore {
		t.Run(in.name, func(t *testing.T) {
			ctx := context.Background()
			inner := in.open(t)
			before := encrypt(t, inner, oldKey)
			for _, a := range []string{"a", "b", "c"} {
				require.NoError(t, before.Save(ctx, reencryptRecord(a)))
			}
			rotated := encrypt(t, inner, newKey, oldKey)
			require.NoError(t, rotated.Save(ctx, reencryptRecord("d")))

			res, err := tokenstore.Reencrypt(ctx, rotated)
			require.NoError(t, err)
			assert.Equal(t, tokenstore.ReencryptResult{Rewritten: 3, Current: 1}, res)

			onlyNew := encrypt(t, inner, newKey)
			for _, a := range []string{"a", "b", "c", "d"} {
				got, err := onlyNew.Load(ctx, a)
				require.NoError(t, err, a)
				want := reencryptRecord(a)
				assert.Equal(t, want.AccessToken, got.AccessToken)
				assert.Equal(t, want.RefreshToken, got.RefreshToken)
				assert.Equal(t, want.ProviderState, got.ProviderState)
				assert.Equal(t, want.Expiry, got.Expiry.UTC())
			}

			again, err := tokenstore.Reencrypt(ctx, rotated)
			require.NoError(t, err)
			assert.Equal(t, tokenstore.ReencryptResult{Current: 4}, again, "a second run has nothing to do")
		})
	}
}

func TestReencryptLeavesUnreadableRecords(t *testing.T) {
	ctx := context.Background()
	inner := tokenstore.NewMemory()
	lost, current := testKey("lost", 3), testKey("2026", 2)
	require.NoError(t, encrypt(t, inner, lost).Save(ctx, reencryptRecord("orphan")))
	require.NoError(t, encrypt(t, inner, current).Save(ctx, reencryptRecord("fine")))
	raw, err := inner.Load(ctx, "orphan")
	require.NoError(t, err)

	res, err := tokenstore.Reencrypt(ctx, encrypt(t, inner, current))
	assert.Equal(t, tokenstore.ReencryptResult{Current: 1, Failed: 1}, res)
	var de *tokenstore.DecryptError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "orphan", de.Account)
	assert.ErrorIs(t, err, tokenstore.ErrUnknownKey)

	after, err := inner.Load(ctx, "orphan")
	require.NoError(t, err)
	assert.Equal(t, raw, after, "the unreadable record is left exactly as it was")
}

// racing is a store in which a refresh (through another process's store,
// still on the old key) lands between Reencrypt's load and its swap.
type racing struct {
	*tokenstore.Memory
	refresh func()
}

func (r *racing) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	if r.refresh != nil {
		r.refresh()
		r.refresh = nil
	}
	return r.Memory.CompareAndSwap(ctx, rec)
}

func TestReencryptNeverOverwritesAConcurrentRefresh(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := testKey("2025", 1), testKey("2026", 2)
	inner := &racing{Memory: tokenstore.NewMemory()}
	other := encrypt(t, inner.Memory, oldKey)
	require.NoError(t, other.Save(ctx, reencryptRecord("alice")))
	inner.refresh = func() {
		rec, err := other.Load(ctx, "alice")
		require.NoError(t, err)
		rec.AccessToken, rec.RefreshToken = "at-rotated", "rt-rotated"
		require.NoError(t, other.Save(ctx, rec))
	}

	res, err := tokenstore.Reencrypt(ctx, encrypt(t, inner, newKey, oldKey))
	require.NoError(t, err)
	assert.Equal(t, tokenstore.ReencryptResult{Skipped: 1}, res)
	got, err := other.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-rotated"), got.RefreshToken, "the rotated refresh token survives")
}

// listOnly lists but cannot compare-and-swap.
type listOnly struct {
	oauth2client.TokenStore
	oauth2client.Lister
}

func TestReencryptNeedsListAndCAS(t *testing.T) {
	ctx := context.Background()
	k := testKey("k", 1)
	m := tokenstore.NewMemory()

	_, err := tokenstore.Reencrypt(ctx, m)
	assert.ErrorContains(t, err, "not one returned by NewEncrypted")
	_, err = tokenstore.Reencrypt(ctx, encrypt(t, bare{m}, k))
	assert.ErrorContains(t, err, "cannot list its accounts")
	_, err = tokenstore.Reencrypt(ctx, encrypt(t, listOnly{m, m}, k))
	assert.ErrorContains(t, err, "compare-and-swap")
}

func TestReencryptStopsWithContext(t *testing.T) {
	inner := tokenstore.NewMemory()
	old := encrypt(t, inner, testKey("2025", 1))
	for i := range 3 {
		require.NoError(t, old.Save(context.Background(), reencryptRecord(fmt.Sprint(i))))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := tokenstore.Reencrypt(ctx, encrypt(t, inner, testKey("2026", 2), testKey("2025", 1)))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, res.Rewritten)
}

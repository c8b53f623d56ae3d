package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// Tamper checks that [tokenstore.NewEncrypted] over the store newInner
// returns authenticates every field of a record: it seals a record,
// edits one field of what the inner store holds (as anyone with write
// access to the database could), and expects Load to fail with
// [tokenstore.ErrTampered], field by field. The version is the inner
// store's own counter and is not checked. newInner must return a fresh,
// empty store for each call.
func Tamper(t *testing.T, newInner func(t *testing.T) oauth2client.TokenStore) {
	key, err := tokenstore.NewKey("tamper-1")
	require.NoError(t, err)
	edits := []struct {
		field string
		edit  func(r *oauth2client.Record)
	}{
		{"connection", func(r *oauth2client.Record) { r.Connection = "other-connection" }},
		{"expiry", func(r *oauth2client.Record) { r.Expiry = r.Expiry.Add(365 * 24 * time.Hour) }},
		{"scopes", func(r *oauth2client.Record) { r.Scopes = append(r.Scopes, "https://evil.example/all") }},
		{"scopes", func(r *oauth2client.Record) { r.Scopes = nil }},
		{"identity.username", func(r *oauth2client.Record) { r.Identity.Username = "ceo@example.com" }},
		{"identity.subject", func(r *oauth2client.Record) { r.Identity.Subject = "someone-else" }},
		{"identity.tenant", func(r *oauth2client.Record) { r.Identity.Tenant = "other-tenant" }},
		{"app_only", func(r *oauth2client.Record) { r.AppOnly = !r.AppOnly }},
		{"status", func(r *oauth2client.Record) { r.Status = oauth2client.StatusConnected }},
		{"last_error", func(r *oauth2client.Record) { r.LastError = "<script>planted</script>" }},
		{"updated", func(r *oauth2client.Record) { r.Updated = r.Updated.Add(-time.Hour) }},
		{"", func(r *oauth2client.Record) { r.AccessToken = "planted-access-token" }},
		{"", func(r *oauth2client.Record) { r.RefreshToken = "planted-refresh-token" }},
		{"", func(r *oauth2client.Record) { r.ProviderState[len(r.ProviderState)-1] ^= 1 }},
	}
	for _, tc := range edits {
		name := tc.field
		if name == "" {
			name = "sealed part"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			inner := newInner(t)
			s, err := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{key}})
			require.NoError(t, err)
			rec := Record("alice")
			rec.Status, rec.LastError = oauth2client.StatusNeedsReauth, "azure: refresh: invalid_grant"
			require.NoError(t, s.Save(ctx, rec))
			_, err = s.Load(ctx, "alice")
			require.NoError(t, err, "the untouched record opens")

			raw, err := inner.Load(ctx, "alice")
			require.NoError(t, err)
			assert.Empty(t, raw.LastError, "the last error is sealed, not in the clear")
			tc.edit(raw)
			require.NoError(t, inner.Save(ctx, raw))

			_, err = s.Load(ctx, "alice")
			require.Error(t, err)
			var de *tokenstore.DecryptError
			require.ErrorAs(t, err, &de)
			if tc.field == "" {
				// A planted token next to the envelope is malformed; a
				// flipped ciphertext bit is tampering.
				assert.True(t, errors.Is(err, tokenstore.ErrTampered) || errors.Is(err, tokenstore.ErrMalformed), "got %v", err)
				return
			}
			assert.ErrorIs(t, err, tokenstore.ErrTampered)
			assert.ErrorIs(t, err, oauth2client.ErrUnreadable)
			assert.Equal(t, tc.field, de.Field)
			assert.NotContains(t, err.Error(), "planted")
		})
	}
	t.Run("account", func(t *testing.T) {
		ctx := context.Background()
		inner := newInner(t)
		s, err := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{key}})
		require.NoError(t, err)
		require.NoError(t, s.Save(ctx, Record("helpdesk")))
		raw, err := inner.Load(ctx, "helpdesk")
		require.NoError(t, err)
		raw.Account, raw.Version = "ceo", 0
		require.NoError(t, inner.Save(ctx, raw))
		_, err = s.Load(ctx, "ceo")
		assert.ErrorIs(t, err, tokenstore.ErrTampered, "a record moved to another account key")
	})
}

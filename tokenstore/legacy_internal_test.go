package tokenstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// sealV1 seals rec the way releases before envelope version 2 did: only
// the tokens and the provider state, with the account as associated data.
func sealV1(t *testing.T, e *Encrypted, rec *oauth2client.Record) *oauth2client.Record {
	t.Helper()
	pt, err := json.Marshal(struct {
		A string `json:"a"`
		R string `json:"r"`
		P []byte `json:"p"`
	}{string(rec.AccessToken), string(rec.RefreshToken), rec.ProviderState})
	require.NoError(t, err)
	hdr := header(e.primary)
	hdr[len(envelopeMagic)] = legacyVersion
	out := rec.Clone()
	out.AccessToken, out.RefreshToken = "", ""
	out.ProviderState = e.primary.aead.Seal(hdr, nil, pt, associatedData(hdr, rec.Account))
	return out
}

// TestLegacyEnvelope: records of the previous format are read (their
// clear fields as they are), written in the current format by the next
// save, and rewritten by Reencrypt even when sealed with the primary key.
func TestLegacyEnvelope(t *testing.T) {
	ctx := context.Background()
	e := fuzzStore(t)
	inner := e.inner
	rec := &oauth2client.Record{Account: "alice", Connection: "m365", LastError: "old error",
		Grant: oauth2client.Grant{AccessToken: "at-legacy", RefreshToken: "rt-legacy", ProviderState: []byte("ps"),
			Identity: oauth2client.Identity{Username: "alice@example.com"}, Expiry: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	require.NoError(t, inner.Save(ctx, sealV1(t, e, rec)))

	got, err := e.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-legacy"), got.RefreshToken)
	assert.Equal(t, "alice@example.com", got.Identity.Username)
	assert.Equal(t, "old error", got.LastError)

	res, err := Reencrypt(ctx, struct {
		*Encrypted
		encCAS
	}{e, encCAS{e, inner.(oauth2client.CompareAndSwapper)}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Rewritten, "a version 1 record is rewritten though its key is the primary")

	raw, err := inner.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, byte(envelopeVersion), raw.ProviderState[len(envelopeMagic)])
	assert.Empty(t, raw.LastError, "the last error moved inside the envelope")
	again, err := e.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "old error", again.LastError)
	assert.Equal(t, oauth2client.Secret("rt-legacy"), again.RefreshToken)
}

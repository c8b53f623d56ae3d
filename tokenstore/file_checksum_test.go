package tokenstore_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// TestFileChecksum flips one bit at every byte of a record file and
// expects Load to report the corruption instead of returning a changed
// token.
func TestFileChecksum(t *testing.T) {
	ctx := context.Background()
	s := openFile(t)
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	files := recordFiles(t, s.Dir())
	require.Len(t, files, 1)
	good, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(good), `{"checksum":"sha256:`), "the file starts with its checksum")

	for i := range good {
		for _, bit := range []byte{0x01, 0x20} {
			b := append([]byte(nil), good...)
			b[i] ^= bit
			require.NoError(t, os.WriteFile(files[0], b, 0o600))
			rec, err := s.Load(ctx, "a")
			if !assert.ErrorIs(t, err, tokenstore.ErrCorrupt, "byte %d flipped by %#x went unnoticed: %+v", i, bit, rec) {
				return
			}
			require.ErrorIs(t, err, oauth2client.ErrUnreadable)
		}
	}
	require.NoError(t, os.WriteFile(files[0], good, 0o600))
	_, err = s.Load(ctx, "a")
	require.NoError(t, err)
}

// TestFileLegacyRecord: a file written before checksums is read, and gets
// a checksum when next written.
func TestFileLegacyRecord(t *testing.T) {
	ctx := context.Background()
	s := openFile(t)
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	files := recordFiles(t, s.Dir())
	require.Len(t, files, 1)
	legacy := `{"account":"a","connection":"conn-1","access_token":"access-a","refresh_token":"refresh-a","expiry":"2026-11-24T10:00:00Z","identity":{"username":"user@example.com"},"version":4,"updated":"2026-11-24T09:00:00Z"}`
	require.NoError(t, os.WriteFile(files[0], []byte(legacy), 0o600))

	rec, err := s.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "refresh-a", rec.RefreshToken.Reveal())
	assert.Equal(t, int64(4), rec.Version)
	require.NoError(t, s.CompareAndSwap(ctx, rec))
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), `{"checksum":"sha256:`), "rewritten with a checksum")
}

package tokenstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// corruptFile overwrites account's record file with a truncated record.
func corruptFile(t *testing.T, s oauth2client.TokenStore, account string) {
	t.Helper()
	f, ok := s.(*tokenstore.File)
	require.True(t, ok, "corruptFile: %T is not a *tokenstore.File", s)
	h := sha256.Sum256([]byte(account))
	path := filepath.Join(f.Dir(), hex.EncodeToString(h[:])+".json")
	require.FileExists(t, path)
	require.NoError(t, os.WriteFile(path, []byte(`{"account":"`+account+`","access_token":"acc`), 0o600))
}

// corruptSQL returns a storetest corrupter that truncates account's row
// in db.
func corruptSQL(db *sql.DB, d tokenstore.Dialect) func(*testing.T, oauth2client.TokenStore, string) {
	return func(t *testing.T, s oauth2client.TokenStore, account string) {
		t.Helper()
		st, ok := s.(*tokenstore.SQL)
		require.True(t, ok, "corruptSQL: %T is not a *tokenstore.SQL", s)
		q := "UPDATE " + st.Table() + " SET record = '{\"account\":' WHERE account = $1"
		if d == tokenstore.SQLite {
			q = "UPDATE " + st.Table() + " SET record = '{\"account\":' WHERE account = ?1"
		}
		res, err := db.Exec(q, account)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
	}
}

// corruptEnvelope replaces the sealed envelope of account's record in an
// encrypting store with one that cannot be opened, through the inner
// store, which can still read the record.
func corruptEnvelope(t *testing.T, s oauth2client.TokenStore, account string) {
	t.Helper()
	u, ok := s.(interface {
		Unwrap() oauth2client.TokenStore
	})
	require.True(t, ok, "corruptEnvelope: %T does not wrap a store", s)
	ctx := context.Background()
	inner := u.Unwrap()
	rec, err := inner.Load(ctx, account)
	require.NoError(t, err)
	rec.ProviderState = append([]byte("O2ME\x01"), rec.ProviderState[5:len(rec.ProviderState)/2]...)
	require.NoError(t, inner.Save(ctx, rec))
}

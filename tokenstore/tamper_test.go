package tokenstore_test

import (
	"testing"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// TestEncryptedTamperFieldByField edits every field of an encrypted
// record in each inner store and expects the tamper error.
func TestEncryptedTamperFieldByField(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		storetest.Tamper(t, func(*testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() })
	})
	t.Run("File", func(t *testing.T) {
		storetest.Tamper(t, func(t *testing.T) oauth2client.TokenStore { return openFile(t) })
	})
	t.Run("SQLite", func(t *testing.T) {
		db := openSQLite(t)
		storetest.Tamper(t, func(t *testing.T) oauth2client.TokenStore { return newSQL(t, db, tokenstore.SQLite) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		db := openPostgres(t)
		storetest.Tamper(t, func(t *testing.T) oauth2client.TokenStore { return newSQL(t, db, tokenstore.PostgreSQL) })
	})
}

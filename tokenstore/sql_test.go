package tokenstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// openSQLite opens a fresh SQLite database file.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "tokens.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openPostgres opens the database named by OAUTH2MAIL_TEST_POSTGRES, or
// skips the test when it is not set (fails with OAUTH2MAIL_REQUIRE_PEERS=1).
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	dsn := os.Getenv("OAUTH2MAIL_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("OAUTH2MAIL_REQUIRE_PEERS") == "1" {
			t.Fatal("OAUTH2MAIL_TEST_POSTGRES is not set and OAUTH2MAIL_REQUIRE_PEERS=1")
		}
		t.Skip("set OAUTH2MAIL_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to test against PostgreSQL")
	}
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "PostgreSQL at OAUTH2MAIL_TEST_POSTGRES")
	return db
}

// uniqueTable names a table no other test run uses, and drops it at the
// end of the test.
func uniqueTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "oauth2mail_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		for _, suffix := range []string{"", "_locks", "_migrations"} {
			_, _ = db.Exec("DROP TABLE IF EXISTS " + name + suffix)
		}
	})
	return name
}

func newSQL(t *testing.T, db *sql.DB, d tokenstore.Dialect) *tokenstore.SQL {
	t.Helper()
	s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: d, Table: uniqueTable(t, db)})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestSQL(t *testing.T) {
	dialects := []struct {
		dialect tokenstore.Dialect
		open    func(*testing.T) *sql.DB
	}{
		{tokenstore.SQLite, openSQLite},
		{tokenstore.PostgreSQL, openPostgres},
	}
	for _, d := range dialects {
		t.Run(d.dialect.String(), func(t *testing.T) {
			db := d.open(t)
			storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore { return newSQL(t, db, d.dialect) },
				storetest.Options{Corrupt: corruptSQL(db, d.dialect)})
			t.Run("InvalidRecord", func(t *testing.T) { testInvalidRecord(t, newSQL(t, db, d.dialect)) })
			t.Run("MigrateTwice", func(t *testing.T) { testMigrateTwice(t, db, d.dialect) })
			t.Run("Corrupt", func(t *testing.T) { testSQLCorrupt(t, newSQL(t, db, d.dialect), db) })
			t.Run("NotMigrated", func(t *testing.T) { testSQLNotMigrated(t, db, d.dialect) })
			t.Run("TwoInstances", func(t *testing.T) { testSQLTwoInstances(t, db, d.dialect) })
			t.Run("ConcurrentMigrate", func(t *testing.T) { testConcurrentMigrate(t, db, d.dialect) })
			t.Run("SchemaTooNew", func(t *testing.T) { testSchemaTooNew(t, db, d.dialect) })
		})
	}
}

func testMigrateTwice(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	s := newSQL(t, db, d)
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	require.NoError(t, s.Migrate(ctx), "a second Migrate is harmless")
	got, err := s.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Version)
	var versions int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+s.Table()+"_migrations").Scan(&versions))
	assert.Equal(t, 2, versions)
}

func testSQLCorrupt(t *testing.T, s *tokenstore.SQL, db *sql.DB) {
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	require.NoError(t, s.Save(ctx, storetest.Record("b")))
	q := "UPDATE " + s.Table() + " SET record = '{\"account\":\"a\",\"access_token\":\"SECRET-IN-ROW' WHERE account = 'a'"
	_, err := db.Exec(q)
	require.NoError(t, err)
	q = "UPDATE " + s.Table() + " SET record = '{\"account\":\"a\"}' WHERE account = 'b'"
	_, err = db.Exec(q)
	require.NoError(t, err)

	_, err = s.Load(ctx, "a")
	var ce *tokenstore.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.Contains(t, ce.Path, s.Table())
	assert.NotContains(t, err.Error(), "SECRET-IN-ROW")
	_, err = s.Load(ctx, "b")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.ErrorContains(t, err, "another account")

	require.NoError(t, s.Save(ctx, storetest.Record("a")), "an unconditional save replaces a corrupt record")
	got, err := s.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version)
}

func testSQLNotMigrated(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: d, Table: uniqueTable(t, db)})
	require.NoError(t, err)
	_, err = s.Load(ctx, "a")
	assert.ErrorContains(t, err, s.Table())
	assert.NotErrorIs(t, err, oauth2client.ErrNotFound)
	assert.Error(t, s.Save(ctx, storetest.Record("a")))
	assert.Error(t, s.CompareAndSwap(ctx, storetest.Record("a")))
	assert.Error(t, s.Delete(ctx, "a"))
	_, err = s.List(ctx)
	assert.Error(t, err)
	_, err = s.Lock(ctx, "a", time.Minute)
	assert.Error(t, err)
}

// testSQLTwoInstances checks that two stores over one table (two
// application instances) exclude each other.
func testSQLTwoInstances(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	a := newSQL(t, db, d)
	b, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: d, Table: a.Table()})
	require.NoError(t, err)
	require.NoError(t, b.Migrate(ctx))

	unlock, err := a.Lock(ctx, "x", time.Minute)
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.Lock(wctx, "x", time.Minute)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the other instance got the lock too")

	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctx, "x", time.Minute)
		if err == nil {
			err = u.Release(ctx)
		}
		got <- err
	}()
	require.NoError(t, unlock.Release(ctx))
	require.NoError(t, <-got)

	rec := storetest.Record("y")
	require.NoError(t, a.CompareAndSwap(ctx, rec))
	stale := rec.Clone()
	require.NoError(t, b.CompareAndSwap(ctx, rec))
	require.ErrorIs(t, a.CompareAndSwap(ctx, stale), oauth2client.ErrConflict)
}

func TestNewSQLErrors(t *testing.T) {
	db := openSQLite(t)
	tests := []struct {
		name string
		cfg  tokenstore.SQLConfig
		want string
	}{
		{"no db", tokenstore.SQLConfig{Dialect: tokenstore.SQLite}, "DB is nil"},
		{"no dialect", tokenstore.SQLConfig{DB: db}, "Dialect Dialect(0) is not supported"},
		{"bad dialect", tokenstore.SQLConfig{DB: db, Dialect: 9}, "Dialect(9)"},
		{"injection", tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite, Table: "t; DROP TABLE x"}, "not a plain identifier"},
		{"quoted", tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite, Table: `"t"`}, "not a plain identifier"},
		{"digit first", tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite, Table: "1t"}, "not a plain identifier"},
		{"too long", tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite, Table: "t234567890123456789012345678901234567890123456789"}, "not a plain identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tokenstore.NewSQL(tt.cfg)
			assert.Nil(t, s)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: tokenstore.PostgreSQL})
	require.NoError(t, err)
	assert.Equal(t, tokenstore.DefaultTable, s.Table())
	assert.Equal(t, "PostgreSQL", tokenstore.PostgreSQL.String())
}

// testConcurrentMigrate starts several instances at once on fresh tables.
func testConcurrentMigrate(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	table := uniqueTable(t, db)
	const instances = 4
	errs := make(chan error, instances)
	for range instances {
		go func() {
			s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: d, Table: table})
			if err == nil {
				err = s.Migrate(ctx)
			}
			errs <- err
		}()
	}
	for range instances {
		assert.NoError(t, <-errs)
	}
	var versions int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table+"_migrations").Scan(&versions))
	assert.Equal(t, 2, versions, "each version applied once")
}

func testSchemaTooNew(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	s := newSQL(t, db, d)
	_, err := db.Exec("INSERT INTO " + s.Table() + "_migrations (version, applied) VALUES (99, 'later')")
	require.NoError(t, err)
	err = s.Migrate(ctx)
	assert.ErrorContains(t, err, "newer than this package")
	assert.ErrorContains(t, err, s.Table())
}

// TestSQLMigrateFromSchema1 upgrades a table written by a version of the
// package before tombstones (schema 1): its records stay readable, and a
// record deleted afterwards keeps its version.
func TestSQLMigrateFromSchema1(t *testing.T) {
	for _, d := range []struct {
		dialect tokenstore.Dialect
		open    func(*testing.T) *sql.DB
	}{{tokenstore.SQLite, openSQLite}, {tokenstore.PostgreSQL, openPostgres}} {
		t.Run(d.dialect.String(), func(t *testing.T) {
			db := d.open(t)
			table := uniqueTable(t, db)
			for _, q := range []string{
				`CREATE TABLE ` + table + ` (account TEXT PRIMARY KEY, version BIGINT NOT NULL, record TEXT NOT NULL)`,
				`CREATE TABLE ` + table + `_locks (account TEXT PRIMARY KEY, owner TEXT NOT NULL, expires BIGINT NOT NULL)`,
				`CREATE TABLE ` + table + `_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)`,
				`INSERT INTO ` + table + `_migrations (version, applied) VALUES (1, '2026-11-01T00:00:00Z')`,
				`INSERT INTO ` + table + ` (account, version, record) VALUES ('old', 7, '{"account":"old","connection":"c","access_token":"at"}')`,
			} {
				_, err := db.Exec(q)
				require.NoError(t, err, q)
			}
			s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: d.dialect, Table: table})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Migrate(ctx))
			got, err := s.Load(ctx, "old")
			require.NoError(t, err, "a schema-1 record is readable after the upgrade")
			assert.Equal(t, int64(7), got.Version)
			assert.Equal(t, oauth2client.Secret("at"), got.AccessToken)
			keys, err := s.List(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"old"}, keys)

			require.NoError(t, s.Delete(ctx, "old"))
			fresh := storetest.Record("old")
			require.NoError(t, s.CompareAndSwap(ctx, fresh), "version 0 over the tombstone")
			assert.Equal(t, int64(8), fresh.Version, "the tombstone kept version 7")
			var tokens string
			require.NoError(t, db.QueryRow(`SELECT record FROM `+table+` WHERE account = 'old'`).Scan(&tokens))
			assert.Contains(t, tokens, fresh.AccessToken.Reveal())
		})
	}
}

// TestSQLDeleteDropsTokens: the tombstone keeps the account and version,
// never the tokens.
func TestSQLDeleteDropsTokens(t *testing.T) {
	db := openSQLite(t)
	s := newSQL(t, db, tokenstore.SQLite)
	ctx := context.Background()
	rec := storetest.Record("gone")
	require.NoError(t, s.Save(ctx, rec))
	require.NoError(t, s.Delete(ctx, "gone"))
	var (
		record  string
		version int64
		deleted int
	)
	require.NoError(t, db.QueryRow(`SELECT record, version, deleted FROM `+s.Table()+` WHERE account = 'gone'`).Scan(&record, &version, &deleted))
	assert.Empty(t, record, "a tombstone holds no tokens")
	assert.Equal(t, rec.Version, version)
	assert.Equal(t, 1, deleted)
}

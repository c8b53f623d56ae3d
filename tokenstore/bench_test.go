package tokenstore

// White-box file: the scan test explains the store's own load query.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// benchAccounts is how many accounts the benchmarks and the scan test
// put in the table.
const benchAccounts = 100_000

func benchAccount(i int) string { return fmt.Sprintf("user%06d@example.com", i) }

// benchRecord is a record of realistic size: an access token of 1,200
// bytes (Entra's are 1.5 to 2.5 KB, Google's about 200) and a refresh
// token of 400.
func benchRecord(account string) *oauth2client.Record {
	return &oauth2client.Record{
		Account: account, Connection: "m365",
		Grant: oauth2client.Grant{
			AccessToken:  oauth2client.Secret("eyJ0eXAiOiJKV1Qi." + strings.Repeat("A", 1200-18)),
			RefreshToken: oauth2client.Secret("0.AXoA" + strings.Repeat("r", 400-6)),
			Expiry:       time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
			Scopes:       []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"},
			Identity:     oauth2client.Identity{Username: account, Subject: "sub-" + account, Tenant: "contoso"},
		},
		Updated: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
	}
}

// benchDB opens a database of dialect d for tb, or skips (fails with
// OAUTH2MAIL_REQUIRE_PEERS=1) when PostgreSQL is not configured.
func benchDB(tb testing.TB, d Dialect) *sql.DB {
	tb.Helper()
	var (
		db  *sql.DB
		err error
	)
	switch d {
	case SQLite:
		dsn := "file:" + filepath.Join(tb.TempDir(), "bench.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		db, err = sql.Open("sqlite", dsn)
	case PostgreSQL:
		dsn := os.Getenv("OAUTH2MAIL_TEST_POSTGRES")
		if dsn == "" {
			if os.Getenv("OAUTH2MAIL_REQUIRE_PEERS") == "1" {
				tb.Fatal("OAUTH2MAIL_TEST_POSTGRES is not set and OAUTH2MAIL_REQUIRE_PEERS=1")
			}
			tb.Skip("set OAUTH2MAIL_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run against PostgreSQL")
		}
		db, err = sql.Open("pgx", dsn)
	}
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// populatedSQL returns a migrated store in a fresh table holding
// benchAccounts records made by rec, inserted in one transaction, 500
// rows per statement. The table is dropped at the end.
func populatedSQL(tb testing.TB, d Dialect, rec func(account string) string) *SQL {
	tb.Helper()
	db := benchDB(tb, d)
	var b [6]byte
	_, _ = rand.Read(b[:])
	table := "oauth2mail_bench_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		for _, suffix := range []string{"", "_locks", "_migrations"} {
			_, _ = db.Exec("DROP TABLE IF EXISTS " + table + suffix)
		}
	})
	s, err := NewSQL(SQLConfig{DB: db, Dialect: d, Table: table})
	require.NoError(tb, err)
	ctx := context.Background()
	require.NoError(tb, s.Migrate(ctx))

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(tb, err)
	defer func() { _ = tx.Rollback() }()
	const batch = 500
	for start := 0; start < benchAccounts; start += batch {
		n := min(batch, benchAccounts-start)
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (account, version, record) VALUES ")
		args := make([]any, 0, 2*n)
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, 1, $%d)", 2*i+1, 2*i+2)
			a := benchAccount(start + i)
			args = append(args, a, rec(a))
		}
		_, err := tx.ExecContext(ctx, s.bind(q.String()), args...)
		require.NoError(tb, err)
	}
	require.NoError(tb, tx.Commit())
	if d == PostgreSQL {
		_, err = db.ExecContext(ctx, "ANALYZE "+table)
	} else {
		_, err = db.ExecContext(ctx, "ANALYZE")
	}
	require.NoError(tb, err)
	return s
}

// plainRow is the stored form of benchRecord in an unencrypted store.
func plainRow(account string) string {
	data, err := encodeRecord(benchRecord(account))
	if err != nil {
		panic(err)
	}
	return data
}

// sealedRows returns the stored form of benchRecord behind e.
func sealedRows(tb testing.TB, e *Encrypted) func(account string) string {
	return func(account string) string {
		sealed, err := e.seal(benchRecord(account))
		require.NoError(tb, err)
		data, err := encodeRecord(sealed)
		require.NoError(tb, err)
		return data
	}
}

func benchKeys() EncryptionConfig {
	k := Key{ID: "bench", Secret: make([]byte, KeySize)}
	_, _ = rand.Read(k.Secret)
	return EncryptionConfig{Keys: []Key{k}}
}

type benchStore struct {
	name  string
	store oauth2client.TokenStore
}

// benchStores returns, for each dialect, the SQL store and the same
// store encrypted, each over its own table of benchAccounts records.
func benchStores(b *testing.B, d Dialect) []benchStore {
	plain := populatedSQL(b, d, plainRow)
	keys := benchKeys()
	sealer, err := newEncrypted(NewMemory(), keys)
	require.NoError(b, err)
	enc, err := NewEncrypted(populatedSQL(b, d, sealedRows(b, sealer)), keys)
	require.NoError(b, err)
	return []benchStore{{"plain", plain}, {"encrypted", enc}}
}

// BenchmarkStoreLoad loads random accounts (by a fixed permutation)
// out of 100,000, one at a time.
func BenchmarkStoreLoad(b *testing.B) {
	for _, d := range []Dialect{SQLite, PostgreSQL} {
		b.Run(d.String(), func(b *testing.B) {
			for _, bs := range benchStores(b, d) {
				b.Run(bs.name, func(b *testing.B) {
					ctx := context.Background()
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						a := benchAccount((i * 7919) % benchAccounts)
						rec, err := bs.store.Load(ctx, a)
						if err != nil || rec.Account != a {
							b.Fatalf("Load(%q) = %v", a, err)
						}
						i++
					}
				})
			}
		})
	}
}

// BenchmarkStoreSave saves (an unconditional upsert) and
// compare-and-swaps records of random accounts out of 100,000, one at a
// time.
func BenchmarkStoreSave(b *testing.B) {
	for _, d := range []Dialect{SQLite, PostgreSQL} {
		b.Run(d.String(), func(b *testing.B) {
			for _, bs := range benchStores(b, d) {
				b.Run(bs.name+"/Save", func(b *testing.B) {
					ctx := context.Background()
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						rec := benchRecord(benchAccount((i * 7919) % benchAccounts))
						if err := bs.store.Save(ctx, rec); err != nil {
							b.Fatalf("Save: %v", err)
						}
						i++
					}
				})
				b.Run(bs.name+"/CompareAndSwap", func(b *testing.B) {
					ctx := context.Background()
					cas := bs.store.(oauth2client.CompareAndSwapper)
					recs := make(map[string]*oauth2client.Record)
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						a := benchAccount((i * 104729) % benchAccounts)
						rec, ok := recs[a]
						if !ok {
							b.StopTimer()
							var err error
							rec, err = bs.store.Load(ctx, a)
							if err != nil {
								b.Fatalf("Load: %v", err)
							}
							recs[a] = rec
							b.StartTimer()
						}
						if err := cas.CompareAndSwap(ctx, rec); err != nil {
							b.Fatalf("CompareAndSwap: %v", err)
						}
						i++
					}
				})
			}
		})
	}
}

// TestSQLLoadUsesIndex checks with the database's own planner, on a table
// of 100,000 accounts, that the load query looks the account up by the
// primary key's index and never scans the table.
func TestSQLLoadUsesIndex(t *testing.T) {
	for _, d := range []Dialect{SQLite, PostgreSQL} {
		t.Run(d.String(), func(t *testing.T) {
			s := populatedSQL(t, d, func(a string) string { return `{"account":"` + a + `"}` })
			ctx := context.Background()
			account := benchAccount(benchAccounts / 2)
			var plan []string
			switch d {
			case SQLite:
				rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+s.q.load, account)
				require.NoError(t, err)
				defer rows.Close()
				for rows.Next() {
					var id, parent, unused int
					var detail string
					require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
					plan = append(plan, detail)
				}
				require.NoError(t, rows.Err())
				require.NotEmpty(t, plan)
				assert.Regexp(t, `^SEARCH `+s.Table()+` USING INDEX sqlite_autoindex_`+s.Table()+`_1 \(account=\?\)$`, plan[0])
			case PostgreSQL:
				rows, err := s.db.QueryContext(ctx, "EXPLAIN "+s.q.load, account)
				require.NoError(t, err)
				defer rows.Close()
				for rows.Next() {
					var line string
					require.NoError(t, rows.Scan(&line))
					plan = append(plan, line)
				}
				require.NoError(t, rows.Err())
				require.NotEmpty(t, plan)
				assert.Regexp(t, `^Index Scan using `+s.Table()+`_pkey on `+s.Table(), plan[0])
			}
			for _, line := range plan {
				assert.NotContains(t, line, "SCAN "+s.Table(), "SQLite scans the table")
				assert.NotContains(t, line, "Seq Scan", "PostgreSQL scans the table")
			}
			t.Logf("plan: %s", strings.Join(plan, " | "))

			// The lookup is by the very key: the row comes back.
			rec, err := s.Load(ctx, account)
			require.NoError(t, err)
			assert.Equal(t, account, rec.Account)
			assert.Equal(t, int64(1), rec.Version)
		})
	}
}

package tokenstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// outageStore is a store and a way to make it unreachable and back.
type outageStore struct {
	locker       oauth2client.Locker
	down, repair func(t *testing.T)
}

// TestLeaseRecoversAfterOutage is issue 13's item 5: a lease whose
// Release failed while the store was unreachable must not block its
// account for the lease's whole ttl once the store is back. Release is
// retried (the Client does) and succeeds, and a waiter takes the lease
// within a second of that.
func TestLeaseRecoversAfterOutage(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) outageStore
	}{
		{"File", func(t *testing.T) outageStore {
			f := openFile(t)
			// The account's stripe lock file replaced by a directory:
			// every operation on the account fails with EISDIR.
			h := sha256.Sum256([]byte("acct"))
			lock := filepath.Join(f.Dir(), fmt.Sprintf(".stripe-%02x.lock", int(h[0])%64))
			return outageStore{f,
				func(t *testing.T) {
					require.NoError(t, os.RemoveAll(lock))
					require.NoError(t, os.Mkdir(lock, 0o700))
				},
				func(t *testing.T) { require.NoError(t, os.Remove(lock)) }}
		}},
		{"SQLite", func(t *testing.T) outageStore { return sqlOutage(t, openSQLite(t), tokenstore.SQLite) }},
		{"PostgreSQL", func(t *testing.T) outageStore { return sqlOutage(t, openPostgres(t), tokenstore.PostgreSQL) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lease, err := s.locker.Lock(ctx, "acct", time.Minute)
			require.NoError(t, err)

			s.down(t)
			require.Error(t, lease.Release(ctx), "Release while the store is unreachable")
			_, err = s.locker.Lock(ctx, "acct", time.Minute)
			require.Error(t, err, "a Lock while the store is unreachable fails rather than waits")
			s.repair(t)

			wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err = s.locker.Lock(wctx, "acct", time.Minute)
			wcancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "the failed Release released nothing")

			took := make(chan time.Time, 1)
			go func() {
				defer close(took)
				next, err := s.locker.Lock(ctx, "acct", time.Minute)
				if assert.NoError(t, err) {
					at := time.Now()
					assert.NoError(t, next.Release(ctx))
					took <- at
				}
			}()
			released := time.Now()
			require.NoError(t, lease.Release(ctx), "Release again once the store is back")
			at, ok := <-took
			require.True(t, ok)
			assert.Less(t, at.Sub(released), time.Second, "the waiter took the released lease only after %v", at.Sub(released))
			assert.NoError(t, lease.Release(ctx), "a third Release is harmless")
		})
	}
}

// sqlOutage renames the lease table away and back.
func sqlOutage(t *testing.T, db *sql.DB, d tokenstore.Dialect) outageStore {
	s := newSQL(t, db, d)
	locks := s.Table() + "_locks"
	return outageStore{s,
		func(t *testing.T) {
			_, err := db.Exec("ALTER TABLE " + locks + " RENAME TO " + locks + "_away")
			require.NoError(t, err)
		},
		func(t *testing.T) {
			_, err := db.Exec("ALTER TABLE " + locks + "_away RENAME TO " + locks)
			require.NoError(t, err)
		}}
}

package tokenstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func newSQLState(t *testing.T, db *sql.DB, d tokenstore.Dialect, now func() time.Time, max int) *tokenstore.SQLStateStore {
	t.Helper()
	s, err := tokenstore.NewSQLStateStore(tokenstore.SQLStateConfig{DB: db, Dialect: d, Table: uniqueTable(t, db), Now: now, Limits: oauth2client.StateLimits{MaxPending: max}})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestSQLStateStore(t *testing.T) {
	for _, d := range []struct {
		dialect tokenstore.Dialect
		open    func(*testing.T) *sql.DB
	}{{tokenstore.SQLite, openSQLite}, {tokenstore.PostgreSQL, openPostgres}} {
		t.Run(d.dialect.String(), func(t *testing.T) {
			db := d.open(t)
			storetest.RunStateStore(t, func(t *testing.T, now func() time.Time) oauth2client.StateStore {
				return newSQLState(t, db, d.dialect, now, 0)
			})
			t.Run("expired entries are deleted", func(t *testing.T) { testSQLStateSweep(t, db, d.dialect) })
			t.Run("MaxPending", func(t *testing.T) { testSQLStateCap(t, db, d.dialect) })
			t.Run("MigrateTwice", func(t *testing.T) {
				s := newSQLState(t, db, d.dialect, nil, 0)
				require.NoError(t, s.Migrate(context.Background()))
				var versions int
				require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+s.Table()+"_migrations").Scan(&versions))
				assert.Equal(t, 1, versions)
			})
		})
	}
}

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func pendingAt(now time.Time, life time.Duration, n int) *oauth2client.Pending {
	return &oauth2client.Pending{Connection: "c", Account: fmt.Sprintf("a%d", n), MAC: []byte{1}, Verifier: "v", Expires: now.Add(life)}
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n)) // #nosec G202 -- a test table name
	return n
}

func testSQLStateSweep(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	clock := &stepClock{t: time.Now()}
	s := newSQLState(t, db, d, clock.Now, 0)
	require.NoError(t, s.Put(ctx, "old", pendingAt(clock.Now(), 10*time.Minute, 1)))
	require.NoError(t, s.Put(ctx, "used", pendingAt(clock.Now(), 10*time.Minute, 2)))
	_, err := s.Take(ctx, "used")
	require.NoError(t, err)
	clock.Add(15 * time.Minute)
	require.NoError(t, s.Put(ctx, "new", pendingAt(clock.Now(), 10*time.Minute, 3)))
	assert.Equal(t, 3, countRows(t, db, s.Table()), "within twice their lifetime, used and expired entries stay")
	_, err = s.Take(ctx, "old")
	require.ErrorIs(t, err, oauth2client.ErrStateExpired, "a late arrival gets a precise error")

	clock.Add(6 * time.Minute) // past twice the lifetime of "old" and "used"
	require.NoError(t, s.Put(ctx, "newer", pendingAt(clock.Now(), 10*time.Minute, 4)))
	assert.Equal(t, 2, countRows(t, db, s.Table()), "the next Put deleted them")
	_, err = s.Take(ctx, "used")
	require.ErrorIs(t, err, oauth2client.ErrStateInvalid)
	_, err = s.Take(ctx, "new")
	require.NoError(t, err)
}

func testSQLStateCap(t *testing.T, db *sql.DB, d tokenstore.Dialect) {
	ctx := context.Background()
	clock := &stepClock{t: time.Now()}
	s := newSQLState(t, db, d, clock.Now, 3)
	for i := range 3 {
		require.NoError(t, s.Put(ctx, fmt.Sprintf("s%d", i), pendingAt(clock.Now(), 10*time.Minute, i)))
	}
	err := s.Put(ctx, "s3", pendingAt(clock.Now(), 10*time.Minute, 3))
	require.ErrorIs(t, err, oauth2client.ErrTooManyPending)
	assert.Contains(t, err.Error(), "MaxPending")
	_, err = s.Take(ctx, "s3")
	require.ErrorIs(t, err, oauth2client.ErrStateInvalid, "nothing stored beyond the cap")

	// A used entry no longer counts.
	_, err = s.Take(ctx, "s0")
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "s3", pendingAt(clock.Now(), 10*time.Minute, 3)))
	// Nor does an expired one.
	clock.Add(10 * time.Minute)
	require.NoError(t, s.Put(ctx, "s4", pendingAt(clock.Now(), 10*time.Minute, 4)))
	// A collision is still a collision, not a full store.
	err = s.Put(ctx, "s4", pendingAt(clock.Now(), 10*time.Minute, 5))
	require.Error(t, err)
	assert.NotErrorIs(t, err, oauth2client.ErrTooManyPending)
}

func TestNewSQLStateStoreRejects(t *testing.T) {
	db := openSQLite(t)
	for name, cfg := range map[string]tokenstore.SQLStateConfig{
		"no db":      {Dialect: tokenstore.SQLite},
		"no dialect": {DB: db},
		"bad table":  {DB: db, Dialect: tokenstore.SQLite, Table: "states; DROP TABLE x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tokenstore.NewSQLStateStore(cfg)
			assert.Error(t, err)
		})
	}
}

func TestSQLStateStorePerSessionCap(t *testing.T) {
	for _, d := range []struct {
		dialect tokenstore.Dialect
		open    func(*testing.T) *sql.DB
	}{{tokenstore.SQLite, openSQLite}, {tokenstore.PostgreSQL, openPostgres}} {
		t.Run(d.dialect.String(), func(t *testing.T) {
			db := d.open(t)
			ctx := context.Background()
			clock := &stepClock{t: time.Now()}
			s, err := tokenstore.NewSQLStateStore(tokenstore.SQLStateConfig{DB: db, Dialect: d.dialect, Table: uniqueTable(t, db),
				Now: clock.Now, Limits: oauth2client.StateLimits{MaxPending: 10, MaxPerSession: 2}})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			in := func(sess byte, n int) *oauth2client.Pending {
				p := pendingAt(clock.Now(), 10*time.Minute, n)
				if sess != 0 {
					p.Session = []byte{sess, 1, 2}
				}
				return p
			}
			require.NoError(t, s.Put(ctx, "a1", in('a', 1)))
			require.NoError(t, s.Put(ctx, "a2", in('a', 2)))
			err = s.Put(ctx, "a3", in('a', 3))
			require.ErrorIs(t, err, oauth2client.ErrTooManyPending)
			assert.Contains(t, err.Error(), "StateLimits.MaxPerSession")
			require.NoError(t, s.Put(ctx, "b1", in('b', 4)), "another session has its own allowance")
			for i := range 3 {
				require.NoError(t, s.Put(ctx, fmt.Sprintf("n%d", i), in(0, 10+i)), "no session: only the total counts")
			}
			_, err = s.Take(ctx, "a1")
			require.NoError(t, err)
			require.NoError(t, s.Put(ctx, "a3", in('a', 3)), "a used state frees the session's slot")
			// Total now 2 (a) + 1 (b) + 3 (none) = 6 of 10.
			for i := range 4 {
				require.NoError(t, s.Put(ctx, fmt.Sprintf("m%d", i), in(0, 20+i)))
			}
			err = s.Put(ctx, "over", in(0, 30))
			require.ErrorIs(t, err, oauth2client.ErrTooManyPending)
			assert.Contains(t, err.Error(), "StateLimits.MaxPending")
		})
	}
}

package pgtest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/pgtest"
)

func TestRestartKeepsData(t *testing.T) {
	s := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", s.DSN)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TABLE kept (v INTEGER)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO kept VALUES (42)`)
	require.NoError(t, err)

	require.NoError(t, s.Down())
	assert.Error(t, db.PingContext(ctx), "the server is down")
	require.NoError(t, s.Up(ctx))
	var v int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT v FROM kept`).Scan(&v), "the pool reconnects")
	assert.Equal(t, 42, v)

	require.NoError(t, s.Crash())
	require.NoError(t, s.Up(ctx))
	require.NoError(t, db.QueryRowContext(ctx, `SELECT v FROM kept`).Scan(&v), "recovered after a crash")
	assert.Equal(t, 42, v)
}

package tokenstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/pendingjson"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// DefaultStateTable is the table an [SQLStateStore] uses when
// [SQLStateConfig].Table is empty.
const DefaultStateTable = "oauth2mail_states"

// SQLStateConfig configures [NewSQLStateStore].
type SQLStateConfig struct {
	// DB is the database. Required. The store never closes it.
	DB *sql.DB
	// Dialect is the database's SQL dialect. Required.
	Dialect Dialect
	// Table names the table of pending authorizations; the store also
	// uses Table+"_migrations". Zero means [DefaultStateTable]. It must be
	// a plain identifier, as [SQLConfig].Table, and differ from the token
	// store's table.
	Table string
	// Now is the clock that judges expiry (the application's clock, the
	// one oauth2client.Config.Clock reads). Zero means time.Now.
	Now func() time.Time
	// Limits bound the authorizations pending at once (issued, not yet
	// used, not expired), in total and per browser session, with the
	// defaults of oauth2client.StateLimits (10,000 and 10): Put returns an
	// *oauth2client.PendingLimitError (matching
	// oauth2client.ErrTooManyPending) beyond them, so a flood of sign-in
	// attempts that never come back cannot fill the table. The check and
	// the insert are one statement, but concurrent Puts in several
	// instances may overshoot a limit by a few.
	Limits oauth2client.StateLimits
}

// SQLStateStore is an [oauth2client.StateStore] in a SQL database
// (SQLite or PostgreSQL, as [SQL]), for several instances of an
// application that share a database but no Redis: pass it as
// oauth2client.Config.States. Create its table with [SQLStateStore.Migrate].
//
// Take is one conditional UPDATE … RETURNING, so of two concurrent
// callbacks with one state only one succeeds. Used and expired entries
// are kept until twice their lifetime, so that a replay or a late
// arrival gets a precise error ([oauth2client.ErrStateReplayed],
// [oauth2client.ErrStateExpired]); each Put then deletes the entries
// past that point.
//
// A row holds the account, the connection, hashes of the state's secret
// half and of the session binding, and the PKCE verifier (useless without
// the authorization code it is bound to), for at most twice the state's
// lifetime: restrict access to the table all the same. An SQLStateStore
// is safe for concurrent use by multiple goroutines and processes.
type SQLStateStore struct {
	db      *sql.DB
	dialect Dialect
	table   string
	now     func() time.Time
	max     int
	perSess int
	q       struct{ put, take, used, sweep, sessionCount string }
}

// NewSQLStateStore returns a state store over cfg.DB. It does not touch
// the database; call [SQLStateStore.Migrate] before use.
func NewSQLStateStore(cfg SQLStateConfig) (*SQLStateStore, error) {
	if cfg.DB == nil {
		return nil, errors.New("tokenstore: SQLStateConfig.DB is nil: open the database with a driver first")
	}
	if cfg.Dialect != SQLite && cfg.Dialect != PostgreSQL {
		return nil, fmt.Errorf("tokenstore: SQLStateConfig.Dialect %v is not supported: use tokenstore.SQLite or tokenstore.PostgreSQL", cfg.Dialect)
	}
	table := cfg.Table
	if table == "" {
		table = DefaultStateTable
	}
	if !identifier.MatchString(table) {
		return nil, fmt.Errorf("tokenstore: SQLStateConfig.Table %q is not a plain identifier: use letters, digits and underscores, starting with a letter, at most 48 characters", table)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &SQLStateStore{db: cfg.DB, dialect: cfg.Dialect, table: table, now: cfg.Now, max: limit(cfg.Limits.MaxPending, oauth2client.DefaultMaxPending),
		perSess: limit(cfg.Limits.MaxPerSession, oauth2client.DefaultMaxPendingPerSession)}
	b := (&SQL{dialect: cfg.Dialect}).bind
	t := table
	// Columns: id, the entry (JSON), expires and drop_at in Unix
	// milliseconds, used (0 or 1), the session binding's hash in hex ("":
	// none). The caps ($6, $8) are checked in the insert itself.
	pending := ` FROM ` + t + ` WHERE used = 0 AND expires > $5`
	s.q.put = b(`INSERT INTO ` + t + ` (id, entry, expires, drop_at, used, session) SELECT $1, $2, $3, $4, 0, $7` +
		` WHERE (SELECT COUNT(*)` + pending + `) < $6 AND ($7 = '' OR (SELECT COUNT(*)` + pending + ` AND session = $7) < $8)` +
		` ON CONFLICT (id) DO NOTHING`)
	s.q.sessionCount = b(`SELECT COUNT(*) FROM ` + t + ` WHERE used = 0 AND expires > $1 AND session = $2`)
	s.q.take = b(`UPDATE ` + t + ` SET used = 1 WHERE id = $1 AND used = 0 RETURNING entry`)
	s.q.used = b(`SELECT used FROM ` + t + ` WHERE id = $1`)
	s.q.sweep = b(`DELETE FROM ` + t + ` WHERE drop_at < $1`)
	return s, nil
}

// Table returns the name of the table of pending authorizations.
func (s *SQLStateStore) Table() string { return s.table }

// stateMigrations are the schema versions of the state table, as
// [migrations] are the token store's.
func stateMigrations() [][]string {
	return [][]string{
		1: {
			`CREATE TABLE %[1]s (id TEXT PRIMARY KEY, entry TEXT NOT NULL, expires BIGINT NOT NULL, drop_at BIGINT NOT NULL, used INTEGER NOT NULL, session TEXT NOT NULL)`,
			`CREATE INDEX %[1]s_drop_at ON %[1]s (drop_at)`,
			`CREATE INDEX %[1]s_session ON %[1]s (session)`,
		},
	}
}

// Migrate creates the table, or upgrades it to this version of the
// package, in one transaction, exactly as [SQL.Migrate] does for tokens
// (the applied versions are kept in Table+"_migrations"; running it again
// is harmless; concurrent calls wait for each other).
func (s *SQLStateStore) Migrate(ctx context.Context) error {
	m := &SQL{db: s.db, dialect: s.dialect, table: s.table}
	return m.migrateWith(ctx, stateMigrations())
}

// Put implements [oauth2client.StateStore]. It deletes the entries past
// twice their lifetime first.
func (s *SQLStateStore) Put(ctx context.Context, id string, p *oauth2client.Pending) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokenstore: storing the state of account %q: %w", p.Account, err)
	}
	now := s.now()
	if _, err := s.db.ExecContext(ctx, s.q.sweep, now.UnixMilli()); err != nil {
		return s.dbErr("deleting expired states from", err)
	}
	b, err := pendingjson.Marshal(p)
	if err != nil {
		return fmt.Errorf("tokenstore: encoding the state of account %q: %w", p.Account, err)
	}
	drop := p.Expires.Add(p.Expires.Sub(now))
	session := hex.EncodeToString(p.Session)
	res, err := s.db.ExecContext(ctx, s.q.put, id, string(b), p.Expires.UnixMilli(), drop.UnixMilli(), now.UnixMilli(),
		capOf(s.max), session, capOf(s.perSess))
	if err != nil {
		return s.dbErr("storing a state in", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.dbErr("storing a state in", err)
	} else if n == 1 {
		return nil
	}
	var used int
	if err := s.db.QueryRowContext(ctx, s.q.used, id).Scan(&used); !errors.Is(err, sql.ErrNoRows) {
		return errors.New("tokenstore: state id collision")
	}
	var inSession int
	if session != "" && s.perSess > 0 {
		if err := s.db.QueryRowContext(ctx, s.q.sessionCount, now.UnixMilli(), session).Scan(&inSession); err != nil {
			return s.dbErr("counting the states of a session in", err)
		}
	}
	if session != "" && s.perSess > 0 && inSession >= s.perSess {
		return &oauth2client.PendingLimitError{Session: true, Limit: s.perSess}
	}
	return &oauth2client.PendingLimitError{Limit: s.max}
}

// limit resolves a StateLimits field: zero means def, negative no limit (0).
func limit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// capOf is a cap as the insert compares it: no cap is the largest count.
func capOf(n int) int64 {
	if n <= 0 {
		return math.MaxInt64
	}
	return int64(n)
}

// Take implements [oauth2client.StateStore].
func (s *SQLStateStore) Take(ctx context.Context, id string) (*oauth2client.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokenstore: taking a state: %w", err)
	}
	var entry string
	err := s.db.QueryRowContext(ctx, s.q.take, id).Scan(&entry)
	if errors.Is(err, sql.ErrNoRows) {
		var used int
		err = s.db.QueryRowContext(ctx, s.q.used, id).Scan(&used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, oauth2client.ErrStateInvalid
		case err != nil:
			return nil, s.dbErr("taking a state from", err)
		}
		return nil, oauth2client.ErrStateReplayed
	}
	if err != nil {
		return nil, s.dbErr("taking a state from", err)
	}
	p, err := pendingjson.Unmarshal([]byte(entry))
	if err != nil {
		return nil, err
	}
	if !s.now().Before(p.Expires) {
		return nil, oauth2client.ErrStateExpired
	}
	return p, nil
}

func (s *SQLStateStore) dbErr(op string, err error) error {
	return fmt.Errorf("tokenstore: %s table %s: %w", op, s.table, err)
}

package tokenstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/leasewait"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Dialect is the SQL dialect of an [SQL] store's database.
type Dialect int

const (
	// SQLite is SQLite 3.35 or later (for example modernc.org/sqlite or
	// github.com/mattn/go-sqlite3). Several processes may share the
	// database file; set a busy timeout in the DSN (modernc.org/sqlite:
	// "_pragma=busy_timeout(5000)") so that concurrent writers wait
	// instead of failing with SQLITE_BUSY.
	SQLite Dialect = iota + 1
	// PostgreSQL is PostgreSQL 9.5 or later, through any database/sql
	// driver (for example github.com/jackc/pgx/v5/stdlib).
	PostgreSQL
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "SQLite"
	case PostgreSQL:
		return "PostgreSQL"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// DefaultTable is the table an [SQL] store uses when [SQLConfig].Table is
// empty.
const DefaultTable = "oauth2mail_tokens"

// SQLConfig configures [NewSQL].
type SQLConfig struct {
	// DB is the database. Required. The store never closes it.
	DB *sql.DB
	// Dialect is the database's SQL dialect. Required.
	Dialect Dialect
	// Table names the records table; the store also uses Table+"_locks"
	// and Table+"_migrations". Zero means [DefaultTable]. It must be a
	// plain identifier: a letter or underscore, then letters, digits or
	// underscores, at most 48 characters.
	Table string
}

// SQL is an [oauth2client.TokenStore] in a SQL database, for several
// instances of an application sharing their accounts. It implements
// [oauth2client.CompareAndSwapper] (a conditional UPDATE on the version
// column), [oauth2client.Locker] (a lease row per account, expiring by
// the database's clock) and [oauth2client.Lister].
//
// The package imports no driver: open the *sql.DB with the driver of
// your choice and name its [Dialect]. Create or upgrade the tables with
// [SQL.Migrate] before use.
//
// Deleted accounts stay as tombstone rows (account and version, no
// tokens), so that versions never repeat: delete accounts with Delete,
// not with a DELETE statement. Schema version 2 adds the tombstone
// column; Migrate upgrades a table created by an earlier version.
//
// Records hold tokens in the clear (as JSON in a text column): restrict
// access to the table, and wrap the store with [NewEncrypted]. An SQL store is
// safe for concurrent use by multiple goroutines and processes.
type SQL struct {
	db      *sql.DB
	dialect Dialect
	table   string
	q       sqlQueries
	leases  leases // in-process waiters queue here before polling the database
}

type sqlQueries struct {
	load, insert, update, upsert, version, del, list, lock, extend, unlock string
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,47}$`)

// NewSQL returns a store over cfg.DB. It does not touch the database;
// call [SQL.Migrate] before use.
func NewSQL(cfg SQLConfig) (*SQL, error) {
	if cfg.DB == nil {
		return nil, errors.New("tokenstore: SQLConfig.DB is nil: open the database with a driver first")
	}
	if cfg.Dialect != SQLite && cfg.Dialect != PostgreSQL {
		return nil, fmt.Errorf("tokenstore: SQLConfig.Dialect %v is not supported: use tokenstore.SQLite or tokenstore.PostgreSQL", cfg.Dialect)
	}
	table := cfg.Table
	if table == "" {
		table = DefaultTable
	}
	if !identifier.MatchString(table) {
		return nil, fmt.Errorf("tokenstore: SQLConfig.Table %q is not a plain identifier: use letters, digits and underscores, starting with a letter, at most 48 characters", table)
	}
	s := &SQL{db: cfg.DB, dialect: cfg.Dialect, table: table}
	t, l := table, table+"_locks"
	s.q = sqlQueries{
		load: s.bind(`SELECT version, record FROM ` + t + ` WHERE account = $1 AND deleted = 0`),
		// Creates the record, or a new one over a tombstone.
		insert: s.bind(`INSERT INTO ` + t + ` (account, version, record, deleted) VALUES ($1, 1, $2, 0)` +
			` ON CONFLICT (account) DO UPDATE SET version = ` + t + `.version + 1, record = excluded.record, deleted = 0 WHERE ` + t + `.deleted = 1 RETURNING version`),
		update: s.bind(`UPDATE ` + t + ` SET version = version + 1, record = $3 WHERE account = $1 AND version = $2 AND deleted = 0 RETURNING version`),
		upsert: s.bind(`INSERT INTO ` + t + ` (account, version, record, deleted) VALUES ($1, 1, $2, 0)` +
			` ON CONFLICT (account) DO UPDATE SET version = ` + t + `.version + 1, record = excluded.record, deleted = 0 RETURNING version`),
		version: s.bind(`SELECT CASE WHEN deleted = 0 THEN version ELSE 0 END FROM ` + t + ` WHERE account = $1`),
		// The tombstone keeps the version and drops the tokens.
		del:  s.bind(`UPDATE ` + t + ` SET deleted = 1, record = '' WHERE account = $1 AND deleted = 0`),
		list: `SELECT account FROM ` + t + ` WHERE deleted = 0`,
		lock: s.bind(`INSERT INTO ` + l + ` (account, owner, expires) VALUES ($1, $2, ` + s.nowMillis() + ` + $3)` +
			` ON CONFLICT (account) DO UPDATE SET owner = excluded.owner, expires = excluded.expires WHERE ` + l + `.expires <= ` + s.nowMillis()),
		extend: s.bind(`UPDATE ` + l + ` SET expires = ` + s.nowMillis() + ` + $3 WHERE account = $1 AND owner = $2 AND expires > ` + s.nowMillis()),
		unlock: s.bind(`DELETE FROM ` + l + ` WHERE account = $1 AND owner = $2`),
	}
	return s, nil
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// bind turns PostgreSQL's $n placeholders into SQLite's ?n.
func (s *SQL) bind(q string) string {
	if s.dialect == SQLite {
		return placeholder.ReplaceAllString(q, "?$1")
	}
	return q
}

// nowMillis is the database clock in Unix milliseconds: lock leases
// expire by it, so that the instances' clocks need not agree.
func (s *SQL) nowMillis() string {
	if s.dialect == SQLite {
		return `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
	}
	return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`
}

// Table returns the name of the records table.
func (s *SQL) Table() string { return s.table }

// migrations returns the schema versions, in order from index 1; each
// entry's statements run in one transaction. %[1]s is the table name.
// Never edit a released entry: append a new one.
func migrations() [][]string {
	return [][]string{
		1: {
			`CREATE TABLE %[1]s (account TEXT PRIMARY KEY, version BIGINT NOT NULL, record TEXT NOT NULL)`,
			`CREATE TABLE %[1]s_locks (account TEXT PRIMARY KEY, owner TEXT NOT NULL, expires BIGINT NOT NULL)`,
		},
		// Delete leaves a tombstone (deleted = 1, no record) that keeps
		// the account's version, so that versions never repeat.
		2: {
			`ALTER TABLE %[1]s ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0`,
		},
	}
}

// Migrate creates the store's tables, or upgrades them to this version
// of the package, in one transaction. The applied schema versions are
// kept in Table+"_migrations"; running Migrate again is harmless, and
// concurrent calls (several instances starting at once) wait for each
// other. It refuses a schema newer than this package knows.
func (s *SQL) Migrate(ctx context.Context) (err error) {
	log := s.table + "_migrations"
	createLog := `CREATE TABLE IF NOT EXISTS ` + log + ` (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)` // #nosec G202 -- the table name matches identifier (checked in NewSQL)
	wrap := func(err error) error { return fmt.Errorf("tokenstore: migrating table %s: %w", s.table, err) }
	if s.dialect == SQLite {
		// Outside the transaction, so that its first statement can take
		// the write lock below.
		if _, err := s.db.ExecContext(ctx, createLog); err != nil {
			return wrap(err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = wrap(err)
		}
	}()
	switch s.dialect {
	case PostgreSQL:
		if _, err = tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, log); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, createLog); err != nil {
			return err
		}
	case SQLite:
		// A write that changes nothing takes the database's write lock
		// at once, so that concurrent callers wait (busy timeout) rather
		// than fail to upgrade a read transaction.
		if _, err = tx.ExecContext(ctx, `DELETE FROM `+log+` WHERE version < 0`); err != nil { // #nosec G202 -- the table name matches identifier (checked in NewSQL); no value is concatenated
			return err
		}
	}
	var cur int
	if err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+log).Scan(&cur); err != nil {
		return err
	}
	ms := migrations()
	latest := len(ms) - 1
	if cur > latest {
		return fmt.Errorf("the schema has version %d, newer than this package's %d: upgrade github.com/oauth2mail/oauth2mail", cur, latest)
	}
	for v := cur + 1; v <= latest; v++ {
		for _, stmt := range ms[v] {
			if _, err = tx.ExecContext(ctx, fmt.Sprintf(stmt, s.table)); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
		}
		if _, err = tx.ExecContext(ctx, s.bind(`INSERT INTO `+log+` (version, applied) VALUES ($1, $2)`), v, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// Load implements [oauth2client.TokenStore]. A record that cannot be
// decoded gives a [*CorruptError].
func (s *SQL) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctxErr(ctx, "loading", account); err != nil {
		return nil, err
	}
	var (
		version int64
		data    string
	)
	err := s.db.QueryRowContext(ctx, s.q.load, account).Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(account)
	}
	if err != nil {
		return nil, s.dbErr("loading", account, err)
	}
	where := fmt.Sprintf("the row of account %q in table %s", account, s.table)
	rec, err := decodeRecord(where, []byte(data))
	if err != nil {
		return nil, err
	}
	if rec.Account != account {
		return nil, &CorruptError{Path: where, Err: errors.New("the row holds another account's record")}
	}
	rec.Version = version
	return rec, nil
}

func (s *SQL) dbErr(op, account string, err error) error {
	return fmt.Errorf("tokenstore: %s account %q in table %s: %w", op, account, s.table, err)
}

func encodeRecord(rec *oauth2client.Record) (string, error) {
	c := rec.Clone()
	c.Version = 0 // the version column is authoritative
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokenstore: encoding account %q: %w", rec.Account, err)
	}
	return string(b), nil
}

// Save implements [oauth2client.TokenStore]: an unconditional write.
func (s *SQL) Save(ctx context.Context, rec *oauth2client.Record) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	var v int64
	if err := s.db.QueryRowContext(ctx, s.q.upsert, rec.Account, data).Scan(&v); err != nil {
		return s.dbErr("saving", rec.Account, err)
	}
	rec.Version = v
	return nil
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper]. A lost race
// returns a [*ConflictError].
func (s *SQL) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	var v int64
	if rec.Version == 0 {
		err = s.db.QueryRowContext(ctx, s.q.insert, rec.Account, data).Scan(&v)
	} else {
		err = s.db.QueryRowContext(ctx, s.q.update, rec.Account, rec.Version, data).Scan(&v)
	}
	if errors.Is(err, sql.ErrNoRows) {
		var actual int64 // best effort, for the message
		_ = s.db.QueryRowContext(ctx, s.q.version, rec.Account).Scan(&actual)
		return &ConflictError{Account: rec.Account, Expected: rec.Version, Actual: actual}
	}
	if err != nil {
		return s.dbErr("saving", rec.Account, err)
	}
	rec.Version = v
	return nil
}

// Delete implements [oauth2client.TokenStore]. Deleting a missing account
// is not an error. The row stays as a tombstone: its tokens are dropped,
// its version is kept so that the account's next record gets a higher
// one, and Load and List no longer see it. A record that cannot be
// decoded is deleted all the same.
func (s *SQL) Delete(ctx context.Context, account string) error {
	if err := ctxErr(ctx, "deleting", account); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.del, account); err != nil {
		return s.dbErr("deleting", account, err)
	}
	return nil
}

// List implements [oauth2client.Lister]; the keys come sorted.
func (s *SQL) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokenstore: listing accounts: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q.list)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: listing accounts in table %s: %w", s.table, err)
	}
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("tokenstore: listing accounts in table %s: %w", s.table, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tokenstore: listing accounts in table %s: %w", s.table, err)
	}
	sort.Strings(keys) // in Go, so that both dialects agree on the order
	return keys, nil
}

// Lock implements [oauth2client.Locker] across every process sharing the
// database. Waiters in the same process queue without touching the
// database; a lock held by another process is polled for, at most every
// 200ms, until it is released, its lease lapses (by the database's
// clock), or ctx ends. ttl must be positive.
func (s *SQL) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	local, err := s.leases.lock(ctx, account, ttl)
	if err != nil {
		return nil, err
	}
	owner := leasewait.NewOwner()
	ms := max(ttl.Milliseconds(), 1)
	err = pollLease(ctx, account, " in table "+s.table, local, func() (bool, error) {
		res, err := s.db.ExecContext(ctx, s.q.lock, account, owner, ms)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	})
	if err != nil {
		return nil, err
	}
	return &sharedLease{
		local:   local,
		account: account,
		where:   " in table " + s.table,
		extend: func(ctx context.Context, ttl time.Duration) (bool, error) {
			res, err := s.db.ExecContext(ctx, s.q.extend, account, owner, max(ttl.Milliseconds(), 1))
			if err != nil {
				return false, err
			}
			n, err := res.RowsAffected()
			return n == 1, err
		},
		release: func(ctx context.Context) error {
			// A lapsed lease taken over by someone else has another
			// owner: nothing is deleted then.
			_, err := s.db.ExecContext(ctx, s.q.unlock, account, owner)
			return err
		},
	}, nil
}

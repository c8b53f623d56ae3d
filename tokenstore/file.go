package tokenstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrCorrupt is wrapped by [*CorruptError].
var ErrCorrupt = errors.New("tokenstore: stored record is corrupt")

// CorruptError reports a record file that cannot be decoded. It never
// contains the file's contents.
type CorruptError struct {
	// Path is the file.
	Path string
	// Err is the decoding error.
	Err error
}

// Error says which file and what to do.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("tokenstore: %s is corrupt (%v): delete the file and have the account authorized again", e.Path, e.Err)
}

// Unwrap returns [ErrCorrupt].
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// File is the embedded default [oauth2client.TokenStore] for a single
// process: one JSON file per account in a directory, named by the SHA-256
// of the account key (so any key is safe as a name). Writes are atomic
// and durable: the record goes to a temporary file created 0600, which is
// synced, renamed over the old one, and the directory synced, so after a
// crash (even kill -9 or power loss) each record is either the old or
// the new version in full.
//
// File implements [oauth2client.CompareAndSwapper], [oauth2client.Lister]
// and [oauth2client.Locker] (within one process). It is safe for
// concurrent use by one process; for several processes use the SQL store.
// Records hold tokens in the clear: wrap the store with encryption or
// keep the directory private (it is created 0700).
type File struct {
	dir   string
	locks *Memory // per-account refresh leases

	mu      sync.Mutex
	writers map[string]*sync.Mutex
}

const fileExt = ".json"

// OpenFile opens (creating if needed, mode 0700) the store in dir.
func OpenFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("tokenstore: OpenFile needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tokenstore: creating %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("tokenstore: %s is not a directory", dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tokenstore: %s is accessible by other users (mode %v): run chmod 700 on it", dir, st.Mode().Perm())
	}
	// Leftovers of writes interrupted by a crash.
	if tmps, err := filepath.Glob(filepath.Join(dir, "*.tmp")); err == nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	return &File{dir: dir, locks: NewMemory(), writers: make(map[string]*sync.Mutex)}, nil
}

// Dir returns the store's directory.
func (f *File) Dir() string { return f.dir }

func (f *File) path(account string) string {
	h := sha256.Sum256([]byte(account))
	return filepath.Join(f.dir, hex.EncodeToString(h[:])+fileExt)
}

func (f *File) writer(account string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.writers[account]
	if !ok {
		m = new(sync.Mutex)
		f.writers[account] = m
	}
	return m
}

// Load implements [oauth2client.TokenStore].
func (f *File) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := f.read(f.path(account))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenstore: account %q: %w", account, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if rec.Account != account {
		return nil, &CorruptError{Path: f.path(account), Err: errors.New("the record belongs to another account")}
	}
	return rec, nil
}

func (f *File) read(path string) (*oauth2client.Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeRecord(path, b)
}

// DecodeRecord decodes a record as File writes it. Errors are
// [*CorruptError] values naming source.
func DecodeRecord(source string, b []byte) (*oauth2client.Record, error) {
	var rec oauth2client.Record
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, &CorruptError{Path: source, Err: errors.New(describeJSONError(err))}
	}
	if dec.More() {
		return nil, &CorruptError{Path: source, Err: errors.New("trailing data")}
	}
	if rec.Account == "" {
		return nil, &CorruptError{Path: source, Err: errors.New("no account key")}
	}
	return &rec, nil
}

// describeJSONError keeps the kind of a JSON error but never the data.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	}
	return "invalid JSON"
}

// Save implements [oauth2client.TokenStore].
func (f *File) Save(ctx context.Context, rec *oauth2client.Record) error {
	return f.write(ctx, rec, false)
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper].
func (f *File) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return f.write(ctx, rec, true)
}

func (f *File) write(ctx context.Context, rec *oauth2client.Record, cas bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Account == "" {
		return errEmptyAccount
	}
	w := f.writer(rec.Account)
	w.Lock()
	defer w.Unlock()
	path := f.path(rec.Account)
	var cur int64
	switch old, err := f.read(path); {
	case err == nil:
		cur = old.Version
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, ErrCorrupt) && !cas:
		// An unconditional save replaces a corrupt record.
	default:
		return err
	}
	if cas && cur != rec.Version {
		return &ConflictError{Account: rec.Account, Expected: rec.Version, Actual: cur}
	}
	next := rec.Clone()
	next.Version = cur + 1
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("tokenstore: encoding account %q: %w", rec.Account, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("tokenstore: writing account %q: %w", rec.Account, err)
	}
	rec.Version = next.Version
	return nil
}

// writeAtomic replaces path with b so that a crash leaves the old or the
// new content, never a mix.
func writeAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".rec-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements [oauth2client.TokenStore].
func (f *File) Delete(ctx context.Context, account string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := f.writer(account)
	w.Lock()
	defer w.Unlock()
	err := os.Remove(f.path(account))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tokenstore: deleting account %q: %w", account, err)
	}
	return nil
}

// List implements [oauth2client.Lister]. Corrupt files are skipped.
func (f *File) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: listing %s: %w", f.dir, err)
	}
	var keys []string
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), fileExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rec, err := f.read(filepath.Join(f.dir, e.Name()))
		if err != nil {
			continue
		}
		keys = append(keys, rec.Account)
	}
	return keys, nil
}

// Lock implements [oauth2client.Locker] within the process.
func (f *File) Lock(ctx context.Context, account string, ttl time.Duration) (func(context.Context) error, error) {
	return f.locks.Lock(ctx, account, ttl)
}

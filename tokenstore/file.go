package tokenstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrCorrupt is wrapped by [*CorruptError]: a stored record cannot be
// read back.
var ErrCorrupt = errors.New("tokenstore: stored record is corrupt")

// CorruptError reports a record file that cannot be decoded. It never
// contains the file's contents. It matches [ErrCorrupt] and
// [oauth2client.ErrUnreadable] with [errors.Is].
type CorruptError struct {
	// Path is the file (for [SQL], the table and account).
	Path string
	// Err describes the problem (kind and offset, never data).
	Err error
}

// Error says which file is damaged and what to do.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("tokenstore: %s is corrupt (%v): delete it and have the account authorized again", e.Path, e.Err)
}

// Unwrap returns [ErrCorrupt], [oauth2client.ErrUnreadable] and the
// underlying problem.
func (e *CorruptError) Unwrap() []error {
	return []error{ErrCorrupt, oauth2client.ErrUnreadable, e.Err}
}

// ErrInsecure is wrapped by the errors of [OpenFile] and [File.Load] when
// the directory or a record file is accessible to other users.
var ErrInsecure = errors.New("tokenstore: token files are accessible to other users")

// File is the embedded default [oauth2client.TokenStore] for a single
// process: one JSON file per account in a directory, named by the hex
// SHA-256 of the account key (so any key, with slashes, dots or unicode,
// is a safe name). Writes are atomic and durable: the record goes to a
// temporary file created 0600 in the same directory, which is synced,
// renamed over the old file, and the directory synced. After a crash
// (kill -9 or power loss) each record is either its old or its new
// version in full.
//
// File implements [oauth2client.CompareAndSwapper] (by version),
// [oauth2client.Lister] (by reading the directory) and
// [oauth2client.Locker] (a lease file per account). Several processes on
// one machine may share a directory: writers of one account are
// serialised by one of 64 stripes chosen by the account's hash, each a
// mutex within the process and an flock(2) on a lock file in the
// directory across processes (on Linux, macOS and the BSDs; elsewhere
// within the process only). The refresh lease expires by the machine's
// clock, so a killed holder cannot block its account for longer than its
// ttl. For instances on several machines use the SQL store: flock over
// network file systems is unreliable.
//
// Methods check ctx before they start; a write that has started is
// finished, so that it cannot be interrupted between the data and the
// rename.
//
// Records hold tokens in the clear: keep the directory private (it is
// created 0700, and files or a directory open to other users are refused)
// and wrap the store with [NewEncrypted]. A File is safe for concurrent
// use by multiple goroutines and processes.
type File struct {
	dir    string
	stripe [64]sync.Mutex // writers of one account take stripe[hash[0]%64]
	seqMu  sync.Mutex     // taken inside a stripe, around the sequence file's flock
	leases leases
}

const (
	fileExt = ".json"
	tmpGlob = ".rec-*.tmp"
	// tmpPattern names a write's temporary file after its stripe, so
	// that OpenFile removes only those no writer is using.
	tmpPattern = ".rec-%02x-*.tmp"
)

// OpenFile opens the store in dir, creating the directory (mode 0700,
// with its parents) if needed. It refuses a directory that other users
// can access, and removes temporary files left by writes a crash
// interrupted.
func OpenFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("tokenstore: OpenFile needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tokenstore: creating the token directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("tokenstore: %s is not a directory: pass a directory to OpenFile", dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v: run chmod 700 on it", ErrInsecure, dir, st.Mode().Perm())
	}
	tmps, err := filepath.Glob(filepath.Join(dir, tmpGlob))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	f := &File{dir: dir}
	for _, t := range tmps {
		remove := func() error {
			if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("tokenstore: removing an interrupted write: %w", err)
			}
			return nil
		}
		// Another process may be writing it: wait for its stripe.
		if i, ok := tmpStripe(filepath.Base(t)); ok {
			err = f.exclusive(i, remove)
		} else {
			err = remove()
		}
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Dir returns the store's directory.
func (f *File) Dir() string { return f.dir }

// path returns the file of account's record and the stripe that
// serialises its writers.
func (f *File) path(account string) (string, int) {
	h := sha256.Sum256([]byte(account))
	return filepath.Join(f.dir, hex.EncodeToString(h[:])+fileExt), int(h[0]) % len(f.stripe)
}

// Load implements [oauth2client.TokenStore]. A record that cannot be
// decoded gives a [*CorruptError]; a file other users can read gives an
// error wrapping [ErrInsecure].
func (f *File) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctxErr(ctx, "loading", account); err != nil {
		return nil, err
	}
	path, _ := f.path(account)
	rec, err := readAccount(path, account)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(account)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// readAccount reads account's record from path.
func readAccount(path, account string) (*oauth2client.Record, error) {
	rec, err := readRecord(path)
	if err != nil {
		return nil, err
	}
	if rec.Account != account {
		return nil, &CorruptError{Path: path, Err: errors.New("the file holds another account's record")}
	}
	return rec, nil
}

// maxRecordSize bounds what readRecord reads: a damaged or foreign file
// must not exhaust memory.
const maxRecordSize = 64 << 20

func readRecord(path string) (*oauth2client.Record, error) {
	fh, err := os.Open(path) // #nosec G304 -- a record file inside the store directory; the name is derived from a hash of the account
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("tokenstore: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &CorruptError{Path: path, Err: errors.New("not a regular file")}
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v: run chmod 600 on it", ErrInsecure, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: reading %s: %w", path, err)
	}
	if len(b) > maxRecordSize {
		return nil, &CorruptError{Path: path, Err: fmt.Errorf("larger than %d bytes", maxRecordSize)}
	}
	return decodeRecord(path, b)
}

// decodeRecord decodes a record as File writes it. Unknown fields are
// ignored, so that a newer version's records stay readable.
func decodeRecord(path string, b []byte) (*oauth2client.Record, error) {
	var rec oauth2client.Record
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rec); err != nil {
		return nil, &CorruptError{Path: path, Err: errors.New(describeJSONError(err))}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &CorruptError{Path: path, Err: errors.New("trailing data after the record")}
	}
	if rec.Account == "" {
		return nil, &CorruptError{Path: path, Err: errors.New("no account key")}
	}
	return &rec, nil
}

// describeJSONError keeps the kind of a JSON error but never the data.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "invalid JSON"
}

// Save implements [oauth2client.TokenStore]: an unconditional write. It
// replaces a corrupt record.
func (f *File) Save(ctx context.Context, rec *oauth2client.Record) error {
	return f.write(ctx, rec, false)
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper]. A lost race
// returns a [*ConflictError]; a corrupt stored record a [*CorruptError].
func (f *File) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return f.write(ctx, rec, true)
}

func (f *File) write(ctx context.Context, rec *oauth2client.Record, cas bool) error {
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	path, stripe := f.path(rec.Account)
	return f.exclusive(stripe, func() error { return f.writeLocked(path, stripe, rec, cas) })
}

func (f *File) writeLocked(path string, stripe int, rec *oauth2client.Record, cas bool) error {
	var cur int64
	switch old, err := readAccount(path, rec.Account); {
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
	v, err := f.nextVersion(cur)
	if err != nil {
		return fmt.Errorf("tokenstore: writing account %q: %w", rec.Account, err)
	}
	next.Version = v
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("tokenstore: encoding account %q: %w", rec.Account, err)
	}
	if err := writeAtomic(path, fmt.Sprintf(tmpPattern, stripe), b); err != nil {
		return fmt.Errorf("tokenstore: writing account %q: %w", rec.Account, err)
	}
	rec.Version = next.Version
	return nil
}

// writeAtomic replaces path with b so that a crash leaves the old or the
// new content, never a mix.
func writeAtomic(path, pattern string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, pattern) // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
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
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the store directory, from the application's configuration
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements [oauth2client.TokenStore]. Deleting a missing account
// is not an error.
func (f *File) Delete(ctx context.Context, account string) error {
	if err := ctxErr(ctx, "deleting", account); err != nil {
		return err
	}
	path, stripe := f.path(account)
	err := f.exclusive(stripe, func() error {
		err := os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			err = syncDir(f.dir)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("tokenstore: deleting account %q: %w", account, err)
	}
	return nil
}

// List implements [oauth2client.Lister] by reading the directory. Files
// that cannot be read as records (corrupt, open to other users, or not
// named after the account they hold) are left out; Load reports the
// problem.
func (f *File) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokenstore: listing accounts: %w", err)
	}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: listing %s: %w", f.dir, err)
	}
	keys := []string{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tokenstore: listing accounts: %w", err)
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), fileExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rec, err := readRecord(filepath.Join(f.dir, e.Name()))
		if err != nil {
			continue
		}
		if p, _ := f.path(rec.Account); filepath.Base(p) != e.Name() {
			continue // a copied or renamed file: Load would not find it
		}
		keys = append(keys, rec.Account)
	}
	return keys, nil
}

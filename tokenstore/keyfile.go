package tokenstore

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// maxKeyFile bounds the size of a key file.
const maxKeyFile = 64 << 10

// InsecureKeyFileError reports a key file that users other than its
// owner may read or write. The keys are not used. It matches
// [ErrInsecure] with [errors.Is].
type InsecureKeyFileError struct {
	// Path is the key file.
	Path string
	// Mode is its permission bits.
	Mode fs.FileMode
}

// Error says what is wrong and how to fix it.
func (e *InsecureKeyFileError) Error() string {
	return fmt.Sprintf("tokenstore: key file %s has mode %#o, so other users can read it: run chmod 600 %s (and consider the key exposed)", e.Path, uint32(e.Mode), e.Path)
}

// Is matches [ErrInsecure].
func (e *InsecureKeyFileError) Is(target error) bool { return target == ErrInsecure }

// NewKey returns a [Key] with a fresh random secret under id, or, if id
// is empty, under a new ID of the form "k20261124-1a2b3c4d".
func NewKey(id string) (Key, error) {
	if id == "" {
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails
		id = "k" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
	}
	if !validKeyID(id) {
		return Key{}, fmt.Errorf("tokenstore: key ID %q is invalid: use 1 to %d letters, digits, '-', '_' or '.'", id, maxKeyID)
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	_, _ = rand.Read(k.Secret) // never fails
	return k, nil
}

// keyFileHeader starts every key file LoadOrCreateKeyFile writes.
const keyFileHeader = `# oauth2mail token encryption keys: one "<key ID> <base64 of 32 random bytes>" per line.
# The first key encrypts; every key decrypts. To rotate, add a new first line
# and keep the old lines until tokenstore.Reencrypt has rewritten every record.
`

// LoadOrCreateKeyFile returns the keys in the key file at path (for
// [EncryptionConfig].Keys), creating the file with one new key first if it
// does not exist: mode 0600, in a directory created 0700 if missing. Two
// processes starting at once end up with the same key.
//
// The file holds one key per line, "<key ID> <base64 secret>" (standard
// base64 of [KeySize] bytes); blank lines and lines starting with '#' are
// ignored, and the first key is the primary. A file that other users may
// access gives an [*InsecureKeyFileError], and is not used.
//
// Losing the file makes every stored token unreadable (the accounts must
// be authorized again): back it up apart from the store.
func LoadOrCreateKeyFile(path string) ([]Key, error) {
	keys, err := LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return keys, err
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	return LoadKeyFile(path)
}

// createKeyFile writes a new key file at path unless one appeared
// meanwhile. The file is written under a temporary name and linked into
// place, which fails if path exists, so a reader never sees it half
// written.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tokenstore: creating the directory of key file %s: %w", path, err)
	}
	k, err := NewKey("")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".oauth2mail-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("tokenstore: creating key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	content := keyFileHeader + k.ID + " " + base64.StdEncoding.EncodeToString(k.Secret) + "\n"
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tokenstore: writing key file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("tokenstore: creating key file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // #nosec G304 -- the key file's directory, from the application's configuration
		_ = d.Sync() // make the new name durable
		_ = d.Close()
	}
	return nil
}

// LoadKeyFile returns the keys in the key file at path, in the format
// [LoadOrCreateKeyFile] describes. A missing file gives an error wrapping
// [fs.ErrNotExist]; a file that other users may access gives an
// [*InsecureKeyFileError].
func LoadKeyFile(path string) ([]Key, error) {
	f, err := os.Open(path) // #nosec G304 -- the key file path is the application's configuration
	if err != nil {
		return nil, fmt.Errorf("tokenstore: opening key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tokenstore: key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("tokenstore: key file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureKeyFileError{Path: path, Mode: st.Mode().Perm()}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("tokenstore: reading key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("tokenstore: key file %s is larger than %d bytes: it is not a key file", path, maxKeyFile)
	}
	keys, err := parseKeys(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("tokenstore: key file %s: %w", path, err)
	}
	return keys, nil
}

// parseKeys reads key lines. Its errors never quote the file.
func parseKeys(b []byte) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf(`line %d is not "<key ID> <base64 secret>"`, n)
		}
		if !validKeyID(fields[0]) {
			return nil, fmt.Errorf("line %d: the key ID is invalid: use 1 to %d letters, digits, '-', '_' or '.'", n, maxKeyID)
		}
		secret, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil || len(secret) != KeySize {
			return nil, fmt.Errorf("line %d (key %q): the secret is not the standard base64 of %d bytes", n, fields[0], KeySize)
		}
		if seen[fields[0]] {
			return nil, fmt.Errorf("line %d: key ID %q is used twice", n, fields[0])
		}
		seen[fields[0]] = true
		keys = append(keys, Key{ID: fields[0], Secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no key in the file: delete it to have a new one created, or add a key line")
	}
	return keys, nil
}

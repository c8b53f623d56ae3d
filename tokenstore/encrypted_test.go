package tokenstore_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// testKey returns a key whose secret is fill repeated.
func testKey(id string, fill byte) tokenstore.Key {
	return tokenstore.Key{ID: id, Secret: bytes.Repeat([]byte{fill}, tokenstore.KeySize)}
}

func encrypt(t *testing.T, inner oauth2client.TokenStore, keys ...tokenstore.Key) oauth2client.TokenStore {
	t.Helper()
	s, err := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: keys})
	require.NoError(t, err)
	return s
}

// secretsOf returns the values that must never be stored in the clear.
func secretsOf(rec *oauth2client.Record) []string {
	return []string{string(rec.AccessToken), string(rec.RefreshToken), string(rec.ProviderState)}
}

// everyStore opens a fresh, empty store of each kind in this package
// (PostgreSQL skips without OAUTH2MAIL_TEST_POSTGRES).
var everyStore = []struct {
	name string
	open func(t *testing.T) oauth2client.TokenStore
}{
	{"Memory", func(*testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() }},
	{"File", func(t *testing.T) oauth2client.TokenStore { return openFile(t) }},
	{"SQLite", func(t *testing.T) oauth2client.TokenStore { return newSQL(t, openSQLite(t), tokenstore.SQLite) }},
	{"PostgreSQL", func(t *testing.T) oauth2client.TokenStore { return newSQL(t, openPostgres(t), tokenstore.PostgreSQL) }},
}

func TestEncrypted(t *testing.T) {
	k := testKey("k1", 1)
	for _, in := range everyStore {
		t.Run(in.name, func(t *testing.T) {
			storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore { return encrypt(t, in.open(t), k) },
				storetest.Options{Corrupt: corruptEnvelope})
			t.Run("InvalidRecord", func(t *testing.T) {
				testInvalidRecord(t, encrypt(t, in.open(t), k).(casStore))
			})
		})
	}
}

// bare is a store with only the three required methods.
type bare struct{ oauth2client.TokenStore }

func TestEncryptedKeepsExtensions(t *testing.T) {
	k := testKey("k1", 1)
	type parts struct{ cas, lock, list bool }
	mem := tokenstore.NewMemory()
	tests := []struct {
		name  string
		inner oauth2client.TokenStore
		want  parts
	}{
		{"none", bare{mem}, parts{}},
		{"cas", struct {
			oauth2client.TokenStore
			oauth2client.CompareAndSwapper
		}{mem, mem}, parts{cas: true}},
		{"lock", struct {
			oauth2client.TokenStore
			oauth2client.Locker
		}{mem, mem}, parts{lock: true}},
		{"list", struct {
			oauth2client.TokenStore
			oauth2client.Lister
		}{mem, mem}, parts{list: true}},
		{"cas+lock", struct {
			oauth2client.TokenStore
			oauth2client.CompareAndSwapper
			oauth2client.Locker
		}{mem, mem, mem}, parts{cas: true, lock: true}},
		{"cas+list", struct {
			oauth2client.TokenStore
			oauth2client.CompareAndSwapper
			oauth2client.Lister
		}{mem, mem, mem}, parts{cas: true, list: true}},
		{"lock+list", struct {
			oauth2client.TokenStore
			oauth2client.Locker
			oauth2client.Lister
		}{mem, mem, mem}, parts{lock: true, list: true}},
		{"all", mem, parts{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := encrypt(t, tt.inner, k)
			var got parts
			_, got.cas = s.(oauth2client.CompareAndSwapper)
			_, got.lock = s.(oauth2client.Locker)
			_, got.list = s.(oauth2client.Lister)
			assert.Equal(t, tt.want, got)
			u, ok := s.(interface {
				Unwrap() oauth2client.TokenStore
			})
			require.True(t, ok, "the store unwraps")
			assert.Equal(t, tt.inner, u.Unwrap())

			// The store works whatever it embeds.
			ctx := context.Background()
			rec := storetest.Record("acct-" + tt.name)
			require.NoError(t, s.Save(ctx, rec))
			got2, err := s.Load(ctx, rec.Account)
			require.NoError(t, err)
			assert.Equal(t, rec.AccessToken, got2.AccessToken)
			if c, ok := s.(oauth2client.CompareAndSwapper); ok {
				require.NoError(t, c.CompareAndSwap(ctx, got2))
				assert.ErrorIs(t, c.CompareAndSwap(ctx, rec), oauth2client.ErrConflict)
			}
			require.NoError(t, s.Delete(ctx, rec.Account))
		})
	}
}

// TestEncryptedAtRest reads what the File and SQL stores wrote.
func TestEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	k := testKey("k1", 7)
	rec := storetest.Record("alice")
	rec.AccessToken, rec.RefreshToken = "AT-very-secret-value", "RT-very-secret-value"
	rec.ProviderState = []byte(`{"msal":"PS-very-secret-value"}`)
	secrets := secretsOf(rec)

	t.Run("File", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "tokens")
		f, err := tokenstore.OpenFile(dir)
		require.NoError(t, err)
		require.NoError(t, encrypt(t, f, k).Save(ctx, rec.Clone()))
		files := recordFiles(t, dir)
		require.Len(t, files, 1)
		b, err := os.ReadFile(files[0])
		require.NoError(t, err)
		assert.Contains(t, string(b), `"account":"alice"`, "metadata stays readable")
		for _, s := range append(secrets, "very-secret") {
			assert.NotContains(t, string(b), s)
		}
	})
	t.Run("SQLite", func(t *testing.T) {
		db := openSQLite(t)
		s := newSQL(t, db, tokenstore.SQLite)
		require.NoError(t, encrypt(t, s, k).Save(ctx, rec.Clone()))
		var row string
		require.NoError(t, db.QueryRow("SELECT record FROM "+s.Table()+" WHERE account = 'alice'").Scan(&row))
		assert.Contains(t, row, `"connection":"conn-1"`)
		for _, s := range append(secrets, "very-secret") {
			assert.NotContains(t, row, s)
		}
	})
	t.Run("inner record", func(t *testing.T) {
		mem := tokenstore.NewMemory()
		require.NoError(t, encrypt(t, mem, k).Save(ctx, rec.Clone()))
		raw, err := mem.Load(ctx, "alice")
		require.NoError(t, err)
		assert.Empty(t, raw.AccessToken)
		assert.Empty(t, raw.RefreshToken)
		assert.True(t, bytes.HasPrefix(raw.ProviderState, []byte("O2ME\x01\x02k1")), "envelope names the key")
		assert.Equal(t, rec.Identity, raw.Identity)
		assert.True(t, rec.Expiry.Equal(raw.Expiry))
		assert.Equal(t, rec.Scopes, raw.Scopes)
	})
	t.Run("nonce", func(t *testing.T) {
		mem := tokenstore.NewMemory()
		s := encrypt(t, mem, k)
		require.NoError(t, s.Save(ctx, rec.Clone()))
		a, err := mem.Load(ctx, "alice")
		require.NoError(t, err)
		require.NoError(t, s.Save(ctx, rec.Clone()))
		b, err := mem.Load(ctx, "alice")
		require.NoError(t, err)
		assert.NotEqual(t, a.ProviderState, b.ProviderState, "each write draws a new nonce")
	})
}

// rawRecord loads account's record from the inner store.
func rawRecord(t *testing.T, inner oauth2client.TokenStore, account string) *oauth2client.Record {
	t.Helper()
	r, err := inner.Load(context.Background(), account)
	require.NoError(t, err)
	return r
}

func TestEncryptedCopiedCiphertext(t *testing.T) {
	ctx := context.Background()
	for _, in := range []struct {
		name string
		open func(t *testing.T) oauth2client.TokenStore
	}{
		{"Memory", func(*testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() }},
		{"SQLite", func(t *testing.T) oauth2client.TokenStore { return newSQL(t, openSQLite(t), tokenstore.SQLite) }},
	} {
		t.Run(in.name, func(t *testing.T) {
			inner := in.open(t)
			s := encrypt(t, inner, testKey("k1", 1))
			require.NoError(t, s.Save(ctx, storetest.Record("alice")))
			require.NoError(t, s.Save(ctx, storetest.Record("mallory")))

			// Someone with write access to the database copies alice's
			// ciphertext into mallory's row.
			m := rawRecord(t, inner, "mallory")
			m.ProviderState = rawRecord(t, inner, "alice").ProviderState
			require.NoError(t, inner.Save(ctx, m))

			_, err := s.Load(ctx, "mallory")
			var de *tokenstore.DecryptError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, tokenstore.ErrDecrypt)
			assert.ErrorIs(t, err, tokenstore.ErrTampered)
			assert.Equal(t, "mallory", de.Account)
			assert.Equal(t, "k1", de.KeyID)
			for _, sec := range secretsOf(storetest.Record("alice")) {
				assert.NotContains(t, err.Error(), sec)
			}
			got, err := s.Load(ctx, "alice")
			require.NoError(t, err, "the original row still opens")
			assert.Equal(t, storetest.Record("alice").RefreshToken, got.RefreshToken)
		})
	}
}

func TestEncryptedTampered(t *testing.T) {
	ctx := context.Background()
	inner := tokenstore.NewMemory()
	s := encrypt(t, inner, testKey("k1", 1))
	require.NoError(t, s.Save(ctx, storetest.Record("alice")))
	good := rawRecord(t, inner, "alice")
	tests := []struct {
		name string
		mut  func(r *oauth2client.Record)
		want error
	}{
		{"flipped ciphertext bit", func(r *oauth2client.Record) { r.ProviderState[len(r.ProviderState)-1] ^= 1 }, tokenstore.ErrTampered},
		{"truncated", func(r *oauth2client.Record) { r.ProviderState = r.ProviderState[:20] }, tokenstore.ErrMalformed},
		{"other version", func(r *oauth2client.Record) { r.ProviderState[4] = 9 }, tokenstore.ErrMalformed},
		{"renamed key", func(r *oauth2client.Record) { r.ProviderState[7] = '2' }, tokenstore.ErrUnknownKey},
		{"plaintext", func(r *oauth2client.Record) {
			r.AccessToken, r.ProviderState = "planted", nil
		}, tokenstore.ErrNotEncrypted},
		{"plaintext next to envelope", func(r *oauth2client.Record) { r.AccessToken = "planted" }, tokenstore.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good.Clone()
			tt.mut(r)
			r.Version = 0
			require.NoError(t, inner.Save(ctx, r))
			_, err := s.Load(ctx, "alice")
			assert.ErrorIs(t, err, tokenstore.ErrDecrypt)
			assert.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "planted")
		})
	}
}

func TestEncryptedWrongKey(t *testing.T) {
	ctx := context.Background()
	inner := newSQL(t, openSQLite(t), tokenstore.SQLite)
	right := testKey("k1", 1)
	require.NoError(t, encrypt(t, inner, right).Save(ctx, storetest.Record("alice")))
	before := rawRecord(t, inner, "alice")

	tests := []struct {
		name string
		key  tokenstore.Key
		want error
	}{
		{"same ID, other secret", testKey("k1", 2), tokenstore.ErrWrongKey},
		{"other ID", testKey("k2", 1), tokenstore.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := encrypt(t, inner, tt.key)
			_, err := s.Load(ctx, "alice")
			var de *tokenstore.DecryptError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, "k1", de.KeyID)
			assert.ErrorContains(t, err, `"k1"`)

			// The Client fails the same way and writes nothing.
			c, err := oauth2client.New(oauth2client.Config{RedirectURL: "https://mail.example.com/cb", Store: s})
			require.NoError(t, err)
			_, err = c.Token(ctx, "alice")
			assert.ErrorIs(t, err, tt.want)
			after := rawRecord(t, inner, "alice")
			assert.Equal(t, before, after, "nothing changed")
		})
	}
	got, err := encrypt(t, inner, right).Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, storetest.Record("alice").AccessToken, got.AccessToken)
}

func TestEncryptedRotation(t *testing.T) {
	ctx := context.Background()
	inner := tokenstore.NewMemory()
	old, next := testKey("2025", 1), testKey("2026", 2)
	require.NoError(t, encrypt(t, inner, old).Save(ctx, storetest.Record("alice")))
	require.NoError(t, encrypt(t, inner, old).Save(ctx, storetest.Record("bob")))

	rotated := encrypt(t, inner, next, old)
	rec, err := rotated.Load(ctx, "alice")
	require.NoError(t, err, "the old key still opens")
	assert.True(t, bytes.HasPrefix(rawRecord(t, inner, "alice").ProviderState, []byte("O2ME\x01\x042025")), "a load does not rewrite")
	require.NoError(t, rotated.(oauth2client.CompareAndSwapper).CompareAndSwap(ctx, rec))
	assert.True(t, bytes.HasPrefix(rawRecord(t, inner, "alice").ProviderState, []byte("O2ME\x01\x042026")), "a write seals with the primary")

	onlyNew := encrypt(t, inner, next)
	got, err := onlyNew.Load(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, storetest.Record("alice").RefreshToken, got.RefreshToken)
	_, err = onlyNew.Load(ctx, "bob")
	assert.ErrorIs(t, err, tokenstore.ErrUnknownKey, "bob was not written again")
}

func TestEncryptedPlaintextMigration(t *testing.T) {
	ctx := context.Background()
	inner := tokenstore.NewMemory()
	require.NoError(t, inner.Save(ctx, storetest.Record("legacy")))
	k := testKey("k1", 1)

	_, err := encrypt(t, inner, k).Load(ctx, "legacy")
	require.ErrorIs(t, err, tokenstore.ErrNotEncrypted)
	assert.ErrorContains(t, err, "InsecureAcceptPlaintext")

	s, err := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{k}, InsecureAcceptPlaintext: true})
	require.NoError(t, err)
	rec, err := s.Load(ctx, "legacy")
	require.NoError(t, err)
	assert.Equal(t, storetest.Record("legacy").AccessToken, rec.AccessToken)
	require.NoError(t, s.Save(ctx, rec))
	raw := rawRecord(t, inner, "legacy")
	assert.Empty(t, raw.AccessToken, "written again: sealed")
	got, err := encrypt(t, inner, k).Load(ctx, "legacy")
	require.NoError(t, err)
	assert.Equal(t, storetest.Record("legacy").AccessToken, got.AccessToken)
}

func TestEncryptedEmptyAndNil(t *testing.T) {
	ctx := context.Background()
	s := encrypt(t, tokenstore.NewMemory(), testKey("k1", 1))
	for _, ps := range [][]byte{nil, {}} {
		rec := &oauth2client.Record{Account: "a", Grant: oauth2client.Grant{ProviderState: ps}}
		require.NoError(t, s.Save(ctx, rec))
		got, err := s.Load(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, oauth2client.SecretBytes(ps), got.ProviderState, "nil and empty provider state survive")
		assert.Empty(t, got.AccessToken)
	}
}

func TestNewEncryptedErrors(t *testing.T) {
	mem := tokenstore.NewMemory()
	good := testKey("k1", 1)
	tests := []struct {
		name  string
		inner oauth2client.TokenStore
		keys  []tokenstore.Key
		want  string
	}{
		{"nil inner", nil, []tokenstore.Key{good}, "inner store is nil"},
		{"no keys", mem, nil, "Keys is empty"},
		{"short key", mem, []tokenstore.Key{{ID: "k", Secret: make([]byte, 16)}}, "needs exactly 32"},
		{"empty ID", mem, []tokenstore.Key{{Secret: good.Secret}}, "key ID \"\" is invalid"},
		{"ID with space", mem, []tokenstore.Key{{ID: "a b", Secret: good.Secret}}, "is invalid"},
		{"long ID", mem, []tokenstore.Key{{ID: strings.Repeat("a", 65), Secret: good.Secret}}, "is invalid"},
		{"duplicate", mem, []tokenstore.Key{good, testKey("k1", 2)}, "used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tokenstore.NewEncrypted(tt.inner, tokenstore.EncryptionConfig{Keys: tt.keys})
			assert.Nil(t, s)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "tokens.key")
	keys, err := tokenstore.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Len(t, keys[0].Secret, tokenstore.KeySize)
	assert.Regexp(t, `^k\d{8}-[0-9a-f]{8}$`, keys[0].ID)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	dst, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), dst.Mode().Perm())

	again, err := tokenstore.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	assert.Equal(t, keys, again, "the second run reads the same key")
	s, err := tokenstore.NewEncrypted(tokenstore.NewMemory(), tokenstore.EncryptionConfig{Keys: again})
	require.NoError(t, err)
	assert.NotNil(t, s)

	t.Run("readable by others", func(t *testing.T) {
		for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
			require.NoError(t, os.Chmod(path, mode))
			_, err := tokenstore.LoadOrCreateKeyFile(path)
			var ie *tokenstore.InsecureKeyFileError
			require.ErrorAs(t, err, &ie, "mode %v", mode)
			assert.ErrorIs(t, err, tokenstore.ErrInsecure)
			assert.Equal(t, mode, ie.Mode)
			assert.ErrorContains(t, err, "chmod 600 "+path)
		}
		require.NoError(t, os.Chmod(path, 0o600))
		_, err := tokenstore.LoadKeyFile(path)
		require.NoError(t, err)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := tokenstore.LoadKeyFile(filepath.Join(t.TempDir(), "none"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("not a file", func(t *testing.T) {
		dir := t.TempDir()
		_, err := tokenstore.LoadOrCreateKeyFile(dir)
		assert.ErrorContains(t, err, "not a regular file")
	})
}

func TestKeyFileContents(t *testing.T) {
	const secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
	tests := []struct {
		name, content string
		want          string // error; empty for success
		ids           []string
	}{
		{"two keys", "# comment\n\nnew " + secret + "\nold " + secret + "\n", "", []string{"new", "old"}},
		{"no newline", "k " + secret, "", []string{"k"}},
		{"empty", "# nothing\n", "no key in the file", nil},
		{"one field", secret + "\n", "line 1 is not", nil},
		{"bad base64", "k " + secret[:10] + "!\n", "line 1 (key \"k\"): the secret is not", nil},
		{"short secret", "k AAEC\n", "is not the standard base64 of 32 bytes", nil},
		{"bad ID", "k/1 " + secret + "\n", "line 1: the key ID is invalid", nil},
		{"duplicate", "k " + secret + "\nk " + secret + "\n", "line 2: key ID \"k\" is used twice", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			keys, err := tokenstore.LoadKeyFile(path)
			if tt.want != "" {
				assert.ErrorContains(t, err, tt.want)
				assert.NotContains(t, err.Error(), secret[:10], "the secret is not quoted")
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
				assert.Equal(t, byte(31), k.Secret[31])
			}
			assert.Equal(t, tt.ids, ids)
		})
	}
}

// TestKeyFileRace starts several instances on a fresh key file at once:
// they all end up with the one key that was written.
func TestKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.key")
	const n = 8
	got := make([][]tokenstore.Key, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = tokenstore.LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, got[0], got[i])
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

func TestNewKey(t *testing.T) {
	a, err := tokenstore.NewKey("")
	require.NoError(t, err)
	b, err := tokenstore.NewKey("named")
	require.NoError(t, err)
	assert.Equal(t, "named", b.ID)
	assert.NotEqual(t, a.Secret, b.Secret)
	_, err = tokenstore.NewKey("no spaces")
	assert.ErrorContains(t, err, "is invalid")
}

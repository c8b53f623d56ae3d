package tokenstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// An embedded application keeps its tokens in a File store, encrypted
// with a key file created on first run.
func ExampleNewEncrypted() {
	dir, err := os.MkdirTemp("", "app")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	keys, err := tokenstore.LoadOrCreateKeyFile(filepath.Join(dir, "tokens.key"))
	if err != nil {
		log.Fatal(err) // e.g. *InsecureKeyFileError: chmod 600 the file
	}
	files, err := tokenstore.OpenFile(filepath.Join(dir, "tokens"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	_ = store.Save(ctx, &oauth2client.Record{Account: "alice", Connection: "m365",
		Grant: oauth2client.Grant{AccessToken: "eyJ0eXAi...", RefreshToken: "0.AXoA..."}})
	rec, _ := store.Load(ctx, "alice")
	fmt.Println(rec.RefreshToken.Reveal())

	raw, _ := files.Load(ctx, "alice") // what is on disk
	fmt.Printf("on disk: %q\n", raw.RefreshToken.Reveal())

	_, isCAS := store.(oauth2client.CompareAndSwapper)
	fmt.Println("compare-and-swap:", isCAS)
	// Output:
	// 0.AXoA...
	// on disk: ""
	// compare-and-swap: true
}

// Several instances share an encrypted SQLite (or PostgreSQL) store.
func ExampleNewEncrypted_sql() {
	dir, err := os.MkdirTemp("", "app")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "tokens.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	keys, err := tokenstore.LoadOrCreateKeyFile(filepath.Join(dir, "tokens.key"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := tokenstore.NewEncrypted(s, tokenstore.EncryptionConfig{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	_, isLocker := store.(oauth2client.Locker)
	fmt.Println("cross-process refresh lock:", isLocker)
	// Output: cross-process refresh lock: true
}

// Rotating keys: the new key goes first and encrypts every write; the
// old one still opens the records written before.
func ExampleEncryptionConfig_rotation() {
	oldKey, _ := tokenstore.NewKey("2025")
	newKey, _ := tokenstore.NewKey("2026")
	inner := tokenstore.NewMemory()
	ctx := context.Background()

	before, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{oldKey}})
	_ = before.Save(ctx, &oauth2client.Record{Account: "alice", Grant: oauth2client.Grant{RefreshToken: "rt"}})

	after, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{newKey, oldKey}})
	rec, err := after.Load(ctx, "alice")
	fmt.Println(rec.RefreshToken.Reveal(), err)
	_ = after.Save(ctx, rec) // sealed with "2026" now

	onlyNew, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{newKey}})
	_, err = onlyNew.Load(ctx, "alice")
	fmt.Println(err)

	_, err = before.Load(ctx, "alice")
	fmt.Println(errors.Is(err, tokenstore.ErrUnknownKey))
	// Output:
	// rt <nil>
	// <nil>
	// true
}

// Retiring a key: after putting the new key first, Reencrypt rewrites
// every record still sealed with an older key; once it reports no
// failures, the old key can go.
func ExampleReencrypt() {
	oldKey, _ := tokenstore.NewKey("2025")
	newKey, _ := tokenstore.NewKey("2026")
	inner := tokenstore.NewMemory()
	ctx := context.Background()
	before, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{oldKey}})
	for _, account := range []string{"alice", "bob"} {
		_ = before.Save(ctx, &oauth2client.Record{Account: account, Grant: oauth2client.Grant{RefreshToken: "rt"}})
	}

	store, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{newKey, oldKey}})
	res, err := tokenstore.Reencrypt(ctx, store)
	fmt.Printf("%+v %v\n", res, err)

	onlyNew, _ := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{newKey}})
	_, err = onlyNew.Load(ctx, "bob")
	fmt.Println(err)
	// Output:
	// {Rewritten:2 Current:0 Skipped:0 Failed:0} <nil>
	// <nil>
}

// A key file that other users can read is refused, with the fix in the
// message.
func ExampleLoadOrCreateKeyFile() {
	dir, err := os.MkdirTemp("", "app")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tokens.key")

	keys, err := tokenstore.LoadOrCreateKeyFile(path) // first run: creates it 0600
	if err != nil {
		log.Fatal(err)
	}
	st, _ := os.Stat(path)
	fmt.Println(len(keys), st.Mode().Perm())

	_ = os.Chmod(path, 0o644) // a careless copy
	_, err = tokenstore.LoadOrCreateKeyFile(path)
	var insecure *tokenstore.InsecureKeyFileError
	if errors.As(err, &insecure) {
		fmt.Printf("refused: mode %#o\n", uint32(insecure.Mode))
	}
	// Output:
	// 1 -rw-------
	// refused: mode 0644
}

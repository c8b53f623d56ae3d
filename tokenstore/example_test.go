package tokenstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the application chooses the driver

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func ExampleNewMemory() {
	store := tokenstore.NewMemory()
	ctx := context.Background()
	_ = store.Save(ctx, &oauth2client.Record{Account: "alice", Connection: "contoso"})
	rec, _ := store.Load(ctx, "alice")
	fmt.Println(rec.Connection, rec.Version)
	_, err := store.Load(ctx, "bob")
	fmt.Println(errors.Is(err, tokenstore.ErrNotFound))
	// Output:
	// contoso 1
	// true
}

func ExampleOpenFile() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := tokenstore.OpenFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauth2client.New(oauth2client.Config{
		RedirectURL: "https://mail.example.com/oauth2/callback",
		Store:       store,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.RedirectURL())
	// Output: https://mail.example.com/oauth2/callback
}

// A compare-and-swap write fails when another writer got there first.
func ExampleFile_CompareAndSwap() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := tokenstore.OpenFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	first := &oauth2client.Record{Account: "ümlaut/user@example.com"}
	if err := store.CompareAndSwap(ctx, first); err != nil { // version 0: create
		log.Fatal(err)
	}
	mine, _ := store.Load(ctx, first.Account)
	theirs, _ := store.Load(ctx, first.Account)
	theirs.Status = oauth2client.StatusNeedsReauth
	fmt.Println(store.CompareAndSwap(ctx, theirs))
	err = store.CompareAndSwap(ctx, mine)
	fmt.Println(errors.Is(err, tokenstore.ErrConflict))
	// Output:
	// <nil>
	// true
}

func ExampleNewSQL() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "tokens.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: tokenstore.SQLite})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil { // at startup: creates or upgrades the tables
		log.Fatal(err)
	}
	rec := &oauth2client.Record{Account: "alice", Connection: "contoso"}
	if err := store.Save(ctx, rec); err != nil {
		log.Fatal(err)
	}
	accounts, _ := store.List(ctx)
	fmt.Println(store.Table(), accounts, rec.Version)
	// Output: oauth2mail_tokens [alice] 1
}

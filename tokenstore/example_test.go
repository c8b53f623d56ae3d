package tokenstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

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
	fmt.Println(err)
	// Output:
	// contoso 1
	// tokenstore: account "bob": oauth2client: no token stored for this account
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

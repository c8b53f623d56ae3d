package tokenstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// Several instances sharing one database, no Redis: the pending
// authorizations go in a table next to the tokens, and the callback may
// land on any instance. Each state is taken once.
func ExampleNewSQLStateStore() {
	dir, err := os.MkdirTemp("", "states")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	states, err := tokenstore.NewSQLStateStore(tokenstore.SQLStateConfig{DB: db, Dialect: tokenstore.SQLite, Limits: oauth2client.StateLimits{MaxPending: 10000}})
	if err != nil {
		log.Fatal(err)
	}
	if err := states.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	// In an application: oauth2client.New(oauth2client.Config{States: states, ...}).
	p := &oauth2client.Pending{Connection: "contoso", Account: "alice", MAC: []byte{1}, Verifier: "v", Expires: time.Now().Add(10 * time.Minute)}
	if err := states.Put(ctx, "state-id", p); err != nil {
		log.Fatal(err)
	}
	got, err := states.Take(ctx, "state-id")
	fmt.Println(states.Table(), got.Account, err)
	_, err = states.Take(ctx, "state-id")
	fmt.Println(errors.Is(err, oauth2client.ErrStateReplayed))
	// Output:
	// oauth2mail_states alice <nil>
	// true
}

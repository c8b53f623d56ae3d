package faultstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/faultstore"
)

// Wrap the store your test uses, hand the wrapper to the code under test
// (an oauth2client.Client: Config.Store), and make the store fail when
// you want it to.
func Example() {
	faults := faultstore.New(tokenstore.NewMemory(), faultstore.Config{Seed: 1})
	store := faults.TokenStore() // pass this as oauth2client.Config.Store
	ctx := context.Background()

	faults.FailNext(faultstore.OpSave, 1)
	rec := &oauth2client.Record{Account: "alice", Connection: "m365"}
	err := store.Save(ctx, rec)
	fmt.Println("injected:", errors.Is(err, faultstore.ErrInjected))
	fmt.Println("retry:", store.Save(ctx, rec))
	fmt.Println("saves:", faults.Calls(faultstore.OpSave), "failed:", faults.Injected(faultstore.OpSave))
	// Output:
	// injected: true
	// retry: <nil>
	// saves: 2 failed: 1
}

// An outage: every operation fails until Up, and a lease whose release
// failed is still held until it is released again.
func ExampleStore_Down() {
	faults := faultstore.New(tokenstore.NewMemory(), faultstore.Config{})
	locker := faults.TokenStore().(oauth2client.Locker)
	ctx := context.Background()

	lease, _ := locker.Lock(ctx, "alice", time.Minute)
	faults.Down()
	fmt.Println(lease.Release(ctx))
	faults.Up()
	fmt.Println(lease.Release(ctx))
	// Output:
	// faultstore: Release of account "alice" failed: dial tcp 127.0.0.1:5432: connect: connection refused
	// <nil>
}

// The write that decides whether a rotated refresh token survives: the
// provider has issued a new grant, and the store fails to save it.
func ExampleStore_FailSaveAfterRefresh() {
	faults := faultstore.New(tokenstore.NewMemory(), faultstore.Config{})
	store := faults.TokenStore().(oauth2client.CompareAndSwapper)
	ctx := context.Background()
	rec := &oauth2client.Record{Account: "alice", Grant: oauth2client.Grant{AccessToken: "at-1", RefreshToken: "rt-1"}}
	_ = store.CompareAndSwap(ctx, rec)

	faults.FailSaveAfterRefresh(1)
	rec.AccessToken, rec.RefreshToken = "at-2", "rt-2" // a refresh rotated the grant
	fmt.Println(store.CompareAndSwap(ctx, rec))
	fmt.Println(store.CompareAndSwap(ctx, rec))
	// Output:
	// faultstore: CompareAndSwap of account "alice" failed: read tcp 127.0.0.1:5432: read: connection reset by peer
	// <nil>
}

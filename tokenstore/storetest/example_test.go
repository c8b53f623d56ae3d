package storetest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// Run the suite from a test of your own store, giving it a fresh, empty
// store for each subtest. (This example is compiled, not run: the suite
// needs the *testing.T of a real test.)
func ExampleRun() {
	_ = func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) oauth2client.TokenStore {
			return tokenstore.NewMemory() // your store here
		})
	}
}

// With a way to damage a stored record, the suite also checks that an
// unreadable record loads as oauth2client.ErrUnreadable and that Delete
// clears it. (Compiled, not run, like ExampleRun.)
func ExampleRunWith() {
	_ = func(t *testing.T) {
		storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore {
			s, err := tokenstore.OpenFile(filepath.Join(t.TempDir(), "tokens"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, storetest.Options{Corrupt: func(t *testing.T, s oauth2client.TokenStore, account string) {
			// Overwrite the account's record file with a truncated one.
			h := sha256.Sum256([]byte(account))
			name := filepath.Join(s.(*tokenstore.File).Dir(), hex.EncodeToString(h[:])+".json")
			if err := os.WriteFile(name, []byte("{truncated"), 0o600); err != nil {
				t.Fatal(err)
			}
		}})
	}
}

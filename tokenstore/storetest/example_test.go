package storetest_test

import (
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

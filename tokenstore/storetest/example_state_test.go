package storetest_test

import (
	"testing"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// Run the state store suite from a test of your own StateStore, giving it
// a fresh store that reads the time from now. (Compiled, not run: the
// suite needs the *testing.T of a real test.)
func ExampleRunStateStore() {
	_ = func(t *testing.T) {
		storetest.RunStateStore(t, func(t *testing.T, now func() time.Time) oauth2client.StateStore {
			return oauth2client.NewMemoryStateStore(now) // your store here
		})
	}
}

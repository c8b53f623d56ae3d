package storetest_test

import (
	"testing"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func TestMemoryStateStore(t *testing.T) {
	storetest.RunStateStore(t, func(_ *testing.T, now func() time.Time) oauth2client.StateStore {
		return oauth2client.NewMemoryStateStore(now)
	})
}

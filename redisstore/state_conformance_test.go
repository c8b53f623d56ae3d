package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/redisstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func TestStateStoreConformance(t *testing.T) {
	storetest.RunStateStore(t, func(t *testing.T, now func() time.Time) oauth2client.StateStore {
		cfg := openRedis(t)
		cfg.Now = now
		s, err := redisstore.NewStateStore(cfg)
		require.NoError(t, err)
		return s
	})
}

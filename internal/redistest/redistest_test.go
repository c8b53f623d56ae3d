package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/redistest"
)

func TestRestartKeepsData(t *testing.T) {
	s := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v1", 0).Err())

	require.NoError(t, s.Down())
	assert.Error(t, c.Ping(ctx).Err(), "the server is down")
	require.NoError(t, s.Up(ctx))
	assert.Equal(t, "v1", c.Get(ctx, "k").Val(), "kept across a clean restart")

	require.NoError(t, c.Set(ctx, "k", "v2", 0).Err())
	require.NoError(t, s.Crash())
	require.NoError(t, s.Up(ctx))
	assert.Equal(t, "v2", c.Get(ctx, "k").Val(), "kept across a kill")
}

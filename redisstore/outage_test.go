package redisstore_test

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outage is a go-redis hook that fails every command while down, as a
// restarting Redis does.
type outage struct{ down atomic.Bool }

func (o *outage) err() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
}

func (o *outage) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *outage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if o.down.Load() {
			cmd.SetErr(o.err())
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

func (o *outage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if o.down.Load() {
			for _, c := range cmds {
				c.SetErr(o.err())
			}
			return o.err()
		}
		return next(ctx, cmds)
	}
}

// TestLeaseRecoversAfterOutage is issue 13's item 5 for Redis: a lease
// whose Release failed while Redis was unreachable is released by a
// retry once it is back, and a waiter takes it within a second, not
// after the lease's ttl.
func TestLeaseRecoversAfterOutage(t *testing.T) {
	cfg := openRedis(t)
	var o outage
	cfg.Client.AddHook(&o)
	s := newTokenStore(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lease, err := s.Lock(ctx, "acct", time.Minute)
	require.NoError(t, err)
	o.down.Store(true)
	err = lease.Release(ctx)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "Release while Redis is unreachable")
	assert.ErrorContains(t, err, "call Release again")
	_, err = s.Lock(ctx, "acct", time.Minute)
	require.Error(t, err, "a Lock while Redis is unreachable fails rather than waits")
	o.down.Store(false)

	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = s.Lock(wctx, "acct", time.Minute)
	wcancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the failed Release released nothing")

	took := make(chan time.Time, 1)
	go func() {
		defer close(took)
		next, err := s.Lock(ctx, "acct", time.Minute)
		if assert.NoError(t, err) {
			at := time.Now()
			assert.NoError(t, next.Release(ctx))
			took <- at
		}
	}()
	released := time.Now()
	require.NoError(t, lease.Release(ctx), "Release again once Redis is back")
	at, ok := <-took
	require.True(t, ok)
	assert.Less(t, at.Sub(released), time.Second, "the waiter took the released lease only after %v", at.Sub(released))
	assert.NoError(t, lease.Release(ctx), "a third Release is harmless")
}

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

// lostReply is a go-redis hook that lets the next SET through to Redis
// and then reports a connection reset, as when Redis restarts between
// storing a write and answering it.
type lostReply struct{ armed atomic.Bool }

func (l *lostReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lostReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && cmd.Name() == "set" && l.armed.CompareAndSwap(true, false) {
			cmd.SetErr(&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}})
			return cmd.Err()
		}
		return err
	}
}

func (l *lostReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A Lock whose SET landed but whose reply was lost leaves a lease nobody
// knows it holds; the next Lock of the account deletes it instead of
// waiting for it to lapse (issue 13 item 5, found by the real-server
// restart test).
func TestLockAfterALostReplyDoesNotWaitForTheOrphan(t *testing.T) {
	cfg := openRedis(t)
	var l lostReply
	cfg.Client.AddHook(&l)
	s := newTokenStore(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	l.armed.Store(true)
	_, err := s.Lock(ctx, "acct", time.Minute)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	orphan, err := cfg.Client.Get(ctx, cfg.Prefix+"lock:acct").Result()
	require.NoError(t, err, "the SET landed")
	require.NotEmpty(t, orphan)

	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	lease, err := s.Lock(wctx, "acct", time.Minute)
	require.NoError(t, err, "the next Lock waited for the orphaned lease")
	owner, err := cfg.Client.Get(ctx, cfg.Prefix+"lock:acct").Result()
	require.NoError(t, err)
	assert.NotEqual(t, orphan, owner)
	require.NoError(t, lease.Release(ctx))

	// Another TokenStore (another instance) cannot know the orphan: it
	// waits, as it must, for a lease someone may hold.
	l.armed.Store(true)
	_, err = s.Lock(ctx, "acct", time.Minute)
	require.Error(t, err)
	other := newTokenStore(t, cfg)
	octx, ocancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer ocancel()
	_, err = other.Lock(octx, "acct", time.Minute)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

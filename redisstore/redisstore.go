// Package redisstore keeps the state of a multi-instance application in
// Redis: the pending authorizations of the callback handler
// ([StateStore], an [oauth2client.StateStore]), so that a user's return
// from the provider may land on any instance behind the load balancer,
// and optionally the tokens themselves ([TokenStore], an
// [oauth2client.TokenStore] with compare-and-swap, a refresh lock across
// instances and listing).
//
// It is a separate package so that only applications that use Redis
// compile its client, github.com/redis/go-redis/v9; the application
// creates and configures the client (address, TLS, credentials, pool) and
// passes it in as a [redis.UniversalClient] (a single node, Sentinel or
// Cluster client; this package's tests run against a single node). All
// keys start with Config.Prefix; the default, "{oauth2mail}:", carries a
// Cluster hash tag so that the scripts that touch two keys at once find
// them in one slot.
//
// Redis holds these values in memory and in its persistence files as they
// are: wrap the TokenStore with tokenstore.NewEncrypted to keep tokens
// sealed, and use TLS and an ACL user limited to the prefix in production.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// DefaultPrefix starts every key when Config.Prefix is empty.
const DefaultPrefix = "{oauth2mail}:"

// Config configures the stores of this package.
type Config struct {
	// Client is the Redis client. Required.
	Client redis.UniversalClient
	// Prefix starts every key (default [DefaultPrefix]); give each
	// application sharing a Redis its own. For Redis Cluster it must
	// contain a hash tag ("{...}").
	Prefix string
	// Now is the clock used to check a pending authorization's expiry:
	// the same clock as oauth2client.Config.Clock (tests with a fake
	// clock must pass it here too). Zero means time.Now.
	Now func() time.Time
	// StateLimits bound the pending authorizations the [StateStore]
	// holds, in total and per browser session, as for the in-memory
	// store (zero values mean oauth2client.DefaultMaxPending and
	// oauth2client.DefaultMaxPendingPerSession).
	StateLimits oauth2client.StateLimits
}

func (c Config) check(what string) (Config, error) {
	if c.Client == nil {
		return c, fmt.Errorf("redisstore: %s: Config.Client is nil: pass a *redis.Client (redis.NewClient) or another redis.UniversalClient", what)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// ctxFirst returns ctx's error, wrapped for op on account, if ctx has
// ended: a call with an ended context does nothing at all.
func ctxFirst(ctx context.Context, op, account string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s %q: %w", op, account, err)
	}
	return nil
}

// redisErr wraps an error from Redis for op on account; a context's end
// stays visible to errors.Is.
func redisErr(op, account string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisstore: %s %q: %w", op, account, err)
	}
	return fmt.Errorf("redisstore: %s %q: Redis answered: %w (check that Redis is reachable and the ACL user may use the key prefix)", op, account, err)
}

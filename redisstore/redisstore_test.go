package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/redisstore"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

// openRedis connects to the Redis named by OAUTH2MAIL_TEST_REDIS
// (host:port), or skips the test when it is not set (fails with
// OAUTH2MAIL_REQUIRE_PEERS=1), and returns a config with a key prefix no
// other test uses; the keys are deleted at the end of the test.
func openRedis(t *testing.T) redisstore.Config {
	t.Helper()
	addr := os.Getenv("OAUTH2MAIL_TEST_REDIS")
	if addr == "" {
		if os.Getenv("OAUTH2MAIL_REQUIRE_PEERS") == "1" {
			t.Fatal("OAUTH2MAIL_TEST_REDIS is not set and OAUTH2MAIL_REQUIRE_PEERS=1")
		}
		t.Skip("set OAUTH2MAIL_TEST_REDIS=127.0.0.1:6379 to test against Redis")
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err(), "Redis at OAUTH2MAIL_TEST_REDIS=%s", addr)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "{oauth2mail-test-" + hex.EncodeToString(b[:]) + "}:"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	return redisstore.Config{Client: c, Prefix: prefix}
}

func newTokenStore(t *testing.T, cfg redisstore.Config) *redisstore.TokenStore {
	t.Helper()
	s, err := redisstore.NewTokenStore(cfg)
	require.NoError(t, err)
	return s
}

// corruptions remembers each test store's config, so that the storetest
// corrupter can reach its keys.
type corruptions struct {
	mu   sync.Mutex
	cfgs map[oauth2client.TokenStore]redisstore.Config
}

func (c *corruptions) open(t *testing.T) (*redisstore.TokenStore, redisstore.Config) {
	cfg := openRedis(t)
	s := newTokenStore(t, cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfgs == nil {
		c.cfgs = map[oauth2client.TokenStore]redisstore.Config{}
	}
	c.cfgs[s] = cfg
	return s, cfg
}

// corrupt overwrites the record of account with a truncated one.
func (c *corruptions) corrupt(t *testing.T, s oauth2client.TokenStore, account string) {
	t.Helper()
	if u, ok := s.(interface {
		Unwrap() oauth2client.TokenStore
	}); ok {
		s = u.Unwrap()
	}
	c.mu.Lock()
	cfg, ok := c.cfgs[s]
	c.mu.Unlock()
	require.True(t, ok, "not a store of this test")
	ctx := context.Background()
	require.Equal(t, int64(1), cfg.Client.Exists(ctx, cfg.Prefix+"token:"+account).Val())
	require.NoError(t, cfg.Client.HSet(ctx, cfg.Prefix+"token:"+account, "r", `{"account":"`+account+`","acc`).Err())
}

func TestTokenStoreConformance(t *testing.T) {
	var c corruptions
	storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore { s, _ := c.open(t); return s },
		storetest.Options{Corrupt: c.corrupt})
}

func TestTokenStoreEncrypted(t *testing.T) {
	key, err := tokenstore.NewKey("k1")
	require.NoError(t, err)
	var c corruptions
	storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore {
		inner, _ := c.open(t)
		s, err := tokenstore.NewEncrypted(inner, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{key}})
		require.NoError(t, err)
		return s
	}, storetest.Options{Corrupt: c.corrupt})

	// What Redis holds has no token in the clear.
	cfg := openRedis(t)
	s, err := tokenstore.NewEncrypted(newTokenStore(t, cfg), tokenstore.EncryptionConfig{Keys: []tokenstore.Key{key}})
	require.NoError(t, err)
	rec := storetest.Record("alice")
	require.NoError(t, s.Save(context.Background(), rec))
	raw, err := cfg.Client.HGet(context.Background(), cfg.Prefix+"token:alice", "r").Result()
	require.NoError(t, err)
	assert.NotContains(t, raw, rec.AccessToken.Reveal())
	assert.NotContains(t, raw, rec.RefreshToken.Reveal())
	assert.Contains(t, raw, `"account":"alice"`)
}

func TestTokenStoreCorruptRecord(t *testing.T) {
	cfg := openRedis(t)
	s := newTokenStore(t, cfg)
	ctx := context.Background()
	require.NoError(t, cfg.Client.HSet(ctx, cfg.Prefix+"token:bob", "v", "3", "r", "{not json").Err())
	_, err := s.Load(ctx, "bob")
	var ce *tokenstore.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.NotContains(t, err.Error(), "not json", "errors never carry stored data")

	require.NoError(t, cfg.Client.HSet(ctx, cfg.Prefix+"token:carol", "v", "1", "r", `{"account":"mallory"}`).Err())
	_, err = s.Load(ctx, "carol")
	assert.ErrorAs(t, err, &ce, "a record under another account's key")
}

func TestRedisDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer down.Close()
	s, err := redisstore.NewTokenStore(redisstore.Config{Client: down})
	require.NoError(t, err)
	_, err = s.Load(context.Background(), "alice")
	require.Error(t, err)
	assert.NotErrorIs(t, err, oauth2client.ErrNotFound, "an unreachable Redis is not a missing record")
	assert.ErrorContains(t, err, "check that Redis is reachable")
}

func TestNewNeedsClient(t *testing.T) {
	_, err := redisstore.NewTokenStore(redisstore.Config{})
	assert.ErrorContains(t, err, "Config.Client is nil")
	_, err = redisstore.NewStateStore(redisstore.Config{})
	assert.ErrorContains(t, err, "Config.Client is nil")
}

func TestStateStore(t *testing.T) {
	cfg := openRedis(t)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	s, err := redisstore.NewStateStore(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	p := &oauth2client.Pending{Connection: "m365", Account: "acct", MAC: []byte{1, 2, 3}, Verifier: "verifier-1",
		Session: []byte{4, 5}, ReturnTo: "/done", RequireUsername: "a@example.com", Expires: now.Add(10 * time.Minute),
		RequireTenant: "11111111-1111-4111-8111-111111111111", RequireDomain: "corp.example", Nonce: "nonce-1"}
	require.NoError(t, s.Put(ctx, "id-1", p))
	assert.ErrorContains(t, s.Put(ctx, "id-1", p), "collision")

	ttl, err := cfg.Client.PTTL(ctx, cfg.Prefix+"state:id-1").Result()
	require.NoError(t, err)
	assert.InDelta(t, (20 * time.Minute).Seconds(), ttl.Seconds(), 5, "kept for twice its lifetime, then dropped by Redis")

	got, err := s.Take(ctx, "id-1")
	require.NoError(t, err)
	assert.Equal(t, p.Connection, got.Connection)
	assert.Equal(t, p.Account, got.Account)
	assert.Equal(t, p.MAC, got.MAC)
	assert.Equal(t, p.Verifier, got.Verifier)
	assert.Equal(t, p.Session, got.Session)
	assert.Equal(t, p.ReturnTo, got.ReturnTo)
	assert.Equal(t, p.RequireUsername, got.RequireUsername)
	assert.Equal(t, p.RequireTenant, got.RequireTenant)
	assert.Equal(t, p.RequireDomain, got.RequireDomain)
	assert.Equal(t, p.Nonce, got.Nonce, "the nonce must survive the store, or the id_token's nonce goes unchecked")
	assert.True(t, p.Expires.Equal(got.Expires))
	assert.False(t, got.AdminConsent)

	admin := &oauth2client.Pending{Connection: "m365", MAC: []byte{7}, AdminConsent: true, Expires: now.Add(10 * time.Minute)}
	require.NoError(t, s.Put(ctx, "id-admin", admin))
	got, err = s.Take(ctx, "id-admin")
	require.NoError(t, err)
	assert.True(t, got.AdminConsent, "an admin consent state stays one")

	_, err = s.Take(ctx, "id-1")
	assert.ErrorIs(t, err, oauth2client.ErrStateReplayed)
	_, err = s.Take(ctx, "never-issued")
	assert.ErrorIs(t, err, oauth2client.ErrStateInvalid)

	require.NoError(t, s.Put(ctx, "id-2", p))
	now = now.Add(11 * time.Minute)
	_, err = s.Take(ctx, "id-2")
	assert.ErrorIs(t, err, oauth2client.ErrStateExpired)
	_, err = s.Take(ctx, "id-2")
	assert.ErrorIs(t, err, oauth2client.ErrStateReplayed, "an expired state is used up too")
	assert.Error(t, s.Put(ctx, "id-3", p), "an already expired authorization is refused")
}

func TestStateStoreTakeIsAtomic(t *testing.T) {
	s, err := redisstore.NewStateStore(openRedis(t))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "once", &oauth2client.Pending{Account: "acct", Expires: time.Now().Add(time.Minute)}))
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.Take(ctx, "once")
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins, replays := 0, 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, oauth2client.ErrStateReplayed):
			replays++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, wins, "exactly one callback may use a state")
	assert.Equal(t, n-1, replays)
}

const redirect = "https://mail.example.com/oauth2/callback"

// Two instances of an application behind a load balancer: the user
// starts on one and comes back to the other, and when the token expires
// they refresh it once between them.
func TestTwoInstancesShareTheFlow(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Now: clock.Now,
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	require.NoError(t, err)
	t.Cleanup(func() {
		entra.Close()
		entra.Client().CloseIdleConnections()
	})
	cfg := openRedis(t)
	cfg.Now = clock.Now // the Client's clock
	tokens := newTokenStore(t, cfg)
	states, err := redisstore.NewStateStore(cfg)
	require.NoError(t, err)
	instance := func(states oauth2client.StateStore) *oauth2client.Client {
		p, err := azure.New(entra.AzureConfig()) // on the test's clock
		require.NoError(t, err)
		c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokens, States: states, Clock: clock})
		require.NoError(t, err)
		require.NoError(t, c.SetConnection("m365", p))
		return c
	}
	ctx := context.Background()
	callback := func(start, finish *oauth2client.Client) (int, error) {
		authURL, err := start.StartAuthorization(ctx, "m365", "acct", nil)
		require.NoError(t, err)
		back, err := entra.Authorize(ctx, authURL)
		require.NoError(t, err)
		var failed error
		w := httptest.NewRecorder()
		finish.Handler(oauth2client.HandlerConfig{OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			failed = err
			w.WriteHeader(http.StatusBadRequest)
		}}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, back, nil))
		return w.Code, failed
	}

	// Each instance with its own in-memory states: the callback fails.
	code, err := callback(instance(nil), instance(nil))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.ErrorIs(t, err, oauth2client.ErrStateInvalid)

	// Sharing the Redis StateStore: it works, and the tokens are shared.
	a, b := instance(states), instance(states)
	code, err = callback(a, b)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	tok, err := a.Token(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, "alice@contoso.example", tok.Username)

	clock.Set(tok.Expiry.Add(time.Minute))
	before := entra.TokenRequests("refresh_token")
	var wg sync.WaitGroup
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			tok, err := c.Token(ctx, "acct")
			if assert.NoError(t, err) {
				assert.True(t, tok.Expiry.After(clock.Now()), "a fresh token")
			}
		})
	}
	wg.Wait()
	assert.Equal(t, before+1, entra.TokenRequests("refresh_token"), "two instances, one Redis: one refresh")
}

// TestTokenStoreEncryptedTamper edits every field of an encrypted record
// in Redis and expects the tamper error.
func TestTokenStoreEncryptedTamper(t *testing.T) {
	storetest.Tamper(t, func(t *testing.T) oauth2client.TokenStore { return newTokenStore(t, openRedis(t)) })
}

// TestStateStoreLimits: the pending authorizations are capped in total
// and per browser session, across instances; completed and lapsed ones
// free their place.
func TestStateStoreLimits(t *testing.T) {
	cfg := openRedis(t)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	cfg.StateLimits = oauth2client.StateLimits{MaxPending: 4, MaxPerSession: 2}
	a, err := redisstore.NewStateStore(cfg)
	require.NoError(t, err)
	b, err := redisstore.NewStateStore(cfg) // a second instance
	require.NoError(t, err)
	ctx := context.Background()
	pend := func(session string) *oauth2client.Pending {
		p := &oauth2client.Pending{Connection: "m365", Account: "acct", MAC: []byte{1}, Verifier: "v", Expires: now.Add(10 * time.Minute)}
		if session != "" {
			p.Session = []byte(session)
		}
		return p
	}
	require.NoError(t, a.Put(ctx, "s1-a", pend("s1")))
	require.NoError(t, b.Put(ctx, "s1-b", pend("s1")))
	err = a.Put(ctx, "s1-c", pend("s1"))
	var le *oauth2client.PendingLimitError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Session)
	assert.Equal(t, 2, le.Limit)
	assert.ErrorIs(t, err, oauth2client.ErrTooManyPending)
	exists, err := cfg.Client.Exists(ctx, cfg.Prefix+"state:s1-c").Result()
	require.NoError(t, err)
	assert.Zero(t, exists, "a refused authorization is not stored")

	_, err = a.Take(ctx, "s1-a")
	require.NoError(t, err)
	require.NoError(t, b.Put(ctx, "s1-c", pend("s1")), "a completed authorization frees its place")

	require.NoError(t, a.Put(ctx, "none-1", pend("")))
	require.NoError(t, a.Put(ctx, "none-2", pend("")))
	err = b.Put(ctx, "none-3", pend(""))
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Session)
	assert.Equal(t, 4, le.Limit)

	now = now.Add(11 * time.Minute)
	require.NoError(t, b.Put(ctx, "later", pend("")), "lapsed authorizations no longer count")
}

// A record written before the store-wide version counter existed (an
// older redisstore) has a version the counter has not reached: the next
// write still raises it, and versions keep growing after a Delete.
func TestVersionCounterBehindOldRecords(t *testing.T) {
	cfg := openRedis(t)
	s := newTokenStore(t, cfg)
	ctx := context.Background()
	require.NoError(t, cfg.Client.HSet(ctx, cfg.Prefix+"token:old", "v", "41", "r", `{"account":"old","connection":"c"}`).Err())
	require.NoError(t, cfg.Client.SAdd(ctx, cfg.Prefix+"accounts", "old").Err())
	rec, err := s.Load(ctx, "old")
	require.NoError(t, err)
	require.Equal(t, int64(41), rec.Version)
	require.NoError(t, s.CompareAndSwap(ctx, rec))
	assert.Equal(t, int64(42), rec.Version)
	require.NoError(t, s.Delete(ctx, "old"))
	fresh := storetest.Record("old")
	require.NoError(t, s.CompareAndSwap(ctx, fresh))
	assert.Greater(t, fresh.Version, int64(42), "the version restarted after Delete")
}

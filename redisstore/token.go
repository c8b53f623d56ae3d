package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2mail/oauth2mail/internal/leasewait"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// TokenStore is an [oauth2client.TokenStore] in Redis. It implements
// [oauth2client.CompareAndSwapper], [oauth2client.Locker] (a lease per
// account, SET NX with an expiry, so a crashed holder's lease lapses) and
// [oauth2client.Lister], so several instances sharing it refresh each
// account once. Each account is a hash (version and record); a set lists
// the accounts. Saves and deletes are scripts, atomic in Redis. Versions
// come from one counter per prefix (the key "version"), so an account
// written again after Delete never gets a version it had before; a
// record that cannot be decoded loads as [oauth2client.ErrUnreadable]
// and Delete removes it.
//
// It passes tokenstore/storetest. It is safe for concurrent use.
type TokenStore struct {
	cfg     Config
	orphans leasewait.Orphans
}

// NewTokenStore returns a TokenStore for cfg.
func NewTokenStore(cfg Config) (*TokenStore, error) {
	cfg, err := cfg.check("NewTokenStore")
	if err != nil {
		return nil, err
	}
	return &TokenStore{cfg: cfg}, nil
}

func (s *TokenStore) recordKey(account string) string { return s.cfg.Prefix + "token:" + account }
func (s *TokenStore) lockKey(account string) string   { return s.cfg.Prefix + "lock:" + account }
func (s *TokenStore) indexKey() string                { return s.cfg.Prefix + "accounts" }
func (s *TokenStore) seqKey() string                  { return s.cfg.Prefix + "version" }

// Load implements [oauth2client.TokenStore].
func (s *TokenStore) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctxFirst(ctx, "loading account", account); err != nil {
		return nil, err
	}
	vals, err := s.cfg.Client.HMGet(ctx, s.recordKey(account), "v", "r").Result()
	if err != nil {
		return nil, redisErr("loading account", account, err)
	}
	ver, _ := vals[0].(string)
	raw, _ := vals[1].(string)
	if ver == "" || raw == "" {
		return nil, fmt.Errorf("redisstore: account %q: %w", account, oauth2client.ErrNotFound)
	}
	var rec oauth2client.Record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return nil, &tokenstore.CorruptError{Path: "Redis key " + s.recordKey(account), Err: errors.New("the record is not valid JSON")}
	}
	if _, err := fmt.Sscan(ver, &rec.Version); err != nil || rec.Account != account {
		return nil, &tokenstore.CorruptError{Path: "Redis key " + s.recordKey(account), Err: errors.New("the version or account does not match the key")}
	}
	return &rec, nil
}

// saveScript writes a record: ARGV[1] is the expected version, or -1 for
// an unconditional save. It returns {1, new version} or {0, current
// version} on a conflict. The new version comes from the store-wide
// sequence KEYS[3] (raised past the record's own version if the
// sequence is behind, as after an upgrade from a version without it),
// so an account written again after Delete never repeats a version.
var saveScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') or 0
local want = tonumber(ARGV[1])
if want >= 0 and want ~= cur then return {0, cur} end
local v = redis.call('INCR', KEYS[3])
if v <= cur then
  v = cur + 1
  redis.call('SET', KEYS[3], v)
end
redis.call('HSET', KEYS[1], 'v', v, 'r', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return {1, v}
`)

// Save implements [oauth2client.TokenStore]: an unconditional write that
// raises the version.
func (s *TokenStore) Save(ctx context.Context, rec *oauth2client.Record) error {
	return s.write(ctx, rec, -1)
}

// CompareAndSwap implements [oauth2client.CompareAndSwapper]: rec is
// written only if the stored version is still rec.Version (zero: no
// record); otherwise the error is a [*tokenstore.ConflictError].
func (s *TokenStore) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	var want int64
	if rec != nil {
		want = rec.Version
	}
	return s.write(ctx, rec, want)
}

func (s *TokenStore) write(ctx context.Context, rec *oauth2client.Record, want int64) error {
	if rec == nil {
		return fmt.Errorf("%w: nil record", tokenstore.ErrInvalidRecord)
	}
	if err := ctxFirst(ctx, "saving account", rec.Account); err != nil {
		return err
	}
	if rec.Account == "" {
		return fmt.Errorf("%w: empty Account: set it to the mail account's key", tokenstore.ErrInvalidRecord)
	}
	stored := rec.Clone()
	stored.Version = 0             // the hash field is the truth
	b, err := json.Marshal(stored) // #nosec G117 -- the token store's own record; wrap the store with tokenstore.NewEncrypted to seal the tokens
	if err != nil {
		return fmt.Errorf("redisstore: encoding account %q: %w", rec.Account, err)
	}
	res, err := saveScript.Run(ctx, s.cfg.Client, []string{s.recordKey(rec.Account), s.indexKey(), s.seqKey()}, want, b, rec.Account).Int64Slice()
	if err != nil {
		return redisErr("saving account", rec.Account, err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redisstore: saving account %q: unexpected script answer %v", rec.Account, res)
	}
	if res[0] == 0 {
		return &tokenstore.ConflictError{Account: rec.Account, Expected: rec.Version, Actual: res[1]}
	}
	rec.Version = res[1]
	return nil
}

var deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`)

// Delete implements [oauth2client.TokenStore]. Deleting a missing account
// is not an error; an unreadable record is deleted without being read.
func (s *TokenStore) Delete(ctx context.Context, account string) error {
	if err := ctxFirst(ctx, "deleting account", account); err != nil {
		return err
	}
	if err := deleteScript.Run(ctx, s.cfg.Client, []string{s.recordKey(account), s.indexKey()}, account).Err(); err != nil {
		return redisErr("deleting account", account, err)
	}
	return nil
}

// List implements [oauth2client.Lister].
func (s *TokenStore) List(ctx context.Context) ([]string, error) {
	if err := ctxFirst(ctx, "listing accounts with prefix", s.cfg.Prefix); err != nil {
		return nil, err
	}
	accounts, err := s.cfg.Client.SMembers(ctx, s.indexKey()).Result()
	if err != nil {
		return nil, redisErr("listing accounts with prefix", s.cfg.Prefix, err)
	}
	return accounts, nil
}

// unlockScript deletes a lease only if this holder still owns it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// extendScript renews a lease for ARGV[2] milliseconds only if this
// holder still owns it; a lapsed lease is gone from Redis.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// Lock implements [oauth2client.Locker]: it takes the account's lease for
// ttl (SET NX PX with a random owner ID), waiting (polling from 5 ms up to
// 200 ms) while another holder has it, until ctx ends. The lease's
// Extend and Release act only while the key still holds this owner ID;
// Release may be called again after it failed, and after it succeeded
// further calls do nothing. A Lock that fails because Redis cannot be
// reached does not wait; if its SET may have landed (the reply was lost),
// the next Lock of the account on this TokenStore deletes that lease
// first, so it does not block the account until it lapses.
func (s *TokenStore) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("redisstore: lock ttl must be positive, got %v", ttl)
	}
	key := s.lockKey(account)
	if err := ctxFirst(ctx, "waiting for the refresh lock of account", account); err != nil {
		return nil, err
	}
	err := s.orphans.Release(account, func(owner string) error {
		return unlockScript.Run(ctx, s.cfg.Client, []string{key}, owner).Err()
	})
	if err != nil {
		return nil, redisErr("releasing a refresh lease whose taking failed earlier, of account", account, err)
	}
	owner := leasewait.NewOwner()
	err = leasewait.Poll(ctx, func() (bool, error) {
		took, err := s.cfg.Client.SetNX(ctx, key, owner, ttl).Result()
		if err != nil {
			s.orphans.Add(account, owner) // the SET may have landed with its reply lost
		}
		return took, err
	})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("redisstore: waiting for the refresh lock of account %q: %w", account, ctx.Err())
	default:
		return nil, redisErr("taking the refresh lock of account", account, err)
	}
	return &lease{s: s, account: account, key: key, owner: owner}, nil
}

// lease is the [oauth2client.Lease] of [TokenStore.Lock].
type lease struct {
	s            *TokenStore
	account, key string
	owner        string
	mu           sync.Mutex
	released     bool
}

// Extend implements [oauth2client.Lease].
func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redisstore: lock ttl must be positive, got %v", ttl)
	}
	if err := ctxFirst(ctx, "extending the refresh lease of account", l.account); err != nil {
		return err
	}
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return l.lost()
	}
	n, err := extendScript.Run(ctx, l.s.cfg.Client, []string{l.key}, l.owner, max(ttl.Milliseconds(), 1)).Int64()
	if err != nil {
		return redisErr("extending the refresh lease of account", l.account, err)
	}
	if n != 1 {
		return l.lost()
	}
	return nil
}

func (l *lease) lost() error {
	return fmt.Errorf("redisstore: the refresh lease of account %q lapsed and may be held by another owner: %w", l.account, oauth2client.ErrLeaseLost)
}

// Release implements [oauth2client.Lease].
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := unlockScript.Run(context.WithoutCancel(ctx), l.s.cfg.Client, []string{l.key}, l.owner).Err(); err != nil {
		return redisErr("releasing the refresh lock of account", l.account, fmt.Errorf("%w (call Release again, or it lapses by itself)", err))
	}
	l.released = true
	return nil
}

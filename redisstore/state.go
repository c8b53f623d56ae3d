package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2mail/oauth2mail/internal/pendingjson"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// StateStore is an [oauth2client.StateStore] in Redis, shared by every
// instance of an application: pass it as oauth2client.Config.States.
// Each pending authorization is one key that Redis drops at twice its
// lifetime; until then a used or expired state gets a precise error
// ([oauth2client.ErrStateReplayed], [oauth2client.ErrStateExpired]), as
// with the in-memory default. Take is one atomic script, so of two
// concurrent callbacks with one state only one succeeds.
//
// An entry holds the account, the connection, hashes of the state and of
// the session binding, and the PKCE verifier (useless without the
// authorization code it is bound to) for at most twice the state's
// lifetime. It is safe for concurrent use.
//
// It holds at most Config.StateLimits pending authorizations, in total
// and per browser session, counted in two sorted sets (by expiry) next to
// the entries; Put returns an [*oauth2client.PendingLimitError] when a
// limit is reached, atomically across instances.
type StateStore struct {
	cfg    Config
	limits oauth2client.StateLimits // resolved: 0 means no limit
}

// NewStateStore returns a StateStore for cfg.
func NewStateStore(cfg Config) (*StateStore, error) {
	cfg, err := cfg.check("NewStateStore")
	if err != nil {
		return nil, err
	}
	return &StateStore{cfg: cfg, limits: resolveLimits(cfg.StateLimits)}, nil
}

// resolveLimits fills in the defaults of l; 0 means no limit.
func resolveLimits(l oauth2client.StateLimits) oauth2client.StateLimits {
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	return oauth2client.StateLimits{MaxPending: pick(l.MaxPending, oauth2client.DefaultMaxPending),
		MaxPerSession: pick(l.MaxPerSession, oauth2client.DefaultMaxPendingPerSession)}
}

func (s *StateStore) key(id string) string { return s.cfg.Prefix + "state:" + id }

// Put implements [oauth2client.StateStore].
func (s *StateStore) Put(ctx context.Context, id string, p *oauth2client.Pending) error {
	if err := ctxFirst(ctx, "storing the state of account", p.Account); err != nil {
		return err
	}
	life := p.Expires.Sub(s.cfg.Now())
	if life <= 0 {
		return fmt.Errorf("redisstore: the pending authorization of account %q has already expired", p.Account)
	}
	b, err := pendingjson.Marshal(p)
	if err != nil {
		return fmt.Errorf("redisstore: encoding the state of account %q: %w", p.Account, err)
	}
	now := s.cfg.Now()
	keys := []string{s.key(id), s.pendingKey(), s.sessionKey(p.Session)}
	res, err := putScript.Run(ctx, s.cfg.Client, keys, b, (2 * life).Milliseconds(), now.UnixMilli(), p.Expires.UnixMilli(),
		s.limits.MaxPending, s.limits.MaxPerSession, len(p.Session) > 0, id).Slice()
	if err != nil {
		return redisErr("storing the state of account", p.Account, err)
	}
	status, _ := res[0].(int64)
	total, _ := res[1].(int64)
	session, _ := res[2].(int64)
	switch status {
	case 1:
		return nil
	case 0:
		return errors.New("redisstore: state id collision")
	}
	if err := s.cfg.StateLimits.Exceeded(int(total), int(session), len(p.Session) > 0); err != nil {
		return err
	}
	return fmt.Errorf("redisstore: storing the state of account %q: the store is full: %w", p.Account, oauth2client.ErrTooManyPending)
}

// pendingKey is the sorted set of pending ids, scored by expiry (ms);
// sessionKey the same for one browser session (its binding's hash), or
// pendingKey again for none.
func (s *StateStore) pendingKey() string { return s.cfg.Prefix + "pending" }

func (s *StateStore) sessionKey(session []byte) string {
	if len(session) == 0 {
		return s.pendingKey()
	}
	return s.cfg.Prefix + "pending:" + hex.EncodeToString(session)
}

// putScript counts the pending authorizations (dropping lapsed ones from
// the counting sets) and stores the new one if the limits allow. It
// returns {status, total, in session}: 1 stored, 0 id collision, -1 a
// limit reached.
var putScript = redis.NewScript(`
local now, exp, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[2])
local maxTotal, maxSession = tonumber(ARGV[5]), tonumber(ARGV[6])
local hasSession = ARGV[7] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local total = redis.call('ZCARD', KEYS[2])
local session = 0
if hasSession then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  session = redis.call('ZCARD', KEYS[3])
end
if (maxTotal > 0 and total >= maxTotal) or (hasSession and maxSession > 0 and session >= maxSession) then
  return {-1, total, session}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then return {0, total, session} end
redis.call('ZADD', KEYS[2], exp, ARGV[8])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
if hasSession then
  redis.call('ZADD', KEYS[3], exp, ARGV[8])
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
end
return {1, total + 1, session + 1}
`)

// takeScript marks a state used (an empty value, keeping its expiry) and
// returns what it held: nil for an unknown id, "" for a used one.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v ~= '' then redis.call('SET', KEYS[1], '', 'KEEPTTL') end
return v
`)

// Take implements [oauth2client.StateStore].
func (s *StateStore) Take(ctx context.Context, id string) (*oauth2client.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: taking a state: %w", err)
	}
	v, err := takeScript.Run(ctx, s.cfg.Client, []string{s.key(id)}).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, oauth2client.ErrStateInvalid
	case err != nil:
		return nil, redisErr("taking a state", "", err)
	case v == "":
		return nil, oauth2client.ErrStateReplayed
	}
	p, err := pendingjson.Unmarshal([]byte(v))
	if err != nil {
		return nil, err
	}
	// No longer pending: free its place in the limits. Best effort: a
	// failure leaves it counted until its expiry.
	_ = s.cfg.Client.ZRem(ctx, s.pendingKey(), id).Err()
	if len(p.Session) > 0 {
		_ = s.cfg.Client.ZRem(ctx, s.sessionKey(p.Session), id).Err()
	}
	if !s.cfg.Now().Before(p.Expires) {
		return nil, oauth2client.ErrStateExpired
	}
	return p, nil
}

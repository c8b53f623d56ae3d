package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

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
type StateStore struct {
	cfg Config
}

// NewStateStore returns a StateStore for cfg.
func NewStateStore(cfg Config) (*StateStore, error) {
	cfg, err := cfg.check("NewStateStore")
	if err != nil {
		return nil, err
	}
	return &StateStore{cfg: cfg}, nil
}

func (s *StateStore) key(id string) string { return s.cfg.Prefix + "state:" + id }

// storedPending is a Pending as stored: explicit names, so a field
// renamed in oauth2client cannot silently change the stored form.
type storedPending struct {
	Connection      string              `json:"connection"`
	Account         string              `json:"account"`
	MAC             []byte              `json:"mac"`
	Verifier        oauth2client.Secret `json:"verifier"`
	Session         []byte              `json:"session,omitempty"`
	ReturnTo        string              `json:"return_to,omitempty"`
	RequireUsername string              `json:"require_username,omitempty"`
	Expires         int64               `json:"expires_unix_nano"`
	AdminConsent    bool                `json:"admin_consent,omitempty"`
}

// Put implements [oauth2client.StateStore].
func (s *StateStore) Put(ctx context.Context, id string, p *oauth2client.Pending) error {
	if err := ctxFirst(ctx, "storing the state of account", p.Account); err != nil {
		return err
	}
	life := p.Expires.Sub(s.cfg.Now())
	if life <= 0 {
		return fmt.Errorf("redisstore: the pending authorization of account %q has already expired", p.Account)
	}
	b, err := json.Marshal(storedPending{p.Connection, p.Account, p.MAC, p.Verifier, p.Session, p.ReturnTo, p.RequireUsername, p.Expires.UnixNano(), p.AdminConsent}) // #nosec G117 -- the verifier must reach the store; it lives at most twice the state's lifetime
	if err != nil {
		return fmt.Errorf("redisstore: encoding the state of account %q: %w", p.Account, err)
	}
	ok, err := s.cfg.Client.SetNX(ctx, s.key(id), b, 2*life).Result()
	if err != nil {
		return redisErr("storing the state of account", p.Account, err)
	}
	if !ok {
		return errors.New("redisstore: state id collision")
	}
	return nil
}

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
	var sp storedPending
	if err := json.Unmarshal([]byte(v), &sp); err != nil {
		return nil, fmt.Errorf("%w (the stored entry is unreadable)", oauth2client.ErrStateInvalid)
	}
	p := &oauth2client.Pending{Connection: sp.Connection, Account: sp.Account, MAC: sp.MAC, Verifier: sp.Verifier,
		Session: sp.Session, ReturnTo: sp.ReturnTo, RequireUsername: sp.RequireUsername, Expires: unixNano(sp.Expires),
		AdminConsent: sp.AdminConsent}
	if !s.cfg.Now().Before(p.Expires) {
		return nil, oauth2client.ErrStateExpired
	}
	return p, nil
}

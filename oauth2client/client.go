package oauth2client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of [Config].
const (
	DefaultStateTTL       = 10 * time.Minute
	DefaultExpiryMargin   = 2 * time.Minute
	DefaultRefreshTimeout = 60 * time.Second
	DefaultLockTTL        = 90 * time.Second
	DefaultRefreshAhead   = 10 * time.Minute
	DefaultRefreshJitter  = 5 * time.Minute
	DefaultRefreshRate    = 50.0
	DefaultRefreshWorkers = 8
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultStoreRecheck   = 30 * time.Second
)

// Config configures a [Client]. Store is required, and RedirectURL unless
// the application only uses app-only access; every other field has a
// documented default for its zero value.
type Config struct {
	// RedirectURL is the absolute URL at which the application serves the
	// Client's callback handler, exactly as registered with every
	// provider (e.g. "https://mail.example.com/oauth2/callback"). One URL
	// serves all connections. It may be empty only in an application
	// that never starts a user authorization (app-only access).
	//
	// For per-customer host names, either serve the callback on one
	// shared host (the session binding must then come from a cookie that
	// host sees), or build one Client per host, each with its own
	// registered RedirectURL, sharing Store and States (README, "One
	// RedirectURL per Client").
	RedirectURL string
	// Store keeps the tokens. Required.
	Store TokenStore
	// States keeps pending authorizations. If nil, an in-memory
	// [MemoryStateStore] is used: see [StateStore] for applications with
	// several instances.
	States StateStore
	// StateLimits bound the pending authorizations of the in-memory
	// [MemoryStateStore] used when States is nil (a shared StateStore has
	// its own configuration). The zero value means
	// [DefaultMaxPending] in total and [DefaultMaxPendingPerSession] per
	// browser session.
	StateLimits StateLimits
	// Logger receives structured logs (never a token or secret). If nil,
	// nothing is logged.
	Logger *slog.Logger
	// Clock gives the time and the scheduler's timers. If nil, the real
	// clock is used.
	Clock Clock
	// StateTTL is how long a user may take between StartAuthorization
	// and the callback. Zero means [DefaultStateTTL] (10 minutes).
	StateTTL time.Duration
	// ExpiryMargin is how long before its expiry an access token is
	// renewed by [Client.Token], so that a token handed out stays valid
	// while the mail session authenticates. It is scaled down for
	// short-lived tokens: a token that lives L is renewed at most L/8
	// before its expiry (see RefreshAhead for the whole rule). A token
	// inside the margin is still served when it cannot be renewed (store
	// or provider failing, backoff, caller's deadline). Zero means
	// [DefaultExpiryMargin].
	ExpiryMargin time.Duration
	// RefreshTimeout bounds one refresh (lease, provider call, save),
	// independently of the callers waiting for it. Zero means
	// [DefaultRefreshTimeout].
	RefreshTimeout time.Duration
	// LockTTL is the time to live of the lease a [Locker] store gives for
	// one account's refresh: if the holder crashes, other instances
	// wait at most that long. A refresh that may outlive half of it
	// (RefreshTimeout > LockTTL/2) extends it every LockTTL/3 while it
	// runs; a grant that could not be saved keeps its lease, extended at
	// each write retry (retried at least every LockTTL/3), so other
	// instances wait rather than redeem the rotated-out refresh token.
	// Zero means [DefaultLockTTL].
	LockTTL time.Duration
	// RefreshAhead is how long before its expiry the scheduler started by
	// [Client.Run] renews an access token, so that in steady state a
	// token request never waits on the network. It must exceed
	// ExpiryMargin. Zero means [DefaultRefreshAhead] (10 minutes).
	//
	// The schedule follows each token's lifetime L (from the time the
	// Client received or stored it to its expiry): the proactive refresh
	// happens at expiry − min(RefreshAhead, L/4) − a random part of
	// min(RefreshJitter, L/4), and [Client.Token] renews at expiry −
	// min(ExpiryMargin, L/8). So a token is never renewed before half its
	// lifetime, every token is renewed at most once proactively (plus
	// retries with backoff after failures), and a token whose expiry is
	// already past when it arrives is not asked for again before the
	// backoff delay. This holds for lifetimes from seconds to days.
	RefreshAhead time.Duration
	// RefreshJitter spreads proactive refreshes: each is scheduled at a
	// random point in the RefreshJitter before the RefreshAhead mark
	// (both scaled down for short-lived tokens, see RefreshAhead), so
	// tokens issued in the same minute are not renewed in the same
	// second. Zero means [DefaultRefreshJitter] (5 minutes); negative
	// means none.
	RefreshJitter time.Duration
	// StoreRecheck bounds how long a token cached in memory is served
	// without asking the store whether it is still current: when another
	// instance sharing the store refreshed, re-authorized or disconnected
	// the account, this instance serves its old token (or the
	// disconnected account's) for at most StoreRecheck. The check reads
	// one record and does not take the lease. Zero means
	// [DefaultStoreRecheck] (30 seconds); negative means never (one
	// instance per store).
	StoreRecheck time.Duration
	// RefreshRate limits the scheduler's refreshes per connection, in
	// token requests per second, to stay under the identity provider's
	// throttling. Zero means [DefaultRefreshRate].
	RefreshRate float64
	// RefreshBurst is the burst allowed above RefreshRate. Zero means
	// the rate rounded up (at least 1).
	RefreshBurst int
	// RefreshWorkers is the number of proactive refreshes the scheduler
	// runs at once. Zero means [DefaultRefreshWorkers].
	RefreshWorkers int
	// Backoff bounds the retry delays after transient failures: the
	// delay doubles from BackoffMin up to BackoffMax, with jitter, and a
	// provider's Retry-After is honoured when longer. Zero values mean
	// [DefaultBackoffMin] and [DefaultBackoffMax].
	BackoffMin, BackoffMax time.Duration
	// Hooks are called on account events. Nil fields are skipped.
	Hooks Hooks
}

// Hooks tell the application about account events. They are called
// synchronously from the goroutine that caused the event and must not
// block for long. When a hook runs, [Client.Account] already reports the
// outcome (StateFailing in RefreshFailed, for instance).
type Hooks struct {
	// Authorized is called after a callback stored new tokens.
	Authorized func(ctx context.Context, account string)
	// Refreshed is called after a refresh stored new tokens.
	Refreshed func(ctx context.Context, account string)
	// ReauthRequired is called once when the provider refuses to renew an
	// account's tokens, with the typed error. The account's record is
	// marked [StatusNeedsReauth] and kept.
	ReauthRequired func(ctx context.Context, account string, err error)
	// RefreshFailed is called after each failed refresh that is not a
	// refusal (network, outage, throttling, a failing store), with the
	// typed error: a [*ProviderError], or a [*StoreError] matching
	// [ErrStoreUnavailable]. The refresh will be retried with backoff.
	// A StoreError with Unsaved set means the provider issued new tokens
	// that the store has not taken yet: the Client serves them from
	// memory and keeps retrying the write.
	RefreshFailed func(ctx context.Context, account string, err error)
	// Disconnected is called after Disconnect deleted an account's tokens.
	Disconnected func(ctx context.Context, account string)
}

// Client connects mail accounts to OAuth 2.0 providers and keeps their
// tokens fresh. It holds connections (a provider configured with one
// application's credentials, under an ID the application chooses) and a
// [TokenStore]; each mail account uses one connection.
//
// A Client is safe for concurrent use by multiple goroutines. Create one
// per application and share it.
type Client struct {
	redirect       string
	store          TokenStore
	states         StateStore
	log            *slog.Logger
	now            func() time.Time
	stateTTL       time.Duration
	margin         time.Duration
	refreshTimeout time.Duration
	lockTTL        time.Duration
	hooks          Hooks
	clock          Clock
	ahead, jitter  time.Duration
	rate           float64
	burst, workers int
	backoffMin     time.Duration
	backoffMax     time.Duration
	recheck        time.Duration

	mu    sync.RWMutex
	conns map[string]Provider

	cache  sync.Map // account -> *cacheEntry; lock-free reads on the hot path
	flight singleflight.Group
	sched  scheduler
}

// cacheEntry is the Client's in-memory view of one account: its state
// machine (see refresh.go). tok is read lock-free on the hot path; the
// rest is guarded by mu.
type cacheEntry struct {
	tok atomic.Pointer[cachedToken]

	mu sync.Mutex
	// gen only grows: re-authorization and Disconnect raise it, and a
	// refresh applies its outcome only at the generation it began.
	gen uint64
	// unsaved is a grant the provider issued that the store has not
	// taken yet; its Version is the stored version it replaces.
	unsaved *Record
	// lease is kept between attempts while unsaved waits for the store
	// (or after a failed release).
	lease       Lease
	refreshing  bool
	failures    int
	retryAt     time.Time
	lastErr     error
	lastRefresh time.Time
	needsReauth bool
}

type cachedToken struct {
	Token
	renewAt   time.Time // the hot path serves the token until then
	proactive time.Time // the scheduler's draw for this token
	version   int64     // the store version behind the token
	unsaved   bool      // the token's grant is not stored yet
}

// Token is an access token ready for a mail server. The Client shares
// Token values between callers: do not modify one.
type Token struct {
	// AccessToken is the bearer token for XOAUTH2 or OAUTHBEARER.
	AccessToken Secret
	// Expiry is when the token stops being accepted (zero: unknown).
	Expiry time.Time
	// Username is the SASL user: the mailbox address.
	Username string
	// Account and Connection say whose token it is.
	Account, Connection string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Store == nil {
		return nil, errors.New("oauth2client: Config.Store is nil: pass a token store, e.g. tokenstore.NewMemory() for tests or tokenstore.OpenFile(dir) for one process")
	}
	if err := checkRedirectURL(cfg.RedirectURL); err != nil {
		return nil, err
	}
	c := &Client{
		redirect:       cfg.RedirectURL,
		store:          cfg.Store,
		states:         cfg.States,
		log:            cfg.Logger,
		clock:          cfg.Clock,
		stateTTL:       orDefault(cfg.StateTTL, DefaultStateTTL),
		margin:         orDefault(cfg.ExpiryMargin, DefaultExpiryMargin),
		refreshTimeout: orDefault(cfg.RefreshTimeout, DefaultRefreshTimeout),
		lockTTL:        orDefault(cfg.LockTTL, DefaultLockTTL),
		hooks:          cfg.Hooks,
		ahead:          orDefault(cfg.RefreshAhead, DefaultRefreshAhead),
		jitter:         cfg.RefreshJitter,
		rate:           cfg.RefreshRate,
		burst:          cfg.RefreshBurst,
		workers:        cfg.RefreshWorkers,
		backoffMin:     orDefault(cfg.BackoffMin, DefaultBackoffMin),
		backoffMax:     orDefault(cfg.BackoffMax, DefaultBackoffMax),
		recheck:        cfg.StoreRecheck,
		conns:          make(map[string]Provider),
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	c.now = c.clock.Now
	if c.recheck == 0 {
		c.recheck = DefaultStoreRecheck
	}
	if c.jitter == 0 {
		c.jitter = DefaultRefreshJitter
	} else if c.jitter < 0 {
		c.jitter = 0
	}
	if c.rate <= 0 {
		c.rate = DefaultRefreshRate
	}
	if c.burst <= 0 {
		c.burst = max(1, int(math.Ceil(c.rate)))
	}
	if c.workers <= 0 {
		c.workers = DefaultRefreshWorkers
	}
	if c.ahead <= c.margin {
		return nil, fmt.Errorf("oauth2client: Config.RefreshAhead (%v) must exceed Config.ExpiryMargin (%v): proactive refreshes must happen before tokens are due", c.ahead, c.margin)
	}
	c.sched.init()
	if c.states == nil {
		c.states = NewMemoryStateStoreWithLimits(c.now, cfg.StateLimits)
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func checkRedirectURL(raw string) error {
	if raw == "" {
		return nil // app-only use; StartAuthorization says what is missing
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("oauth2client: Config.RedirectURL %q is not an absolute URL: use e.g. https://mail.example.com/oauth2/callback", raw)
	}
	if u.Fragment != "" {
		return fmt.Errorf("oauth2client: Config.RedirectURL %q has a fragment: providers reject redirect URIs with '#'", raw)
	}
	return nil
}

// RedirectURL returns the callback URL the Client sends to providers.
func (c *Client) RedirectURL() string { return c.redirect }

// SetConnection adds the connection id, or replaces its provider (when an
// administrator edits the settings). If the provider has rules for
// redirect URIs ([RedirectURIValidator]), the Client's RedirectURL is
// checked against them now.
func (c *Client) SetConnection(id string, p Provider) error {
	if id == "" {
		return errors.New("oauth2client: connection ID is empty")
	}
	if p == nil {
		return fmt.Errorf("oauth2client: connection %q: provider is nil", id)
	}
	if v, ok := p.(RedirectURIValidator); ok && c.redirect != "" {
		if err := v.ValidateRedirectURI(c.redirect); err != nil {
			return fmt.Errorf("oauth2client: connection %q: %w", id, err)
		}
	}
	c.mu.Lock()
	c.conns[id] = p
	c.mu.Unlock()
	return nil
}

// RemoveConnection forgets the connection id. Accounts stored with it
// keep their records but cannot be refreshed until it is set again.
func (c *Client) RemoveConnection(id string) {
	c.mu.Lock()
	delete(c.conns, id)
	c.mu.Unlock()
}

// Connection returns the provider of connection id.
func (c *Client) Connection(id string) (Provider, error) {
	c.mu.RLock()
	p, ok := c.conns[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("oauth2client: connection %q: %w (add it with SetConnection)", id, ErrUnknownConnection)
	}
	return p, nil
}

// AuthOptions are per-authorization extras for [Client.StartAuthorization].
type AuthOptions struct {
	// LoginHint pre-fills the user's address on the sign-in page.
	LoginHint string
	// Prompt asks the provider for "select_account", "consent" or
	// "login".
	Prompt string
	// Session binds the authorization to the user's browser session
	// (e.g. the application's session ID or user ID). When set, the
	// callback handler only accepts the response in a request whose
	// [HandlerConfig.Session] returns the same value. This defeats login
	// CSRF: an attacker who starts a flow with their own mailbox cannot
	// make a victim's browser complete it into the victim's account.
	Session string
	// ReturnTo is a same-origin path ("/settings/mail?tab=2") the
	// default success page redirects to. Absolute and protocol-relative
	// URLs are rejected.
	ReturnTo string
	// RequireUsername, when set, makes the callback fail with
	// [ErrIdentityMismatch] unless the provider signs in this mailbox
	// (compared case-insensitively), so a user cannot attach someone
	// else's mailbox to the account. The providers take the username
	// only from claims they vouch for (a verified email; for Entra the
	// tenant's own user name, bound to the user's object and tenant IDs):
	// an unverified address fails with [ErrUnverifiedIdentity]. On a
	// multi-tenant connection (Entra "organizations" or "common") it
	// needs RequireTenant too, else StartAuthorization fails with
	// [ErrTenantRequired]: any tenant can name a user
	// victim@contoso.example.
	RequireUsername string
	// RequireTenant, when set, makes the callback fail with
	// [ErrIdentityMismatch] unless the account lives in this directory:
	// the Entra tenant ID (tid, a GUID; provider.FindTenant finds the
	// tenant of a mail domain). Compared with Identity.Tenant.
	RequireTenant string
	// RequireDomain, when set, makes the callback fail with
	// [ErrIdentityMismatch] unless the account belongs to this Google
	// Workspace domain (the id_token's hd claim; gmail.com accounts have
	// none). Compared with Identity.Tenant.
	RequireDomain string
}

// StartAuthorization begins connecting account through connection and
// returns the provider URL to send the user's browser to. The provider
// returns the browser to the Client's RedirectURL, served by [Client.Handler].
// Any earlier tokens of account are replaced when the flow completes.
func (c *Client) StartAuthorization(ctx context.Context, connection, account string, opts *AuthOptions) (string, error) {
	if account == "" {
		return "", errors.New("oauth2client: account is empty")
	}
	if c.redirect == "" {
		return "", errors.New("oauth2client: Config.RedirectURL is empty: set it to the absolute URL where you mount the callback handler, exactly as registered with the provider")
	}
	p, err := c.Connection(connection)
	if err != nil {
		return "", err
	}
	var o AuthOptions
	if opts != nil {
		o = *opts
	}
	if err := CheckReturnTo(o.ReturnTo); err != nil {
		return "", err
	}
	id, mac, state, err := newState()
	if err != nil {
		return "", err
	}
	if o.RequireUsername != "" && o.RequireTenant == "" {
		if mt, ok := p.(MultiTenantProvider); ok && mt.MultiTenant() {
			return "", fmt.Errorf("oauth2client: connection %q: %w: set AuthOptions.RequireTenant to the tenant ID of %q (provider.FindTenant finds it from the mail domain)", connection, ErrTenantRequired, o.RequireUsername)
		}
	}
	nonce, err := newNonce()
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	pend := &Pending{
		Connection:      connection,
		Account:         account,
		MAC:             mac,
		Verifier:        Secret(verifier),
		ReturnTo:        o.ReturnTo,
		RequireUsername: o.RequireUsername,
		RequireTenant:   o.RequireTenant,
		RequireDomain:   o.RequireDomain,
		Nonce:           nonce,
		Expires:         c.now().Add(c.stateTTL),
	}
	if o.Session != "" {
		h := sha256.Sum256([]byte(o.Session))
		pend.Session = h[:]
	}
	authURL, err := p.AuthCodeURL(ctx, AuthRequest{
		State:         state,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier),
		RedirectURI:   c.redirect,
		LoginHint:     o.LoginHint,
		Prompt:        o.Prompt,
		Nonce:         nonce,
	})
	if err != nil {
		return "", fmt.Errorf("oauth2client: connection %q: building the authorization URL: %w", connection, err)
	}
	if err := c.states.Put(ctx, id, pend); err != nil {
		return "", fmt.Errorf("oauth2client: saving the pending authorization: %w", err)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: authorization started",
		slog.String("connection", connection), slog.String("account", account))
	return authURL, nil
}

// The state is 32 random bytes, base64url-encoded: the first 16 name the
// pending entry, the last 16 are a secret whose hash the entry keeps, so
// lookups by name never leak timing about the secret half.
const stateHalf = 16

func newState() (id string, mac []byte, state string, err error) {
	var b [2 * stateHalf]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, "", fmt.Errorf("oauth2client: reading random bytes: %w", err)
	}
	h := sha256.Sum256(b[stateHalf:])
	return base64.RawURLEncoding.EncodeToString(b[:stateHalf]), h[:], base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func splitState(state string) (id string, mac []byte, ok bool) {
	if len(state) != base64.RawURLEncoding.EncodedLen(2*stateHalf) {
		return "", nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(b) != 2*stateHalf {
		return "", nil, false
	}
	h := sha256.Sum256(b[stateHalf:])
	return base64.RawURLEncoding.EncodeToString(b[:stateHalf]), h[:], true
}

// CheckReturnTo reports whether p is acceptable as a post-login redirect:
// empty, or a path on the same origin ("/x", not "//host", "/\host",
// "https://host" or anything with a scheme or control characters).
func CheckReturnTo(p string) error {
	if p == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("oauth2client: return-to %q rejected: %s; use a path on this site such as /settings", p, why)
	}
	if len(p) > 2048 {
		return bad("longer than 2048 bytes")
	}
	if p[0] != '/' {
		return bad("not a path starting with '/'")
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return bad("protocol-relative URL pointing to another host")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return bad("control character or backslash")
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return bad("not a same-origin path")
	}
	return nil
}

// ReauthError says that an account needs its user to sign in again. It
// matches [ErrReauthRequired].
type ReauthError struct {
	Account, Connection string
	// Reason is the stored description of the failure that required it.
	Reason string
	// Err is the cause when it is known in this process, e.g. an error
	// wrapping [ErrIdentityChanged].
	Err error
}

// Unwrap returns the cause, if known.
func (e *ReauthError) Unwrap() error { return e.Err }

// Error says which account needs re-authorization and why.
func (e *ReauthError) Error() string {
	s := fmt.Sprintf("oauth2client: account %q must be authorized again (start a new authorization)", e.Account)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is matches [ErrReauthRequired].
func (e *ReauthError) Is(target error) bool { return target == ErrReauthRequired }

// ConnectAppOnly connects account to mailbox through connection's
// app-only access (Entra client credentials, a Google service account):
// no user is involved. It fetches a first token to prove the access works
// and stores it; later tokens are obtained the same way. A provider that
// implements [AppGrantChecker] may refuse the first token (Entra: no
// application permission granted), and then nothing is stored.
func (c *Client) ConnectAppOnly(ctx context.Context, connection, account, mailbox string) (*Token, error) {
	if account == "" || mailbox == "" {
		return nil, errors.New("oauth2client: ConnectAppOnly needs an account and a mailbox address")
	}
	p, err := c.Connection(connection)
	if err != nil {
		return nil, err
	}
	ap, ok := p.(AppOnlyProvider)
	if !ok {
		return nil, fmt.Errorf("oauth2client: connection %q: %w", connection, ErrAppOnlyUnsupported)
	}
	g, err := ap.AppToken(ctx, mailbox)
	if err != nil {
		return nil, fmt.Errorf("oauth2client: app-only token for %q: %w", mailbox, err)
	}
	g.AppOnly = true
	if g.Identity.Username == "" {
		g.Identity.Username = mailbox
	}
	if chk, ok := p.(AppGrantChecker); ok {
		if err := chk.CheckAppGrant(g); err != nil {
			return nil, fmt.Errorf("oauth2client: app-only token for %q: %w", mailbox, err)
		}
	}
	_, tok, err := c.storeGrant(ctx, connection, account, g)
	return tok, err
}

// ConnectGrant stores a grant obtained outside the callback handler for
// account on connection, replacing whatever was stored, and returns its
// token: a device-code sign-in (azure.DeviceLogin), or tokens migrated
// from another tool. The grant must carry an access token and, unless it
// is app-only, whatever the connection's provider needs to refresh it (a
// refresh token, or the provider's state). The Authorized hook is called.
//
// A grant whose access token has already expired (migrated tokens) is
// stored and then refreshed at once, so the token returned is valid; if
// that refresh fails, the error says why and the stored grant is kept.
func (c *Client) ConnectGrant(ctx context.Context, connection, account string, g *Grant) (*Token, error) {
	if account == "" || g == nil || g.AccessToken == "" {
		return nil, errors.New("oauth2client: ConnectGrant needs an account and a grant with an access token")
	}
	if _, err := c.Connection(connection); err != nil {
		return nil, err
	}
	_, tok, err := c.storeGrant(ctx, connection, account, g)
	if err != nil {
		return nil, err
	}
	if c.hooks.Authorized != nil {
		c.hooks.Authorized(ctx, account)
	}
	if !tok.Expiry.IsZero() && !c.now().Before(tok.Expiry) {
		fresh, err := c.RefreshIfCurrent(ctx, account, tok.AccessToken)
		if err != nil {
			return nil, fmt.Errorf("oauth2client: ConnectGrant: the grant of account %q was stored, but its access token had expired and refreshing it failed: %w", account, err)
		}
		return fresh, nil
	}
	return tok, nil
}

// storeGrant writes a fresh grant for account, replacing whatever was
// stored (a record that cannot be read is deleted first), under the
// account's lease, and publishes it. A refresh of the replaced grant still
// in flight changes nothing afterwards: the account's generation is
// raised before and after the write.
func (c *Client) storeGrant(ctx context.Context, connection, account string, g *Grant) (*Record, *Token, error) {
	e := c.entryFor(account)
	e.bump()
	lease, err := c.acquire(ctx, e, account)
	if err != nil {
		return nil, nil, fmt.Errorf("oauth2client: saving the tokens of account %q: %w", account, err)
	}
	defer c.release(ctx, e, account, lease, false)
	for range 3 {
		rec := &Record{Account: account}
		cur, err := c.store.Load(ctx, account)
		switch {
		case err == nil:
			rec.Version = cur.Version
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrUnreadable):
			// Replace what cannot be read: the user is authorizing
			// again, which is what the error told them to do.
			if derr := c.store.Delete(ctx, account); derr != nil {
				return nil, nil, fmt.Errorf("oauth2client: replacing the unreadable record of account %q: %w", account, &StoreError{Op: "delete", Account: account, Err: derr})
			}
		default:
			return nil, nil, fmt.Errorf("oauth2client: saving the tokens of account %q: %w", account, &StoreError{Op: "load", Account: account, Err: err})
		}
		rec.Connection = connection
		rec.Grant = *g
		rec.Updated = c.now()
		err = c.write(ctx, rec)
		if err == nil {
			e.mu.Lock()
			e.gen++
			e.unsaved = nil
			e.failures, e.retryAt, e.lastErr, e.needsReauth = 0, time.Time{}, nil, false
			tok := c.publishLocked(e, rec, false, time.Time{})
			e.mu.Unlock()
			return rec, tok, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, nil, fmt.Errorf("oauth2client: saving the tokens of account %q: %w", account, &StoreError{Op: "save", Account: account, Err: err})
		}
	}
	return nil, nil, fmt.Errorf("oauth2client: saving the tokens of account %q: %w (three times in a row)", account, ErrConflict)
}

// Disconnect forgets account: it revokes the grant where the provider
// supports it ([Revoker]) and deletes the stored record, under the
// account's lease, so a refresh in flight cannot bring it back. The
// record is deleted even if revocation fails (the revocation error is
// returned) and even if it cannot be read ([ErrUnreadable]; nothing is
// revoked then). Other instances sharing the store stop serving the
// account's token within [Config.StoreRecheck].
func (c *Client) Disconnect(ctx context.Context, account string) error {
	e := c.entryFor(account)
	e.bump()
	lease, err := c.acquire(ctx, e, account)
	if err != nil {
		return fmt.Errorf("oauth2client: disconnecting account %q: %w", account, err)
	}
	defer c.release(ctx, e, account, lease, false)
	rec, err := c.store.Load(ctx, account)
	unreadable := errors.Is(err, ErrUnreadable)
	switch {
	case errors.Is(err, ErrNotFound):
		e.mu.Lock()
		c.forgetLocked(e, account)
		e.mu.Unlock()
		return nil
	case err != nil && !unreadable:
		return fmt.Errorf("oauth2client: disconnecting account %q: %w", account, &StoreError{Op: "load", Account: account, Err: err})
	}
	var revokeErr error
	if !unreadable {
		e.mu.Lock()
		if u := e.unsaved; u != nil && u.Version >= rec.Version {
			rec = u.Clone() // the refresh token that is current is the unsaved one
		}
		e.mu.Unlock()
		if p, perr := c.Connection(rec.Connection); perr == nil {
			if r, ok := p.(Revoker); ok && !rec.AppOnly {
				if err := r.Revoke(ctx, &rec.Grant); err != nil {
					err = ScrubError(err, grantSecrets(&rec.Grant)...)
					revokeErr = fmt.Errorf("oauth2client: revoking the grant of account %q (tokens deleted anyway): %w", account, err)
				}
			}
		}
	}
	e.mu.Lock()
	c.forgetLocked(e, account)
	e.mu.Unlock()
	if err := c.store.Delete(ctx, account); err != nil {
		return errors.Join(fmt.Errorf("oauth2client: deleting account %q: %w", account, &StoreError{Op: "delete", Account: account, Err: err}), revokeErr)
	}
	if c.hooks.Disconnected != nil {
		c.hooks.Disconnected(ctx, account)
	}
	return revokeErr
}

// TokenSource adapts the Client to [oauth2.TokenSource] for one account,
// for code that wants that interface (an *http.Client from
// oauth2.NewClient, say). Because TokenSource.Token takes no context,
// every call uses ctx: pass a context that lives as long as the source
// (not a request's), or prefer [Client.Token], which takes one per call.
func (c *Client) TokenSource(ctx context.Context, account string) oauth2.TokenSource {
	return tokenSource{c: c, ctx: ctx, account: account}
}

type tokenSource struct {
	c       *Client
	ctx     context.Context //nolint:containedctx // documented: oauth2.TokenSource has no ctx parameter
	account string
}

func (s tokenSource) Token() (*oauth2.Token, error) {
	t, err := s.c.Token(s.ctx, s.account)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: string(t.AccessToken), TokenType: "Bearer", Expiry: t.Expiry}, nil
}

// sameUser compares mailbox names the way mail providers do.
func sameUser(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

package mailtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Rotator is an in-process [oauth2client.Provider] (no HTTP) with strict
// refresh-token rotation, as Okta, Auth0, Ory Hydra or Keycloak with
// "revoke refresh token" behave: every refresh returns a new refresh
// token and retires the one presented, and presenting a retired refresh
// token again is taken as theft — the whole token family (every refresh
// token descending from the same consent) is revoked and the answer is
// invalid_grant, a [oauth2client.ClassReauth] error. A test that ends
// with [RotatorStats.RotatedOutRedemptions] at zero proves the code under
// test never redeemed a refresh token twice.
//
// Faults are injected with [RotatorOptions.Fault] (see [Throttled],
// [Unavailable]) or by holding the token endpoint with [Rotator.Hold].
// Time comes from [RotatorOptions.Now], so a manual [Clock] drives the
// tokens' expiry. A Rotator is safe for concurrent use.
type Rotator struct {
	opts RotatorOptions

	mu        sync.Mutex
	families  map[string]*family    // refresh token -> family (current and retired)
	users     map[string]*rotUser   // username -> user
	codes     map[string]rotCode    // authorization code -> pending exchange
	access    map[string]*rotAccess // access token -> what it is
	seq       int
	stats     RotatorStats
	held      chan struct{} // closed on release; nil when not held
	lifetimes map[string]time.Duration
}

// RotatorOptions configures a [Rotator]. The zero value works: time.Now,
// one-hour access tokens, no faults.
type RotatorOptions struct {
	// Now is the provider's clock. Nil means time.Now.
	Now func() time.Time
	// Lifetime is the default access-token lifetime. Zero means one
	// hour. [Rotator.SetLifetime] overrides it per user.
	Lifetime time.Duration
	// Fault, if set, is called before each refresh with the user's
	// name and the refresh's context. A non-nil error is returned to the
	// caller as is and nothing is rotated (the request never reached
	// the token service). Use [Throttled] and [Unavailable] for realistic
	// answers; a Fault may block on ctx to play a hung endpoint.
	Fault func(ctx context.Context, username string) error
	// Ledger, if set, records every access token issued, so the fake
	// mail servers of this package accept exactly those.
	Ledger *Ledger
	// Mail is returned by [Rotator.Mail]. The zero value names no
	// servers and the XOAUTH2 mechanism.
	Mail oauth2client.MailService
}

// RotatorStats counts what happened at a [Rotator]'s token endpoint.
type RotatorStats struct {
	// Refreshes counts refresh requests that reached the token service
	// (faults excluded), successful or not.
	Refreshes int
	// Rotations counts refreshes that issued new tokens.
	Rotations int
	// RotatedOutRedemptions counts refresh tokens presented after they
	// had been rotated out: each revoked its family.
	RotatedOutRedemptions int
	// RevokedFamilies counts token families revoked, by reuse detection
	// or [Rotator.Revoke].
	RevokedFamilies int
	// Faults counts refreshes answered by [RotatorOptions.Fault].
	Faults int
}

// RotatorToken describes an access token a [Rotator] issued.
type RotatorToken struct {
	// Username is the mailbox the token opens.
	Username string
	// Issued and Expiry bound the token's validity.
	Issued, Expiry time.Time
	// Refresh is true when the token came from a refresh rather than a
	// consent.
	Refresh bool
}

type family struct {
	id       int
	user     *rotUser
	current  string // the one refresh token that may be redeemed
	revoked  bool
	retired  map[string]bool
	issued   []RotatorToken
	lastSeen string // latest access token
}

type rotUser struct {
	name   string
	family *family // the latest consent
}

type rotCode struct {
	user      string
	challenge string
	redirect  string
}

type rotAccess struct {
	fam *family
	RotatorToken
}

// NewRotator returns a strict-rotation provider.
func NewRotator(opts RotatorOptions) *Rotator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = time.Hour
	}
	if len(opts.Mail.Mechanisms) == 0 {
		opts.Mail.Mechanisms = []string{"XOAUTH2"}
	}
	return &Rotator{
		opts:      opts,
		families:  make(map[string]*family),
		users:     make(map[string]*rotUser),
		codes:     make(map[string]rotCode),
		access:    make(map[string]*rotAccess),
		lifetimes: make(map[string]time.Duration),
	}
}

// Throttled returns the error a provider gives when it throttles: HTTP
// 429 with Retry-After, a transient [oauth2client.ProviderError].
func Throttled(retryAfter time.Duration) error {
	return &oauth2client.ProviderError{Provider: "rotator", Op: "refresh", Code: "temporarily_unavailable",
		Description: "too many requests", HTTPStatus: http.StatusTooManyRequests, RetryAfter: retryAfter,
		Class: oauth2client.ClassTransient, Remedy: "retry after the delay the provider asked for"}
}

// Unavailable returns the error of a provider outage: HTTP 503, a
// transient [oauth2client.ProviderError].
func Unavailable() error {
	return &oauth2client.ProviderError{Provider: "rotator", Op: "refresh", Code: "temporarily_unavailable",
		Description: "service unavailable", HTTPStatus: http.StatusServiceUnavailable,
		Class: oauth2client.ClassTransient, Remedy: "retry later"}
}

// SetLifetime sets the lifetime of the access tokens issued to username
// from now on.
func (r *Rotator) SetLifetime(username string, d time.Duration) {
	r.mu.Lock()
	r.lifetimes[username] = d
	r.mu.Unlock()
}

// Grant plays a user's consent without the browser: it starts a new token
// family for username (the previous family stays valid until revoked)
// and returns its first grant, for [oauth2client.Client.ConnectGrant].
func (r *Rotator) Grant(username string) *oauth2client.Grant {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.user(username)
	r.seq++
	f := &family{id: r.seq, user: u, retired: make(map[string]bool)}
	u.family = f
	return r.issueLocked(f, false)
}

func (r *Rotator) user(name string) *rotUser {
	u, ok := r.users[name]
	if !ok {
		u = &rotUser{name: name}
		r.users[name] = u
	}
	return u
}

func (r *Rotator) issueLocked(f *family, refresh bool) *oauth2client.Grant {
	r.seq++
	now := r.opts.Now()
	life := r.opts.Lifetime
	if d, ok := r.lifetimes[f.user.name]; ok && d > 0 {
		life = d
	}
	rt := fmt.Sprintf("rt-%d-%d", f.id, r.seq)
	at := fmt.Sprintf("at-%d-%d", f.id, r.seq)
	if f.current != "" {
		f.retired[f.current] = true
	}
	f.current = rt
	r.families[rt] = f
	tok := RotatorToken{Username: f.user.name, Issued: now, Expiry: now.Add(life), Refresh: refresh}
	f.issued = append(f.issued, tok)
	f.lastSeen = at
	r.access[at] = &rotAccess{fam: f, RotatorToken: tok}
	if r.opts.Ledger != nil {
		r.opts.Ledger.Issue(at, TokenInfo{Username: f.user.name, Subject: "sub-" + f.user.name, Issued: now, Expiry: tok.Expiry})
	}
	return &oauth2client.Grant{
		AccessToken:  oauth2client.Secret(at),
		RefreshToken: oauth2client.Secret(rt),
		Expiry:       tok.Expiry,
		Identity:     oauth2client.Identity{Username: f.user.name, Subject: "sub-" + f.user.name},
	}
}

// AuthCodeURL implements [oauth2client.Provider]. The URL is not
// served: pass it to [Rotator.Approve].
func (r *Rotator) AuthCodeURL(_ context.Context, req oauth2client.AuthRequest) (string, error) {
	v := url.Values{"state": {req.State}, "code_challenge": {req.CodeChallenge},
		"code_challenge_method": {"S256"}, "redirect_uri": {req.RedirectURI}}
	return "https://rotator.invalid/authorize?" + v.Encode(), nil
}

// Approve plays username signing in at the authorization URL authURL and
// returns the query the browser brings back to the callback.
func (r *Rotator) Approve(authURL, username string) url.Values {
	u, err := url.Parse(authURL)
	if err != nil {
		return url.Values{"error": {"invalid_request"}}
	}
	q := u.Query()
	r.mu.Lock()
	r.seq++
	code := fmt.Sprintf("code-%d", r.seq)
	r.codes[code] = rotCode{user: username, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	r.mu.Unlock()
	return url.Values{"code": {code}, "state": {q.Get("state")}}
}

// Exchange implements [oauth2client.Provider]: a code from Approve,
// once, with the PKCE verifier, starts a new token family.
func (r *Rotator) Exchange(_ context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	r.mu.Lock()
	c, ok := r.codes[string(req.Code)]
	delete(r.codes, string(req.Code))
	r.mu.Unlock()
	if !ok || oauth2.S256ChallengeFromVerifier(string(req.CodeVerifier)) != c.challenge || req.RedirectURI != c.redirect {
		return nil, &oauth2client.ProviderError{Provider: "rotator", Op: "exchange", Code: "invalid_grant",
			Description: "unknown, used or mismatched authorization code", HTTPStatus: http.StatusBadRequest,
			Class: oauth2client.ClassReauth, Remedy: "start the authorization again"}
	}
	return r.Grant(c.user), nil
}

// Refresh implements [oauth2client.Provider] with strict rotation.
func (r *Rotator) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	r.mu.Lock()
	f := r.families[string(g.RefreshToken)]
	held := r.held
	r.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return nil, r.ctxErr(ctx)
		}
	}
	if r.opts.Fault != nil && f != nil {
		if err := r.opts.Fault(ctx, f.user.name); err != nil {
			r.mu.Lock()
			r.stats.Faults++
			r.mu.Unlock()
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, r.ctxErr(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Refreshes++
	rt := string(g.RefreshToken)
	switch {
	case f == nil:
		return nil, invalidGrant("unknown refresh token")
	case f.revoked:
		return nil, invalidGrant("the refresh token's family was revoked")
	case rt != f.current:
		r.stats.RotatedOutRedemptions++
		r.revokeLocked(f)
		return nil, invalidGrant("refresh token reuse detected: the token family is revoked")
	}
	r.stats.Rotations++
	return r.issueLocked(f, true), nil
}

func (r *Rotator) ctxErr(ctx context.Context) error {
	return &oauth2client.ProviderError{Provider: "rotator", Op: "refresh", Description: "request abandoned",
		Class: oauth2client.ClassTransient, Err: ctx.Err(), Remedy: "retry"}
}

func invalidGrant(why string) error {
	return &oauth2client.ProviderError{Provider: "rotator", Op: "refresh", Code: "invalid_grant", Description: why,
		HTTPStatus: http.StatusBadRequest, Class: oauth2client.ClassReauth, Remedy: "the user must sign in again"}
}

func (r *Rotator) revokeLocked(f *family) {
	if f.revoked {
		return
	}
	f.revoked = true
	r.stats.RevokedFamilies++
	if r.opts.Ledger != nil {
		for at, a := range r.access {
			if a.fam == f {
				r.opts.Ledger.Revoke(at)
			}
		}
	}
}

// Revoke implements [oauth2client.Revoker]: it revokes g's family.
func (r *Rotator) Revoke(_ context.Context, g *oauth2client.Grant) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.families[string(g.RefreshToken)]; f != nil {
		r.revokeLocked(f)
	}
	return nil
}

// Mail implements [oauth2client.Provider].
func (r *Rotator) Mail() oauth2client.MailService { return r.opts.Mail }

// Hold makes every refresh that starts from now on wait until the
// returned release function is called (or its context ends), to play a
// hung token endpoint or to hold a refresh in flight while a test acts.
// Calling release more than once is harmless.
func (r *Rotator) Hold() (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.held = ch
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			if r.held == ch {
				r.held = nil
			}
			r.mu.Unlock()
			close(ch)
		})
	}
}

// Stats returns the counters.
func (r *Rotator) Stats() RotatorStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// NeedsConsent reports whether username has no usable token family: never
// consented, or the latest family was revoked.
func (r *Rotator) NeedsConsent(username string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[username]
	return !ok || u.family == nil || u.family.revoked
}

// Issued returns the access tokens issued to username's latest token
// family, oldest first.
func (r *Rotator) Issued(username string) []RotatorToken {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[username]
	if !ok || u.family == nil {
		return nil
	}
	return append([]RotatorToken(nil), u.family.issued...)
}

// Valid reports whether access is an access token this Rotator issued,
// whose family is not revoked and which has not expired at the
// provider's current time.
func (r *Rotator) Valid(access oauth2client.Secret) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.access[string(access)]
	return ok && !a.fam.revoked && r.opts.Now().Before(a.Expiry)
}

// LatestValid reports whether the newest access token issued to
// username's latest family is still valid: whether a caller asking for
// username's token could have been given one.
func (r *Rotator) LatestValid(username string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[username]
	if !ok || u.family == nil || u.family.revoked || len(u.family.issued) == 0 {
		return false
	}
	return r.opts.Now().Before(u.family.issued[len(u.family.issued)-1].Expiry)
}

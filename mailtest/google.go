package mailtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GoogleUser is a user of the fake Google.
type GoogleUser struct {
	// Email is the Gmail or Workspace address.
	Email string
	// Subject is the stable account ID (sub); generated if empty.
	Subject string
	// Domain is the Workspace domain (the hd claim); empty for gmail.com.
	Domain string
}

// GoogleServiceAccount is a Workspace service account with domain-wide
// delegation.
type GoogleServiceAccount struct {
	// Email is the service account's address (the JWT's iss).
	Email string
	// PublicKey verifies the RS256 signature of its assertions.
	PublicKey *rsa.PublicKey
	// Scopes are the scopes the Workspace administrator authorized for
	// the account's client ID (default https://mail.google.com/).
	Scopes []string
}

// GoogleOptions configure [NewGoogle].
type GoogleOptions struct {
	// ClientID and ClientSecret are the OAuth client's credentials.
	// Defaults: "fake-client.apps.googleusercontent.com" and
	// "GOCSPX-fake-secret".
	ClientID, ClientSecret string
	// RedirectURIs are the authorized redirect URIs. Authorization
	// requests with another one get Google's redirect_uri_mismatch page.
	RedirectURIs []string
	// Users can sign in (default: bob@gmail.example). The user named by
	// login_hint signs in, else the first.
	Users []GoogleUser
	// ServiceAccounts may use the JWT bearer grant.
	ServiceAccounts []GoogleServiceAccount
	// TokenLifetime is the access tokens' lifetime (default one hour).
	TokenLifetime time.Duration
	// IssuerParameter adds iss= to authorization responses (RFC 9207) and
	// says so in the discovery document. Google itself does not.
	IssuerParameter bool
	// StrictRotation makes the fake rotate refresh tokens with reuse
	// detection, which Google itself does not do: Google answers a
	// refresh without a new refresh token and the old one stays valid
	// (the default). With it, every refresh answer carries a new refresh
	// token and the presented one is rotated out; presenting a
	// rotated-out token revokes the whole grant (every refresh and
	// access token issued from that consent) and is answered with
	// Google's invalid_grant "Token has been expired or revoked.", as
	// is every later use of the grant. Use it to test against providers
	// that rotate strictly through Google's wire format.
	// [Google.RotatedOutRedemptions] counts such presentations.
	StrictRotation bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// GoogleFailure is an error the fake's token endpoint returns once.
type GoogleFailure struct {
	// Status is the HTTP status (default 400).
	Status int
	// Error and Description are the OAuth error body; an empty Error
	// sends an HTML body, as Google's front end does on 5xx.
	Error, Description string
	// RetryAfter, if set, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration
}

// Google is a fake of Google's OAuth 2.0 endpoints, served over TLS on
// loopback: /o/oauth2/v2/auth (PKCE S256 required; a refresh token only
// with access_type=offline, on the first consent or with prompt=consent),
// /token (authorization_code with single-use codes, refresh_token without
// rotation as at Google unless [GoogleOptions].StrictRotation, and the JWT
// bearer grant of service accounts),
// /revoke and /.well-known/openid-configuration. Access tokens are opaque
// "ya29." strings recorded in [Google.Ledger]; errors use Google's JSON
// ({"error":"invalid_grant","error_description":"Token has been expired
// or revoked."}).
//
// It is safe for concurrent use.
type Google struct {
	srv    *httptest.Server
	opts   GoogleOptions
	key    *rsa.PrivateKey
	ledger *Ledger

	mu        sync.Mutex
	codes     map[string]*gCode
	rts       map[string]*gGrant
	ats       map[string]*gGrant
	consented map[string]bool
	failNext  []GoogleFailure
	deny      bool
	requests  map[string]int
	// rotatedOut holds the refresh tokens StrictRotation replaced, by
	// token; reuses counts their presentations.
	rotatedOut map[string]*gGrant
	reuses     int
}

type gCode struct {
	user      GoogleUser
	challenge string
	redirect  string
	scopes    []string
	offline   bool
	expires   time.Time
	used      bool
}

type gGrant struct {
	user    GoogleUser
	scopes  []string
	revoked bool
	ats     []string
}

// Grant types counted by [Google.TokenRequests].
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer" // #nosec G101 -- a grant type name (RFC 7523), not a credential
)

// NewGoogle starts a fake Google.
func NewGoogle(opts GoogleOptions) (*Google, error) {
	if opts.ClientID == "" {
		opts.ClientID = "fake-client.apps.googleusercontent.com"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "GOCSPX-fake-secret"
	}
	if len(opts.Users) == 0 {
		opts.Users = []GoogleUser{{Email: "bob@gmail.example"}}
	}
	for i := range opts.Users {
		if opts.Users[i].Subject == "" {
			opts.Users[i].Subject = fmt.Sprintf("1%020d", i+1)
		}
	}
	for i := range opts.ServiceAccounts {
		if len(opts.ServiceAccounts[i].Scopes) == 0 {
			opts.ServiceAccounts[i].Scopes = []string{"https://mail.google.com/"}
		}
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	g := &Google{opts: opts, key: key, ledger: NewLedger(opts.Now), codes: map[string]*gCode{},
		rts: map[string]*gGrant{}, ats: map[string]*gGrant{}, consented: map[string]bool{}, requests: map[string]int{}, rotatedOut: map[string]*gGrant{}}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(g.serve))
	return g, nil
}

// URL returns the fake's base URL (also its issuer).
func (g *Google) URL() string { return g.srv.URL }

// AuthURL returns the authorization endpoint.
func (g *Google) AuthURL() string { return g.srv.URL + "/o/oauth2/v2/auth" }

// TokenURL returns the token endpoint (the aud of JWT assertions).
func (g *Google) TokenURL() string { return g.srv.URL + "/token" }

// RevokeURL returns the revocation endpoint.
func (g *Google) RevokeURL() string { return g.srv.URL + "/revoke" }

// Client returns an HTTP client that trusts the fake's certificate.
func (g *Google) Client() *http.Client { return g.srv.Client() }

// Close shuts the fake down.
func (g *Google) Close() { g.srv.Close() }

// Ledger returns the record of issued access tokens.
func (g *Google) Ledger() *Ledger { return g.ledger }

// ClientID returns the OAuth client ID.
func (g *Google) ClientID() string { return g.opts.ClientID }

// ClientSecret returns the OAuth client secret.
func (g *Google) ClientSecret() string { return g.opts.ClientSecret }

// RegisterRedirectURI adds an authorized redirect URI.
func (g *Google) RegisterRedirectURI(uri string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opts.RedirectURIs = append(g.opts.RedirectURIs, uri)
}

// FailNext makes the next token request fail with f. Several calls queue.
func (g *Google) FailNext(f GoogleFailure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failNext = append(g.failNext, f)
}

// DenyNext makes the user decline the next authorization: the browser is
// redirected with error=access_denied.
func (g *Google) DenyNext() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deny = true
}

// RevokeUser revokes every grant of email, as the user does at
// myaccount.google.com or a password change does: refreshing then fails
// with invalid_grant. It returns the number of grants revoked.
func (g *Google) RevokeUser(email string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, gr := range g.rts {
		if strings.EqualFold(gr.user.Email, email) && !gr.revoked {
			g.revokeLocked(gr)
			n++
		}
	}
	delete(g.consented, strings.ToLower(email))
	return n
}

// TokenRequests returns how many token requests of grantType arrived,
// failed ones included (see GrantAuthorizationCode and friends).
func (g *Google) TokenRequests(grantType string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[grantType]
}

// RotatedOutRedemptions returns how many refresh requests presented a
// refresh token that [GoogleOptions].StrictRotation had rotated out;
// each revoked its grant. A client that never loses a rotated refresh
// token keeps this at zero. Without StrictRotation it stays zero, since
// Google does not rotate.
func (g *Google) RotatedOutRedemptions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reuses
}

// RefreshTokens returns how many live refresh tokens the fake holds.
func (g *Google) RefreshTokens() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, gr := range g.rts {
		if !gr.revoked {
			n++
		}
	}
	return n
}

// Authorize plays the user's browser at authURL: the user named by
// login_hint (or the first) signs in and consents, unless [Google.DenyNext]
// was called. It returns the URL the browser is sent to (the callback
// with code and state, or error=access_denied); an error page (unknown
// client, unregistered redirect URI) is returned as an error naming
// Google's error code.
func (g *Google) Authorize(ctx context.Context, authURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	hc := *g.srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		var e struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return "", fmt.Errorf("mailtest: Google authorization page: Error %d: %s: %s", resp.StatusCode, e.Error, e.Desc)
	}
	return resp.Header.Get("Location"), nil
}

func (g *Google) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/.well-known/openid-configuration" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": g.srv.URL, "authorization_endpoint": g.AuthURL(), "token_endpoint": g.TokenURL(),
			"revocation_endpoint": g.RevokeURL(), "userinfo_endpoint": g.srv.URL + "/userinfo",
			"response_types_supported": []string{"code"}, "code_challenge_methods_supported": []string{"S256"},
			"scopes_supported": []string{"openid", "email", "profile", "https://mail.google.com/"},
			"authorization_response_iss_parameter_supported": g.opts.IssuerParameter,
		})
	case r.URL.Path == "/o/oauth2/v2/auth" && r.Method == http.MethodGet:
		g.authorize(w, r)
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		g.token(w, r)
	case r.URL.Path == "/revoke" && r.Method == http.MethodPost:
		g.revoke(w, r)
	case r.URL.Path == "/userinfo" && r.Method == http.MethodGet:
		g.userinfo(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (g *Google) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != g.opts.ClientID {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "The OAuth client was not found."})
		return
	}
	redirect := q.Get("redirect_uri")
	g.mu.Lock()
	registered := slices.Contains(g.opts.RedirectURIs, redirect)
	deny := g.deny
	g.deny = false
	g.mu.Unlock()
	if !registered {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "redirect_uri_mismatch",
			"error_description": "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri=" + redirect})
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		if g.opts.IssuerParameter {
			v.Set("iss", g.srv.URL)
		}
		u, _ := url.Parse(redirect)
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound) // #nosec G710 -- a fake provider: the redirect URI was checked against the registered ones
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "Only response_type=code is supported.")
		return
	case len(scopes) == 0:
		fail("invalid_request", "Missing required parameter: scope")
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE with code_challenge_method=S256 is required.")
		return
	case deny:
		back(url.Values{"error": {"access_denied"}})
		return
	}
	user := g.opts.Users[0]
	if hint := q.Get("login_hint"); hint != "" {
		i := slices.IndexFunc(g.opts.Users, func(u GoogleUser) bool { return strings.EqualFold(u.Email, hint) })
		if i < 0 {
			fail("access_denied", "The account does not exist.")
			return
		}
		user = g.opts.Users[i]
	}
	code := "4/0A" + randomString(70)
	g.mu.Lock()
	first := !g.consented[strings.ToLower(user.Email)]
	g.consented[strings.ToLower(user.Email)] = true
	g.codes[code] = &gCode{user: user, challenge: q.Get("code_challenge"), redirect: redirect, scopes: scopes,
		offline: q.Get("access_type") == "offline" && (first || q.Get("prompt") == "consent"),
		expires: g.opts.Now().Add(10 * time.Minute)}
	g.mu.Unlock()
	back(url.Values{"code": {code}, "scope": {strings.Join(scopes, " ")}})
}

func (g *Google) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		g.fail(w, http.StatusBadRequest, "invalid_request", "Malformed request.")
		return
	}
	f := r.PostForm
	gt := f.Get("grant_type")
	g.mu.Lock()
	g.requests[gt]++
	var failure *GoogleFailure
	if len(g.failNext) > 0 {
		failure = &g.failNext[0]
		g.failNext = g.failNext[1:]
	}
	g.mu.Unlock()
	if failure != nil {
		g.injected(w, *failure)
		return
	}
	if gt == GrantJWTBearer {
		g.jwtBearer(w, f)
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id != g.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(g.opts.ClientSecret)) != 1 {
		g.fail(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	switch gt {
	case GrantAuthorizationCode:
		g.redeemCode(w, f)
	case GrantRefreshToken:
		presented := f.Get("refresh_token")
		// Check and rotate under one lock, so that of two concurrent
		// redemptions of one refresh token only one finds it current.
		g.mu.Lock()
		gr, ok := g.rts[presented]
		if old, reused := g.rotatedOut[presented]; reused {
			g.reuses++
			g.revokeLocked(old)
		}
		next := ""
		if ok && !gr.revoked && g.opts.StrictRotation {
			next = "1//0" + randomString(100)
			delete(g.rts, presented)
			g.rotatedOut[presented] = gr
			g.rts[next] = gr
		}
		g.mu.Unlock()
		if !ok || gr.revoked {
			g.fail(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		g.issue(w, gr, next)
	default:
		g.fail(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
}

func (g *Google) redeemCode(w http.ResponseWriter, f url.Values) {
	g.mu.Lock()
	c, ok := g.codes[f.Get("code")]
	valid := ok && !c.used && g.opts.Now().Before(c.expires)
	if ok {
		c.used = true
	}
	g.mu.Unlock()
	switch {
	case !valid:
		g.fail(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		return
	case f.Get("redirect_uri") != c.redirect:
		g.fail(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		return
	case f.Get("code_verifier") == "":
		g.fail(w, http.StatusBadRequest, "invalid_grant", "Missing code verifier.")
		return
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		g.fail(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
		return
	}
	gr := &gGrant{user: c.user, scopes: c.scopes}
	rt := ""
	if c.offline {
		rt = "1//0" + randomString(100)
		g.mu.Lock()
		g.rts[rt] = gr
		g.mu.Unlock()
	}
	g.issue(w, gr, rt)
}

func (g *Google) jwtBearer(w http.ResponseWriter, f url.Values) {
	var sa *GoogleServiceAccount
	tok, err := jwt.Parse(f.Get("assertion"), func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		for i := range g.opts.ServiceAccounts {
			if g.opts.ServiceAccounts[i].Email == iss {
				sa = &g.opts.ServiceAccounts[i]
				return sa.PublicKey, nil
			}
		}
		return nil, errors.New("unknown service account")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(g.TokenURL()), jwt.WithTimeFunc(g.opts.Now), jwt.WithExpirationRequired())
	if err != nil || sa == nil {
		g.fail(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	claims, _ := tok.Claims.(jwt.MapClaims)
	sub, _ := claims["sub"].(string)
	scope, _ := claims["scope"].(string)
	scopes := strings.Fields(scope)
	if len(scopes) == 0 {
		g.fail(w, http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	for _, s := range scopes {
		if !slices.Contains(sa.Scopes, s) {
			g.fail(w, http.StatusUnauthorized, "unauthorized_client",
				"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	user := GoogleUser{Email: sub, Subject: sa.Email}
	if sub == "" {
		user.Email = sa.Email
	} else if i := slices.IndexFunc(g.opts.Users, func(u GoogleUser) bool { return strings.EqualFold(u.Email, sub) }); i >= 0 {
		user = g.opts.Users[i]
	}
	g.issueApp(w, user, scopes)
}

func (g *Google) issueApp(w http.ResponseWriter, u GoogleUser, scopes []string) {
	now := g.opts.Now()
	at := "ya29.c." + randomString(160)
	g.ledger.Issue(at, TokenInfo{Username: u.Email, Subject: u.Subject, ClientID: g.opts.ClientID, Scopes: scopes,
		Issued: now, Expiry: now.Add(g.opts.TokenLifetime)})
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer",
		"expires_in": int(g.opts.TokenLifetime.Seconds())})
}

// issue answers with a new access token for gr, and rt if not empty.
func (g *Google) issue(w http.ResponseWriter, gr *gGrant, rt string) {
	now := g.opts.Now()
	at := "ya29.a0" + randomString(160)
	g.ledger.Issue(at, TokenInfo{Username: gr.user.Email, Subject: gr.user.Subject, ClientID: g.opts.ClientID,
		Scopes: gr.scopes, Issued: now, Expiry: now.Add(g.opts.TokenLifetime)})
	g.mu.Lock()
	gr.ats = append(gr.ats, at)
	g.ats[at] = gr
	g.mu.Unlock()
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(g.opts.TokenLifetime.Seconds()),
		"scope": strings.Join(gr.scopes, " ")}
	if rt != "" {
		resp["refresh_token"] = rt
	}
	if slices.Contains(gr.scopes, "openid") {
		resp["id_token"] = g.idToken(gr, now)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (g *Google) idToken(gr *gGrant, now time.Time) string {
	claims := jwt.MapClaims{"iss": g.srv.URL, "aud": g.opts.ClientID, "azp": g.opts.ClientID, "sub": gr.user.Subject,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "at_hash": randomString(22)}
	if slices.Contains(gr.scopes, "email") {
		claims["email"] = gr.user.Email
		claims["email_verified"] = true
	}
	if gr.user.Domain != "" {
		claims["hd"] = gr.user.Domain
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = "fake-google-key"
	s, err := t.SignedString(g.key)
	if err != nil {
		panic(err) // an RSA key we generated cannot fail to sign
	}
	return s
}

func (g *Google) userinfo(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ti, err := g.ledger.Check("", at)
	if !ok || err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		g.fail(w, http.StatusUnauthorized, "invalid_token", "Invalid Credentials")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": ti.Subject, "email": ti.Username, "email_verified": true})
}

func (g *Google) revoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		g.fail(w, http.StatusBadRequest, "invalid_request", "Malformed request.")
		return
	}
	tok := r.Form.Get("token")
	g.mu.Lock()
	gr, ok := g.rts[tok]
	if !ok {
		gr, ok = g.ats[tok]
	}
	if ok && !gr.revoked {
		g.revokeLocked(gr)
	} else {
		ok = false
	}
	g.mu.Unlock()
	if !ok {
		g.fail(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// revokeLocked revokes a grant: its refresh token and every access token
// issued under it. g.mu must be held.
func (g *Google) revokeLocked(gr *gGrant) {
	gr.revoked = true
	for _, at := range gr.ats {
		g.ledger.Revoke(at)
	}
}

func (g *Google) injected(w http.ResponseWriter, f GoogleFailure) {
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds())))
	}
	if f.Error == "" {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, "<html><title>Error %d</title><body>That's an error.</body></html>", f.Status)
		return
	}
	g.fail(w, f.Status, f.Error, f.Description)
}

func (g *Google) fail(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// Issuer returns the fake's OpenID Connect issuer (its URL): the generic
// provider's discovery finds /.well-known/openid-configuration under it,
// with authorization_response_iss_parameter_supported set to
// GoogleOptions.IssuerParameter.
func (g *Google) Issuer() string { return g.srv.URL }

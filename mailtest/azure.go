package mailtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// AzureUser is a user of the fake Entra ID.
type AzureUser struct {
	// Email is the user principal name and mail address.
	Email string
	// ObjectID is the user's object ID (oid); generated if empty.
	ObjectID string
	// Tenant is the tenant ID (tid); the first tenant if empty.
	Tenant string
}

// AzureOptions configure [NewAzure].
type AzureOptions struct {
	// ClientID and ClientSecret are the registered application's
	// credentials. Defaults: a fixed GUID and "fake-secret-value".
	ClientID, ClientSecret string
	// Certificate, if set, is the application's registered certificate:
	// client assertions signed with its key are accepted.
	Certificate *x509.Certificate
	// RedirectURIs are the registered redirect URIs. An authorization
	// request with another one fails with AADSTS50011.
	RedirectURIs []string
	// Tenants are the directory IDs that exist (default: one GUID). The
	// tenants of Users are added. Users in [MSATenant] are personal
	// Microsoft accounts, served at /consumers and /common.
	Tenants []string
	// Users can sign in (default: alice@contoso.example in the first
	// tenant).
	Users []AzureUser
	// AppRoles are the application permissions granted for client
	// credentials (nil: IMAP.AccessAsApp and SMTP.SendAsApp). An empty,
	// non-nil slice grants none, as Entra does before admin consent:
	// tokens then carry no roles claim.
	AppRoles []string
	// TokenLifetime is the access tokens' lifetime (default one hour;
	// MSAL treats tokens expiring within 5 minutes as expired).
	TokenLifetime time.Duration
	// StrictRotation makes a refresh token single-use: presenting an
	// already-rotated one revokes the whole token family (every refresh
	// token issued from the same sign-in) and is answered invalid_grant
	// with AADSTS50173, as is every later use of the family, like
	// identity providers with reuse detection (Okta, Auth0, Ory Hydra,
	// Keycloak with "revoke refresh token"). Entra itself keeps old
	// refresh tokens valid (the default). [Azure.RotatedOutRedemptions]
	// counts such presentations in either mode.
	StrictRotation bool
	// AllowPublicClientFlows accepts device-code token requests that
	// carry no client credential, like an app registration with
	// "Allow public client flows" set to Yes (MSAL's public client).
	AllowPublicClientFlows bool
	// Now is the clock for token lifetimes (default time.Now).
	Now func() time.Time
	// SignInPage makes the authorize endpoint show a sign-in page (the
	// user's address, a Continue and a Cancel button) to a browser
	// instead of answering at once, so that browser tests go through the
	// provider's page as users do: the answer to the application then
	// comes from a navigation the provider's page started. Continue
	// answers as the endpoint would have; Cancel answers
	// error=access_denied. [Azure.Authorize] skips the page.
	SignInPage bool
	// BrowserHost, if set, is the host name the authorization endpoint is
	// announced at in the discovery document (with the fake's port), so
	// that a browser test can put the provider on another site than the
	// application: make the browser resolve the name to loopback (e.g.
	// Chromium's --host-resolver-rules) and accept the fake's certificate.
	// Server-to-server endpoints stay at URL().
	BrowserHost string
	// Fail, if set, is asked about every token request (its form is
	// parsed: r.PostForm) before the fake handles it; a non-nil answer
	// is sent instead, e.g. to fail only one user's refreshes. See also
	// [Azure.FailNext].
	Fail func(r *http.Request) *AzureError
	// IDTokenClaims, if set, may change the claims of every id_token
	// the fake issues (code redemption, refresh, device code). Tests use
	// it to play a directory that lies: another iss, aud or tid, an
	// expired token, a foreign tenant's user named like a victim.
	IDTokenClaims func(claims map[string]any)
	// Echo, if set, makes every error answer of the token endpoint
	// repeat what it returns for the request (see withEcho in echo.go:
	// inside the error description, before the trace lines), like a
	// provider or proxy that echoes requests.
	Echo func(r *http.Request) string
}

// AzureError is an Entra error answer, for [AzureOptions.Fail].
type AzureError struct {
	// Status is the HTTP status (default 400).
	Status int
	// Error is the OAuth error, e.g. "invalid_grant" (default
	// "invalid_request").
	Error string
	// Code is the AADSTS number, e.g. 70008.
	Code int
	// Description is the text after "AADSTSnnnn: ".
	Description string
	// RetryAfter, if positive, is sent as a Retry-After header.
	RetryAfter time.Duration
	// Body, if set, is sent as is (text/plain) instead of Entra's error
	// JSON, with Status, which may be 200: a proxy's page, or an answer
	// that is not JSON.
	Body string
}

// Azure is a fake Microsoft Entra ID (v2.0 endpoints), served over TLS on
// loopback, faithful enough for MSAL for Go to run against it with
// instance discovery off (the azure package turns it off when
// Config.AuthorityURL is set). It serves, for every registered tenant
// and for common, organizations and consumers:
//
//   - GET /{tenant}/v2.0/.well-known/openid-configuration (issuer
//     URL()+"/{tenant}/v2.0", so MSAL's issuer check passes);
//   - GET /{tenant}/oauth2/v2.0/authorize: checks client_id, redirect_uri
//     (AADSTS50011), response_type=code, scope, and PKCE
//     (code_challenge with code_challenge_method=S256), then redirects to
//     the redirect URI with code and state, or with error and
//     error_description (see [Azure.DenyNext]); response_mode=form_post
//     answers with a page that posts them to the redirect URI, as Entra
//     does (see also AzureOptions.SignInPage);
//   - POST /{tenant}/oauth2/v2.0/token: grant types authorization_code
//     (PKCE checked, codes single-use: reuse gives AADSTS54005),
//     refresh_token (rotated on every use; old ones stay valid as at
//     Entra unless AzureOptions.StrictRotation), client_credentials
//     (real tenant and scope https://outlook.office365.com/.default
//     only) and device_code; client authentication by client_secret or
//     by a certificate client_assertion (PS256 or RS256, verified with
//     AzureOptions.Certificate's public key);
//   - POST /{tenant}/oauth2/v2.0/devicecode (see [Azure.ApproveDevice]);
//   - GET /{tenant}/v2.0/adminconsent: an administrator grants the app's
//     permissions for a tenant, as Entra's admin consent endpoint does:
//     checks client_id and redirect_uri, then redirects to the redirect
//     URI with admin_consent=True, tenant (the tenant of the URL, or for
//     organizations and common the administrator's own: the user named
//     by [Azure.AuthorizeAs], else the first user) and state; after
//     [Azure.DenyNext]("access_denied") with error=access_denied,
//     error_description AADSTS65004 and admin_consent=False instead.
//     [Azure.ConsentedTenants] lists the tenants consented so far;
//   - GET /common/discovery/instance, answered harmlessly.
//
// Token answers have Entra's shape: access_token, token_type Bearer,
// expires_in, ext_expires_in, refresh_token (when offline_access was
// asked), scope, id_token (unsigned payload with preferred_username, oid,
// tid, sub, iss, aud, exp, iat) and client_info (base64url of
// {"uid":oid,"utid":tid}). Access tokens are RS256 JWTs of realistic size
// (about 2 KB, aud https://outlook.office.com with scp for users,
// https://outlook.office365.com with roles for apps) signed with a key
// the fake generates ([Azure.PublicKey]), and each is recorded in
// [Azure.Ledger] with the user's mail address as Username, so the fake
// IMAP and SMTP servers accept exactly these tokens.
//
// Errors are Entra's JSON with the right HTTP status: error,
// error_description ("AADSTSnnnn: text\r\nTrace ID: ...\r\nCorrelation
// ID: ...\r\nTimestamp: ..."), error_codes, timestamp, trace_id,
// correlation_id and error_uri. Besides the errors the protocol produces
// by itself (wrong secret 7000215, unknown client 700016, unknown tenant
// 90002, bad redirect URI 50011, expired or reused code, ...),
// [Azure.FailNext] makes the next token request fail with any AADSTS
// code, and [Azure.TokenRequests] counts requests per grant type.
//
// A typical test or quickstart:
//
//	az, _ := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}})
//	defer az.Close()
//	p, _ := azure.New(az.AzureConfig()) // client ID, tenant, secret, authority, HTTP client
//	// ... client.SetConnection("m365", p)
//	err := mailtest.Connect(ctx, client, az, "m365", "account-1", nil) // the browser and the user
//	// The stored tokens open the mailtest IMAP and SMTP servers built
//	// with Tokens: az.Ledger().
//
// It is safe for concurrent use.
type Azure struct {
	srv    *httptest.Server
	opts   AzureOptions
	key    *rsa.PrivateKey
	ledger *Ledger

	mu         sync.Mutex
	codes      map[string]*azCode
	rts        map[string]*azRT
	failNext   []int
	denyNext   string
	requests   map[string]int
	rotatedOut int // redemptions of refresh tokens already rotated out
	byTenant   map[[2]string]int
	devices    map[string]*azDevice
	serial     int
	// sessionRevoked are the refresh tokens RevokeSessions revoked.
	sessionRevoked map[*azRT]bool
	// consented are the tenants granted admin consent, in order.
	consented []string
}

type azDevice struct {
	userCode string
	scopes   []string
	tenant   string
	expires  time.Time
	user     *AzureUser
	denied   bool
}

type azCode struct {
	user      AzureUser
	nonce     string
	challenge string
	redirect  string
	scopes    []string
	expires   time.Time
	used      bool
}

type azRT struct {
	user    AzureUser
	scopes  []string
	family  string
	rotated bool
	revoked bool
}

// NewAzure starts a fake Entra ID with opts (zero values as documented on
// [AzureOptions]). Close it when done.
func NewAzure(opts AzureOptions) (*Azure, error) {
	if opts.ClientID == "" {
		opts.ClientID = "00000000-0000-4000-8000-00000000c11e"
	}
	if opts.ClientSecret == "" && opts.Certificate == nil {
		opts.ClientSecret = "fake-secret-value"
	}
	if len(opts.Tenants) == 0 {
		opts.Tenants = []string{"11111111-1111-4111-8111-111111111111"}
	}
	if len(opts.Users) == 0 {
		opts.Users = []AzureUser{{Email: "alice@contoso.example"}}
	}
	for i := range opts.Users {
		if opts.Users[i].Tenant == "" {
			opts.Users[i].Tenant = opts.Tenants[0]
		}
		if opts.Users[i].ObjectID == "" {
			opts.Users[i].ObjectID = fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i+1)
		}
		if !slices.Contains(opts.Tenants, opts.Users[i].Tenant) {
			opts.Tenants = append(slices.Clip(opts.Tenants), opts.Users[i].Tenant)
		}
	}
	if opts.AppRoles == nil {
		opts.AppRoles = []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}
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
	a := &Azure{opts: opts, key: key, ledger: NewLedger(opts.Now),
		codes: map[string]*azCode{}, rts: map[string]*azRT{}, requests: map[string]int{},
		byTenant: map[[2]string]int{}, devices: map[string]*azDevice{}}
	if a.srv, err = newTLSServer(http.HandlerFunc(a.serve)); err != nil {
		return nil, err
	}
	return a, nil
}

// URL returns the authority base URL, e.g. https://127.0.0.1:PORT; the
// authority of a tenant is URL()+"/"+tenant.
func (a *Azure) URL() string { return a.srv.URL }

// Client returns an HTTP client that trusts the fake's certificate, and
// no other: each fake has a certificate of its own.
func (a *Azure) Client() *http.Client { return a.srv.Client() }

// Close shuts the fake down.
func (a *Azure) Close() { a.srv.Close() }

// Ledger returns the record of issued access tokens, for fake mail
// servers.
func (a *Azure) Ledger() *Ledger { return a.ledger }

// ClientID returns the registered application's client ID.
func (a *Azure) ClientID() string { return a.opts.ClientID }

// ClientSecret returns the registered secret value.
func (a *Azure) ClientSecret() string { return a.opts.ClientSecret }

// Tenant returns the first tenant ID.
func (a *Azure) Tenant() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opts.Tenants[0]
}

// AddTenant registers another directory ID (or verified domain name).
func (a *Azure) AddTenant(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.opts.Tenants, id) {
		a.opts.Tenants = append(a.opts.Tenants, id)
	}
}

// AddUser registers a user who can sign in, filling in ObjectID and
// Tenant as [AzureOptions] does, adds the user's tenant if it is new, and
// returns the user as registered.
func (a *Azure) AddUser(u AzureUser) AzureUser {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u.Tenant == "" {
		u.Tenant = a.opts.Tenants[0]
	} else if !slices.Contains(a.opts.Tenants, u.Tenant) {
		a.opts.Tenants = append(a.opts.Tenants, u.Tenant)
	}
	if u.ObjectID == "" {
		u.ObjectID = fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", len(a.opts.Users)+1)
	}
	a.opts.Users = append(a.opts.Users, u)
	return u
}

// Users returns the registered users.
func (a *Azure) Users() []AzureUser {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.opts.Users)
}

// RegisterRedirectURI adds a redirect URI to the application.
func (a *Azure) RegisterRedirectURI(uri string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.RedirectURIs = append(a.opts.RedirectURIs, uri)
}

// FailNext makes the next token request (any grant type) fail with the
// AADSTS error code (e.g. 7000215, 70008, 65001), with the OAuth error,
// HTTP status and text Entra sends for it. Several calls queue. Codes the
// fake does not know fail as invalid_request with status 400. The
// pseudo-codes 429, 500 and 503 make that HTTP status instead (throttling
// AADSTS90055, transient AADSTS90033), with a Retry-After of 7 seconds
// on 429 and 503.
func (a *Azure) FailNext(aadsts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext = append(a.failNext, aadsts)
}

// DenyNext makes the next authorization (or admin consent) answer with
// an error to the redirect URI, e.g. "access_denied" (the user or
// administrator declined consent).
func (a *Azure) DenyNext(oauthError string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.denyNext = oauthError
}

// TokenRequests returns how many token requests of a grant type
// ("authorization_code", "refresh_token", "client_credentials",
// "device_code") arrived, failed ones included.
func (a *Azure) TokenRequests(grantType string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[grantType]
}

// TokenRequestsAt is [Azure.TokenRequests] for requests sent to one
// tenant's token endpoint (the tenant segment of the path, e.g. a tenant
// ID or "organizations").
func (a *Azure) TokenRequestsAt(grantType, tenant string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byTenant[[2]string{grantType, tenant}]
}

// Authorize plays the user's browser at the authorization URL: the user
// named by login_hint (or else the first user of the URL's tenant) signs
// in and consents. It returns the URL the browser is redirected to: the
// application's callback with code and state, or with error and
// error_description (after [Azure.DenyNext], or for a user who is not in
// the tenant). The application's callback handler is not called: GET the
// returned URL against it. Errors Entra shows on its own pages (unknown
// client, unregistered redirect URI) are returned as an error.
func (a *Azure) Authorize(ctx context.Context, authURL string) (string, error) {
	return a.AuthorizeAs(ctx, authURL, "")
}

// AuthorizeAs is [Azure.Authorize] with the user who signs in chosen by
// mail address, whatever the URL's login_hint says (as when a user picks
// another account on the sign-in page). An empty email behaves like
// Authorize.
func (a *Azure) AuthorizeAs(ctx context.Context, authURL, email string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	if email != "" {
		req.Header.Set(signInHeader, email)
	}
	req.Header.Set(skipPageHeader, "1")
	hc := *a.srv.Client()
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
		return "", fmt.Errorf("mailtest: authorize answered %d: %s: %s", resp.StatusCode, e.Error, e.Desc)
	}
	return resp.Header.Get("Location"), nil
}

// signInHeader carries AuthorizeAs's choice of user to the authorize
// endpoint.
const signInHeader = "X-Mailtest-Sign-In-As"

func (a *Azure) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	tenant, rest := parts[0], strings.Join(parts[1:], "/")
	switch {
	case rest == "discovery/instance":
		a.instanceDiscovery(w, r)
	case !a.knownTenant(tenant):
		a.fail(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	case rest == "v2.0/.well-known/openid-configuration":
		a.openIDConfiguration(w, tenant)
	case rest == "oauth2/v2.0/authorize" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		a.authorize(w, r, tenant)
	case rest == "oauth2/v2.0/token" && r.Method == http.MethodPost:
		withEcho(w, r, a.opts.Echo, func(w http.ResponseWriter) { a.token(w, r, tenant) })
	case rest == "oauth2/v2.0/devicecode" && r.Method == http.MethodPost:
		a.deviceCode(w, r, tenant)
	case rest == "v2.0/adminconsent" && r.Method == http.MethodGet:
		a.adminConsent(w, r, tenant)
	default:
		http.NotFound(w, r)
	}
}

func (a *Azure) knownTenant(t string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t == "common" || t == "organizations" || t == "consumers" || slices.Contains(a.opts.Tenants, t)
}

func (a *Azure) openIDConfiguration(w http.ResponseWriter, tenant string) {
	base := a.srv.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                browserURL(a.srv.URL, a.opts.BrowserHost) + "/" + tenant + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (a *Azure) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(a.srv.URL, "https://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": a.srv.URL + "/common/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

func (a *Azure) authorize(w http.ResponseWriter, r *http.Request, tenant string) {
	q := r.URL.Query()
	answered, cancelled := false, false
	if r.Method == http.MethodPost { // the sign-in page's form
		var ok bool
		if q, cancelled, ok = signInAnswer(r); !ok {
			a.fail(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'request'.")
			return
		}
		answered = true
	}
	if q.Get("client_id") != a.opts.ClientID {
		a.fail(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", q.Get("client_id"), tenant))
		return
	}
	redirect := q.Get("redirect_uri")
	a.mu.Lock()
	registered := slices.Contains(a.opts.RedirectURIs, redirect)
	deny := a.denyNext
	a.denyNext = ""
	a.mu.Unlock()
	if !registered {
		a.fail(w, http.StatusBadRequest, "invalid_request", 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", redirect, a.opts.ClientID))
		return
	}
	bq := url.Values{}
	bq.Set("state", q.Get("state"))
	answer := func() {
		if q.Get("response_mode") == "form_post" {
			writeFormPost(w, redirect, bq)
			return
		}
		back, _ := url.Parse(redirect)
		v := back.Query()
		for k, vs := range bq {
			v[k] = vs
		}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound) // #nosec G710 -- a fake provider: the redirect URI was checked against the registered ones
	}
	if q.Get("response_type") != "code" {
		bq.Set("error", "unsupported_response_type")
		bq.Set("error_description", "AADSTS700054: response_type 'code' is required for this flow.")
		answer()
		return
	}
	if strings.TrimSpace(q.Get("scope")) == "" {
		bq.Set("error", "invalid_request")
		bq.Set("error_description", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		answer()
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		bq.Set("error", "invalid_request")
		bq.Set("error_description", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
		answer()
		return
	}
	if deny != "" {
		bq.Set("error", deny)
		bq.Set("error_description", "AADSTS65004: User declined to consent to access the app.")
		answer()
		return
	}
	who := q.Get("login_hint")
	if as := r.Header.Get(signInHeader); as != "" {
		who = as
	}
	user, ok := a.pickUser(who, tenant)
	if !ok {
		bq.Set("error", "access_denied")
		bq.Set("error_description", fmt.Sprintf("AADSTS50020: User account '%s' from identity provider does not exist in tenant.", who))
		answer()
		return
	}
	if a.opts.SignInPage && !answered && r.Header.Get(skipPageHeader) == "" {
		writeSignInPage(w, "Microsoft (mailtest)", r.URL.Path, user.Email, q)
		return
	}
	if cancelled {
		bq.Set("error", "access_denied")
		bq.Set("error_description", "AADSTS65004: User declined to consent to access the app.")
		answer()
		return
	}
	code := "0.AX" + randomString(300)
	a.mu.Lock()
	a.codes[code] = &azCode{user: user, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: redirect,
		scopes: strings.Fields(q.Get("scope")), expires: a.opts.Now().Add(10 * time.Minute)}
	a.mu.Unlock()
	bq.Set("code", code)
	bq.Set("session_state", randomString(16))
	answer()
}

// MSATenant is the tenant ID of personal Microsoft accounts: users in
// it sign in at /consumers (and /common), as at Entra.
const MSATenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// servesTenant reports whether the authority tenant in a request path
// (a tenant ID, common, organizations or consumers) serves users of
// userTenant.
func servesTenant(path, userTenant string) bool {
	switch path {
	case userTenant, "common":
		return true
	case "organizations":
		return userTenant != MSATenant
	case "consumers":
		return userTenant == MSATenant
	}
	return false
}

func (a *Azure) pickUser(hint, tenant string) (AzureUser, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range a.opts.Users {
		if (hint == "" || strings.EqualFold(hint, u.Email)) && servesTenant(tenant, u.Tenant) {
			return u, true
		}
	}
	return AzureUser{}, false
}

func (a *Azure) token(w http.ResponseWriter, r *http.Request, tenant string) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		a.fail(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "urn:ietf:params:oauth:grant-type:device_code" {
		grant = "device_code"
	}
	a.mu.Lock()
	a.requests[grant]++
	a.byTenant[[2]string{grant, tenant}]++
	var injected int
	if len(a.failNext) > 0 {
		injected, a.failNext = a.failNext[0], a.failNext[1:]
	}
	a.mu.Unlock()
	if a.opts.Fail != nil {
		if e := a.opts.Fail(r); e != nil {
			status, oauthErr := e.Status, e.Error
			if status == 0 {
				status = http.StatusBadRequest
			}
			if oauthErr == "" {
				oauthErr = "invalid_request"
			}
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(int(e.RetryAfter.Seconds())))
			}
			if e.Body != "" {
				if e.Status == 0 {
					status = http.StatusOK
				}
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, e.Body)
				return
			}
			a.fail(w, status, oauthErr, e.Code, e.Description)
			return
		}
	}
	if injected != 0 {
		status, code, aadsts, desc := azureErrorFor(injected)
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "7")
		}
		a.fail(w, status, code, aadsts, desc)
		return
	}
	clientID := f.Get("client_id")
	if u, _, basic := basicAuth(r); basic && clientID == "" {
		clientID = u // client_secret_basic, which Entra supports too
	}
	if clientID != a.opts.ClientID {
		a.fail(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
		return
	}
	public := a.opts.AllowPublicClientFlows && f.Get("client_secret") == "" && f.Get("client_assertion") == "" &&
		(grant == "device_code" || grant == "refresh_token" && a.publicRT(f.Get("refresh_token")))
	if ok, status, code, aad, desc := a.checkClient(f, r, tenant); !ok && !public {
		a.fail(w, status, code, aad, desc)
		return
	}
	switch grant {
	case "authorization_code":
		a.redeemCode(w, f, tenant)
	case "refresh_token":
		a.redeemRefresh(w, f, tenant)
	case "client_credentials":
		a.clientCredentials(w, f, tenant)
	case "device_code":
		a.redeemDevice(w, f)
	default:
		a.fail(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
	}
}

func (a *Azure) checkClient(f url.Values, r *http.Request, tenant string) (ok bool, status int, code string, aad int, desc string) {
	if assertion := f.Get("client_assertion"); assertion != "" {
		if a.opts.Certificate == nil {
			return false, 401, "invalid_client", 700027, "Client assertion failed signature validation."
		}
		_, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return a.opts.Certificate.PublicKey, nil },
			jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(a.srv.URL+"/"+tenant+"/oauth2/v2.0/token"),
			jwt.WithIssuer(a.opts.ClientID), jwt.WithSubject(a.opts.ClientID))
		if err != nil {
			return false, 401, "invalid_client", 700027, "Client assertion failed signature validation."
		}
		return true, 0, "", 0, ""
	}
	secret := f.Get("client_secret")
	if secret == "" {
		if u, p, okb := basicAuth(r); okb && u == a.opts.ClientID {
			secret = p
		}
	}
	if secret == "" {
		return false, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
	}
	if secret != a.opts.ClientSecret || a.opts.ClientSecret == "" {
		return false, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.opts.ClientID)
	}
	return true, 0, "", 0, ""
}

func (a *Azure) redeemCode(w http.ResponseWriter, f url.Values, tenant string) {
	a.mu.Lock()
	c, ok := a.codes[f.Get("code")]
	used := ok && c.used
	if ok {
		c.used = true
	}
	a.mu.Unlock()
	switch {
	case !ok:
		a.fail(w, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case used:
		a.fail(w, 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case !a.opts.Now().Before(c.expires):
		a.fail(w, 400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case f.Get("redirect_uri") != c.redirect:
		a.fail(w, 400, "invalid_grant", 50011, "The redirect URI specified in the request does not match the redirect URI used when the authorization code was requested.")
	case oauth2.S256ChallengeFromVerifier(f.Get("code_verifier")) != c.challenge:
		a.fail(w, 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	case !servesTenant(tenant, c.user.Tenant):
		a.fail(w, 400, "invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.")
	default:
		a.issue(w, c.user, scopesFrom(f.Get("scope"), c.scopes), "", c.nonce)
	}
}

func (a *Azure) redeemRefresh(w http.ResponseWriter, f url.Values, tenant string) {
	// Check and rotate under one lock, so that of two concurrent
	// redemptions of one refresh token only one finds it current.
	a.mu.Lock()
	rt, ok := a.rts[f.Get("refresh_token")]
	var reused bool
	switch {
	case !ok:
	case rt.rotated:
		a.rotatedOut++
		if a.opts.StrictRotation {
			reused = true
			for _, other := range a.rts {
				if other.family == rt.family {
					other.revoked = true
				}
			}
		}
	}
	sessionRevoked := ok && a.sessionRevoked[rt]
	fresh := ok && !reused && !rt.revoked && !sessionRevoked && servesTenant(tenant, rt.user.Tenant)
	if fresh {
		rt.rotated = true
	}
	a.mu.Unlock()
	switch {
	case !ok:
		a.fail(w, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case reused, rt.revoked, sessionRevoked:
		// Providers with reuse detection revoke the whole family, and
		// RevokeSessions plays an administrator's "Revoke sessions"; Entra
		// answers a revoked grant with AADSTS50173.
		a.fail(w, 400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
	case !fresh:
		a.fail(w, 400, "invalid_grant", 700005, "Provided refresh token is intended to use against other tenant, thus rejected.")
	default:
		a.issue(w, rt.user, scopesFrom(f.Get("scope"), rt.scopes), rt.family)
	}
}

// RotatedOutRedemptions returns how many refresh requests presented a
// refresh token that had already been redeemed (and so replaced by a
// newer one). With [AzureOptions].StrictRotation each of them revoked
// its token family and was answered invalid_grant (AADSTS50173);
// without it they succeeded, as at Entra. A client that never loses a
// rotated refresh token keeps this at zero.
func (a *Azure) RotatedOutRedemptions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rotatedOut
}

func (a *Azure) clientCredentials(w http.ResponseWriter, f url.Values, tenant string) {
	if tenant == "common" || tenant == "organizations" || tenant == "consumers" {
		a.fail(w, 400, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.")
		return
	}
	if !slices.Contains(strings.Fields(f.Get("scope")), "https://outlook.office365.com/.default") {
		a.fail(w, 400, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	now := a.opts.Now()
	exp := now.Add(a.opts.TokenLifetime)
	claims := jwt.MapClaims{
		"aud": "https://outlook.office365.com", "iss": "https://sts.windows.net/" + tenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "appid": a.opts.ClientID, "tid": tenant,
		"oid": "bbbbbbbb-0000-4000-8000-000000000001", "roles": a.opts.AppRoles, "ver": "1.0", "uti": randomString(22),
	}
	if len(a.opts.AppRoles) == 0 {
		delete(claims, "roles") // Entra omits the claim when nothing is granted
	}
	at := a.signJWT(claims)
	a.ledger.Issue(at, TokenInfo{ClientID: a.opts.ClientID, Scopes: a.opts.AppRoles, AppOnly: true, Issued: now, Expiry: exp})
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(a.opts.TokenLifetime.Seconds()), "ext_expires_in": int(a.opts.TokenLifetime.Seconds()),
		"access_token": at,
	})
}

func scopesFrom(requested string, fallback []string) []string {
	if s := strings.Fields(requested); len(s) > 0 {
		return s
	}
	return fallback
}

// issue answers a token request for user with a new access token,
// refresh token (in the given family, or a new one) and id_token, which
// carries the authorization request's nonce when one is given.
func (a *Azure) issue(w http.ResponseWriter, u AzureUser, scopes []string, family string, nonce ...string) {
	now := a.opts.Now()
	exp := now.Add(a.opts.TokenLifetime)
	var mail []string
	for _, s := range scopes {
		if name, ok := strings.CutPrefix(s, "https://outlook.office.com/"); ok {
			mail = append(mail, name)
		}
	}
	at := a.signJWT(jwt.MapClaims{
		"aud": "https://outlook.office.com", "iss": "https://sts.windows.net/" + u.Tenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "appid": a.opts.ClientID, "tid": u.Tenant,
		"oid": u.ObjectID, "upn": u.Email, "unique_name": u.Email, "scp": strings.Join(mail, " "), "ver": "1.0",
		"puid": randomString(16), "uti": randomString(22), "xms_st": map[string]string{"sub": randomString(43)},
		// The rest makes the token as large as Entra's (1.5-3 KB).
		"aio": randomString(480), "rh": "0.AX" + randomString(70), "sid": uuidLike(), "acr": "1", "amr": []string{"pwd", "mfa"},
		"app_displayname": "oauth2mail", "appidacr": "1", "idtyp": "user", "ipaddr": "127.0.0.1", "name": u.Email,
		"wids": []string{"b79fbf4d-3ef9-4689-8143-76b194e85509"}, "enfpolids": []string{}, "xms_idrel": "1 12",
	})
	a.ledger.Issue(at, TokenInfo{Username: u.Email, Subject: u.ObjectID, ClientID: a.opts.ClientID, Scopes: mail, Issued: now, Expiry: exp})
	resp := map[string]any{
		"token_type": "Bearer", "scope": strings.Join(withoutDefaults(scopes), " "),
		"expires_in": int(a.opts.TokenLifetime.Seconds()), "ext_expires_in": int(a.opts.TokenLifetime.Seconds()),
		"access_token": at,
		"id_token":     a.idToken(u, now, nonce...),
		"client_info":  base64.RawURLEncoding.EncodeToString(mustJSON(map[string]string{"uid": u.ObjectID, "utid": u.Tenant})),
	}
	if slices.Contains(scopes, "offline_access") {
		rt := "1.AX" + randomString(700)
		a.mu.Lock()
		if family == "" {
			a.serial++
			family = fmt.Sprintf("family-%d", a.serial)
		}
		a.rts[rt] = &azRT{user: u, scopes: scopes, family: family}
		a.mu.Unlock()
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
}

func withoutDefaults(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if s != "openid" && s != "profile" && s != "offline_access" {
			out = append(out, s)
		}
	}
	return out
}

func (a *Azure) idToken(u AzureUser, now time.Time, nonce ...string) string {
	claims := map[string]any{
		"aud": a.opts.ClientID, "iss": a.srv.URL + "/" + u.Tenant + "/v2.0", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "name": u.Email, "oid": u.ObjectID, "preferred_username": u.Email,
		"sub": "sub-" + u.ObjectID, "tid": u.Tenant, "ver": "2.0",
	}
	if len(nonce) > 0 && nonce[0] != "" {
		claims["nonce"] = nonce[0]
	}
	if a.opts.IDTokenClaims != nil {
		a.opts.IDTokenClaims(claims)
	}
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256","kid":"fake"}`))
	return hdr + "." + base64.RawURLEncoding.EncodeToString(mustJSON(claims)) + ".c2lnbmF0dXJl"
}

func (a *Azure) signJWT(claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = "fake-key"
	t.Header["x5t"] = "fake-key"
	s, err := t.SignedString(a.key)
	if err != nil {
		panic(err) // an RSA key we generated cannot fail to sign
	}
	return s
}

// PublicKey returns the key that verifies the access tokens' signatures.
func (a *Azure) PublicKey() crypto.PublicKey { return &a.key.PublicKey }

// fail writes Entra's error JSON.
func (a *Azure) fail(w http.ResponseWriter, status int, code string, aadsts int, text string) {
	now := a.opts.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := uuidLike(), uuidLike()
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, text, trace, corr, now),
		"error_codes":       []int{aadsts},
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

// azureErrorFor returns the HTTP status, OAuth error, AADSTS code and
// text Entra sends for a code given to FailNext.
func azureErrorFor(code int) (int, string, int, string) {
	switch code {
	case 429:
		return 429, "temporarily_unavailable", 90055, "TenantThrottlingError: There are too many incoming requests. This exception is thrown for blocked tenants."
	case 500, 503:
		return code, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
	}
	status, oauthErr, text := 400, "invalid_request", "Error."
	switch code {
	case 7000215:
		status, oauthErr, text = 401, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."
	case 7000222:
		status, oauthErr, text = 401, "invalid_client", "The provided client secret keys for app are expired. Visit the Azure portal to create new keys for your app."
	case 7000218:
		status, oauthErr, text = 401, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
	case 700027:
		status, oauthErr, text = 401, "invalid_client", "Client assertion failed signature validation."
	case 700016:
		oauthErr, text = "unauthorized_client", "Application with identifier was not found in the directory."
	case 90002:
		text = "Tenant not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
	case 50011:
		text = "The redirect URI specified in the request does not match the redirect URIs configured for the application."
	case 500113, 900971:
		text = "No reply address is registered for the application."
	case 65001:
		oauthErr, text = "invalid_grant", "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource."
	case 70008:
		oauthErr, text = "invalid_grant", "The provided authorization code or refresh token has expired due to inactivity."
	case 54005:
		oauthErr, text = "invalid_grant", "OAuth2 Authorization code was already redeemed."
	case 700082:
		oauthErr, text = "invalid_grant", "The refresh token has expired due to inactivity."
	case 50173:
		oauthErr, text = "invalid_grant", "The provided grant has expired due to it being revoked."
	case 70043:
		oauthErr, text = "invalid_grant", "The refresh token has expired or is invalid due to sign-in frequency checks by Conditional Access."
	case 700005, 501481:
		oauthErr, text = "invalid_grant", "The provided grant is not valid."
	case 50126:
		oauthErr, text = "invalid_grant", "Error validating credentials due to invalid username or password."
	case 50076:
		oauthErr, text = "interaction_required", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access."
	case 50079:
		oauthErr, text = "interaction_required", "Due to a configuration change made by your administrator, you must enroll in multi-factor authentication."
	case 53003:
		oauthErr, text = "interaction_required", "Access has been blocked by Conditional Access policies."
	case 9002313:
		text = "Invalid request. Request is malformed or invalid."
	case 70011, 700022, 1002012:
		oauthErr, text = "invalid_scope", "The provided value for the input parameter 'scope' isn't valid."
	case 500011:
		oauthErr, text = "invalid_resource", "The resource principal was not found in the tenant."
	}
	return status, oauthErr, code, text
}

// ApproveDevice completes a device-code sign-in: the user with the given
// mail address enters userCode at the verification page and consents.
// The device's next token poll then gets tokens. It fails for an unknown
// user code or user.
func (a *Azure) ApproveDevice(userCode, email string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range a.devices {
		if d.userCode != userCode {
			continue
		}
		for _, u := range a.opts.Users {
			if strings.EqualFold(u.Email, email) && servesTenant(d.tenant, u.Tenant) {
				d.user = &u
				return nil
			}
		}
		return fmt.Errorf("mailtest: no user %q in tenant %q", email, d.tenant)
	}
	return fmt.Errorf("mailtest: unknown device user code %q", userCode)
}

// DenyDevice makes the device-code sign-in for userCode fail as if the
// user declined (the next poll gets authorization_declined).
func (a *Azure) DenyDevice(userCode string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range a.devices {
		if d.userCode == userCode {
			d.denied = true
			return nil
		}
	}
	return fmt.Errorf("mailtest: unknown device user code %q", userCode)
}

func (a *Azure) deviceCode(w http.ResponseWriter, r *http.Request, tenant string) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("scope") == "" {
		a.fail(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if r.PostForm.Get("client_id") != a.opts.ClientID {
		a.fail(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", r.PostForm.Get("client_id"), tenant))
		return
	}
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [9]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	userCode, device := string(b[:]), "DAQABIQEAAAB"+randomString(200)
	a.mu.Lock()
	a.devices[device] = &azDevice{userCode: userCode, scopes: strings.Fields(r.PostForm.Get("scope")), tenant: tenant,
		expires: a.opts.Now().Add(15 * time.Minute)}
	a.mu.Unlock()
	verify := "https://microsoft.com/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code": userCode, "device_code": device, "verification_uri": verify,
		"expires_in": 900, "interval": 5,
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, userCode),
	})
}

func (a *Azure) redeemDevice(w http.ResponseWriter, f url.Values) {
	a.mu.Lock()
	d, ok := a.devices[f.Get("device_code")]
	var user AzureUser
	var pending, denied, expired bool
	if ok {
		pending, denied, expired = d.user == nil, d.denied, !a.opts.Now().Before(d.expires)
		if d.user != nil {
			user = *d.user
		}
		if !pending || denied || expired {
			delete(a.devices, f.Get("device_code"))
		}
	}
	a.mu.Unlock()
	switch {
	case !ok:
		a.fail(w, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case expired:
		a.fail(w, 400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case denied:
		a.fail(w, 400, "authorization_declined", 70000, "The user declined the authorization request.")
	case pending:
		a.fail(w, 400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	default:
		// The family of a public client's tokens: its refresh tokens are
		// redeemed without a client credential.
		a.mu.Lock()
		a.serial++
		family := fmt.Sprintf("public-%d", a.serial)
		a.mu.Unlock()
		a.issue(w, user, scopesFrom(f.Get("scope"), d.scopes), family)
	}
}

// publicRT reports whether rt was issued to a public client flow.
func (a *Azure) publicRT(rt string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.rts[rt]
	return ok && strings.HasPrefix(r.family, "public-")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func randomString(n int) string {
	b := make([]byte, (n*3+3)/4)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return s[:n]
}

func uuidLike() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// adminConsent serves GET /{tenant}/v2.0/adminconsent like Entra: the
// administrator signs in and grants the app's permissions for the tenant.
func (a *Azure) adminConsent(w http.ResponseWriter, r *http.Request, tenant string) {
	q := r.URL.Query()
	if q.Get("client_id") != a.opts.ClientID {
		a.fail(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", q.Get("client_id"), tenant))
		return
	}
	redirect := q.Get("redirect_uri")
	a.mu.Lock()
	registered := slices.Contains(a.opts.RedirectURIs, redirect)
	deny := a.denyNext
	a.denyNext = ""
	a.mu.Unlock()
	if !registered {
		a.fail(w, http.StatusBadRequest, "invalid_request", 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, a.opts.ClientID))
		return
	}
	if tenant == "common" || tenant == "organizations" || tenant == "consumers" {
		users := a.Users()
		admin := users[0]
		if email := r.Header.Get(signInHeader); email != "" {
			for _, u := range users {
				if strings.EqualFold(u.Email, email) {
					admin = u
				}
			}
		}
		tenant = admin.Tenant
	}
	back, _ := url.Parse(redirect)
	bq := back.Query()
	bq.Set("state", q.Get("state"))
	bq.Set("tenant", tenant)
	if deny != "" {
		bq.Set("error", deny)
		bq.Set("error_description", "AADSTS65004: User declined to consent to access the app.")
		bq.Set("admin_consent", "False")
	} else {
		bq.Set("admin_consent", "True")
		bq.Set("scope", q.Get("scope"))
		a.mu.Lock()
		if !slices.Contains(a.consented, tenant) {
			a.consented = append(a.consented, tenant)
		}
		a.mu.Unlock()
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound) // #nosec G710 -- a fake provider: the redirect URI was checked against the registered ones
}

// ConsentedTenants returns the tenants whose administrators granted admin
// consent at GET /{tenant}/v2.0/adminconsent, in order.
func (a *Azure) ConsentedTenants() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.consented)
}

// basicAuth reads client_secret_basic credentials, which RFC 6749 §2.3.1
// form-urlencodes before they are put in the Authorization header.
func basicAuth(r *http.Request) (user, password string, ok bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	uu, err1 := url.QueryUnescape(u)
	pp, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil {
		return u, p, true
	}
	return uu, pp, true
}

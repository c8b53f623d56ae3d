package azure

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/oauth2mail/oauth2mail/internal/idtoken"
	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/internal/scrub"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Config is what the administrator copies from the Microsoft Entra admin
// center (App registrations > your app). ClientID, Tenant and exactly one
// credential are required; every other field has a documented default.
type Config struct {
	// ClientID is the "Application (client) ID" on the app's Overview
	// page: a GUID. Surrounding whitespace is ignored.
	ClientID string
	// Tenant is the "Directory (tenant) ID" on the Overview page, or a
	// verified domain (contoso.com). For a multi-tenant app, use
	// "organizations" (work and school accounts of any tenant) or
	// "common" (also personal Microsoft accounts); app-only access needs
	// a real tenant.
	Tenant string
	// Cloud is the Microsoft cloud. The zero value means [Global].
	Cloud Cloud
	// AuthorityURL replaces the cloud's sign-in host with a custom https
	// base URL (private clouds, tests with mailtest.NewAzure). MSAL's
	// instance discovery is then off.
	AuthorityURL string
	// HTTPClient is used for every call to Entra. If nil, a client with a
	// 30-second timeout is used.
	HTTPClient *http.Client

	// ClientSecret is the secret's Value (Certificates & secrets > Client
	// secrets > Value), not its Secret ID. Surrounding whitespace (a
	// trailing newline or space from a copy-paste or a secret file) is
	// trimmed: secret Values never contain whitespace.
	ClientSecret oauth2client.Secret
	// CertificatePEM is a certificate and its unencrypted RSA private key
	// in PEM, the certificate uploaded under Certificates & secrets >
	// Certificates. MSAL signs client assertions with it (PS256).
	CertificatePEM oauth2client.SecretBytes
	// CertificatePKCS12 is the same as a PKCS#12 (.pfx / .p12) file, as
	// Windows and Azure Key Vault export it (AES-256 or legacy RC2/3DES
	// encryption), with CertificatePassword its password.
	CertificatePKCS12   oauth2client.SecretBytes
	CertificatePassword oauth2client.Secret
	// Assertion returns a signed client assertion (a JWT with aud = the
	// token endpoint) for federated or workload identity credentials.
	Assertion func(ctx context.Context, tokenEndpoint string) (string, error)

	// PublicClient makes the connection a public client, without a
	// credential: it serves device logins only ([Provider.StartDeviceLogin]),
	// for tools on users' machines that cannot keep a secret. The app
	// registration must allow public client flows.
	PublicClient bool
	// AppOnly makes the connection use the application's own identity
	// (client credentials with IMAP.AccessAsApp / SMTP.SendAsApp
	// application permissions) instead of users' delegated consent.
	AppOnly bool
	// Scopes replaces the delegated mail scopes (default: the cloud's
	// IMAP.AccessAsUser.All and SMTP.Send). offline_access, openid and
	// profile are always added.
	Scopes []string
	// DomainHint skips the home-realm discovery page (e.g. "contoso.com").
	DomainHint string
	// ResponseMode is how Entra returns the user to the callback: "query"
	// (the default: a redirect, GET) or "form_post" (a page on Entra's
	// site that POSTs the answer). With "form_post", mount the callback
	// for POST, set HandlerConfig.AllowFormPost and make the session
	// cookie SameSite=None; Secure: browsers do not send SameSite=Lax or
	// Strict cookies with that cross-site POST (see
	// [oauth2client.HandlerConfig]).
	ResponseMode string
	// IMAP and SMTP replace the cloud's mail servers (tests, proxies).
	IMAP, SMTP oauth2client.ServerAddr
	// Pool is how many MSAL clients serve calls in parallel (each holds
	// one account's cache during a call). Zero means 4.
	Pool int
	// Now is the provider's clock: it reads Retry-After dates, and token
	// expiry (Entra's expires_in, which MSAL adds to the system clock) is
	// rebased on it, so a Client on an injected clock sees tokens expire
	// when its clock says so. If nil, time.Now.
	//
	// MSAL for Go takes no clock, so some times stay on the system clock:
	// the nbf and exp of the client assertion signed for a certificate
	// credential (Entra checks them against its own clock, so a skewed
	// system clock still fails there), a device code's expiry, and
	// MSAL's own judgement of cached access tokens (which this provider
	// never relies on: it drops them before a refresh).
	Now func() time.Time
}

// Provider is the Microsoft Entra ID / Exchange Online provider. It is
// safe for concurrent use. MSAL for Go does the protocol work; its token
// cache is kept per account in the grant's ProviderState (and so in the
// TokenStore), never shared between accounts.
//
// Grants it returns have an empty RefreshToken: MSAL does not hand out
// refresh tokens, so the (rotating) refresh token travels inside
// ProviderState, which [Provider.Refresh] needs and updates.
type Provider struct {
	cfg       Config
	cloud     Cloud
	base      string // authority base URL, without tenant
	cred      confidential.Credential
	hc        *http.Client
	discovery bool
	scopes    []string
	verifier  *idtoken.Verifier

	pool    chan confidential.Client
	created int
	mu      sync.Mutex

	lastRedirect string
}

var (
	_ oauth2client.Provider             = (*Provider)(nil)
	_ oauth2client.AppOnlyProvider      = (*Provider)(nil)
	_ oauth2client.RedirectURIValidator = (*Provider)(nil)
	_ oauth2client.AppGrantChecker      = (*Provider)(nil)
)

// ErrConfig is wrapped by every configuration error of [New].
var ErrConfig = errors.New("azure: invalid configuration")

func configError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// New validates cfg and returns a provider. It does no network I/O.
func New(cfg Config) (*Provider, error) {
	cfg.ClientID = strings.TrimSpace(cfg.ClientID)
	if cfg.ClientID == "" {
		return nil, configError("ClientID", "empty: copy the Application (client) ID from App registrations > your app > Overview")
	}
	if !looksLikeGUID(cfg.ClientID) {
		// The value is not quoted: it may be a secret pasted into the wrong field.
		return nil, configError("ClientID", "not an Application (client) ID, which is a GUID such as 6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10 (got %d characters): copy it from Entra admin center > App registrations > your app > Overview > Application (client) ID (not the app's name or a secret)", len(cfg.ClientID))
	}
	secret, err := trimSecret(cfg.ClientSecret)
	if err != nil {
		return nil, err
	}
	cfg.ClientSecret = secret
	if cfg.Tenant == "" {
		return nil, configError("Tenant", "empty: copy the Directory (tenant) ID from the app's Overview page, or use \"organizations\" for a multi-tenant app")
	}
	base, err := cfg.authorityBase()
	if err != nil {
		return nil, err
	}
	switch cfg.ResponseMode {
	case "", "query", "form_post":
	default:
		return nil, configError("ResponseMode", "%q is not \"query\" or \"form_post\"", cfg.ResponseMode)
	}
	multi := cfg.Tenant == "common" || cfg.Tenant == "organizations" || cfg.Tenant == "consumers"
	if cfg.AppOnly && multi {
		return nil, configError("Tenant", "app-only access needs the Directory (tenant) ID of the tenant whose mailboxes you open, not %q", cfg.Tenant)
	}
	p := &Provider{cfg: cfg, cloud: cfg.Cloud, hc: cfg.HTTPClient, discovery: true}
	if p.cloud.AuthorityHost == "" {
		p.cloud = Global
	}
	p.base, p.discovery = base, cfg.AuthorityURL == ""
	if cfg.IMAP.Host != "" {
		p.cloud.IMAP = cfg.IMAP
	}
	if cfg.SMTP.Host != "" {
		p.cloud.SMTP = cfg.SMTP
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	if p.hc == nil {
		p.hc = &http.Client{Timeout: 30 * time.Second}
	}
	// MSAL reads whole response bodies: bound them, so a hostile or
	// broken endpoint cannot make it allocate without limit.
	hc := *p.hc
	hc.Transport = &scrub.Transport{Base: limitBodies{base: p.hc.Transport}} // records each call's secrets (see scrubbing)
	p.hc = &hc
	n := 0
	for _, set := range []bool{cfg.ClientSecret != "", len(cfg.CertificatePEM) > 0, len(cfg.CertificatePKCS12) > 0, cfg.Assertion != nil} {
		if set {
			n++
		}
	}
	switch {
	case cfg.PublicClient && n != 0:
		return nil, configError("PublicClient", "a public client has no credential: remove the secret, certificate or assertion, or PublicClient")
	case cfg.PublicClient && cfg.AppOnly:
		return nil, configError("PublicClient", "app-only access needs the application's credential, which a public client has not")
	case cfg.PublicClient:
		return p.finish()
	case n != 1:
		return nil, configError("ClientSecret", "set exactly one credential: the client secret's Value, a certificate, or an assertion callback (%d set)", n)
	}
	switch {
	case cfg.ClientSecret != "":
		if looksLikeGUID(string(cfg.ClientSecret)) {
			return nil, configError("ClientSecret", "this looks like the secret's ID (a GUID); use the secret's Value instead (Certificates & secrets > Client secrets > Value column, shown once when created)")
		}
		p.cred, err = confidential.NewCredFromSecret(string(cfg.ClientSecret))
	case len(cfg.CertificatePEM) > 0:
		certs, key, perr := confidential.CertFromPEM(cfg.CertificatePEM, "")
		if perr != nil {
			return nil, configError("CertificatePEM", "cannot read the certificate and unencrypted private key: %v", perr)
		}
		p.cred, err = confidential.NewCredFromCert(certs, key)
	case len(cfg.CertificatePKCS12) > 0:
		key, cert, chain, perr := pkcs12.DecodeChain(cfg.CertificatePKCS12, string(cfg.CertificatePassword))
		if perr != nil {
			if errors.Is(perr, pkcs12.ErrIncorrectPassword) {
				return nil, configError("CertificatePassword", "wrong password for the PKCS#12 file")
			}
			return nil, configError("CertificatePKCS12", "cannot read the PKCS#12 file (it must hold one certificate and its private key): %v", perr)
		}
		p.cred, err = confidential.NewCredFromCert(append([]*x509.Certificate{cert}, chain...), key)
	default:
		cb := cfg.Assertion
		p.cred = confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
			return cb(ctx, o.TokenEndpoint)
		})
	}
	if err != nil {
		return nil, configError("credential", "%v", err)
	}
	return p.finish()
}

// finish completes New once the credential is set up.
func (p *Provider) finish() (*Provider, error) {
	cfg := p.cfg
	base := p.base
	p.verifier = idtoken.New(idtoken.Config{ClientID: cfg.ClientID, Now: cfg.Now, HTTPClient: p.hc,
		IssuerFor: func(tid string) string { return base + "/" + tid + "/v2.0" }})
	p.scopes = cfg.Scopes
	if len(p.scopes) == 0 {
		p.scopes = []string{p.cloud.Resource + "/IMAP.AccessAsUser.All", p.cloud.Resource + "/SMTP.Send"}
	}
	for _, s := range p.scopes {
		if ls := strings.ToLower(s); strings.HasSuffix(ls, ".accessasapp") || strings.HasSuffix(ls, "sendasapp") || strings.HasSuffix(ls, "/.default") && !cfg.AppOnly {
			return nil, configError("Scopes", "%q is an application permission; delegated access uses IMAP.AccessAsUser.All and SMTP.Send (granted by each user), while IMAP.AccessAsApp and SMTP.SendAsApp need Config.AppOnly (client credentials, granted by an administrator)", s)
		}
	}
	size := cfg.Pool
	if size <= 0 {
		size = 4
	}
	p.pool = make(chan confidential.Client, size)
	return p, nil
}

func looksLikeGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// authority returns the authority URL for tenant.
func (p *Provider) authority(tenant string) string { return p.base + "/" + tenant }

// acquire takes an MSAL client from the pool, creating one if the pool is
// not full. Each call uses its client alone, so MSAL's in-memory cache
// holds one account at a time.
func (p *Provider) acquire(ctx context.Context) (confidential.Client, error) {
	if p.cfg.PublicClient {
		return confidential.Client{}, configError("PublicClient", "this connection is a public client: it connects mailboxes with StartDeviceLogin only; browser sign-ins and app-only access need the app's credential")
	}
	select {
	case c := <-p.pool:
		return c, nil
	default:
	}
	p.mu.Lock()
	if p.created < cap(p.pool) {
		p.created++
		p.mu.Unlock()
		c, err := confidential.New(p.authority(p.cfg.Tenant), p.cfg.ClientID, p.cred,
			confidential.WithCache(callCache{}),
			confidential.WithHTTPClient(p.hc),
			confidential.WithInstanceDiscovery(p.discovery))
		if err != nil {
			p.mu.Lock()
			p.created--
			p.mu.Unlock()
			return confidential.Client{}, configError("AuthorityURL", "%v", err)
		}
		return c, nil
	}
	p.mu.Unlock()
	select {
	case c := <-p.pool:
		return c, nil
	case <-ctx.Done():
		return confidential.Client{}, ctx.Err()
	}
}

func (p *Provider) release(c confidential.Client) { p.pool <- c }

// callCache is MSAL's cache persistence: it hands MSAL the blob of the
// account of the current call and takes back what MSAL writes. MSAL
// (v1.10.1, apps/internal/base) passes the context of the Acquire*/
// Account call to Replace and Export, so the blob travels in that
// context. A call without a blob starts from an empty cache ("{}"):
// returning without unmarshalling would leave the previous call's
// account in MSAL's memory, and the next Export would write it into this
// account's state. Since MSAL reads its in-memory cache between Replace
// and Export without holding its lock, an MSAL client serves one call at
// a time (see acquire).
type callCache struct{}

type blobKey struct{}

type blob struct{ data []byte }

func (callCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	b, _ := ctx.Value(blobKey{}).(*blob)
	if b == nil || len(b.data) == 0 {
		return u.Unmarshal([]byte("{}"))
	}
	return u.Unmarshal(b.data)
}

func (callCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, _ := ctx.Value(blobKey{}).(*blob)
	if b == nil {
		return nil
	}
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	b.data = data
	return nil
}

// state is what the provider keeps in Grant.ProviderState.
type state struct {
	Version       int    `json:"v"`
	HomeAccountID string `json:"home_account_id"`
	Tenant        string `json:"tenant"`
	// MSAL is MSAL's serialized cache for this one account (it holds the
	// refresh token).
	MSAL json.RawMessage `json:"msal"`
	// Public marks tokens issued to the app as a public client (device
	// login): they are refreshed without the client credential.
	Public bool `json:"public,omitempty"`
}

// AuthCodeURL implements [oauth2client.Provider].
func (p *Provider) AuthCodeURL(ctx context.Context, req oauth2client.AuthRequest) (string, error) {
	if p.cfg.AppOnly {
		return "", fmt.Errorf("azure: connection is app-only: connect mailboxes with Client.ConnectAppOnly, there is no user sign-in")
	}
	p.remember(req.RedirectURI)
	c, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer p.release(c)
	var opts []confidential.AuthCodeURLOption
	if req.LoginHint != "" {
		opts = append(opts, confidential.WithLoginHint(req.LoginHint))
	}
	if p.cfg.DomainHint != "" {
		opts = append(opts, confidential.WithDomainHint(p.cfg.DomainHint))
	}
	raw, err := c.AuthCodeURL(ctx, p.cfg.ClientID, req.RedirectURI, append(append([]string(nil), p.scopes...), "offline_access", "openid", "profile"), opts...)
	if err != nil {
		return "", p.mapError(ctx, "authorize", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("azure: MSAL returned an unusable URL: %w", err)
	}
	// MSAL's confidential client sets neither state nor PKCE.
	q := u.Query()
	q.Set("state", req.State)
	q.Set("code_challenge", req.CodeChallenge)
	q.Set("code_challenge_method", "S256")
	mode := p.cfg.ResponseMode
	if mode == "" {
		mode = "query"
	}
	q.Set("response_mode", mode)
	if req.Nonce != "" {
		q.Set("nonce", req.Nonce)
	}
	if req.Prompt != "" {
		q.Set("prompt", req.Prompt)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Exchange implements [oauth2client.Provider].
func (p *Provider) Exchange(ctx context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	p.remember(req.RedirectURI)
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(c)
	b := &blob{}
	ctx = p.scrubbing(ctx, string(req.Code), string(req.CodeVerifier))
	res, err := c.AcquireTokenByAuthCode(context.WithValue(ctx, blobKey{}, b), string(req.Code), req.RedirectURI, p.scopes,
		confidential.WithChallenge(string(req.CodeVerifier)))
	if err != nil {
		return nil, p.mapError(ctx, "exchange", err)
	}
	g, err := p.grantFor(ctx, res, b, false, req.Nonce)
	if err != nil {
		return nil, err
	}
	return g, p.named(g, "exchange")
}

// named fails when a sign-in's grant does not say whose mailbox it opens
// (no id_token, or one without a user name).
func (p *Provider) named(g *oauth2client.Grant, op string) error {
	switch {
	case g.Identity.Subject == "":
		return p.identityErr(op, &oauth2client.IdentityError{Claim: "id_token", Err: oauth2client.ErrInvalidIDToken,
			Reason: "the token response carries no id_token, so it does not say who signed in"})
	case g.Identity.Username == "":
		return &oauth2client.ProviderError{Provider: "azure", Op: op, Class: oauth2client.ClassConfig, Err: ErrConfig,
			Description: "the id_token has neither preferred_username nor upn", Remedy: "keep the profile scope, which this provider requests"}
	}
	return nil
}

func (p *Provider) grant(ctx context.Context, res confidential.AuthResult, b *blob) (*oauth2client.Grant, error) {
	return p.grantFor(ctx, res, b, false, "")
}

// grantFor builds the grant of a delegated sign-in; public is true for
// tokens issued to the app as a public client; nonce is the one sent
// with the authorization request, if any. The identity comes from the
// validated id_token ([Provider.identity]); without an id_token (a
// refresh may come without one) it is left empty.
func (p *Provider) grantFor(ctx context.Context, res confidential.AuthResult, b *blob, public bool, nonce string) (*oauth2client.Grant, error) {
	// The home account ID is "<object ID>.<home tenant ID>"; the realm
	// is the authority's tenant, which is "organizations" for
	// multi-tenant connections.
	tenant := res.Account.Realm
	if _, tid, ok := strings.Cut(res.Account.HomeAccountID, "."); ok && tid != "" {
		tenant = tid
	}
	var id oauth2client.Identity
	if raw := res.IDToken.RawToken; raw != "" {
		var err error
		if id, err = p.identity(ctx, raw, nonce); err != nil {
			return nil, err
		}
	}
	st := state{Version: 1, HomeAccountID: res.Account.HomeAccountID, Tenant: tenant, MSAL: b.data, Public: public}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("azure: encoding the account's cache: %w", err)
	}
	return &oauth2client.Grant{
		AccessToken:   oauth2client.Secret(res.AccessToken),
		Expiry:        p.expiry(res.ExpiresOn),
		Scopes:        res.GrantedScopes,
		Identity:      id,
		ProviderState: raw,
	}, nil
}

// Refresh implements [oauth2client.Provider]: it redeems the refresh
// token in the account's MSAL cache with MSAL's silent acquisition,
// against the tenant the account was issued from. The cached access
// token is dropped first: the Client only calls Refresh when it wants a
// new one. The answer's id_token is validated and its oid and tid
// become the grant's Subject and Tenant, so that the Client refuses a
// refresh naming another user ([oauth2client.ErrIdentityChanged]). The
// username is never changed by a refresh, even when the user principal
// name was renamed (same oid and tid, new preferred_username): the
// account keeps its SASL user until it is authorized again, which stores
// the new name (see the package documentation).
func (p *Provider) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	ng, err := p.refresh(ctx, g)
	if err != nil {
		return nil, err
	}
	if ng.Identity.Subject == "" {
		ng.Identity.Subject, ng.Identity.Tenant = g.Identity.Subject, g.Identity.Tenant
	}
	ng.Identity.Username = g.Identity.Username
	return ng, nil
}

func (p *Provider) refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	var st state
	if err := json.Unmarshal(g.ProviderState, &st); err != nil || st.HomeAccountID == "" || len(st.MSAL) == 0 {
		return nil, &oauth2client.ProviderError{Provider: "azure", Op: "refresh", Class: oauth2client.ClassReauth,
			Description: "the stored record has no MSAL account cache", Remedy: "connect the mailbox again"}
	}
	msal, err := withoutAccessTokens(st.MSAL)
	if err != nil {
		return nil, &oauth2client.ProviderError{Provider: "azure", Op: "refresh", Class: oauth2client.ClassReauth,
			Description: "the stored MSAL cache is unreadable", Remedy: "connect the mailbox again"}
	}
	b := &blob{data: msal}
	ctx = p.scrubbing(ctx, cacheSecrets(msal)...)
	if st.Public {
		return p.refreshPublic(ctx, st, b)
	}
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(c)
	cctx := context.WithValue(ctx, blobKey{}, b)
	acct, err := c.Account(cctx, st.HomeAccountID)
	if err != nil {
		return nil, p.mapError(cctx, "refresh", err)
	}
	if acct.HomeAccountID == "" {
		return nil, notInCache()
	}
	opts := []confidential.AcquireSilentOption{confidential.WithSilentAccount(acct)}
	if p.tenantOverride(st) {
		opts = append(opts, confidential.WithTenantID(st.Tenant))
	}
	res, err := c.AcquireTokenSilent(cctx, p.scopes, opts...)
	if err != nil {
		return nil, p.mapError(cctx, "refresh", err)
	}
	return p.grant(ctx, res, b)
}

// notInCache is the refresh failure of a record whose MSAL cache lacks
// its account.
func notInCache() error {
	return &oauth2client.ProviderError{Provider: "azure", Op: "refresh", Class: oauth2client.ClassReauth,
		Description: "the account is not in its stored MSAL cache", Remedy: "connect the mailbox again"}
}

// tenantOverride reports whether a refresh must go to the account's home
// tenant: a multi-tenant connection refreshes there, since refreshing a
// single-tenant app's token at /common fails. (MSAL refuses a tenant
// override on a /consumers authority, which serves one tenant anyway.)
func (p *Provider) tenantOverride(st state) bool {
	return st.Tenant != "" && st.Tenant != p.cfg.Tenant && p.cfg.Tenant != "consumers"
}

// cacheSecrets returns the secrets of an MSAL cache blob: the "secret"
// of every credential in it (refresh tokens, access and ID tokens).
func cacheSecrets(raw []byte) []string {
	var m map[string]map[string]struct {
		Secret string `json:"secret"`
	}
	_ = json.Unmarshal(raw, &m) // a partial or unreadable blob yields what it can
	var out []string
	for _, kind := range m {
		for _, cred := range kind {
			out = append(out, cred.Secret)
		}
	}
	return out
}

// withoutAccessTokens removes the cached access tokens from an MSAL cache
// blob, so that silent acquisition redeems the refresh token.
func withoutAccessTokens(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "AccessToken")
	return json.Marshal(m)
}

// AppToken implements [oauth2client.AppOnlyProvider] with client
// credentials (scope <AppResource>/.default). The token opens every
// mailbox the app was given access to in Exchange Online; mailbox is the
// SASL user.
func (p *Provider) AppToken(ctx context.Context, mailbox string) (*oauth2client.Grant, error) {
	if !p.cfg.AppOnly {
		return nil, fmt.Errorf("azure: connection is not app-only (set Config.AppOnly and grant IMAP.AccessAsApp / SMTP.SendAsApp): %w", oauth2client.ErrAppOnlyUnsupported)
	}
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(c)
	ctx = p.scrubbing(ctx)
	res, err := c.AcquireTokenByCredential(context.WithValue(ctx, blobKey{}, &blob{}), []string{p.cloud.AppResource + "/.default"})
	if err != nil {
		return nil, p.mapError(ctx, "app_token", err)
	}
	return &oauth2client.Grant{
		AccessToken: oauth2client.Secret(res.AccessToken),
		Expiry:      p.expiry(res.ExpiresOn),
		Identity:    oauth2client.Identity{Username: mailbox, Tenant: p.cfg.Tenant},
		AppOnly:     true,
	}, nil
}

// limitBodies is an http.RoundTripper that reads at most
// oauthflow.MaxBody bytes of any response body (a longer one looks
// truncated, and MSAL reports a decoding error).
type limitBodies struct{ base http.RoundTripper }

func (l limitBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	base := l.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, oauthflow.MaxBody), Closer: resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// expiry rebases an expiry MSAL computed on the system clock (now plus
// expires_in) on the provider's clock, so that a Client running on an
// injected clock sees tokens expire when its clock says so.
func (p *Provider) expiry(msal time.Time) time.Time {
	if msal.IsZero() {
		return msal
	}
	return p.cfg.Now().Add(time.Until(msal))
}

// Mail implements [oauth2client.Provider]: Exchange Online takes XOAUTH2
// only, and files sent mail in Sent itself.
func (p *Provider) Mail() oauth2client.MailService {
	scopes := p.scopes
	if p.cfg.AppOnly {
		scopes = []string{p.cloud.AppResource + "/.default"}
	}
	return oauth2client.MailService{
		IMAP: p.cloud.IMAP, SMTP: p.cloud.SMTP,
		Scopes:          append([]string(nil), scopes...),
		Mechanisms:      []string{"XOAUTH2"},
		ServerSavesSent: true,
	}
}

// ValidateRedirectURI implements [oauth2client.RedirectURIValidator] with
// Entra's rules for Web redirect URIs, so that a callback URL Entra would
// refuse (AADSTS50011 at every sign-in) fails when the connection is
// added instead:
//
//   - https, because the authorization code travels in the URL; plain
//     http only for localhost, 127.0.0.1 and [::1], which Entra allows
//     for development since the code never leaves the machine;
//   - no fragment ('#'): Entra returns the code in the query and rejects
//     redirect URIs with fragments;
//   - at most 256 characters, and none of ! $ ' ( ) , ; which Entra does
//     not accept in redirect URIs.
//
// Register the URI in the portal exactly as given here: Entra compares
// it case-sensitively, trailing slash included.
func (p *Provider) ValidateRedirectURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("azure: redirect URI %q is not an absolute URL", uri)
	}
	if strings.Contains(uri, "#") {
		return fmt.Errorf("azure: redirect URI %q has a fragment: Entra rejects redirect URIs with '#'; remove it", uri)
	}
	if len(uri) > 256 {
		return fmt.Errorf("azure: redirect URI is %d characters long; Entra accepts at most 256: use a shorter callback path", len(uri))
	}
	if i := strings.IndexAny(uri, "!$'(),;"); i >= 0 {
		return fmt.Errorf("azure: redirect URI %q contains %q, which Entra does not accept in redirect URIs", uri, uri[i])
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("azure: redirect URI %q uses http; Entra accepts plain http only for localhost and 127.0.0.1 (development): serve the callback over https", uri)
		}
	default:
		return fmt.Errorf("azure: redirect URI %q must use https (Entra sends the authorization code to it in the URL)", uri)
	}
	p.remember(uri)
	return nil
}

func (p *Provider) remember(redirect string) {
	if redirect == "" {
		return
	}
	p.mu.Lock()
	p.lastRedirect = redirect
	p.mu.Unlock()
}

// AdminConsentURL returns the URL an administrator opens to grant the
// app's permissions for the whole tenant, returning to redirectURI.
func (p *Provider) AdminConsentURL(redirectURI string) string {
	scope := strings.Join(p.scopes, " ")
	if p.cfg.AppOnly {
		scope = "https://ps.outlook.com/.default"
		if p.cloud.Name != Global.Name {
			scope = p.cloud.AppResource + "/.default"
		}
	}
	q := url.Values{"client_id": {p.cfg.ClientID}, "scope": {scope}}
	if redirectURI != "" && !strings.HasPrefix(redirectURI, "(") {
		q.Set("redirect_uri", redirectURI)
	}
	return p.authority(p.cfg.Tenant) + "/v2.0/adminconsent?" + q.Encode()
}

// msaTenant is the tenant ID of personal Microsoft accounts.
const msaTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// MultiTenant implements [oauth2client.MultiTenantProvider]: a connection
// with tenant "organizations", "common" or "consumers" signs in users of
// directories the application does not choose, so RequireUsername needs
// RequireTenant there.
func (p *Provider) MultiTenant() bool {
	switch p.cfg.Tenant {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// identity validates an id_token from Entra's token endpoint (OpenID
// Connect Core §3.1.3.7, through internal/idtoken: iss is the authority's
// {tid}/v2.0 issuer, aud the client ID, exp and iat on Config.Now, the
// nonce when one was sent; MSAL talks to an https authority only, so TLS
// stands for the signature) and binds the identity to the user's object
// ID and tenant: Subject "<oid>.<tid>", Tenant tid. On a single-tenant
// connection (a tenant ID) the token must come from that tenant;
// "organizations" refuses personal accounts and "consumers" work and
// school ones. Username is preferred_username (or upn): the directory's
// own name for the user, trusted only within that tenant, which is why
// RequireUsername needs RequireTenant on multi-tenant connections.
func (p *Provider) identity(ctx context.Context, raw, nonce string) (oauth2client.Identity, error) {
	c, err := p.verifier.Verify(ctx, raw, nonce, strings.HasPrefix(p.base, "https://"))
	if err != nil {
		return oauth2client.Identity{}, p.identityErr("id_token", err)
	}
	bad := func(claim, reason string) (oauth2client.Identity, error) {
		return oauth2client.Identity{}, p.identityErr("id_token", &oauth2client.IdentityError{Claim: claim, Reason: reason, Err: oauth2client.ErrInvalidIDToken})
	}
	switch t := p.cfg.Tenant; {
	case c.ObjectID == "" || c.TenantID == "":
		return bad("oid", "the id_token names no object ID (oid) and tenant (tid) to bind the account to")
	case looksLikeGUID(t) && !strings.EqualFold(c.TenantID, t):
		return bad("tid", "the id_token comes from another tenant than the connection's")
	case t == "organizations" && strings.EqualFold(c.TenantID, msaTenant):
		return bad("tid", "a personal Microsoft account signed in on an organizations connection")
	case t == "consumers" && !strings.EqualFold(c.TenantID, msaTenant):
		return bad("tid", "a work or school account signed in on a consumers connection")
	}
	name := c.PreferredUsername
	if name == "" {
		name = c.UPN
	}
	return oauth2client.Identity{Username: name, Subject: c.ObjectID + "." + c.TenantID, Tenant: c.TenantID}, nil
}

func (p *Provider) identityErr(op string, err error) error {
	return &oauth2client.ProviderError{Provider: "azure", Op: op, Class: oauth2client.ClassConfig, Err: err,
		Remedy: "check the connection's client ID, tenant and authority, and the clocks; if they are right, the token endpoint's answer cannot be trusted"}
}

// Authority validates the Tenant, Cloud and AuthorityURL of cfg exactly
// as [New] does and returns the tenant's authority URL
// (https://login.microsoftonline.com/{tenant} for the global cloud),
// without network I/O. Tools that build Entra URLs themselves (package
// doctor) call it before their first request.
//
// A tenant is a tenant ID (a GUID), a verified domain name (letters,
// digits, hyphens and dots only), or "organizations", "common" or
// "consumers": anything else ('?', '/', "..", '@', '%', spaces) could
// change the URL's path or host and is refused. AuthorityURL must be an
// https URL with a host and nothing after its path.
func (cfg Config) Authority() (string, error) {
	base, err := cfg.authorityBase()
	if err != nil {
		return "", err
	}
	return base + "/" + cfg.Tenant, nil
}

// authorityBase validates cfg's tenant and authority and returns the
// authority base URL, without the tenant.
func (cfg Config) authorityBase() (string, error) {
	if cfg.Tenant == "" {
		return "", configError("Tenant", "empty: copy the Directory (tenant) ID from the app's Overview page, or use \"organizations\" for a multi-tenant app")
	}
	if !validTenant(cfg.Tenant) {
		return "", configError("Tenant", "%q is not a tenant ID (a GUID), a domain name, \"organizations\", \"common\" or \"consumers\"", cfg.Tenant)
	}
	if cfg.AuthorityURL == "" {
		host := cfg.Cloud.AuthorityHost
		if host == "" {
			host = Global.AuthorityHost
		}
		return strings.TrimRight(host, "/"), nil
	}
	u, err := url.Parse(cfg.AuthorityURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(cfg.AuthorityURL, "#") {
		return "", configError("AuthorityURL", "%q must be an https URL with a host and no user information, query or fragment", cfg.AuthorityURL)
	}
	return strings.TrimRight(cfg.AuthorityURL, "/"), nil
}

// validTenant reports whether t is a tenant ID, a DNS domain name or one
// of Entra's multi-tenant names.
func validTenant(t string) bool {
	switch t {
	case "common", "organizations", "consumers":
		return true
	}
	if looksLikeGUID(t) {
		return true
	}
	if len(t) > 253 || !strings.Contains(t, ".") {
		return false
	}
	for _, label := range strings.Split(t, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

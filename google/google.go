package google

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/oauth2mail/oauth2mail/internal/idtoken"
	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Google's endpoints, used when the Config leaves them empty.
const (
	AuthURL   = "https://accounts.google.com/o/oauth2/v2/auth"
	TokenURL  = "https://oauth2.googleapis.com/token" // #nosec G101 -- Google's public token endpoint, not a credential
	RevokeURL = "https://oauth2.googleapis.com/revoke"
	// Issuer is the iss of Google's id_tokens (Google also writes it
	// without the scheme, "accounts.google.com", which is accepted).
	Issuer = "https://accounts.google.com"
	// JWKSURL is the key set of Google's id_tokens.
	JWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// MailScope is the scope IMAP, POP and SMTP need.
const MailScope = "https://mail.google.com/"

// ErrConfig is wrapped by every configuration error of [New].
var ErrConfig = errors.New("google: invalid configuration")

// Config is what the administrator copies from Google Cloud console
// (APIs & Services > Credentials). ClientID and ClientSecret are
// required for users' consent; a service account key alone is enough for
// app-only access. Every other field has a documented default.
type Config struct {
	// ClientID is the OAuth 2.0 client ID, "….apps.googleusercontent.com".
	ClientID string
	// ClientSecret is the OAuth client's secret ("GOCSPX-…").
	ClientSecret oauth2client.Secret
	// Scopes are the mail scopes. Zero means [MailScope]. "openid email"
	// are always added to users' authorization requests: the grant's
	// Identity comes from the validated id_token (Username its email,
	// only with email_verified true; Subject its sub; Tenant its hd).
	Scopes []string

	// AuthURL, TokenURL and RevokeURL replace Google's endpoints (tests
	// with mailtest.NewGoogle, proxies). Zero means [AuthURL], [TokenURL]
	// and [RevokeURL]. TokenURL also replaces the service account key's
	// token_uri. All must be https.
	AuthURL, TokenURL, RevokeURL string
	// Issuer is the iss the id_tokens must carry. Zero means [Issuer];
	// it is required when TokenURL is overridden for users' consent
	// (mailtest.Google's is its URL).
	Issuer string
	// JWKSURL is the key set that signs the id_tokens. Zero means
	// [JWKSURL] (with an overridden TokenURL: none, which is fine
	// unless VerifySignature is set).
	JWKSURL string
	// VerifySignature checks every id_token's signature against
	// JWKSURL, although it comes straight from the token endpoint over
	// TLS, where OpenID Connect Core §3.1.3.7 lets TLS stand for it.
	VerifySignature bool
	// HTTPClient is used for every call to Google. If nil, a client with
	// a 30-second timeout is used.
	HTTPClient *http.Client

	// ServiceAccount, when its JSONKey is set, enables app-only access to
	// Workspace mailboxes ([Provider.AppToken]).
	ServiceAccount ServiceAccount

	// IMAP and SMTP replace Gmail's mail servers (tests, or
	// smtp.gmail.com:587 with STARTTLS). Zero means imap.gmail.com:993
	// and smtp.gmail.com:465, implicit TLS.
	IMAP, SMTP oauth2client.ServerAddr
	// Now is the clock for token expiry. Zero means time.Now. (Service
	// account assertions are signed with the system clock by
	// x/oauth2/jwt.)
	Now func() time.Time
}

// ServiceAccount is a Google Workspace service account with domain-wide
// delegation: a Workspace administrator authorized its client ID for
// https://mail.google.com/ (Admin console > Security > Access and data
// control > API controls > Domain-wide delegation), so it may act as any
// mailbox of the domain.
type ServiceAccount struct {
	// JSONKey is the key file created under IAM & Admin > Service
	// accounts > Keys ("type": "service_account"). Keep it secret.
	JSONKey oauth2client.SecretBytes
	// Scopes replace Config.Scopes for app-only tokens, e.g.
	// https://www.googleapis.com/auth/gmail.imap_admin, which shows all
	// labels over IMAP.
	Scopes []string
}

// LogValue implements [slog.LogValuer]: the scopes, with the key shown
// as [oauth2client.Redacted].
func (sa ServiceAccount) LogValue() slog.Value {
	key := ""
	if len(sa.JSONKey) > 0 {
		key = oauth2client.Redacted
	}
	return slog.GroupValue(slog.String("json_key", key), slog.Any("scopes", sa.Scopes))
}

type saKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// Provider is the Gmail / Google Workspace provider. It implements
// [oauth2client.Provider], [oauth2client.Revoker] and
// [oauth2client.AppOnlyProvider]. It is safe for concurrent use and keeps
// no per-account state.
type Provider struct {
	cfg    Config
	hc     *http.Client
	scopes []string
	sa     *saKey
	mail   oauth2client.MailService
	ver    *idtoken.Verifier
}

// New validates cfg and returns a provider. It does no network I/O.
func New(cfg Config) (*Provider, error) {
	if cfg.ClientID == "" && len(cfg.ServiceAccount.JSONKey) == 0 {
		return nil, fmt.Errorf("%w: Config.ClientID is empty: copy the OAuth 2.0 client ID from Google Cloud console > APIs & Services > Credentials (or set ServiceAccount.JSONKey for app-only access)", ErrConfig)
	}
	if cfg.ClientID != "" && cfg.ClientSecret.IsZero() {
		return nil, fmt.Errorf("%w: Config.ClientSecret is empty: copy the client secret of %s from Google Cloud console > APIs & Services > Credentials", ErrConfig, cfg.ClientID)
	}
	if cfg.ClientID != "" && !strings.HasSuffix(cfg.ClientID, ".apps.googleusercontent.com") && cfg.AuthURL == "" {
		return nil, fmt.Errorf("%w: Config.ClientID %q is not a Google OAuth client ID (…apps.googleusercontent.com)", ErrConfig, cfg.ClientID)
	}
	for _, f := range []struct {
		name string
		v    *string
		def  string
	}{{"AuthURL", &cfg.AuthURL, AuthURL}, {"TokenURL", &cfg.TokenURL, ""}, {"RevokeURL", &cfg.RevokeURL, RevokeURL},
		{"Issuer", &cfg.Issuer, ""}, {"JWKSURL", &cfg.JWKSURL, ""}} {
		if *f.v == "" {
			*f.v = f.def
			continue
		}
		if err := oauthflow.CheckURL("Config."+f.name, *f.v, false, true); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if cfg.Issuer == "" && cfg.TokenURL == "" {
		cfg.Issuer = Issuer
		if cfg.JWKSURL == "" {
			cfg.JWKSURL = JWKSURL
		}
	}
	if cfg.ClientID != "" && cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: Config.Issuer is empty while Config.TokenURL is overridden: set the issuer whose id_tokens that token endpoint returns (mailtest.Google's is its URL)", ErrConfig)
	}
	if cfg.VerifySignature && cfg.JWKSURL == "" {
		return nil, fmt.Errorf("%w: Config.JWKSURL is empty while Config.VerifySignature is set: give the key set of Config.Issuer", ErrConfig)
	}
	p := &Provider{cfg: cfg, hc: cfg.HTTPClient, scopes: cfg.Scopes}
	if p.hc == nil {
		p.hc = oauthflow.DefaultClient()
	}
	p.hc = oauthflow.GuardRedirects(p.hc, false)
	if len(p.scopes) == 0 {
		p.scopes = []string{MailScope}
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	if len(cfg.ServiceAccount.JSONKey) > 0 {
		sa, err := parseKey(cfg.ServiceAccount.JSONKey)
		if err != nil {
			return nil, err
		}
		p.sa = sa
	}
	if p.cfg.TokenURL == "" {
		p.cfg.TokenURL = TokenURL
	}
	if cfg.ClientID != "" {
		p.ver = idtoken.New(idtoken.Config{Issuer: cfg.Issuer, ClientID: cfg.ClientID, Now: p.cfg.Now,
			JWKSURL: cfg.JWKSURL, HTTPClient: p.hc, AlwaysVerifySignature: cfg.VerifySignature})
	}
	p.mail = oauth2client.MailService{
		IMAP:            oauth2client.ServerAddr{Host: "imap.gmail.com", Port: 993, Security: oauth2client.SecurityTLS},
		SMTP:            oauth2client.ServerAddr{Host: "smtp.gmail.com", Port: 465, Security: oauth2client.SecurityTLS},
		Scopes:          slices.Clone(p.scopes),
		Mechanisms:      []string{"XOAUTH2", "OAUTHBEARER"},
		ServerSavesSent: true,
	}
	if cfg.IMAP.Host != "" {
		p.mail.IMAP = cfg.IMAP
	}
	if cfg.SMTP.Host != "" {
		p.mail.SMTP = cfg.SMTP
	}
	return p, nil
}

func parseKey(b []byte) (*saKey, error) {
	var k saKey
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%w: Config.ServiceAccount.JSONKey is not JSON: use the key file from IAM & Admin > Service accounts > Keys", ErrConfig)
	}
	if k.Type != "service_account" {
		return nil, fmt.Errorf("%w: Config.ServiceAccount.JSONKey has type %q, want \"service_account\" (an OAuth client's JSON is not a service account key)", ErrConfig, k.Type)
	}
	if k.ClientEmail == "" {
		return nil, fmt.Errorf("%w: Config.ServiceAccount.JSONKey has no client_email", ErrConfig)
	}
	blk, _ := pem.Decode([]byte(k.PrivateKey))
	if blk == nil {
		return nil, fmt.Errorf("%w: Config.ServiceAccount.JSONKey has no PEM private_key", ErrConfig)
	}
	if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(blk.Bytes); err1 != nil {
			return nil, fmt.Errorf("%w: Config.ServiceAccount.JSONKey: private_key is not an RSA key", ErrConfig)
		}
	}
	return &k, nil
}

// oauth2Config returns the x/oauth2 configuration for one request.
func (p *Provider) oauth2Config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret.Reveal(),
		Endpoint:     oauth2.Endpoint{AuthURL: p.cfg.AuthURL, TokenURL: p.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL:  redirectURI,
		Scopes:       append(slices.Clone(p.scopes), "openid", "email"),
	}
}

func (p *Provider) configErr(op, field, problem string) error {
	return &oauth2client.ProviderError{Provider: "google", Op: op, Class: oauth2client.ClassConfig,
		Description: problem, Remedy: "set " + field, Err: ErrConfig}
}

// AuthCodeURL implements [oauth2client.Provider]. The URL asks for
// offline access (a refresh token) with prompt=consent, since Google
// issues a refresh token only on the first consent otherwise; req.Prompt
// (e.g. "select_account") is added to it.
func (p *Provider) AuthCodeURL(_ context.Context, req oauth2client.AuthRequest) (string, error) {
	switch {
	case p.cfg.ClientID == "":
		return "", p.configErr("authorize", "Config.ClientID", "no OAuth client is configured (this provider only has a service account)")
	case req.RedirectURI == "":
		return "", p.configErr("authorize", "AuthRequest.RedirectURI", "the redirect URI is empty")
	case req.CodeChallenge == "":
		return "", p.configErr("authorize", "AuthRequest.CodeChallenge", "the PKCE challenge is empty")
	}
	prompt := "consent"
	if req.Prompt != "" && req.Prompt != "consent" {
		prompt = req.Prompt + " consent"
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.AccessTypeOffline,
		oauth2.SetAuthURLParam("prompt", prompt),
		oauth2.SetAuthURLParam("code_challenge", req.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	if req.Nonce != "" {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", req.Nonce))
	}
	return p.oauth2Config(req.RedirectURI).AuthCodeURL(req.State, opts...), nil
}

// Exchange implements [oauth2client.Provider]. The grant's Identity is
// read from the id_token returned with the tokens, once validated (OpenID
// Connect Core §3.1.3.7: iss, aud, azp, exp, iat and the nonce of the
// authorization request; the signature only with
// Config.VerifySignature, since the token comes straight from Google's
// token endpoint over TLS): Username is its email claim, which must have
// email_verified true ([oauth2client.ErrUnverifiedIdentity] otherwise),
// Subject its sub, Tenant its hd (the Workspace domain, empty for
// gmail.com).
func (p *Provider) Exchange(ctx context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	if p.cfg.ClientID == "" {
		return nil, p.configErr("exchange", "Config.ClientID", "no OAuth client is configured")
	}
	call := oauthflow.Begin(p.hc, p.cfg.ClientSecret.Reveal(), req.Code.Reveal(), req.CodeVerifier.Reveal())
	tok, err := p.oauth2Config(req.RedirectURI).Exchange(oauthflow.Context(ctx, call.Client), req.Code.Reveal(),
		oauth2.VerifierOption(req.CodeVerifier.Reveal()))
	if err != nil {
		return nil, p.err("exchange", err, call, req.RedirectURI)
	}
	g := p.grant(tok)
	id, err := p.identity(ctx, "exchange", tok, req.Nonce)
	if err != nil {
		return nil, err
	}
	if id.Username == "" {
		return nil, &oauth2client.ProviderError{Provider: "google", Op: "exchange", Class: oauth2client.ClassConfig,
			Description: "the id_token has no email claim", Err: ErrConfig,
			Remedy: "keep the openid and email scopes; check that TokenURL is Google's token endpoint"}
	}
	g.Identity = id
	if g.RefreshToken == "" {
		return nil, &oauth2client.ProviderError{Provider: "google", Op: "exchange", Class: oauth2client.ClassConfig,
			Description: "Google returned no refresh token",
			Remedy:      "the authorization URL must carry access_type=offline and prompt=consent; use this provider's AuthCodeURL"}
	}
	return g, nil
}

// Refresh implements [oauth2client.Provider]. Google does not rotate
// refresh tokens: the returned grant keeps g's. The id_token Google
// returns is validated and its sub and hd become the grant's Subject and
// Tenant, so that the Client refuses a refresh that names another user
// ([oauth2client.ErrIdentityChanged]); the username is never changed by
// a refresh. App-only grants are renewed with [Provider.AppToken].
func (p *Provider) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	if g.AppOnly {
		return p.AppToken(ctx, g.Identity.Username)
	}
	if g.RefreshToken.IsZero() {
		return nil, &oauth2client.ProviderError{Provider: "google", Op: "refresh", Class: oauth2client.ClassReauth,
			Description: "the grant has no refresh token", Err: oauth2client.ErrReauthRequired, Remedy: "connect the account again"}
	}
	call := oauthflow.Begin(p.hc, p.cfg.ClientSecret.Reveal(), g.RefreshToken.Reveal(), g.AccessToken.Reveal())
	src := p.oauth2Config("").TokenSource(oauthflow.Context(ctx, call.Client), &oauth2.Token{RefreshToken: g.RefreshToken.Reveal()})
	tok, err := src.Token()
	if err != nil {
		return nil, p.err("refresh", err, call, "")
	}
	ng := p.grant(tok)
	if ng.RefreshToken.IsZero() {
		ng.RefreshToken = g.RefreshToken
	}
	ng.Identity = g.Identity
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		id, err := p.identity(ctx, "refresh", tok, "")
		if err != nil {
			return nil, err
		}
		ng.Identity.Subject, ng.Identity.Tenant = id.Subject, id.Tenant
	}
	if len(ng.Scopes) == 0 {
		ng.Scopes = slices.Clone(g.Scopes)
	}
	ng.ProviderState = slices.Clone(g.ProviderState)
	return ng, nil
}

// AppToken implements [oauth2client.AppOnlyProvider] with the service
// account: a JWT signed with its key (iss = the account, sub = mailbox,
// aud = the token URL) is exchanged for an access token that opens
// mailbox (RFC 7523). It fails with [oauth2client.ErrAppOnlyUnsupported]
// when Config.ServiceAccount.JSONKey is not set.
func (p *Provider) AppToken(ctx context.Context, mailbox string) (*oauth2client.Grant, error) {
	if p.sa == nil {
		return nil, fmt.Errorf("google: %w: set Config.ServiceAccount.JSONKey to a service account key with domain-wide delegation", oauth2client.ErrAppOnlyUnsupported)
	}
	if mailbox == "" {
		return nil, p.configErr("app_token", "the mailbox address", "the mailbox address is empty")
	}
	scopes := p.cfg.ServiceAccount.Scopes
	if len(scopes) == 0 {
		scopes = p.scopes
	}
	tokenURL := p.cfg.TokenURL
	if tokenURL == TokenURL && p.sa.TokenURI != "" {
		tokenURL = p.sa.TokenURI
	}
	jc := &jwt.Config{Email: p.sa.ClientEmail, PrivateKey: []byte(p.sa.PrivateKey), PrivateKeyID: p.sa.PrivateKeyID,
		Subject: mailbox, Scopes: slices.Clone(scopes), TokenURL: tokenURL}
	call := oauthflow.Begin(p.hc)
	tok, err := jc.TokenSource(oauthflow.Context(ctx, call.Client)).Token()
	if err != nil {
		return nil, p.err("app_token", err, call, "")
	}
	g := p.grant(tok)
	g.AppOnly = true
	g.Identity = oauth2client.Identity{Username: mailbox, Subject: p.sa.ClientEmail}
	if i := strings.LastIndexByte(mailbox, '@'); i >= 0 {
		g.Identity.Tenant = strings.ToLower(mailbox[i+1:])
	}
	if len(g.Scopes) == 0 {
		g.Scopes = slices.Clone(scopes)
	}
	return g, nil
}

// Revoke implements [oauth2client.Revoker]: it revokes the refresh token
// (or, without one, the access token), which ends the whole grant at
// Google. A token Google already considers invalid counts as revoked.
func (p *Provider) Revoke(ctx context.Context, g *oauth2client.Grant) error {
	tok := g.RefreshToken
	if tok.IsZero() {
		tok = g.AccessToken
	}
	if tok.IsZero() || g.AppOnly {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.RevokeURL,
		strings.NewReader(url.Values{"token": {tok.Reveal()}}.Encode()))
	if err != nil {
		return &oauth2client.ProviderError{Provider: "google", Op: "revoke", Class: oauth2client.ClassConfig, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = oauthflow.Do(p.hc, req, "google", "revoke", classifier(""), p.cfg.Now(), g.RefreshToken.Reveal(), g.AccessToken.Reveal())
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) && pe.Code == "invalid_token" {
		return nil
	}
	return err
}

// Mail implements [oauth2client.Provider]: Gmail accepts XOAUTH2 and
// OAUTHBEARER and files sent mail in Sent itself.
func (p *Provider) Mail() oauth2client.MailService {
	m := p.mail
	m.Scopes = slices.Clone(m.Scopes)
	m.Mechanisms = slices.Clone(m.Mechanisms)
	return m
}

func (p *Provider) grant(tok *oauth2.Token) *oauth2client.Grant {
	return &oauth2client.Grant{
		AccessToken:  oauth2client.Secret(tok.AccessToken),
		RefreshToken: oauth2client.Secret(tok.RefreshToken),
		Expiry:       oauthflow.Expiry(tok, p.cfg.Now()),
		Scopes:       oauthflow.Scopes(tok),
	}
}

// err builds the scrubbed error of a failed call.
func (p *Provider) err(op string, err error, call *oauthflow.Call, redirectURI string) error {
	if redirectURI == "" {
		redirectURI = "the application's callback URL"
	}
	return call.Fail("google", op, err, classifier(redirectURI), p.cfg.Now())
}

// identity validates the id_token of tok and returns whose it is. The
// username is the email claim when Google vouches for it
// (email_verified); a refresh passes no nonce.
func (p *Provider) identity(ctx context.Context, op string, tok *oauth2.Token, nonce string) (oauth2client.Identity, error) {
	bad := func(err error) error {
		return &oauth2client.ProviderError{Provider: "google", Op: op, Class: oauth2client.ClassConfig, Err: err,
			Remedy: "check Config.ClientID and Config.Issuer, and the clocks; if they are right, the token endpoint's answer cannot be trusted"}
	}
	raw, _ := tok.Extra("id_token").(string)
	if p.ver == nil {
		return oauth2client.Identity{}, p.configErr(op, "Config.ClientID", "no OAuth client is configured")
	}
	if raw == "" {
		return oauth2client.Identity{}, bad(&oauth2client.IdentityError{Claim: "id_token", Err: oauth2client.ErrInvalidIDToken,
			Reason: "the token response carries no id_token: keep the openid and email scopes"})
	}
	c, err := p.ver.Verify(ctx, raw, nonce, strings.HasPrefix(p.cfg.TokenURL, "https://"))
	if err != nil {
		return oauth2client.Identity{}, bad(err)
	}
	id := oauth2client.Identity{Subject: c.Subject, Tenant: c.HostedDomain}
	if c.Email != "" && !c.EmailVerified {
		return oauth2client.Identity{}, bad(&oauth2client.IdentityError{Claim: "email_verified", Err: oauth2client.ErrUnverifiedIdentity,
			Reason: "Google does not say the address is verified: the user must verify it, or sign in with another account"})
	}
	id.Username = c.Email
	return id, nil
}

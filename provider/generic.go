package provider

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/internal/idtoken"
	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrConfig is wrapped by the configuration errors of [NewGeneric],
// [Discover] and [Catalog.Build] (which returns them as [*FieldError]).
var ErrConfig = errors.New("provider: invalid configuration")

// ErrInsecureURL is wrapped by the errors about a URL refused for its
// transport: an issuer or endpoint on plain http (without
// AllowInsecureHTTP), or a redirect to another host or from https down
// to http. Such errors also match [ErrConfig] where they concern a
// configured or discovered URL.
var ErrInsecureURL = oauthflow.ErrInsecureURL

// GenericConfig configures a [Generic] provider. ClientID, the
// endpoints (or, with [Discover], the issuer) and Mail are required.
type GenericConfig struct {
	// Name names the provider in errors ("generic" if empty), e.g.
	// "fastmail".
	Name string
	// Issuer is the OpenID Connect issuer: an https URL without query,
	// fragment or user information. [Discover] sets it from the
	// discovery document. id_tokens are validated against it (OpenID
	// Connect Core §3.1.3.7); without it the provider does not use
	// id_tokens at all (the username then comes from UserinfoURL). With
	// IssuerParameter it is also the iss value the callback handler
	// requires (RFC 9207).
	Issuer string
	// IssuerParameter says the server puts iss= in its authorization
	// responses (RFC 9207). [Discover] sets it from
	// authorization_response_iss_parameter_supported.
	IssuerParameter bool
	// AuthURL and TokenURL are the authorization and token endpoints.
	AuthURL, TokenURL string
	// RevokeURL is the RFC 7009 revocation endpoint. Optional: without it
	// Revoke does nothing.
	RevokeURL string
	// UserinfoURL is the OpenID Connect userinfo endpoint, asked for the
	// username when the id_token lacks UsernameClaim. Its answer is used
	// only when its sub equals the id_token's (Core §5.3.2). Optional.
	UserinfoURL string
	// JWKSURL is the issuer's key set (jwks_uri), which [Discover] sets.
	// id_tokens are signature-checked against it when they did not come
	// from the token endpoint over https, or always with VerifySignature.
	JWKSURL string
	// VerifySignature checks the signature of every id_token against
	// JWKSURL, even of those that come straight from the token endpoint
	// over TLS (where Core §3.1.3.7 lets TLS stand for it).
	VerifySignature bool
	// AllowInsecureHTTP accepts plain-http issuer and endpoint URLs (and
	// redirects to http on the same host). It is for tests and loopback
	// set-ups only: over http the authorization code, the PKCE verifier,
	// the client secret and the tokens travel in clear. Off by default;
	// a loopback host alone does not turn it on.
	AllowInsecureHTTP bool

	// ClientID is the application's client ID.
	ClientID string
	// ClientSecret is the client secret; empty for public clients (PKCE
	// alone, as Fastmail and Thunderbird's registrations work).
	ClientSecret oauth2client.Secret
	// ClientAuth is how the application authenticates at the token and
	// revocation endpoints. Zero chooses: private_key_jwt with a
	// ClientKey, none without a ClientSecret, else client_secret_basic
	// when TokenAuthMethods lists it or is empty (RFC 8414's default),
	// else client_secret_post.
	ClientAuth ClientAuthMethod
	// TokenAuthMethods are the methods the server accepts at its token
	// endpoint (token_endpoint_auth_methods_supported); [Discover] sets
	// it. Optional.
	TokenAuthMethods []string
	// ClientKey signs the client assertions of private_key_jwt (RFC
	// 7523): an *rsa.PrivateKey (RS256), *ecdsa.PrivateKey (ES256, ES384,
	// ES512) or ed25519.PrivateKey (EdDSA) whose public key is registered
	// with the server. [ParseClientKey] reads one from PEM.
	ClientKey crypto.Signer
	// ClientKeyID is the key's kid as registered with the server;
	// optional.
	ClientKeyID string
	// AssertionAudience replaces the aud of client assertions: the
	// Issuer by default, or the token endpoint without an Issuer.
	AssertionAudience string
	// Scopes are requested at authorization. Zero means Mail.Scopes.
	// "openid" is added when Issuer is set.
	Scopes []string
	// AuthParams are extra authorization request parameters, e.g.
	// access_type=offline for Google. They cannot replace the ones the
	// provider sets (state, PKCE, redirect_uri, scope, client_id).
	AuthParams map[string]string
	// UsernameClaim is the id_token (or userinfo) claim holding the mail
	// login. Zero means "email", which is taken only with
	// email_verified true ([oauth2client.ErrUnverifiedIdentity]
	// otherwise). Another claim is trusted as the provider's own name
	// for the account.
	UsernameClaim string

	// Mail describes the mail servers, which the application supplies.
	// IMAP.Host and SMTP.Host are required; zero Mechanisms means
	// ["XOAUTH2", "OAUTHBEARER"].
	Mail oauth2client.MailService
	// HTTPClient is used for every call to the server. If nil, a client
	// with a 30-second timeout is used.
	HTTPClient *http.Client
	// Now is the clock for token expiry. Zero means time.Now.
	Now func() time.Time
}

// Generic is an [oauth2client.Provider] for any OAuth 2.0 server: the
// authorization code grant with PKCE S256 (always), client authentication
// by client_secret_basic, client_secret_post, private_key_jwt or none
// (see [GenericConfig].ClientAuth), refresh tokens kept or rotated as the server decides,
// and RFC 7009 revocation. It implements [oauth2client.Revoker] and
// [oauth2client.IssuerProvider]. It is safe for concurrent use.
type Generic struct {
	cfg  GenericConfig
	hc   *http.Client
	mail oauth2client.MailService
	ver  *idtoken.Verifier // nil without an Issuer
	// auth is the client authentication method in use; tokenURL the
	// parsed token endpoint.
	auth     ClientAuthMethod
	tokenURL *url.URL
}

// NewGeneric validates cfg and returns a provider. It does no network
// I/O; use [Discover] to read the endpoints from an OpenID Connect
// issuer.
func NewGeneric(cfg GenericConfig) (*Generic, error) {
	if cfg.Name == "" {
		cfg.Name = "generic"
	}
	if cfg.ClientID == "" {
		return nil, &FieldError{Field: "ClientID", Problem: "is empty: copy the client ID of the application registered with the provider"}
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"AuthURL", cfg.AuthURL, true}, {"TokenURL", cfg.TokenURL, true}, {"RevokeURL", cfg.RevokeURL, false}, {"UserinfoURL", cfg.UserinfoURL, false},
		{"JWKSURL", cfg.JWKSURL, false}} {
		if err := checkURLOpt(f.name, f.v, f.required, cfg.AllowInsecureHTTP); err != nil {
			return nil, err
		}
	}
	if cfg.Issuer != "" {
		if err := checkIssuer(cfg.Issuer, cfg.AllowInsecureHTTP); err != nil {
			return nil, err
		}
	}
	if cfg.VerifySignature && (cfg.JWKSURL == "" || cfg.Issuer == "") {
		return nil, &FieldError{Field: "JWKSURL", Problem: "is empty, but VerifySignature is set: give the issuer's jwks_uri and Issuer (Discover sets both)"}
	}
	if cfg.IssuerParameter && cfg.Issuer == "" {
		return nil, &FieldError{Field: "Issuer", Problem: "is empty, but IssuerParameter is set: set the issuer the server names in iss="}
	}
	if err := checkMail(cfg.Mail); err != nil {
		return nil, err
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "email"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Generic{cfg: cfg, hc: cfg.HTTPClient, mail: cfg.Mail}
	if p.hc == nil {
		p.hc = oauthflow.DefaultClient()
	}
	// Token requests carry the code, the verifier and the secret: never
	// follow a redirect to another host or down to http with them.
	p.hc = oauthflow.GuardRedirects(p.hc, cfg.AllowInsecureHTTP)
	if cfg.Issuer != "" {
		p.ver = idtoken.New(idtoken.Config{Issuer: cfg.Issuer, ClientID: cfg.ClientID, Now: cfg.Now,
			JWKSURL: cfg.JWKSURL, HTTPClient: p.hc, AlwaysVerifySignature: cfg.VerifySignature})
	}
	p.mail.Scopes = slices.Clone(cfg.Mail.Scopes)
	p.mail.Mechanisms = slices.Clone(cfg.Mail.Mechanisms)
	if len(p.mail.Mechanisms) == 0 {
		p.mail.Mechanisms = []string{"XOAUTH2", "OAUTHBEARER"}
	}
	if len(cfg.Scopes) == 0 {
		p.cfg.Scopes = slices.Clone(cfg.Mail.Scopes)
	}
	auth, err := chooseClientAuth(&p.cfg)
	if err != nil {
		return nil, err
	}
	p.auth, p.tokenURL = auth, mustParse(cfg.TokenURL)
	if auth == PrivateKeyJWT {
		p.hc = p.withAssertions(p.hc)
	}
	if cfg.Issuer != "" && !slices.Contains(p.cfg.Scopes, "openid") {
		p.cfg.Scopes = append(slices.Clone(p.cfg.Scopes), "openid")
	}
	return p, nil
}

// checkURL validates an https URL of the configuration.
func checkURL(field, v string, required bool) error { return checkURLOpt(field, v, required, false) }

func checkURLOpt(field, v string, required, allowHTTP bool) error {
	if v == "" {
		if required {
			return &FieldError{Field: field, Problem: "is empty"}
		}
		return nil
	}
	if err := oauthflow.CheckURL("", v, allowHTTP, true); err != nil {
		fe := &FieldError{Field: field, Problem: strings.TrimSpace(err.Error())}
		if errors.Is(err, ErrInsecureURL) {
			fe.Err = ErrInsecureURL
		}
		return fe
	}
	return nil
}

// checkIssuer validates an OpenID Connect issuer identifier (Discovery
// §2, RFC 8414 §2): https, a host, no query, fragment or user
// information.
func checkIssuer(issuer string, allowHTTP bool) error {
	if err := checkURLOpt("Issuer", issuer, true, allowHTTP); err != nil {
		return err
	}
	if u, _ := url.Parse(issuer); u.RawQuery != "" || u.ForceQuery {
		return &FieldError{Field: "Issuer", Problem: fmt.Sprintf("%q has a query ('?'): an issuer is an https URL without query or fragment", issuer)}
	}
	return nil
}

func checkMail(m oauth2client.MailService) error {
	for _, s := range []struct {
		name string
		a    oauth2client.ServerAddr
	}{{"IMAP", m.IMAP}, {"SMTP", m.SMTP}} {
		switch {
		case s.a.Host == "":
			return &FieldError{Field: s.name + ".Host", Problem: "is empty: give the " + s.name + " server's host name"}
		case s.a.Port <= 0 || s.a.Port > 65535:
			return &FieldError{Field: s.name + ".Port", Problem: fmt.Sprintf("%d is not a TCP port", s.a.Port)}
		case s.a.Security < oauth2client.SecurityTLS || s.a.Security > oauth2client.SecurityNone:
			return &FieldError{Field: s.name + ".Security", Problem: "is not tls, starttls or none"}
		}
	}
	return nil
}

// discovery is the part of an OpenID Provider Metadata document
// (OpenID Connect Discovery 1.0 §3, RFC 8414) the provider uses.
type discovery struct {
	Issuer          string   `json:"issuer"`
	JWKSURL         string   `json:"jwks_uri"`
	AuthURL         string   `json:"authorization_endpoint"`
	TokenURL        string   `json:"token_endpoint"`
	RevokeURL       string   `json:"revocation_endpoint"`
	UserinfoURL     string   `json:"userinfo_endpoint"`
	ISSParameter    bool     `json:"authorization_response_iss_parameter_supported"`
	ChallengeMethod []string `json:"code_challenge_methods_supported"`
	AuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
}

// Discover reads issuer's /.well-known/openid-configuration and returns a
// provider for its endpoints; cfg supplies the rest (its endpoint fields
// are overwritten). The document's issuer must equal issuer exactly,
// trailing slash included (OpenID Connect Discovery §4.3). The issuer and
// every endpoint must be https unless cfg.AllowInsecureHTTP (tests and
// loopback set-ups only; a loopback host alone does not allow http);
// endpoints may be on other hosts than the issuer (Google's are), but a
// redirect while fetching the document is followed only on the same host
// and never down to http. Errors never quote the fetched document.
// When the document says
// authorization_response_iss_parameter_supported, the provider implements
// RFC 9207: the callback handler then requires iss= to equal the issuer.
func Discover(ctx context.Context, issuer string, cfg GenericConfig) (*Generic, error) {
	if err := checkIssuer(issuer, cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = oauthflow.DefaultClient()
	}
	name := cfg.Name
	if name == "" {
		name = "generic"
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, &FieldError{Field: "Issuer", Problem: "cannot be requested", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	body, err := oauthflow.Do(oauthflow.GuardRedirects(hc, cfg.AllowInsecureHTTP), req, name, "discovery", nil, now())
	if err != nil {
		var pe *oauth2client.ProviderError
		if errors.As(err, &pe) {
			// The answer is the server's text, not ours to repeat.
			pe.Code, pe.Description = "", ""
			if pe.Class == oauth2client.ClassUnknown {
				pe.Class = oauth2client.ClassConfig
				pe.Remedy = "check the issuer URL: " + issuer + "/.well-known/openid-configuration must serve the discovery document"
			}
		}
		return nil, err
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, &oauth2client.ProviderError{Provider: name, Op: "discovery", Class: oauth2client.ClassConfig, Err: ErrConfig,
			Description: "the discovery document is not a JSON object of OpenID Provider Metadata", Remedy: "check the issuer URL " + issuer}
	}
	if d.Issuer != issuer {
		return nil, &FieldError{Field: "Issuer", Problem: fmt.Sprintf("%q serves the discovery document of another issuer (compared exactly, trailing slash included): use the issuer URL the provider documents", issuer)}
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"authorization_endpoint", d.AuthURL, true}, {"token_endpoint", d.TokenURL, true}, {"revocation_endpoint", d.RevokeURL, false},
		{"userinfo_endpoint", d.UserinfoURL, false}, {"jwks_uri", d.JWKSURL, false}} {
		if f.v == "" && !f.required {
			continue
		}
		if err := oauthflow.CheckURL("", f.v, cfg.AllowInsecureHTTP, false); err != nil || f.v == "" {
			fe := &FieldError{Field: "Issuer", Problem: fmt.Sprintf("%q: the discovery document's %s is missing or not an https URL", issuer, f.name)}
			if errors.Is(err, ErrInsecureURL) {
				fe.Err = ErrInsecureURL
			}
			return nil, fe
		}
	}
	if len(d.ChallengeMethod) > 0 && !slices.Contains(d.ChallengeMethod, "S256") {
		return nil, &FieldError{Field: "Issuer", Problem: "the server does not support PKCE with S256 (code_challenge_methods_supported), which this library requires"}
	}
	cfg.Issuer, cfg.IssuerParameter = d.Issuer, d.ISSParameter
	cfg.AuthURL, cfg.TokenURL, cfg.RevokeURL, cfg.UserinfoURL, cfg.JWKSURL = d.AuthURL, d.TokenURL, d.RevokeURL, d.UserinfoURL, d.JWKSURL
	cfg.TokenAuthMethods = d.AuthMethods
	cfg.HTTPClient = hc
	return NewGeneric(cfg)
}

// Issuer implements [oauth2client.IssuerProvider]: the issuer when the
// server sends iss= in authorization responses, else "".
func (p *Generic) Issuer() string {
	if p.cfg.IssuerParameter {
		return p.cfg.Issuer
	}
	return ""
}

// Mail implements [oauth2client.Provider].
func (p *Generic) Mail() oauth2client.MailService {
	m := p.mail
	m.Scopes = slices.Clone(m.Scopes)
	m.Mechanisms = slices.Clone(m.Mechanisms)
	return m
}

func (p *Generic) oauth2Config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.tokenSecret(), RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.cfg.AuthURL, TokenURL: p.cfg.TokenURL, AuthStyle: authStyle(p.auth)},
		Scopes:   slices.Clone(p.cfg.Scopes),
	}
}

// AuthCodeURL implements [oauth2client.Provider]: state, PKCE S256,
// login_hint and prompt as given.
func (p *Generic) AuthCodeURL(_ context.Context, req oauth2client.AuthRequest) (string, error) {
	if req.RedirectURI == "" || req.CodeChallenge == "" {
		return "", &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "authorize", Class: oauth2client.ClassConfig,
			Description: "the redirect URI or PKCE challenge is empty", Err: ErrConfig}
	}
	var opts []oauth2.AuthCodeOption
	for k, v := range p.cfg.AuthParams {
		switch k {
		case "state", "code_challenge", "code_challenge_method", "redirect_uri", "scope", "client_id", "response_type":
			continue
		}
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	opts = append(opts,
		oauth2.SetAuthURLParam("code_challenge", req.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"))
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	if req.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", req.Prompt))
	}
	if req.Nonce != "" && p.ver != nil {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", req.Nonce))
	}
	return p.oauth2Config(req.RedirectURI).AuthCodeURL(req.State, opts...), nil
}

// Exchange implements [oauth2client.Provider]. With an Issuer, the
// id_token is validated (OpenID Connect Core §3.1.3.7: iss, aud, azp,
// exp, iat, the nonce of the authorization request, and the signature
// where TLS does not stand for it) and the username is its
// UsernameClaim; "email" counts only with email_verified true. Without
// the claim, the userinfo endpoint's answer is used, only if its sub is
// the id_token's (Core §5.3.2). Without an Issuer, id_tokens are not
// used and the username comes from userinfo. A grant that does not say
// whose mailbox it opens fails with a configuration error.
func (p *Generic) Exchange(ctx context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	call := oauthflow.Begin(p.hc, p.cfg.ClientSecret.Reveal(), req.Code.Reveal(), req.CodeVerifier.Reveal())
	tok, err := p.oauth2Config(req.RedirectURI).Exchange(oauthflow.Context(ctx, call.Client), req.Code.Reveal(),
		oauth2.VerifierOption(req.CodeVerifier.Reveal()))
	if err != nil {
		return nil, p.fail(call, "exchange", err)
	}
	g := p.grant(tok)
	claims, err := p.idToken(ctx, "exchange", tok, req.Nonce)
	if err != nil {
		return nil, err
	}
	if claims != nil {
		g.Identity.Subject = claims.Subject
		if g.Identity.Username, err = p.username("exchange", claims.String(p.cfg.UsernameClaim), claims.EmailVerified); err != nil {
			return nil, err
		}
	}
	if g.Identity.Username == "" && p.cfg.UserinfoURL != "" {
		id, err := p.userinfo(ctx, tok.AccessToken, g.Identity.Subject)
		if err != nil {
			return nil, oauthflow.Scrub(err, call.Secrets) // the code and verifier, as well as the access token
		}
		g.Identity = id
	}
	if g.Identity.Username == "" {
		return nil, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "exchange", Class: oauth2client.ClassConfig, Err: ErrConfig,
			Description: "the provider did not say whose mailbox this is (no " + p.cfg.UsernameClaim + " claim)",
			Remedy:      "request the openid and email scopes with an Issuer, set UserinfoURL, or set UsernameClaim to the claim holding the mail login"}
	}
	return g, nil
}

// idToken validates the id_token of tok; nil without one, or without an
// Issuer to validate it against.
func (p *Generic) idToken(ctx context.Context, op string, tok *oauth2.Token, nonce string) (*idtoken.Claims, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" || p.ver == nil {
		return nil, nil
	}
	c, err := p.ver.Verify(ctx, raw, nonce, strings.HasPrefix(p.cfg.TokenURL, "https://"))
	if err != nil {
		return nil, p.identityErr(op, err)
	}
	return c, nil
}

// username returns the username claim's value v if the provider vouches
// for it: an "email" claim needs email_verified true.
func (p *Generic) username(op, v string, emailVerified bool) (string, error) {
	if v != "" && p.cfg.UsernameClaim == "email" && !emailVerified {
		return "", p.identityErr(op, &oauth2client.IdentityError{Claim: "email_verified", Err: oauth2client.ErrUnverifiedIdentity,
			Reason: "the provider does not say the address is verified (email_verified is not true): the user must verify it with the provider"})
	}
	return v, nil
}

func (p *Generic) identityErr(op string, err error) error {
	return &oauth2client.ProviderError{Provider: p.cfg.Name, Op: op, Class: oauth2client.ClassConfig, Err: err,
		Remedy: "check the connection's Issuer and ClientID, and the clocks; if they are right, the provider's answer cannot be trusted"}
}

// Refresh implements [oauth2client.Provider]: a rotated refresh token
// replaces g's, otherwise g's is kept. When the answer carries an
// id_token (and an Issuer is set), it is validated and its sub becomes
// the grant's Subject, so that the Client refuses a refresh that names
// another user ([oauth2client.ErrIdentityChanged]); the username is
// never changed by a refresh.
func (p *Generic) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	if g.RefreshToken.IsZero() {
		return nil, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "refresh", Class: oauth2client.ClassReauth,
			Description: "the grant has no refresh token", Err: oauth2client.ErrReauthRequired, Remedy: "connect the account again"}
	}
	call := oauthflow.Begin(p.hc, p.cfg.ClientSecret.Reveal(), g.RefreshToken.Reveal(), g.AccessToken.Reveal())
	tok, err := p.oauth2Config("").TokenSource(oauthflow.Context(ctx, call.Client), &oauth2.Token{RefreshToken: g.RefreshToken.Reveal()}).Token()
	if err != nil {
		return nil, p.fail(call, "refresh", err)
	}
	ng := p.grant(tok)
	if ng.RefreshToken.IsZero() {
		ng.RefreshToken = g.RefreshToken
	}
	ng.Identity = g.Identity
	claims, err := p.idToken(ctx, "refresh", tok, "")
	if err != nil {
		return nil, err
	}
	if claims != nil {
		ng.Identity.Subject = claims.Subject
	}
	if len(ng.Scopes) == 0 {
		ng.Scopes = slices.Clone(g.Scopes)
	}
	ng.ProviderState = slices.Clone(g.ProviderState)
	return ng, nil
}

// Revoke implements [oauth2client.Revoker] with RFC 7009: the refresh
// token (or the access token) is revoked. Without a RevokeURL it does
// nothing and returns nil.
func (p *Generic) Revoke(ctx context.Context, g *oauth2client.Grant) error {
	tok, hint := g.RefreshToken, "refresh_token"
	if tok.IsZero() {
		tok, hint = g.AccessToken, "access_token"
	}
	if p.cfg.RevokeURL == "" || tok.IsZero() {
		return nil
	}
	form := url.Values{"token": {tok.Reveal()}, "token_type_hint": {hint}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.RevokeURL, nil)
	if err != nil {
		return &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "revoke", Class: oauth2client.ClassConfig, Err: err}
	}
	if err := p.authenticate(req, form); err != nil {
		return err
	}
	body := form.Encode()
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = oauthflow.Do(p.hc, req, p.cfg.Name, "revoke", nil, p.cfg.Now(), g.RefreshToken.Reveal(), g.AccessToken.Reveal())
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) && pe.Code == "invalid_token" {
		return nil // already invalid: the goal is reached (RFC 7009 §2.2)
	}
	return err
}

func (p *Generic) grant(tok *oauth2.Token) *oauth2client.Grant {
	return &oauth2client.Grant{
		AccessToken: oauth2client.Secret(tok.AccessToken), RefreshToken: oauth2client.Secret(tok.RefreshToken),
		Expiry: oauthflow.Expiry(tok, p.cfg.Now()), Scopes: oauthflow.Scopes(tok),
	}
}

// userinfo asks the userinfo endpoint whose mailbox the access token
// opens. With an id_token, the answer counts only if its sub is the
// id_token's (OpenID Connect Core §5.3.2).
func (p *Generic) userinfo(ctx context.Context, accessToken, sub string) (oauth2client.Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.UserinfoURL, nil)
	if err != nil {
		return oauth2client.Identity{}, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "userinfo", Class: oauth2client.ClassConfig, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	body, err := oauthflow.Do(p.hc, req, p.cfg.Name, "userinfo", nil, p.cfg.Now())
	if err != nil {
		return oauth2client.Identity{}, err
	}
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		return oauth2client.Identity{}, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "userinfo", Class: oauth2client.ClassConfig,
			Description: "the userinfo answer is not JSON", Err: ErrConfig, Remedy: "check UserinfoURL"}
	}
	got := oauthflow.String(c, "sub")
	if sub != "" && got != sub {
		return oauth2client.Identity{}, p.identityErr("userinfo", &oauth2client.IdentityError{Claim: "sub", Err: oauth2client.ErrUnverifiedIdentity,
			Reason: "the userinfo answer is about another subject than the id_token, so it must not be used (OpenID Connect Core 5.3.2)"})
	}
	verified := false
	switch ev := c["email_verified"].(type) {
	case bool:
		verified = ev
	case string:
		verified = ev == "true"
	}
	name, err := p.username("userinfo", oauthflow.String(c, p.cfg.UsernameClaim), verified)
	if err != nil {
		return oauth2client.Identity{}, err
	}
	return oauth2client.Identity{Username: name, Subject: got}, nil
}

// fail builds the error of a failed token request, without the request's
// secrets, and with a remedy naming the client authentication method
// when the server refused the one used.
func (p *Generic) fail(call *oauthflow.Call, op string, err error) error {
	err = call.Fail(p.cfg.Name, op, err, nil, p.cfg.Now())
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) {
		p.explainClientAuth(pe)
	}
	return err
}

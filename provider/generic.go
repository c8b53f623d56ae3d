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

	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrConfig is wrapped by the configuration errors of [NewGeneric],
// [Discover] and [Catalog.Build] (which returns them as [*FieldError]).
var ErrConfig = errors.New("provider: invalid configuration")

// GenericConfig configures a [Generic] provider. ClientID, the
// endpoints (or, with [Discover], the issuer) and Mail are required.
type GenericConfig struct {
	// Name names the provider in errors ("generic" if empty), e.g.
	// "fastmail".
	Name string
	// Issuer is the OpenID Connect issuer. [Discover] sets it from the
	// discovery document. With IssuerParameter it is the iss value the
	// callback handler requires (RFC 9207).
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
	// username when the id_token lacks UsernameClaim. Optional.
	UserinfoURL string

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
	// login. Zero means "email".
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
	}{{"AuthURL", cfg.AuthURL, true}, {"TokenURL", cfg.TokenURL, true}, {"RevokeURL", cfg.RevokeURL, false}, {"UserinfoURL", cfg.UserinfoURL, false}} {
		if err := checkURL(f.name, f.v, f.required); err != nil {
			return nil, err
		}
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

func checkURL(field, v string, required bool) error {
	if v == "" {
		if required {
			return &FieldError{Field: field, Problem: "is empty"}
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &FieldError{Field: field, Problem: fmt.Sprintf("%q is not an absolute http(s) URL", v)}
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
// are overwritten). The document's issuer must equal issuer (OpenID
// Connect Discovery §4.3). When it says
// authorization_response_iss_parameter_supported, the provider implements
// RFC 9207: the callback handler then requires iss= to equal the issuer.
func Discover(ctx context.Context, issuer string, cfg GenericConfig) (*Generic, error) {
	if err := checkURL("Issuer", issuer, true); err != nil {
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
	body, err := oauthflow.Do(hc, req, name, "discovery", nil, now())
	if err != nil {
		var pe *oauth2client.ProviderError
		if errors.As(err, &pe) && pe.Class == oauth2client.ClassUnknown {
			pe.Class = oauth2client.ClassConfig
			pe.Remedy = "check the issuer URL: " + issuer + "/.well-known/openid-configuration must serve the discovery document"
		}
		return nil, err
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, &oauth2client.ProviderError{Provider: name, Op: "discovery", Class: oauth2client.ClassConfig, Err: err,
			Description: "the discovery document is not JSON", Remedy: "check the issuer URL " + issuer}
	}
	if strings.TrimSuffix(d.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
		return nil, &FieldError{Field: "Issuer", Problem: fmt.Sprintf("%q serves the discovery document of issuer %q: use that exact issuer URL", issuer, d.Issuer)}
	}
	if len(d.ChallengeMethod) > 0 && !slices.Contains(d.ChallengeMethod, "S256") {
		return nil, &FieldError{Field: "Issuer", Problem: "the server does not support PKCE with S256 (code_challenge_methods_supported), which this library requires"}
	}
	cfg.Issuer, cfg.IssuerParameter = d.Issuer, d.ISSParameter
	cfg.AuthURL, cfg.TokenURL, cfg.RevokeURL, cfg.UserinfoURL = d.AuthURL, d.TokenURL, d.RevokeURL, d.UserinfoURL
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
	return p.oauth2Config(req.RedirectURI).AuthCodeURL(req.State, opts...), nil
}

// Exchange implements [oauth2client.Provider]. The username is the
// UsernameClaim of the id_token (decoded, not signature-checked: it comes
// straight from the token endpoint over TLS), else of the userinfo
// endpoint's answer; without either the exchange fails with a
// configuration error, since the grant must name its mailbox.
func (p *Generic) Exchange(ctx context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	hc, captured := oauthflow.Capture(p.hc)
	tok, err := p.oauth2Config(req.RedirectURI).Exchange(oauthflow.Context(ctx, hc), req.Code.Reveal(),
		oauth2.VerifierOption(req.CodeVerifier.Reveal()))
	if err != nil {
		return nil, p.err("exchange", err, captured())
	}
	g := p.grant(tok)
	g.Identity = p.idTokenIdentity(tok)
	if g.Identity.Username == "" && p.cfg.UserinfoURL != "" {
		id, err := p.userinfo(ctx, tok.AccessToken)
		if err != nil {
			return nil, err
		}
		if id.Subject == "" {
			id.Subject = g.Identity.Subject
		}
		g.Identity = id
	}
	if g.Identity.Username == "" {
		return nil, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "exchange", Class: oauth2client.ClassConfig, Err: ErrConfig,
			Description: "the provider did not say whose mailbox this is (no " + p.cfg.UsernameClaim + " claim)",
			Remedy:      "request the openid and email scopes, set UserinfoURL, or set UsernameClaim to the claim holding the mail login"}
	}
	return g, nil
}

// Refresh implements [oauth2client.Provider]: a rotated refresh token
// replaces g's, otherwise g's is kept.
func (p *Generic) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	if g.RefreshToken.IsZero() {
		return nil, &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "refresh", Class: oauth2client.ClassReauth,
			Description: "the grant has no refresh token", Err: oauth2client.ErrReauthRequired, Remedy: "connect the account again"}
	}
	hc, captured := oauthflow.Capture(p.hc)
	tok, err := p.oauth2Config("").TokenSource(oauthflow.Context(ctx, hc), &oauth2.Token{RefreshToken: g.RefreshToken.Reveal()}).Token()
	if err != nil {
		return nil, p.err("refresh", err, captured())
	}
	ng := p.grant(tok)
	if ng.RefreshToken.IsZero() {
		ng.RefreshToken = g.RefreshToken
	}
	ng.Identity = g.Identity
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
	_, err = oauthflow.Do(p.hc, req, p.cfg.Name, "revoke", nil, p.cfg.Now())
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

func (p *Generic) idTokenIdentity(tok *oauth2.Token) oauth2client.Identity {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return oauth2client.Identity{}
	}
	c, err := oauthflow.Claims(raw)
	if err != nil {
		return oauth2client.Identity{}
	}
	return oauth2client.Identity{Username: oauthflow.String(c, p.cfg.UsernameClaim), Subject: oauthflow.String(c, "sub")}
}

func (p *Generic) userinfo(ctx context.Context, accessToken string) (oauth2client.Identity, error) {
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
			Description: "the userinfo answer is not JSON", Err: err, Remedy: "check UserinfoURL"}
	}
	return oauth2client.Identity{Username: oauthflow.String(c, p.cfg.UsernameClaim), Subject: oauthflow.String(c, "sub")}, nil
}

func (p *Generic) err(op string, err, transport error) error {
	if transport != nil {
		err = transport
	}
	pe := oauthflow.Error(p.cfg.Name, op, err, nil, p.cfg.Now())
	p.explainClientAuth(pe)
	return pe
}

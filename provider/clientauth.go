package provider

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ClientAuthMethod is how the application authenticates to the token and
// revocation endpoints: the token_endpoint_auth_method names of OpenID
// Connect Dynamic Client Registration §2 and RFC 8414. Its text form is
// that name ("client_secret_basic", ...), as settings store it.
type ClientAuthMethod string

// The client authentication methods.
const (
	// ClientSecretBasic sends the client ID and secret in an HTTP Basic
	// Authorization header (RFC 6749 §2.3.1), which every server must
	// support; the default when the server does not say.
	ClientSecretBasic ClientAuthMethod = "client_secret_basic"
	// ClientSecretPost sends them in the request body.
	ClientSecretPost ClientAuthMethod = "client_secret_post"
	// PrivateKeyJWT sends a JWT signed with the application's private key
	// (RFC 7523 §2.2, OpenID Connect Core §9); the server holds the
	// public key.
	PrivateKeyJWT ClientAuthMethod = "private_key_jwt"
	// ClientAuthNone is a public client: only the client ID is sent, and
	// PKCE protects the code (RFC 8252 apps, Thunderbird-style
	// registrations).
	ClientAuthNone ClientAuthMethod = "none"
)

var clientAuthMethods = []ClientAuthMethod{ClientSecretBasic, ClientSecretPost, PrivateKeyJWT, ClientAuthNone}

// ParseClientAuthMethod reads a method's name (case is ignored); the
// empty string is the zero value, "choose for me".
func ParseClientAuthMethod(s string) (ClientAuthMethod, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	for _, m := range clientAuthMethods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", &FieldError{Field: "ClientAuth", Problem: fmt.Sprintf("%q is not client_secret_basic, client_secret_post, private_key_jwt or none", s)}
}

// String returns the method's name.
func (m ClientAuthMethod) String() string { return string(m) }

// MarshalText implements [encoding.TextMarshaler].
func (m ClientAuthMethod) MarshalText() ([]byte, error) { return []byte(m), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with
// [ParseClientAuthMethod].
func (m *ClientAuthMethod) UnmarshalText(b []byte) error {
	v, err := ParseClientAuthMethod(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// chooseClientAuth settles the method for cfg: the configured one,
// checked against the credentials, or one chosen from them and the
// server's token_endpoint_auth_methods_supported.
func chooseClientAuth(cfg *GenericConfig) (ClientAuthMethod, error) {
	m := cfg.ClientAuth
	if m != "" && !slices.Contains(clientAuthMethods, m) {
		return "", &FieldError{Field: "ClientAuth", Problem: fmt.Sprintf("%q is not client_secret_basic, client_secret_post, private_key_jwt or none", string(m))}
	}
	if cfg.ClientKey != nil {
		if _, err := assertionMethod(cfg.ClientKey); err != nil {
			return "", err
		}
	}
	switch {
	case m == ClientSecretBasic || m == ClientSecretPost:
		if cfg.ClientSecret.IsZero() {
			return "", &FieldError{Field: "ClientSecret", Problem: "is empty, but ClientAuth is " + string(m) + ": copy the client secret, or choose private_key_jwt (with ClientKey) or none (a public client)"}
		}
	case m == PrivateKeyJWT:
		if cfg.ClientKey == nil {
			return "", &FieldError{Field: "ClientKey", Problem: "is empty, but ClientAuth is private_key_jwt: give the private key whose public key is registered with the server"}
		}
	case m == ClientAuthNone:
		if !cfg.ClientSecret.IsZero() || cfg.ClientKey != nil {
			return "", &FieldError{Field: "ClientAuth", Problem: "is none (a public client), but a ClientSecret or ClientKey is set: remove it, or choose the method the server registered"}
		}
	case cfg.ClientKey != nil:
		m = PrivateKeyJWT
	case cfg.ClientSecret.IsZero():
		m = ClientAuthNone
	default:
		// RFC 8414 §2: "If omitted, the default is client_secret_basic".
		supported := cfg.TokenAuthMethods
		switch {
		case len(supported) == 0 || slices.Contains(supported, string(ClientSecretBasic)):
			m = ClientSecretBasic
		case slices.Contains(supported, string(ClientSecretPost)):
			m = ClientSecretPost
		default:
			return "", &FieldError{Field: "ClientAuth", Problem: fmt.Sprintf("cannot be chosen: the server accepts only %s at its token endpoint, none of which uses a client secret: configure ClientKey for private_key_jwt, or register the client for client_secret_basic",
				strings.Join(supported, ", "))}
		}
	}
	if m != ClientAuthNone && m != "" && len(cfg.TokenAuthMethods) > 0 && !slices.Contains(cfg.TokenAuthMethods, string(m)) {
		return "", &FieldError{Field: "ClientAuth", Problem: fmt.Sprintf("is %s, which the server does not accept at its token endpoint (token_endpoint_auth_methods_supported: %s)",
			m, strings.Join(cfg.TokenAuthMethods, ", "))}
	}
	return m, nil
}

// authStyle is how x/oauth2 sends the client credentials for m. For
// private_key_jwt and none only the client ID goes in the body (the
// assertion is added by [assertionTransport]).
func authStyle(m ClientAuthMethod) oauth2.AuthStyle {
	if m == ClientSecretBasic {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// tokenSecret is the secret x/oauth2 gets: none for the methods without
// a shared secret.
func (p *Generic) tokenSecret() string {
	if p.auth == ClientSecretBasic || p.auth == ClientSecretPost {
		return p.cfg.ClientSecret.Reveal()
	}
	return ""
}

// authenticate adds the client authentication to a form request of the
// provider's own (revocation).
func (p *Generic) authenticate(req *http.Request, form url.Values) error {
	form.Set("client_id", p.cfg.ClientID)
	switch p.auth {
	case ClientSecretBasic:
		form.Del("client_id")
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret.Reveal()))
	case ClientSecretPost:
		form.Set("client_secret", p.cfg.ClientSecret.Reveal())
	case PrivateKeyJWT:
		a, err := p.assertion(req.URL.String())
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	}
	return nil
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionMethod is the JWS algorithm for key.
func assertionMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, &FieldError{Field: "ClientKey", Problem: fmt.Sprintf("is a %T: private_key_jwt needs an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 private key", key)}
}

// assertion returns a fresh client assertion for a request to endpoint
// (RFC 7523 §3): iss and sub the client ID, aud the issuer when known
// (as the OpenID Foundation advises since 2025) or else the endpoint,
// unless AssertionAudience says otherwise; a one-minute lifetime and a
// unique jti.
func (p *Generic) assertion(endpoint string) (string, error) {
	method, err := assertionMethod(p.cfg.ClientKey)
	if err != nil {
		return "", err
	}
	aud := p.cfg.AssertionAudience
	if aud == "" {
		aud = p.cfg.Issuer
	}
	if aud == "" {
		aud = endpoint
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := p.cfg.Now()
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer: p.cfg.ClientID, Subject: p.cfg.ClientID, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	if p.cfg.ClientKeyID != "" {
		t.Header["kid"] = p.cfg.ClientKeyID
	}
	s, err := t.SignedString(p.cfg.ClientKey)
	if err != nil {
		return "", &oauth2client.ProviderError{Provider: p.cfg.Name, Op: "client_assertion", Class: oauth2client.ClassConfig,
			Description: "cannot sign the client assertion", Err: err, Remedy: "check ClientKey"}
	}
	return s, nil
}

// assertionTransport adds a client assertion to every POST to the token
// endpoint, for private_key_jwt: x/oauth2 has no hook for it on refresh.
type assertionTransport struct {
	base http.RoundTripper
	p    *Generic
}

func (t *assertionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.Body == nil || t.p.tokenURL == nil ||
		r.URL.Host != t.p.tokenURL.Host || r.URL.Path != t.p.tokenURL.Path {
		return t.base.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, err
	}
	a, err := t.p.assertion(t.p.cfg.TokenURL)
	if err != nil {
		return nil, err
	}
	form.Del("client_secret")
	form.Set("client_assertion_type", assertionType)
	form.Set("client_assertion", a)
	body := form.Encode()
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	return t.base.RoundTrip(r2)
}

// withAssertions returns hc sending client assertions to the token
// endpoint.
func (p *Generic) withAssertions(hc *http.Client) *http.Client {
	c := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &assertionTransport{base: base, p: p}
	return &c
}

// methodNamed finds the client authentication method an invalid_client
// description names as the one the server wants, e.g. "supports client
// authentication method 'client_secret_basic', but method
// 'client_secret_post' was requested".
var (
	wantedMethod = regexp.MustCompile(`(?i)(?:supports?|expects?|requires?|registered (?:for|with)|configured (?:for|with)|allowed)[^'"]{0,40}['"]?(client_secret_basic|client_secret_post|client_secret_jwt|private_key_jwt|tls_client_auth|self_signed_tls_client_auth|none)\b`)
	anyMethod    = regexp.MustCompile(`(?i)\b(client_secret_basic|client_secret_post|client_secret_jwt|private_key_jwt|tls_client_auth|self_signed_tls_client_auth)\b`)
)

// explainClientAuth gives an invalid_client that names a client
// authentication method a remedy naming the method to configure.
func (p *Generic) explainClientAuth(pe *oauth2client.ProviderError) {
	if pe == nil || pe.Code != "invalid_client" {
		return
	}
	want := ""
	if m := wantedMethod.FindStringSubmatch(pe.Description); m != nil && !strings.EqualFold(m[1], string(p.auth)) {
		want = strings.ToLower(m[1])
	} else {
		for _, m := range anyMethod.FindAllString(pe.Description, -1) {
			if !strings.EqualFold(m, string(p.auth)) {
				want = strings.ToLower(m)
				break
			}
		}
	}
	if want == "" {
		return
	}
	fix := fmt.Sprintf("the server expects client authentication method %s, but the connection used %s: set ClientAuth (Settings.ClientAuthMethod) to %q", want, p.auth, want)
	switch want {
	case string(PrivateKeyJWT):
		fix += " and give ClientKey (Settings.ClientPrivateKey), the private key whose public key is registered with the server"
	case "client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth":
		fix = fmt.Sprintf("the server expects client authentication method %s, which this library does not support: register the client for client_secret_basic, client_secret_post or private_key_jwt instead", want)
	}
	pe.Class = oauth2client.ClassConfig
	pe.Remedy = fix
}

// ParseClientKey reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1
// EC) for [GenericConfig.ClientKey].
func ParseClientKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(bytes.TrimSpace(pemBytes))
	if block == nil {
		return nil, &FieldError{Field: "ClientPrivateKey", Problem: "is not PEM: give the private key as -----BEGIN PRIVATE KEY----- ... (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY"}
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, &FieldError{Field: "ClientPrivateKey", Problem: "cannot be read as a " + block.Type + " (it must be unencrypted)", Err: err}
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, &FieldError{Field: "ClientPrivateKey", Problem: fmt.Sprintf("is a %T, not a signing key", key)}
	}
	if _, err := assertionMethod(s); err != nil {
		return nil, err
	}
	return s, nil
}

// mustParse parses an endpoint URL already checked by checkURL.
func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u
}

// ClientAuth returns the client authentication method the provider uses
// at the token endpoint.
func (p *Generic) ClientAuth() ClientAuthMethod { return p.auth }

// Format implements [fmt.Formatter]: the configuration as it is, with
// ClientKey shown as [oauth2client.Redacted] (ClientSecret prints so
// already), whatever the verb.
func (c GenericConfig) Format(f fmt.State, verb rune) {
	type plain GenericConfig // without this method
	p := plain(c)
	if p.ClientKey != nil {
		p.ClientKey = redactedKey{}
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), p)
}

// LogValue implements [slog.LogValuer]: what identifies the
// configuration, with the secret and the key as [oauth2client.Redacted].
func (c GenericConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", c.Name), slog.String("issuer", c.Issuer), slog.String("client_id", c.ClientID),
		slog.String("client_auth", string(c.ClientAuth)), slog.String("auth_url", c.AuthURL), slog.String("token_url", c.TokenURL)}
	if !c.ClientSecret.IsZero() {
		attrs = append(attrs, slog.String("client_secret", oauth2client.Redacted))
	}
	if c.ClientKey != nil {
		attrs = append(attrs, slog.String("client_key", oauth2client.Redacted), slog.String("client_key_id", c.ClientKeyID))
	}
	return slog.GroupValue(attrs...)
}

// redactedKey stands in for a ClientKey when a configuration is printed.
type redactedKey struct{}

func (redactedKey) Public() crypto.PublicKey { return nil }
func (redactedKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("provider: redacted key")
}
func (redactedKey) String() string   { return oauth2client.Redacted }
func (redactedKey) GoString() string { return oauth2client.Redacted }

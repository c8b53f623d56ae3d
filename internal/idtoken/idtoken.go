// Package idtoken validates OpenID Connect id_tokens for the provider,
// google and azure packages, as OpenID Connect Core §3.1.3.7 requires
// even of a token that comes straight from the token endpoint: iss
// equals the issuer, aud contains the client ID, azp (required with
// several audiences) is the client ID, exp and iat are sane on the
// provider's clock with a small skew, the nonce is the one sent, and the
// signature is checked against the issuer's JWKS when the token did not
// come from the token endpoint over TLS (or always, when asked).
//
// The checks of iss, aud, exp, nbf and the signature are go-oidc's
// [oidc.IDTokenVerifier]; this package adds azp, iat and the nonce, the
// multi-tenant issuer of Entra, and typed errors that never quote the
// token's values.
package idtoken

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// DefaultSkew is the clock skew allowed on exp and iat.
const DefaultSkew = 2 * time.Minute

// Config configures a [Verifier].
type Config struct {
	// Issuer is the expected iss. Required unless IssuerFor is set.
	Issuer string
	// IssuerFor, if set, gives the expected iss from the token's tid
	// claim: Entra's multi-tenant authorities issue tokens under each
	// user's tenant (https://login.microsoftonline.com/{tid}/v2.0).
	IssuerFor func(tid string) string
	// ClientID must be in aud (and be azp when azp is present).
	ClientID string
	// Now is the provider's clock. Zero means time.Now.
	Now func() time.Time
	// Skew is the clock skew allowed. Zero means [DefaultSkew].
	Skew time.Duration
	// JWKSURL is the issuer's key set (jwks_uri). Needed when signatures
	// are checked.
	JWKSURL string
	// HTTPClient fetches the key set. If nil, http.DefaultClient.
	HTTPClient *http.Client
	// AlwaysVerifySignature checks the signature even of tokens that
	// come straight from the token endpoint over TLS.
	AlwaysVerifySignature bool
}

// Verifier validates id_tokens of one client at one issuer. It is safe
// for concurrent use; the key set is fetched on first use and cached.
type Verifier struct {
	cfg  Config
	once sync.Once
	keys oidc.KeySet
}

// New returns a verifier for cfg.
func New(cfg Config) *Verifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	return &Verifier{cfg: cfg}
}

// Claims are the validated claims of an id_token that the providers use.
type Claims struct {
	Issuer, Subject string
	Audience        []string
	Nonce           string
	// Email and EmailVerified: EmailVerified is true only for a JSON
	// true (or the string "true", which some providers send).
	Email         string
	EmailVerified bool
	// HostedDomain is Google's hd (the Workspace domain).
	HostedDomain string
	// TenantID and ObjectID are Entra's tid and oid.
	TenantID, ObjectID string
	// PreferredUsername and UPN are Entra's user names.
	PreferredUsername, UPN string

	raw map[string]any
}

// String returns the claim name as a string ("" if absent or not one).
func (c *Claims) String(name string) string {
	s, _ := c.raw[name].(string)
	return s
}

// fail builds the typed error of a refused claim.
func fail(claim, reason string) error {
	return &oauth2client.IdentityError{Claim: claim, Reason: reason, Err: oauth2client.ErrInvalidIDToken}
}

// Verify validates raw. nonce is the nonce sent with the authorization
// request ("" for a refresh, whose id_token carries none to compare).
// overTLS says the token came straight from the token endpoint over
// https: the signature is then not checked unless
// Config.AlwaysVerifySignature. Errors are [*oauth2client.IdentityError]
// values matching [oauth2client.ErrInvalidIDToken].
func (v *Verifier) Verify(ctx context.Context, raw, nonce string, overTLS bool) (*Claims, error) {
	payload, err := payloadOf(raw)
	if err != nil {
		return nil, err
	}
	var pre struct {
		Issuer string `json:"iss"`
		Tid    string `json:"tid"`
		Azp    string `json:"azp"`
	}
	_ = json.Unmarshal(payload, &pre)
	issuer := v.cfg.Issuer
	if v.cfg.IssuerFor != nil {
		if pre.Tid == "" {
			return nil, fail("tid", "the id_token names no tenant, so its issuer cannot be checked")
		}
		issuer = v.cfg.IssuerFor(pre.Tid)
	}
	if issuer == "" {
		return nil, fail("iss", "no issuer is configured to check the id_token against: set the provider's Issuer")
	}
	verifySig := v.cfg.AlwaysVerifySignature || !overTLS
	var keys oidc.KeySet
	if verifySig {
		if v.cfg.JWKSURL == "" {
			return nil, fail("signature", "the id_token must be signature-checked (it did not come over TLS, or the provider is set to always check) but no JWKS URL is configured")
		}
		keys = v.keySet()
	}
	now := func() time.Time { return v.cfg.Now().Add(-v.cfg.Skew) }
	ver := oidc.NewVerifier(issuer, keys, &oidc.Config{
		ClientID:                   v.cfg.ClientID,
		Now:                        now,
		InsecureSkipSignatureCheck: !verifySig,
		SupportedSigningAlgs:       []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
	})
	tok, err := ver.Verify(oidc.ClientContext(ctx, v.cfg.HTTPClient), raw)
	if err != nil {
		return nil, classify(err)
	}
	if len(tok.Audience) > 1 && pre.Azp == "" {
		return nil, fail("azp", "the id_token has several audiences but no authorized party (azp)")
	}
	if pre.Azp != "" && pre.Azp != v.cfg.ClientID {
		return nil, fail("azp", "the id_token was issued to another client (azp is not this client ID)")
	}
	if tok.IssuedAt.IsZero() {
		return nil, fail("iat", "the id_token has no issue time")
	}
	if tok.IssuedAt.After(v.cfg.Now().Add(v.cfg.Skew)) {
		return nil, fail("iat", "the id_token was issued in the future: check the clocks of this server and the provider")
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1 {
		return nil, fail("nonce", "the id_token does not carry the nonce of this authorization (a replayed or injected token)")
	}
	if tok.Subject == "" {
		return nil, fail("sub", "the id_token has no subject")
	}
	c := &Claims{Issuer: tok.Issuer, Subject: tok.Subject, Audience: tok.Audience, Nonce: tok.Nonce}
	if err := json.Unmarshal(payload, &c.raw); err != nil {
		return nil, fail("payload", "the id_token's claims are not a JSON object")
	}
	c.Email = c.String("email")
	switch ev := c.raw["email_verified"].(type) {
	case bool:
		c.EmailVerified = ev
	case string:
		c.EmailVerified = ev == "true"
	}
	c.HostedDomain = c.String("hd")
	c.TenantID, c.ObjectID = c.String("tid"), c.String("oid")
	c.PreferredUsername, c.UPN = c.String("preferred_username"), c.String("upn")
	return c, nil
}

// keySet returns the cached remote key set. Its context carries only the
// HTTP client: go-oidc ignores its cancellation, and each fetch is
// bounded by the client's timeout.
func (v *Verifier) keySet() oidc.KeySet {
	v.once.Do(func() {
		v.keys = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.cfg.HTTPClient), v.cfg.JWKSURL)
	})
	return v.keys
}

// classify turns go-oidc's error into a typed one naming the claim,
// without the token's values (go-oidc quotes them).
func classify(err error) error {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return fail("exp", "the id_token has expired: check the clocks of this server and the provider")
	case strings.Contains(msg, "different provider"):
		return fail("iss", "the id_token was issued by another issuer than the configured one")
	case strings.Contains(msg, "audience"):
		return fail("aud", "the id_token was issued to another client (aud does not contain this client ID)")
	case strings.Contains(msg, "nbf"):
		return fail("nbf", "the id_token is not valid yet: check the clocks of this server and the provider")
	case strings.Contains(msg, "signature"), strings.Contains(msg, "verify"):
		return fail("signature", "the id_token's signature does not verify against the provider's keys")
	case strings.Contains(msg, "malformed"):
		return fail("jwt", "the id_token is not a well-formed signed JWT")
	}
	return fail("jwt", "the id_token could not be validated")
}

// payloadOf decodes the payload of a compact JWT without verifying it,
// to find tid and azp before the verifier runs.
func payloadOf(raw string) ([]byte, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fail("jwt", "the id_token is not a JWT")
	}
	c, err := decodeSegment(parts[1])
	if err != nil {
		return nil, fail("jwt", "the id_token's payload is not base64url")
	}
	return c, nil
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

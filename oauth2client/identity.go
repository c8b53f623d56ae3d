package oauth2client

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Errors about whose mailbox a provider signed in. Providers return them
// wrapped (usually in a [*ProviderError] whose Err is an
// [*IdentityError]); the callback handler returns them in a
// [*CallbackError] with status 403.
var (
	// ErrInvalidIDToken: the provider's id_token failed the checks of
	// OpenID Connect Core §3.1.3.7 (issuer, audience, authorized party,
	// expiry, issue time, nonce or signature). The tokens are not used.
	ErrInvalidIDToken = errors.New("oauth2client: the id_token failed validation")
	// ErrUnverifiedIdentity: the provider does not vouch for the mail
	// address it names (email_verified is not true, or a userinfo
	// answer is about another subject than the id_token), so it is not
	// taken as the account's username.
	ErrUnverifiedIdentity = errors.New("oauth2client: the provider does not vouch for the signed-in address")
	// ErrTenantRequired: [AuthOptions.RequireUsername] was given for a
	// multi-tenant connection ([MultiTenantProvider]) without
	// [AuthOptions.RequireTenant]. A username alone proves nothing there:
	// any tenant's administrator chooses its users' names.
	ErrTenantRequired = errors.New("oauth2client: RequireUsername on a multi-tenant connection needs RequireTenant")
)

// IdentityError says which claim of an identity provider's answer was
// refused and why. It matches its Err sentinel ([ErrInvalidIDToken] or
// [ErrUnverifiedIdentity]) with [errors.Is]. Its text never quotes the
// claim's value: the answer may come from a hostile server.
type IdentityError struct {
	// Claim names the claim, e.g. "iss", "aud", "azp", "exp", "iat",
	// "nonce", "signature", "email_verified", "sub", "tid".
	Claim string
	// Reason says what is wrong with it and what to check.
	Reason string
	// Err is the sentinel: ErrInvalidIDToken or ErrUnverifiedIdentity.
	Err error
}

// Error describes the refused claim.
func (e *IdentityError) Error() string {
	what := "the id_token was refused"
	if errors.Is(e.Err, ErrUnverifiedIdentity) {
		what = "the signed-in identity is not verified"
	}
	return fmt.Sprintf("oauth2client: %s: %s: %s", what, e.Claim, e.Reason)
}

// Unwrap returns the sentinel.
func (e *IdentityError) Unwrap() error { return e.Err }

// MultiTenantProvider is implemented by providers whose connection lets
// users of any directory sign in (an Entra connection with tenant
// "organizations" or "common"). On such a connection a username says
// nothing about who signed in, so [Client.StartAuthorization] refuses
// [AuthOptions.RequireUsername] without [AuthOptions.RequireTenant]
// ([ErrTenantRequired]).
type MultiTenantProvider interface {
	MultiTenant() bool
}

// newNonce returns the OpenID Connect nonce of one authorization: 128
// random bits, base64url-encoded.
func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("oauth2client: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// checkIdentity enforces the identity requirements of a pending
// authorization on the identity a provider returned: the username, the
// tenant (Entra tid) and the Workspace domain (Google hd). Each failure
// wraps [ErrIdentityMismatch].
func checkIdentity(p *Pending, id Identity) error {
	if p.RequireUsername != "" && !sameUser(p.RequireUsername, id.Username) {
		return ErrIdentityMismatch
	}
	if p.RequireTenant != "" && !strings.EqualFold(strings.TrimSpace(p.RequireTenant), id.Tenant) {
		return fmt.Errorf("%w: the account belongs to another tenant than the required one", ErrIdentityMismatch)
	}
	if p.RequireDomain != "" && !strings.EqualFold(strings.TrimSpace(p.RequireDomain), id.Tenant) {
		return fmt.Errorf("%w: the account is not in the required Workspace domain", ErrIdentityMismatch)
	}
	return nil
}

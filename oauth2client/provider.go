package oauth2client

import (
	"context"
	"time"
)

// Provider is what the [Client] needs from an identity provider (Microsoft
// Entra ID, Google, any OAuth 2.0 server). Implementations live in the
// azure, google and provider packages; applications rarely write their own.
//
// A Provider is configured with one set of application credentials (a
// "connection" in the [Client]) and must be safe for concurrent use by
// multiple goroutines. Every method that can reach the network takes a
// context and must honour its deadline. Errors should be (or wrap) a
// [*ProviderError] so that callers can tell a transient failure from one
// that needs the user or an administrator.
type Provider interface {
	// AuthCodeURL returns the URL of the provider's authorization endpoint
	// for req: the user's browser is sent there. The URL must carry
	// req.State, the PKCE S256 challenge req.CodeChallenge and
	// req.RedirectURI, and ask for what is needed to obtain a refresh token.
	AuthCodeURL(ctx context.Context, req AuthRequest) (string, error)

	// Exchange redeems the authorization code returned to the callback for
	// a grant. The grant's Identity must say whose mailbox it opens.
	Exchange(ctx context.Context, req ExchangeRequest) (*Grant, error)

	// Refresh obtains a new access token for g. It must not modify g. The
	// returned grant carries the refresh token to keep: the rotated one, or
	// g's own when the provider issued none (Google does not rotate).
	Refresh(ctx context.Context, g *Grant) (*Grant, error)

	// Mail describes the mail service the tokens are for.
	Mail() MailService
}

// AuthRequest is the input of [Provider.AuthCodeURL].
type AuthRequest struct {
	// State is the opaque value the provider must return unchanged.
	State string
	// CodeChallenge is the PKCE S256 challenge (RFC 7636) of the verifier
	// the Client keeps for the callback.
	CodeChallenge string
	// RedirectURI is the callback URL, exactly as registered with the
	// provider.
	RedirectURI string
	// LoginHint pre-fills the account (a mail address) on the sign-in
	// page. Optional.
	LoginHint string
	// Prompt asks for a specific interaction: "select_account",
	// "consent" or "login". Empty lets the provider decide (providers that
	// need "consent" to issue a refresh token add it themselves).
	Prompt string
	// Nonce is the OpenID Connect nonce of this authorization. Providers
	// that request an id_token send it (nonce=) and require it in the
	// id_token at [Provider.Exchange] (OpenID Connect Core §3.1.2.1).
	Nonce string
}

// ExchangeRequest is the input of [Provider.Exchange].
type ExchangeRequest struct {
	// Code is the authorization code from the callback.
	Code Secret
	// CodeVerifier is the PKCE verifier whose challenge was sent with the
	// authorization request.
	CodeVerifier Secret
	// RedirectURI is the callback URL; it must equal the one sent to
	// AuthCodeURL.
	RedirectURI string
	// Nonce is the AuthRequest.Nonce sent with the authorization
	// request: an id_token from the exchange must carry it.
	Nonce string
}

// Grant is a set of tokens for one mailbox, as a provider issues it.
type Grant struct {
	// AccessToken is the bearer token presented to the mail server.
	AccessToken Secret `json:"access_token"`
	// RefreshToken renews the access token. Empty for app-only grants.
	RefreshToken Secret `json:"refresh_token,omitempty"`
	// Expiry is when AccessToken stops being accepted. The zero time means
	// unknown; the Client then treats the token as valid until a server
	// rejects it.
	Expiry time.Time `json:"expiry"`
	// Scopes are the scopes granted, when the provider says.
	Scopes []string `json:"scopes,omitempty"`
	// Identity says whose mailbox the tokens open.
	Identity Identity `json:"identity"`
	// AppOnly is true for grants obtained with the application's own
	// credentials (client credentials, service accounts) rather than a
	// user's consent. They are renewed through [AppOnlyProvider].
	AppOnly bool `json:"app_only,omitempty"`
	// ProviderState is opaque data the provider keeps with the grant and
	// gets back on Refresh (the azure package keeps MSAL's per-account
	// cache here). It may contain secrets: stores must protect it like the
	// tokens.
	ProviderState SecretBytes `json:"provider_state,omitempty"`
}

// Identity names the account a grant belongs to. Providers take it only
// from claims they validated (OpenID Connect Core §3.1.3.7) and vouch for:
// a verified email, or the directory's own names. Subject and Tenant are
// fixed when the account is connected: a refresh naming another subject
// or tenant is refused. Username is fixed too: a refresh never renames an
// account; authorizing it again does (see the package documentation).
type Identity struct {
	// Username is what the mail server expects as the SASL user: the mail
	// address or user principal name.
	Username string `json:"username,omitempty"`
	// Subject is the provider's stable user identifier: the id_token's
	// sub (Google, generic), or Entra's home account ID
	// "<object ID>.<tenant ID>" (the user's oid and tid, which never
	// change, unlike the user principal name).
	Subject string `json:"subject,omitempty"`
	// Tenant is the directory the account lives in, where the provider has
	// such a notion (Entra tenant ID, Google Workspace domain).
	Tenant string `json:"tenant,omitempty"`
}

// MailService describes the IMAP and SMTP service a provider's tokens open.
type MailService struct {
	// IMAP is the IMAP server.
	IMAP ServerAddr
	// SMTP is the mail submission server.
	SMTP ServerAddr
	// Scopes are the OAuth scopes the mail service needs.
	Scopes []string
	// Mechanisms are the SASL mechanisms the servers accept, in order of
	// preference, e.g. ["XOAUTH2"] for Exchange Online.
	Mechanisms []string
	// ServerSavesSent is true when the server files each message sent
	// through SMTP in the Sent folder by itself (Exchange Online and Gmail
	// do): clients must not append a second copy over IMAP.
	ServerSavesSent bool
}

// ServerAddr is the address of a mail server and how to secure the
// connection to it. As JSON it reads
// {"host":"outlook.office365.com","port":993,"security":"tls"}.
type ServerAddr struct {
	// Host is the server's host name or IP address.
	Host string `json:"host"`
	// Port is the TCP port (zero: the protocol's well-known port for
	// Security, where the dialer supplies one).
	Port int `json:"port"`
	// Security says how the connection is protected.
	Security Security `json:"security"`
}

// Security says how a mail connection is protected. Its text form (JSON,
// configuration files) is "tls", "starttls" or "none".
type Security int

const (
	// SecurityTLS is implicit TLS from the first byte (IMAP 993, SMTP 465).
	SecurityTLS Security = iota
	// SecuritySTARTTLS is a plain connection upgraded with STARTTLS
	// (SMTP 587, IMAP 143).
	SecuritySTARTTLS
	// SecurityNone is a plain connection: for tests on loopback only.
	SecurityNone
)

// String returns "tls", "starttls" or "none".
func (s Security) String() string {
	switch s {
	case SecurityTLS:
		return "tls"
	case SecuritySTARTTLS:
		return "starttls"
	case SecurityNone:
		return "none"
	}
	return "unknown"
}

// AppOnlyProvider is implemented by providers that can obtain tokens with
// the application's own credentials, without a user present: Entra's
// client credentials (IMAP.AccessAsApp, SMTP.SendAsApp) and Google
// Workspace service accounts with domain-wide delegation. The [Client]
// type-asserts for it.
type AppOnlyProvider interface {
	// AppToken returns an app-only grant valid for the given mailbox
	// address. The grant's Identity.Username must be mailbox.
	AppToken(ctx context.Context, mailbox string) (*Grant, error)
}

// Revoker is implemented by providers that can revoke a grant when an
// account is disconnected (Google can; Entra cannot).
type Revoker interface {
	Revoke(ctx context.Context, g *Grant) error
}

// RedirectURIValidator is implemented by providers with rules for redirect
// URIs (Entra: https, or http for localhost only). The [Client] calls it
// when a connection is added, so a bad callback URL fails at start-up with
// an explanation rather than at the user's first sign-in.
type RedirectURIValidator interface {
	ValidateRedirectURI(uri string) error
}

// IssuerProvider is implemented by providers that identify themselves in
// the authorization response (RFC 9207 "iss" parameter). When Issuer
// returns a non-empty value, the callback handler requires the response's
// iss to equal it; an iss present in a response is always checked.
type IssuerProvider interface {
	Issuer() string
}

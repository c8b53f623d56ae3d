package oauth2client

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. They are returned wrapped, with context; test with
// [errors.Is].
var (
	// ErrReauthRequired means the user must sign in again: the refresh
	// token was revoked or expired, or consent was withdrawn. Retrying
	// will not help.
	ErrReauthRequired = errors.New("oauth2client: the account must be authorized again")
	// ErrTransient means the failure is temporary (network, provider
	// outage, throttling): retry later; stored tokens are intact.
	ErrTransient = errors.New("oauth2client: temporary failure")
	// ErrUnknownConnection means no connection with that ID was added to
	// the Client.
	ErrUnknownConnection = errors.New("oauth2client: unknown connection")
	// ErrAppOnlyUnsupported means the connection's provider cannot obtain
	// app-only tokens.
	ErrAppOnlyUnsupported = errors.New("oauth2client: provider does not support app-only access")
	// ErrNoOAuthMechanism means the mail server offers neither XOAUTH2 nor
	// OAUTHBEARER: OAuth is not enabled on that server.
	ErrNoOAuthMechanism = errors.New("oauth2client: the server offers no OAuth SASL mechanism")
)

// Class sorts provider errors by what has to happen next.
type Class int

const (
	// ClassUnknown is an error the library could not classify.
	ClassUnknown Class = iota
	// ClassTransient: retry later (network, 5xx, 429 throttling).
	ClassTransient
	// ClassReauth: the user must sign in (and possibly consent) again.
	ClassReauth
	// ClassAdmin: an administrator must act (grant admin consent, renew a
	// secret, register the service principal, change a policy).
	ClassAdmin
	// ClassConfig: the application's configuration is wrong (client ID,
	// tenant, secret, redirect URI, scopes).
	ClassConfig
	// ClassUser: the user declined or cancelled.
	ClassUser
)

var classNames = [...]string{"unknown", "transient", "reauth", "admin", "config", "user"}

// String returns a short lower-case name of the class.
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// ProviderError is an error answer from an identity provider, with what
// it means and how to fix it. Providers return it (wrapped or not) from
// every method; it never contains a token, code or secret.
type ProviderError struct {
	// Provider names the provider ("azure", "google", "generic").
	Provider string
	// Op is what was attempted: "authorize", "exchange", "refresh",
	// "app_token", "revoke", "discovery".
	Op string
	// Code is the OAuth 2.0 error code (RFC 6749 §5.2), e.g.
	// "invalid_grant".
	Code string
	// ProviderCode is the provider's own code, e.g. "AADSTS7000215".
	ProviderCode string
	// Description is the provider's error description, with trace
	// information removed.
	Description string
	// Class says what has to happen next.
	Class Class
	// Remedy says what to do, in plain words.
	Remedy string
	// HTTPStatus is the status of the provider's answer, if any.
	HTTPStatus int
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
	// TraceID and CorrelationID identify the request for the provider's
	// support, where the provider returns them.
	TraceID, CorrelationID string
	// Err is the underlying error (network error, decoding error), if any.
	Err error
}

// Error describes the failure and the fix on one line.
func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	wrote := false
	if e.Code != "" {
		b.WriteString(e.Code)
		wrote = true
	}
	if e.ProviderCode != "" && !strings.Contains(e.Description, e.ProviderCode) {
		if wrote {
			b.WriteByte(' ')
		}
		b.WriteString(e.ProviderCode)
		wrote = true
	}
	if e.Description != "" {
		if wrote {
			b.WriteString(": ")
		}
		b.WriteString(e.Description)
		wrote = true
	}
	if e.Err != nil {
		if wrote {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
		wrote = true
	}
	if !wrote {
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, "HTTP status %d", e.HTTPStatus)
		} else {
			b.WriteString("failed")
		}
	}
	if e.Remedy != "" {
		b.WriteString(" (fix: ")
		b.WriteString(e.Remedy)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ProviderError) Unwrap() error { return e.Err }

// Is reports whether e matches target: [ErrReauthRequired] for
// [ClassReauth] and [ErrTransient] for [ClassTransient].
func (e *ProviderError) Is(target error) bool {
	switch target {
	case ErrReauthRequired:
		return e.Class == ClassReauth
	case ErrTransient:
		return e.Class == ClassTransient
	}
	return false
}

// Temporary reports whether retrying later may succeed.
func (e *ProviderError) Temporary() bool { return e.Class == ClassTransient }

// ClassOf returns the class of err: the Class of a [*ProviderError] in its
// chain, ClassReauth or ClassTransient for the sentinels, else
// ClassUnknown.
func ClassOf(err error) Class {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Class
	}
	switch {
	case errors.Is(err, ErrReauthRequired):
		return ClassReauth
	case errors.Is(err, ErrTransient):
		return ClassTransient
	}
	return ClassUnknown
}

// MechanismError says that a mail server offers no SASL mechanism the
// library can use with OAuth.
type MechanismError struct {
	// Offered are the mechanisms the server advertised.
	Offered []string
}

// Error explains that OAuth is not enabled on the server.
func (e *MechanismError) Error() string {
	if len(e.Offered) == 0 {
		return "oauth2client: the server advertises no SASL mechanism; OAuth (XOAUTH2 or OAUTHBEARER) is not enabled on it, or it requires STARTTLS first"
	}
	return "oauth2client: the server offers only " + strings.Join(e.Offered, ", ") +
		"; OAuth (XOAUTH2 or OAUTHBEARER) is not enabled on that server: enable it, or check the host name"
}

// Is matches [ErrNoOAuthMechanism].
func (e *MechanismError) Is(target error) bool { return target == ErrNoOAuthMechanism }

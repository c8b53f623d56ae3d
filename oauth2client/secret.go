package oauth2client

import (
	"fmt"
	"log/slog"
)

// Redacted is what a [Secret] prints instead of its value.
const Redacted = "[redacted]"

// Secret holds a credential: an access token, a refresh token, an
// authorization code or a PKCE verifier. It is a string underneath, so
// string(s) yields the value where it is really needed (a SASL response, a
// token request), but every way of printing it — fmt verbs including %v, %s,
// %q, %x and %#v, and log/slog — shows [Redacted] instead. JSON encoding is
// not redacted: token stores need the value; wrap the store with encryption
// to keep it out of the clear at rest.
type Secret string

// String returns [Redacted].
func (Secret) String() string { return Redacted }

// GoString returns [Redacted], so %#v does not leak the value.
func (Secret) GoString() string { return Redacted }

// Format prints [Redacted] for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements [slog.LogValuer] and returns [Redacted].
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Reveal returns the secret value. It exists so that the places that need
// the value read as deliberate; string(s) is equivalent.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// SecretBytes holds secret bytes, such as a provider's token cache (the
// Azure provider keeps MSAL's cache, refresh token included, in
// [Grant.ProviderState]). Like [Secret], every way of printing it shows
// [Redacted]; JSON encodes it as base64, like []byte.
type SecretBytes []byte

// String returns [Redacted].
func (SecretBytes) String() string { return Redacted }

// GoString returns [Redacted], so %#v does not leak the value.
func (SecretBytes) GoString() string { return Redacted }

// Format prints [Redacted] for every verb.
func (SecretBytes) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements [slog.LogValuer] and returns [Redacted].
func (SecretBytes) LogValue() slog.Value { return slog.StringValue(Redacted) }

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
// to keep it out of the clear at rest. The structs of this module that
// hold secrets ([Grant], [Record], [Token], ...) implement [slog.LogValuer],
// so a slog JSONHandler, which would use that encoding, logs them
// redacted too.
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
// [Grant.ProviderState]) or a private key. A []byte converts to it
// implicitly. Like [Secret], every way of printing it shows
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

// redactedIfSet stands for a secret in a log line: [Redacted] when there
// is one, empty when there is none, so logs still show which are set.
func redactedIfSet(set bool) slog.Value {
	if set {
		return slog.StringValue(Redacted)
	}
	return slog.StringValue("")
}

// The types below carry secrets next to fields worth logging. Their
// LogValue methods keep the secrets out of every slog handler: a
// JSONHandler would otherwise encode a Secret field through encoding/json,
// which is not redacted so that token stores can use it.

// LogValue implements [slog.LogValuer]: the grant's fields, with the
// tokens and the provider state shown as [Redacted].
func (g Grant) LogValue() slog.Value { return slog.GroupValue(g.logAttrs()...) }

func (g *Grant) logAttrs() []slog.Attr {
	return []slog.Attr{
		slog.Any("access_token", redactedIfSet(g.AccessToken != "")),
		slog.Any("refresh_token", redactedIfSet(g.RefreshToken != "")),
		slog.Time("expiry", g.Expiry),
		slog.Any("scopes", g.Scopes),
		slog.String("username", g.Identity.Username),
		slog.String("subject", g.Identity.Subject),
		slog.String("tenant", g.Identity.Tenant),
		slog.Bool("app_only", g.AppOnly),
		slog.Any("provider_state", redactedIfSet(len(g.ProviderState) > 0)),
	}
}

// LogValue implements [slog.LogValuer]: the record's fields, with the
// tokens and the provider state shown as [Redacted].
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(append([]slog.Attr{
		slog.String("account", r.Account),
		slog.String("connection", r.Connection),
		slog.Int64("version", r.Version),
		slog.String("status", string(r.Status)),
		slog.String("last_error", r.LastError),
		slog.Time("updated", r.Updated),
	}, r.Grant.logAttrs()...)...)
}

// LogValue implements [slog.LogValuer]: the token's fields, with the
// access token shown as [Redacted].
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("access_token", redactedIfSet(t.AccessToken != "")),
		slog.Time("expiry", t.Expiry),
		slog.String("username", t.Username),
		slog.String("account", t.Account),
		slog.String("connection", t.Connection),
	)
}

// LogValue implements [slog.LogValuer]: the code and the verifier are
// shown as [Redacted].
func (r ExchangeRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("code", redactedIfSet(r.Code != "")),
		slog.Any("code_verifier", redactedIfSet(r.CodeVerifier != "")),
		slog.String("redirect_uri", r.RedirectURI),
	)
}

// LogValue implements [slog.LogValuer]: what is being authorized, with
// the PKCE verifier shown as [Redacted] and the state and session hashes
// left out.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("connection", p.Connection),
		slog.String("account", p.Account),
		slog.Any("verifier", redactedIfSet(p.Verifier != "")),
		slog.String("return_to", p.ReturnTo),
		slog.String("require_username", p.RequireUsername),
		slog.Time("expires", p.Expires),
	)
}

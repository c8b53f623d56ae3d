package oauth2client

import (
	"encoding/json"
	"errors"

	"github.com/oauth2mail/oauth2mail/internal/scrub"
)

// ScrubError returns err with every one of secrets removed from its text:
// each secret whole, URL-, JSON- and base64-encoded, and (for secrets of
// 16 characters or more) every run of 8 or more of its characters, in
// any of those forms, is replaced by [Redacted]. An error whose text holds
// none of them is returned as it is.
//
// Identity providers, proxies and firewalls echo requests in their error
// answers. A [Provider] passes every error it builds from an answer
// through ScrubError with the secrets of the request (client secret or
// assertion, code, PKCE verifier, refresh and access tokens) before
// returning it; the providers of this module do, and the [Client] does it
// again with the secrets it knows before an error is returned, logged,
// handed to a hook or stored.
//
// A [*ProviderError] keeps its type and fields (scrubbed); an error
// wrapping one still matches it with [errors.As], and every error still
// matches the sentinels it matched with [errors.Is].
func ScrubError(err error, secrets ...Secret) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	vs := make([]string, len(secrets))
	for i, s := range secrets {
		vs[i] = string(s)
	}
	out, _ := scrubErr(err, scrub.New(vs...))
	return out
}

// scrubErr returns err scrubbed by s, and whether that changed anything.
func scrubErr(err error, s *scrub.Set) (error, bool) {
	if err == nil || s.Len() == 0 {
		return err, false
	}
	if pe, ok := err.(*ProviderError); ok {
		return pe.scrubbed(s)
	}
	msg := err.Error()
	clean := s.String(msg)
	if clean == msg {
		return err, false
	}
	out := &scrubbedError{msg: clean, orig: err}
	var pe *ProviderError
	if errors.As(err, &pe) {
		out.inner, _ = pe.scrubbed(s)
	}
	return out, true
}

// scrubbed returns a copy of e with s applied to its texts, or e when
// nothing changed, and whether something did.
func (e *ProviderError) scrubbed(s *scrub.Set) (*ProviderError, bool) {
	cp := *e
	changed := false
	for _, f := range []*string{&cp.Code, &cp.ProviderCode, &cp.Description, &cp.Remedy, &cp.TraceID, &cp.CorrelationID} {
		if c := s.String(*f); c != *f {
			*f, changed = c, true
		}
	}
	if err, ok := scrubErr(e.Err, s); ok {
		cp.Err, changed = err, true
	}
	if !changed {
		return e, false
	}
	return &cp, true
}

// scrubbedError is an error whose text had secrets removed. It unwraps to
// the scrubbed copy of the [*ProviderError] it wrapped, if any, and
// matches every sentinel the original matched, but does not unwrap to the
// original, whose text holds the secret.
type scrubbedError struct {
	msg   string
	inner error
	orig  error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Unwrap() error        { return e.inner }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.orig, target) }

// grantSecrets returns the secrets a grant carries: its tokens, and the
// token strings inside its provider state when that is JSON (the azure
// provider keeps MSAL's cache there, refresh token included).
func grantSecrets(g *Grant) []Secret {
	if g == nil {
		return nil
	}
	out := []Secret{g.AccessToken, g.RefreshToken}
	var v any
	if len(g.ProviderState) > 0 && json.Unmarshal(g.ProviderState, &v) == nil {
		out = append(out, stateSecrets(v, "", 0)...)
	}
	return out
}

// stateSecrets collects string values under keys that name secrets.
func stateSecrets(v any, key string, depth int) []Secret {
	if depth > 16 {
		return nil
	}
	var out []Secret
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, stateSecrets(x, k, depth+1)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, stateSecrets(x, key, depth+1)...)
		}
	case string:
		switch key {
		case "secret", "refresh_token", "access_token", "id_token", "token", "msal":
			out = append(out, Secret(v))
		}
	}
	return out
}

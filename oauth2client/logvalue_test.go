package oauth2client_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Every type that carries a secret next to loggable fields stays redacted
// with both standard slog handlers and with fmt, while its other fields
// still show.
func TestLogValuesRedactWithEveryHandler(t *testing.T) {
	const at, rt, state, code, verifier = "at-SECRET-1", "rt-SECRET-2", "state-SECRET-3", "code-SECRET-4", "verifier-SECRET-5"
	exp := time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)
	grant := oauth2client.Grant{AccessToken: at, RefreshToken: rt, ProviderState: oauth2client.SecretBytes(state), Expiry: exp,
		Scopes: []string{"mail"}, Identity: oauth2client.Identity{Username: "alice@example.com"}}
	values := []struct {
		name    string
		v       any
		visible string
	}{
		{"Grant", grant, "alice@example.com"},
		{"*Grant", &grant, "alice@example.com"},
		{"Record", oauth2client.Record{Account: "acct-7", Grant: grant}, "acct-7"},
		{"*Record", &oauth2client.Record{Account: "acct-7", Grant: grant}, "acct-7"},
		{"Token", oauth2client.Token{AccessToken: at, Account: "acct-7", Username: "alice@example.com"}, "acct-7"},
		{"ExchangeRequest", oauth2client.ExchangeRequest{Code: code, CodeVerifier: verifier, RedirectURI: "https://app.example/cb"}, "https://app.example/cb"},
		{"Pending", &oauth2client.Pending{Account: "acct-7", Verifier: verifier}, "acct-7"},
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	for _, v := range values {
		for hname, h := range handlers {
			var out bytes.Buffer
			slog.New(h(&out)).Info("logged", "value", v.v)
			for _, secret := range []string{at, rt, state, code, verifier} {
				assert.NotContains(t, out.String(), secret, "%s through the %s handler", v.name, hname)
			}
			assert.Contains(t, out.String(), v.visible, "%s through the %s handler keeps its other fields", v.name, hname)
			assert.Contains(t, out.String(), oauth2client.Redacted, "%s through the %s handler", v.name, hname)
		}
		printed := fmt.Sprintf("%v %+v %#v", v.v, v.v, v.v)
		for _, secret := range []string{at, rt, state, code, verifier} {
			assert.NotContains(t, printed, secret, "%s through fmt", v.name)
		}
	}
}

// Unset secrets log as empty, so a log shows which are present.
func TestLogValueShowsUnsetSecretsAsEmpty(t *testing.T) {
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("logged", "grant", oauth2client.Grant{AccessToken: "x"})
	assert.Contains(t, out.String(), `"access_token":"[redacted]"`)
	assert.Contains(t, out.String(), `"refresh_token":""`)
}

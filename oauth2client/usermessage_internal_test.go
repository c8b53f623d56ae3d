package oauth2client

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sentinelMessages gives the message every exported sentinel error of the
// package must produce. A sentinel added to the package without an entry
// here fails TestUserMessageCoversEverySentinel.
var sentinelMessages = map[string]struct {
	err  error
	want string
}{
	"ErrReauthRequired":          {ErrReauthRequired, msgReconnect},
	"ErrTransient":               {ErrTransient, msgTryLater},
	"ErrUnknownConnection":       {ErrUnknownConnection, msgAdministrator},
	"ErrAppOnlyUnsupported":      {ErrAppOnlyUnsupported, msgAdministrator},
	"ErrNoOAuthMechanism":        {ErrNoOAuthMechanism, msgAdministrator},
	"ErrMethodNotAllowed":        {ErrMethodNotAllowed, "The sign-in response was malformed. Please start again."},
	"ErrRequestTooLarge":         {ErrRequestTooLarge, "The sign-in response was malformed. Please start again."},
	"ErrMalformedRequest":        {ErrMalformedRequest, "The sign-in response was malformed. Please start again."},
	"ErrMissingCode":             {ErrMissingCode, "The sign-in response was malformed. Please start again."},
	"ErrSessionMismatch":         {ErrSessionMismatch, "The sign-in was started in another browser session. Please start again from the application."},
	"ErrIssuerMismatch":          {ErrIssuerMismatch, msgAdministrator},
	"ErrIdentityMismatch":        {ErrIdentityMismatch, "You signed in with a different mailbox than the one being connected. Please sign in with the right account."},
	"ErrAlreadyRunning":          {ErrAlreadyRunning, msgAdministrator},
	"ErrStateInvalid":            {ErrStateInvalid, "This sign-in response is not valid here. Please start again from the application."},
	"ErrStateExpired":            {ErrStateExpired, "The sign-in took too long and has expired. Please start again."},
	"ErrStateReplayed":           {ErrStateReplayed, "This sign-in link was already used. Please start again."},
	"ErrNotFound":                {ErrNotFound, "This mailbox is not connected yet. Please connect your mailbox."},
	"ErrConflict":                {ErrConflict, msgTryLater},
	"ErrAdminConsentUnsupported": {ErrAdminConsentUnsupported, msgAdministrator},
	"ErrStoreUnavailable":        {ErrStoreUnavailable, msgTryLater},
	"ErrLeaseLost":               {ErrLeaseLost, msgTryLater},
	"ErrIdentityChanged":         {ErrIdentityChanged, msgReconnect},
	"ErrUnreadable":              {ErrUnreadable, msgReconnect},
	"ErrDuplicateParameter":      {ErrDuplicateParameter, "The sign-in response was malformed. Please start again."},
	"ErrInvalidIDToken":          {ErrInvalidIDToken, "The sign-in answer from the mail provider could not be trusted. Please contact your administrator."},
	"ErrUnverifiedIdentity":      {ErrUnverifiedIdentity, "Your mail provider has not verified this address. Verify it with your provider, or sign in with another account."},
	"ErrSessionNotSent":          {ErrSessionNotSent, "This browser did not send its session with the sign-in response: the sign-in was started in another browser session, or the browser withheld this site's cookie. Please start again from the application."},
	"ErrTenantRequired":          {ErrTenantRequired, msgAdministrator},
	"ErrTooManyPending":          {ErrTooManyPending, msgTryLater},
}

// exportedSentinels lists the package's exported package-level variables
// named Err*, read from its non-test source files.
func exportedSentinels(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files)
	var names []string
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

func TestUserMessageCoversEverySentinel(t *testing.T) {
	names := exportedSentinels(t)
	require.NotEmpty(t, names)
	for _, name := range names {
		tc, ok := sentinelMessages[name]
		if !assert.True(t, ok, "sentinel %s has no case in sentinelMessages (usermessage_internal_test.go): decide what UserMessage tells the user about it and add it", name) {
			continue
		}
		wrapped := fmt.Errorf("context: %w", tc.err)
		assert.Equal(t, tc.want, UserMessage(tc.err), name)
		assert.Equal(t, tc.want, UserMessage(wrapped), "%s, wrapped", name)
		assert.Equal(t, tc.want, UserMessage(&CallbackError{Connection: "c", Account: "a", Status: 400, Err: tc.err}), "%s, in a CallbackError", name)
	}
	for name := range sentinelMessages {
		assert.Contains(t, names, name, "sentinelMessages lists %s, which the package no longer exports", name)
	}
}

func TestUserMessageByClass(t *testing.T) {
	byClass := map[Class]string{
		ClassUnknown:   msgAdministrator,
		ClassTransient: msgTryLater,
		ClassReauth:    msgReconnect,
		ClassAdmin:     msgAdministrator,
		ClassConfig:    msgAdministrator,
		ClassUser:      msgCancelled,
	}
	for i := range classNames {
		c := Class(i)
		want, ok := byClass[c]
		if !assert.True(t, ok, "class %s has no case in TestUserMessageByClass", c) {
			continue
		}
		assert.Equal(t, want, UserMessage(&ProviderError{Provider: "generic", Op: "refresh", Class: c}), "ProviderError of class %s", c)
	}
}

func TestUserMessageCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"invalid_grant on refresh", &ProviderError{Provider: "generic", Op: "refresh", Code: "invalid_grant", Class: ClassReauth}, msgReconnect},
		{"Entra AADSTS50173 (grant revoked)", &ProviderError{Provider: "azure", Op: "refresh", Code: "invalid_grant", ProviderCode: "AADSTS50173", Class: ClassReauth}, msgReconnect},
		{"Entra AADSTS70008 (refresh token expired)", &ProviderError{Provider: "azure", Op: "refresh", Code: "invalid_grant", ProviderCode: "AADSTS70008", Class: ClassReauth}, msgReconnect},
		{"account marked for re-consent", &ReauthError{Account: "a", Connection: "c", Reason: "invalid_grant"}, msgReconnect},
		{"Entra AADSTS7000215 (wrong secret)", &ProviderError{Provider: "azure", Op: "exchange", Code: "invalid_client", ProviderCode: "AADSTS7000215", Class: ClassConfig}, msgAdministrator},
		{"Entra AADSTS65001 admin consent missing", &ProviderError{Provider: "azure", Op: "app_token", Code: "invalid_client", Class: ClassAdmin}, msgAdministrator},
		{"Entra throttling", &ProviderError{Provider: "azure", Op: "refresh", Code: "temporarily_unavailable", Class: ClassTransient}, msgTryLater},
		{"network failure during refresh", fmt.Errorf("refresh: %w", &ProviderError{Provider: "google", Op: "refresh", Class: ClassTransient, Err: errors.New("connection reset")}), msgTryLater},
		{"token store down", fmt.Errorf("%w: %w", ErrTransient, errors.New("dial tcp: connection refused")), msgTryLater},
		{"token store down (StoreError)", &StoreError{Op: "load", Account: "a", Err: errors.New("dial tcp: connection refused")}, msgTryLater},
		{"new tokens unsaved (StoreError)", &StoreError{Op: "save", Account: "a", Unsaved: true, Err: errors.New("timeout")}, msgTryLater},
		{"refresh named another identity", fmt.Errorf("refresh: %w", ErrIdentityChanged), msgReconnect},
		{"stored record unreadable", fmt.Errorf("load: %w", ErrUnreadable), msgReconnect},
		{"user cancelled at the provider", &AuthorizationError{Code: "access_denied"}, msgCancelled},
		{"user declined consent (ProviderError)", &ProviderError{Provider: "azure", Op: "exchange", Code: "access_denied", ProviderCode: "AADSTS65004", Class: ClassUser}, msgCancelled},
		{"provider temporarily unavailable in the callback", &AuthorizationError{Code: "temporarily_unavailable"}, msgTryLater},
		{"misconfigured request in the callback", &AuthorizationError{Code: "invalid_scope"}, msgAdministrator},
		{"unknown callback error code", &AuthorizationError{Code: "weird"}, msgAdministrator},
		{"mail server refused the token", &LoginError{Account: "a", Mechanism: MechXOAUTH2}, msgLoginRefused},
		{"mail server could not check the token", &LoginError{Account: "a", Mechanism: MechXOAUTH2, Temporary: true}, msgTryLater},
		{"server without OAuth", &MechanismError{Offered: []string{"PLAIN"}}, msgAdministrator},
		{"unclassified", errors.New("boom"), msgAdministrator},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := UserMessage(tc.err)
			assert.Equal(t, tc.want, got)
			if tc.err != nil {
				assert.NotContains(t, got, "AADSTS")
				assert.NotContains(t, got, "invalid_")
			}
		})
	}
}

package google

import (
	"strings"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrorInfo describes an OAuth error code Google returns: what it means
// and how to fix it. [Errors] lists those the package explains; the
// README's troubleshooting table is generated from the same data.
type ErrorInfo struct {
	// Code is the OAuth error code, e.g. "invalid_grant".
	Code string
	// Class says who has to act.
	Class oauth2client.Class
	// Meaning is what Google reports, in short.
	Meaning string
	// Remedy is what to do. The placeholder {redirect_uri} is filled in
	// with the URI of the request at hand.
	Remedy string
}

var errorTable = []ErrorInfo{
	{"invalid_grant", oauth2client.ClassReauth,
		"The refresh token or authorization code is no longer valid (\"Token has been expired or revoked.\").",
		"connect the account again. Google drops refresh tokens when the user revokes access, changes the password (Gmail scopes), " +
			"leaves the token unused for 6 months, or exceeds the per-client token limit; while the OAuth consent screen's publishing " +
			"status is \"Testing\", refresh tokens expire after 7 days: publish the app \"In production\" in Google Cloud console > " +
			"APIs & Services > OAuth consent screen"},
	{"invalid_client", oauth2client.ClassConfig,
		"The OAuth client was not found or the client secret is wrong.",
		"copy the client ID and secret again from Google Cloud console > APIs & Services > Credentials (OAuth 2.0 Client IDs, type \"Web application\")"},
	{"unauthorized_client", oauth2client.ClassAdmin,
		"The client may not use this grant or scope; for a service account, domain-wide delegation is not authorized for the scope.",
		"in the Workspace Admin console > Security > Access and data control > API controls > Domain-wide delegation, add the service " +
			"account's client ID with the scope https://mail.google.com/"},
	{"redirect_uri_mismatch", oauth2client.ClassConfig,
		"The redirect URI is not one of the client's authorized redirect URIs.",
		"add exactly {redirect_uri} under Authorized redirect URIs of the OAuth client in Google Cloud console > APIs & Services > Credentials"},
	{"access_denied", oauth2client.ClassUser,
		"The user declined, or is not allowed to use the app (a test user list, or an Internal app used from outside the organisation).",
		"ask the user to connect again and allow access to mail; while the app is in \"Testing\", add the user under OAuth consent screen > Test users"},
	{"admin_policy_enforced", oauth2client.ClassAdmin,
		"The Workspace administrator blocks this app or its scopes.",
		"ask the Workspace administrator to trust the app in Admin console > Security > API controls > App access control"},
	{"org_internal", oauth2client.ClassConfig,
		"The app is \"Internal\" to a Workspace organisation and the user is outside it.",
		"make the consent screen's user type \"External\", or use an account of the organisation"},
	{"invalid_scope", oauth2client.ClassConfig,
		"A requested scope is unknown or not allowed for the client.",
		"request https://mail.google.com/ (and openid email); enable it on the OAuth consent screen"},
	{"invalid_request", oauth2client.ClassConfig,
		"The request is malformed or misses a parameter.",
		"check the endpoints and client settings"},
	{"invalid_token", oauth2client.ClassReauth,
		"The token is expired or was revoked.",
		"connect the account again"},
	{"temporarily_unavailable", oauth2client.ClassTransient,
		"Google is temporarily unavailable.", "try again later"},
	{"server_error", oauth2client.ClassTransient,
		"Google had an internal error.", "try again later"},
}

// Errors returns the error codes the package explains, in a fresh slice.
func Errors() []ErrorInfo { return append([]ErrorInfo(nil), errorTable...) }

// classifier returns the Classifier for a request with redirectURI.
func classifier(redirectURI string) func(string) (oauth2client.Class, string, bool) {
	return func(code string) (oauth2client.Class, string, bool) {
		for _, e := range errorTable {
			if e.Code == code {
				return e.Class, strings.ReplaceAll(e.Remedy, "{redirect_uri}", redirectURI), true
			}
		}
		return oauth2client.ClassUnknown, "", false
	}
}

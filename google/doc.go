// Package google is the Gmail and Google Workspace provider for
// [oauth2client]: users consent with the authorization code flow (PKCE
// S256, access_type=offline, prompt=consent), and Workspace
// administrators can instead give a service account domain-wide
// delegation so that the application opens mailboxes on its own
// ([oauth2client.AppOnlyProvider]).
//
// The grant's identity comes from the id_token, validated (OpenID Connect
// Core §3.1.3.7: iss, aud, azp, exp, iat and the authorization's nonce;
// the signature against Google's keys with Config.VerifySignature): the
// email only with email_verified true, sub as Subject, hd (the Workspace
// domain) as Tenant, which oauth2client.AuthOptions.RequireDomain checks.
// A refresh reports the new id_token's sub and hd, so the Client refuses
// a refresh naming another user, and never renames the account.
//
// The protocol work is done by golang.org/x/oauth2 (client credentials
// sent in the form body, AuthStyleInParams) and golang.org/x/oauth2/jwt
// (the JWT bearer grant, RFC 7523). Errors are [*oauth2client.ProviderError]
// values whose Remedy says what to change; [Errors] lists them as data.
//
// Mail is IMAP imap.gmail.com:993 and SMTP smtp.gmail.com:465, both
// implicit TLS (smtp.gmail.com:587 with STARTTLS works too: set
// Config.SMTP). See https://developers.google.com/workspace/gmail/imap/xoauth2-protocol.
//
// The scope https://mail.google.com/ is restricted: an app used by
// people outside your organisation needs Google's verification. While
// the consent screen's publishing status is "Testing", Google expires
// refresh tokens after 7 days: publish the app "In production".
package google

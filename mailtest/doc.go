// Package mailtest is a test kit for code that uses oauth2mail, in the
// spirit of net/http/httptest: fake identity providers that behave like
// the real ones (same paths, same error JSON, same quirks) and IMAP and
// SMTP servers that accept XOAUTH2 and OAUTHBEARER only with tokens those
// fakes issued and that have not expired. Everything listens on loopback
// and needs no network. [Connect] walks a user through the authorization
// code flow against a fake and a Client's real callback handler, so a
// test starts with a connected account in one line.
//
// Both fake providers have a strict-rotation mode
// ([AzureOptions].StrictRotation, [GoogleOptions].StrictRotation): a
// refresh token is single-use, and presenting one that was already
// rotated out revokes its whole family and is answered invalid_grant in
// the provider's own error format, as providers with refresh-token reuse
// detection do. RotatedOutRedemptions on each fake counts such
// presentations, so a test can assert that a client never loses a
// rotated refresh token.
//
// Applications may import it in their own tests. It depends on go-imap v2,
// go-smtp and this module's azure package ([Azure.AzureConfig]); the core
// packages depend on none of it.
package mailtest

// Package xoauth2 implements the SASL XOAUTH2 mechanism, client and
// server, for [github.com/emersion/go-sasl]: [NewClient] plugs into
// go-imap's imapclient.Client.Authenticate and go-smtp's smtp.Client.Auth,
// [NewServer] into their servers (imapserver.SessionSASL,
// smtp.AuthSession).
//
// XOAUTH2 is the mechanism Google and Microsoft use for OAuth 2.0 access
// tokens over IMAP, POP and SMTP:
//
//   - Google: https://developers.google.com/workspace/gmail/imap/xoauth2-protocol
//   - Microsoft: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
//
// # Why not OAUTHBEARER
//
// go-sasl removed XOAUTH2 in 2020 in favour of the standard OAUTHBEARER
// (RFC 7628), which Gmail also accepts. Exchange Online (Outlook.com,
// Microsoft 365) accepts only XOAUTH2, so Go mail software still needs it.
// This package imports nothing but go-sasl and the standard library, so
// other programs can use it on its own.
//
// # Wire format
//
// The client's initial response is
//
//	"user=" + username + "\x01auth=Bearer " + token + "\x01\x01"
//
// base64-encoded by the protocol (IMAP AUTHENTICATE, SMTP AUTH). If the
// server accepts the token the command succeeds. If not, Gmail and Dovecot
// first send one challenge, a JSON object such as
//
//	{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}
//
// which the client must answer with an empty response; the server then
// fails the command (IMAP NO, SMTP 535). Microsoft fails the command at
// once, without a challenge. The client from [NewClient] answers the
// challenge and keeps it for [ChallengeError]; [ParseChallenge] decodes
// one on its own.
//
// # Nil and empty byte slices
//
// go-sasl distinguishes nil (no data) from empty (data of length zero).
// The client's initial response is never nil; its answer to a challenge
// is always the empty, non-nil []byte{}. The server takes a nil first
// response to mean "no initial response" and answers it with a nil
// challenge. Each constructor's documentation gives the details.
//
// # Concurrency
//
// A client or server value serves one authentication exchange and is not
// safe for concurrent use: create one per AUTHENTICATE or AUTH command.
// The constructors and [ParseChallenge] are safe for concurrent use.
//
// # Secrets
//
// No error or message produced by this package contains the token. The
// protocol libraries' debug writers (imapclient.Options.DebugWriter,
// smtp.Client.DebugWriter) do show it, base64-encoded.
package xoauth2

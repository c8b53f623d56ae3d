// Package xoauth2 implements the SASL XOAUTH2 mechanism, client and
// server, for github.com/emersion/go-sasl: it plugs into go-imap's
// Authenticate, go-smtp's Auth and their servers.
//
// XOAUTH2 is Google's and Microsoft's mechanism for OAuth 2.0 bearer
// tokens over IMAP, POP and SMTP
// (https://developers.google.com/workspace/gmail/imap/xoauth2-protocol,
// https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
// go-sasl removed it in 2020 in favour of the standard OAUTHBEARER (RFC
// 7628), but Exchange Online accepts only XOAUTH2, so Go mail software
// needs it. This package imports nothing but go-sasl and the standard
// library, so it can be used on its own.
//
// # Wire format
//
// The client's initial response is
//
//	base64("user=" + username + "\x01auth=Bearer " + token + "\x01\x01")
//
// If the server rejects the token it may send one challenge, the
// base64 of a JSON object such as
// {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"};
// the client must answer with an empty response, and the server then
// fails the command (IMAP NO, SMTP 535). [Client.Next] does exactly that
// and keeps the decoded object for [Client.Err].
package xoauth2

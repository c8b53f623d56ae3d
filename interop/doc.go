// Package interop holds the project's interoperability tests (it has no
// non-test code). They check the SASL mechanisms (XOAUTH2, OAUTHBEARER)
// and the library's public API against a real, independent
// implementation — Dovecot, whose oauth2 passdb validates each token by
// introspection at a fake identity provider — and run the same cases
// against the test kit's fake servers (mailtest), so the fakes are proven
// to answer as Dovecot does, and users without Dovecot still get a
// meaningful run. go-imap v2 and go-smtp are the clients.
//
// Tests named TestDovecot* need Dovecot and root:
//
//	apt-get install dovecot-core dovecot-imapd dovecot-submissiond
//	OAUTH2MAIL_REQUIRE_PEERS=1 go test -race -run Dovecot -v ./interop/
//
// Without dovecot on PATH they skip, unless OAUTH2MAIL_REQUIRE_PEERS=1,
// which turns its absence into a failure.
//
// TestStoreRestartsUnderLoad starts its own PostgreSQL cluster (Debian's
// server binaries, apt-get install postgresql) and its own redis-server,
// each on a free port (never the shared servers), and restarts them under
// load with two Client instances sharing the store and a strict-rotation
// provider; it skips without the binaries, or fails with
// OAUTH2MAIL_REQUIRE_PEERS=1. With -v each case logs the
// server's answer (IMAP status line, SMTP reply, decoded challenge).
//
// # An independent OpenID Provider
//
// Tests named TestZitadel* (and TestDovecotZitadel*) run the library
// against zitadel/oidc's OpenID Provider (package op, OpenID-certified,
// built by others), started in-process with a small in-memory storage
// that approves the hinted user at once: discovery, the authorization
// code flow with PKCE through the real callback handler, refresh token
// rotation, a client registered for client_secret_basic only (chosen by
// default from discovery), one for client_secret_post only,
// private_key_jwt, a public client, 5-minute access tokens under
// Client.Run on a manual clock, and JWT access tokens above 1 KB through
// mailauth to Dovecot, whose oauth2 passdb asks zitadel's introspection
// endpoint. Zitadel's op accepts a client secret however it is sent; the
// tests' token endpoint wrapper refuses a method the client is not
// registered for, with Ory Hydra's wording, as stricter servers do. The
// dependency is test-only: no package of the library imports it.
//
// # Answers to a rejected token
//
// What each server answered to an XOAUTH2 token it rejects (wrong user,
// expired, revoked), after its error challenge
// {"status":"401","schemes":"bearer","scope":"mail"} and the client's
// empty response, as TestDovecotClient and TestTestkitClient log them
// ("rejected XOAUTH2 token" cases; Dovecot 2.3.19.1):
//
//	client                              Dovecot 2.3                                    test kit (mailtest)
//	mailauth.IMAP, mailauth.DialIMAPTLS NO [AUTHENTICATIONFAILED] Authentication failed. NO [AUTHENTICATIONFAILED] Authentication failed.
//	mailauth.IMAP, DialIMAPStartTLS     NO [AUTHENTICATIONFAILED] Authentication failed. (no STARTTLS port)
//	mailauth.IMAP, imapclient.DialTLS   BAD Invalid base64 data in continued response  NO [AUTHENTICATIONFAILED] Authentication failed.
//	mailauth.SMTP (submission)          535 5.7.8 Authentication failed.               535 5.7.8 Authentication failed.
//
// The BAD comes from go-imap v2 sending the empty response as "="
// (emersion/go-imap#760); mailauth's dialers wrap the connection with
// mailauth.IMAPConn, which sends the empty line RFC 9051 §6.2.2
// requires. OAUTHBEARER answers the challenge with %x01 and gets NO
// [AUTHENTICATIONFAILED] from both with any dialer. Gmail, as documented
// by Google, expects the same empty response and ends with NO; Exchange
// Online sends no challenge for IMAP and ends with "NO AUTHENTICATE
// failed." at once; the test kit ends with NO as both do. A client
// that cancels with "*" gets "BAD Authentication aborted by client." from
// Dovecot, which is why mailauth does not cancel.
package interop

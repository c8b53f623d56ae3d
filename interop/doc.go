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
package interop

package interop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/dovecot"
	"github.com/oauth2mail/oauth2mail/mailtest"
)

const (
	alice = "alice@contoso.example"
	bob   = "bob@contoso.example"
)

// peer is a mail server under test: Dovecot or the test kit's fakes.
type peer struct {
	name string
	// imapsAddr serves IMAP over implicit TLS; imapAddr, if set, IMAP
	// with STARTTLS.
	imapsAddr, imapAddr string
	// smtpAddr serves submission with STARTTLS.
	smtpAddr string
	tls      *tls.Config
	// setDown makes token verification unavailable (true) or not.
	setDown func(bool)
	// messages returns what the submission service delivered; received
	// signals a delivery (nil: delivery is synchronous).
	messages func() []mailtest.Message
	received <-chan struct{}
	// longAuthLineRefused: AUTH with a 2 KB initial response fails with
	// 500 (line too long). emptyAnswerIsBAD: go-imap's "=" for an empty
	// continuation answer (without mailauth.IMAPConn) gets BAD, not NO.
	longAuthLineRefused, emptyAnswerIsBAD bool
	// dovecot is the instance, for the log on failure.
	dovecot *dovecot.Server
}

// tokenChecker is a mailtest.TokenChecker.
type tokenChecker = mailtest.TokenChecker

func dovecotPeer(t *testing.T, verifier *mailtest.Ledger) peer {
	t.Helper()
	s := dovecot.Start(t, dovecot.Options{Verifier: verifier.IntrospectionHandler()})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", s.Log())
		}
	})
	return peer{name: "Dovecot", imapsAddr: s.IMAPSAddr, imapAddr: s.IMAPAddr, smtpAddr: s.SubmissionAddr, tls: s.TLSConfig,
		setDown: s.SetIntrospectionDown, messages: s.Sink.Messages, received: s.Sink.Received(), dovecot: s,
		longAuthLineRefused: true, emptyAnswerIsBAD: true}
}

// outage wraps a checker with a switch that makes it unavailable, as
// Dovecot's verification is when its introspection endpoint is down.
type outage struct {
	tokenChecker
	down atomic.Bool
}

func (o *outage) Check(user, token string) (mailtest.TokenInfo, error) {
	if o.down.Load() {
		return mailtest.TokenInfo{}, mailtest.ErrUnavailable
	}
	return o.tokenChecker.Check(user, token)
}

func testkitPeer(t *testing.T, verifier tokenChecker) peer {
	t.Helper()
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)
	o := &outage{tokenChecker: verifier}
	is, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: o, TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { is.Close() })
	ss, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: o, TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { ss.Close() })
	return peer{name: "testkit", imapsAddr: is.Addr, smtpAddr: ss.Addr, tls: cert.ClientConfig(),
		setDown: o.down.Store, messages: ss.Messages} // the fake stores a message before it answers DATA: no wait
}

// waitMessage returns the first delivered message containing marker,
// waiting at most 10 s for the relay.
func waitMessage(t *testing.T, p peer, marker string) []byte {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, m := range p.messages() {
			if bytes.Contains(m.Data, []byte(marker)) {
				return m.Data
			}
		}
		select {
		case <-p.received:
		case <-deadline:
			t.Fatalf("%s: no message with %q reached the sink", p.name, marker)
		}
	}
}

// bigToken returns a random base64url token of about 2 KB, the size of
// an Entra ID access token.
func bigToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 1536)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

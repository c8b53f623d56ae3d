package interop_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// TestDovecotDial opens IMAP (implicit TLS and STARTTLS) and submission
// (STARTTLS) with mailauth's dialers only, against Dovecot; the test kit
// variant is in mailauth's own tests.
func TestDovecotDial(t *testing.T) {
	f := newAPIFixture(t)
	runDial(t, f, dovecotPeer(t, f.entra.Ledger()))
}

func TestTestkitDial(t *testing.T) {
	f := newAPIFixture(t)
	runDial(t, f, testkitPeer(t, f.entra.Ledger()))
}

func serverAt(t *testing.T, addr string, sec oauth2client.Security) oauth2client.ServerAddr {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return oauth2client.ServerAddr{Host: host, Port: n, Security: sec}
}

func runDial(t *testing.T, f *apiFixture, p peer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := f.connected(t)
	imaps := []oauth2client.ServerAddr{serverAt(t, p.imapsAddr, oauth2client.SecurityTLS)}
	if p.imapAddr != "" {
		imaps = append(imaps, serverAt(t, p.imapAddr, oauth2client.SecuritySTARTTLS))
	}
	for _, server := range imaps {
		t.Run("IMAP/"+server.Security.String(), func(t *testing.T) {
			ic, err := mailauth.DialIMAP(ctx, c, "a", &mailauth.DialOptions{TLSConfig: p.tls, Server: server})
			require.NoError(t, err)
			defer ic.Close()
			_, err = ic.Select("INBOX", nil).Wait()
			require.NoError(t, err)
			require.NoError(t, ic.Logout().Wait())
		})
	}
	t.Run("Submission/starttls", func(t *testing.T) {
		sc, err := mailauth.DialSMTP(ctx, c, "a", &mailauth.DialOptions{TLSConfig: p.tls, Server: serverAt(t, p.smtpAddr, oauth2client.SecuritySTARTTLS)})
		require.NoError(t, err)
		defer sc.Close()
		marker := fmt.Sprintf("dial-%d", time.Now().UnixNano())
		msg := "From: " + alice + "\r\nTo: bob@example.net\r\nSubject: " + marker + "\r\n\r\nhello\r\n"
		require.NoError(t, sc.SendMail(alice, []string{"bob@example.net"}, strings.NewReader(msg)))
		require.NoError(t, sc.Quit())
		assert.True(t, strings.HasSuffix(string(waitMessage(t, p, marker)), msg))
	})
}

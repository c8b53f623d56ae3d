package mailauth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// addrOf turns a listener address into a ServerAddr.
func addrOf(t *testing.T, hostport string, sec oauth2client.Security) oauth2client.ServerAddr {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return oauth2client.ServerAddr{Host: host, Port: p, Security: sec}
}

// tlsFront terminates implicit TLS in front of a plain server, for an
// SMTP server on "port 465".
func tlsFront(t *testing.T, backend string, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() { _, _ = io.Copy(b, c); b.Close() })
			wg.Go(func() { _, _ = io.Copy(c, b); c.Close() })
		}
	})
	return ln.Addr().String()
}

// dialFixture connects account "a" to a connection of entra whose mail
// service names imap and smtp.
func dialFixture(t *testing.T, entra *mailtest.Azure, imapAddr, smtpAddr oauth2client.ServerAddr) *oauth2client.Client {
	t.Helper()
	cfg := entra.AzureConfig()
	cfg.IMAP, cfg.SMTP = imapAddr, smtpAddr
	p, err := azure.New(cfg)
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	require.NoError(t, mailtest.Connect(context.Background(), c, entra, "m365", "a", &oauth2client.AuthOptions{LoginHint: alice}))
	return c
}

func TestDialTestkit(t *testing.T) {
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Users: []mailtest.AzureUser{{Email: alice}}})
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	ledger := entra.Ledger()
	imapsSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: ledger, TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { imapsSrv.Close() })
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: ledger})
	require.NoError(t, err)
	t.Cleanup(func() { imapSrv.Close() })
	submSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: ledger, TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { submSrv.Close() })
	plainSMTP, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: ledger})
	require.NoError(t, err)
	t.Cleanup(func() { plainSMTP.Close() })
	smtpsAddr := tlsFront(t, plainSMTP.Addr, cert.ServerConfig())

	c := dialFixture(t, entra, addrOf(t, imapsSrv.Addr, oauth2client.SecurityTLS), addrOf(t, submSrv.Addr, oauth2client.SecuritySTARTTLS))
	ctx := context.Background()
	opts := &mailauth.DialOptions{TLSConfig: cert.ClientConfig()}

	t.Run("IMAP from the connection's mail service", func(t *testing.T) {
		ic, err := mailauth.DialIMAP(ctx, c, "a", opts)
		require.NoError(t, err)
		defer ic.Close()
		sel, err := ic.Select("INBOX", nil).Wait()
		require.NoError(t, err)
		assert.Equal(t, uint32(0), sel.NumMessages)
		assert.Equal(t, int64(1), imapsSrv.Stats.Logins.Load())
	})
	t.Run("IMAP plain on loopback", func(t *testing.T) {
		ic, err := mailauth.DialIMAP(ctx, c, "a", &mailauth.DialOptions{Server: addrOf(t, imapSrv.Addr, oauth2client.SecurityNone)})
		require.NoError(t, err)
		defer ic.Close()
		_, err = ic.Select("INBOX", nil).Wait()
		require.NoError(t, err)
	})
	for _, tc := range []struct {
		name string
		srv  *mailtest.SMTPServer
		opts *mailauth.DialOptions
	}{
		{"SMTP STARTTLS from the connection's mail service", submSrv, opts},
		{"SMTP implicit TLS", plainSMTP, &mailauth.DialOptions{TLSConfig: cert.ClientConfig(), Server: addrOf(t, smtpsAddr, oauth2client.SecurityTLS)}},
		{"SMTP plain on loopback", plainSMTP, &mailauth.DialOptions{Server: addrOf(t, plainSMTP.Addr, oauth2client.SecurityNone)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := mailauth.DialSMTP(ctx, c, "a", tc.opts)
			require.NoError(t, err)
			defer sc.Close()
			before := len(tc.srv.Messages())
			msg := "Subject: " + tc.name + "\r\n\r\nhello\r\n"
			require.NoError(t, sc.SendMail(alice, []string{"bob@example.net"}, strings.NewReader(msg)))
			require.NoError(t, sc.Quit())
			msgs := tc.srv.Messages()
			require.Len(t, msgs, before+1)
			assert.Equal(t, alice, msgs[before].User)
			assert.Equal(t, msg, string(msgs[before].Data))
		})
	}
	t.Run("a wrong certificate fails the handshake", func(t *testing.T) {
		_, err := mailauth.DialIMAP(ctx, c, "a", nil) // system roots do not trust the test CA
		var verr *tls.CertificateVerificationError
		require.ErrorAs(t, err, &verr)
		assert.Contains(t, err.Error(), "TLS handshake")
	})
}

func TestDialRefusesPlainToRemoteHost(t *testing.T) {
	c := newFixture(t).client
	d := &countingDialer{}
	for _, host := range []string{"mail.example.com", "192.0.2.1", "::ffff:10.0.0.1"} {
		_, err := mailauth.DialIMAP(context.Background(), c, "a", &mailauth.DialOptions{Dialer: d,
			Server: oauth2client.ServerAddr{Host: host, Port: 143, Security: oauth2client.SecurityNone}})
		require.ErrorIs(t, err, mailauth.ErrPlaintext, host)
		_, err = mailauth.ConnectSMTP(context.Background(), oauth2client.ServerAddr{Host: host, Security: oauth2client.SecurityNone}, &mailauth.DialOptions{Dialer: d})
		require.ErrorIs(t, err, mailauth.ErrPlaintext, host)
	}
	assert.Equal(t, 0, d.calls, "nothing dialed")
}

// signallingDialer closes dialed once its connection is established.
type signallingDialer struct {
	net.Dialer
	dialed chan struct{}
}

func (d *signallingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	close(d.dialed)
	return c, err
}

type countingDialer struct{ calls int }

func (d *countingDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	d.calls++
	return nil, errors.New("not dialing in this test")
}

// silentServer accepts connections and never says a word; accepted
// receives each one.
func silentServer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

func TestDialCancelledMidDial(t *testing.T) {
	c := newFixture(t).client
	for _, proto := range []string{"IMAP", "SMTP"} {
		for _, sec := range []oauth2client.Security{oauth2client.SecurityTLS, oauth2client.SecuritySTARTTLS, oauth2client.SecurityNone} {
			t.Run(proto+"/"+sec.String(), func(t *testing.T) {
				addr, accepted := silentServer(t)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				d := &signallingDialer{dialed: make(chan struct{})}
				opts := &mailauth.DialOptions{Server: addrOf(t, addr, sec), Dialer: d}
				done := make(chan error, 1)
				go func() {
					var err error
					if proto == "IMAP" {
						var ic interface{ Close() error }
						ic, err = mailauth.DialIMAP(ctx, c, "a", opts)
						if err == nil {
							ic.Close()
						}
					} else {
						var sc interface{ Close() error }
						sc, err = mailauth.DialSMTP(ctx, c, "a", opts)
						if err == nil {
							sc.Close()
						}
					}
					done <- err
				}()
				var conn net.Conn
				select {
				case conn = <-accepted:
				case err := <-done:
					t.Fatalf("returned before the server accepted: %v", err)
				}
				defer conn.Close()
				<-d.dialed
				cancel() // connected to a silent server: the client is mid-handshake or awaiting the greeting
				select {
				case err := <-done:
					require.ErrorIs(t, err, context.Canceled)
					assert.Contains(t, err.Error(), addr)
				case <-time.After(10 * time.Second):
					t.Fatal("the dial did not return after its context was cancelled")
				}
				// The client closed its end: the server reads EOF.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := io.Copy(io.Discard, conn)
				assert.NoError(t, err, "the client closed the connection")
			})
		}
	}
}

func TestConnectIMAPCancelled(t *testing.T) {
	addr, accepted := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := addrOf(t, addr, oauth2client.SecurityNone)
	d := &signallingDialer{dialed: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := mailauth.ConnectIMAP(ctx, server, &mailauth.DialOptions{Dialer: d})
		done <- err
	}()
	conn := <-accepted
	defer conn.Close()
	<-d.dialed
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

package mailauth_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// fakeServer describes a test kit server listening on addr.
func fakeServer(addr string, sec oauth2client.Security) oauth2client.ServerAddr {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return oauth2client.ServerAddr{Host: host, Port: n, Security: sec}
}

// DialIMAP and DialSMTP open authenticated clients for an account: the
// server comes from the account's connection (Exchange Online's here,
// replaced by the test kit's), and ctx bounds the dial, the TLS
// handshake and the login.
func ExampleDialIMAP() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, entra := connectDemo(ctx)
	defer entra.Close()
	cert, _ := mailtest.NewCertificate()
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer imapSrv.Close()
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer smtpSrv.Close()

	// In production: mailauth.DialIMAP(ctx, client, "a", nil).
	ic, err := mailauth.DialIMAP(ctx, client, "a", &mailauth.DialOptions{TLSConfig: cert.ClientConfig(),
		Server: fakeServer(imapSrv.Addr, oauth2client.SecurityTLS)})
	if err != nil {
		log.Fatal(err)
	}
	defer ic.Close()
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("INBOX messages:", sel.NumMessages)

	// In production: mailauth.DialSMTP(ctx, client, "a", nil).
	sc, err := mailauth.DialSMTP(ctx, client, "a", &mailauth.DialOptions{TLSConfig: cert.ClientConfig(),
		Server: fakeServer(smtpSrv.Addr, oauth2client.SecuritySTARTTLS)})
	if err != nil {
		log.Fatal(err)
	}
	defer sc.Close()
	msg := "Subject: hello\r\n\r\nSent with mailauth.DialSMTP.\r\n"
	if err := sc.SendMail("alice@contoso.example", []string{"bob@example.net"}, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent:", len(smtpSrv.Messages()))
	// Output:
	// INBOX messages: 0
	// sent: 1
}

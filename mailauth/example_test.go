package mailauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// connectDemo returns a Client with account "a" connected to a fake
// Entra ID, and the fake (whose ledger the fake mail servers consult).
func connectDemo(ctx context.Context) (*oauth2client.Client, *mailtest.Azure) {
	const callback = "http://localhost:8080/oauth2/callback"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{callback},
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := azure.New(azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(),
		ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL(), HTTPClient: entra.Client()})
	if err != nil {
		log.Fatal(err)
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: callback, Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SetConnection("m365", p); err != nil {
		log.Fatal(err)
	}
	authURL, err := c.StartAuthorization(ctx, "m365", "a", nil)
	if err != nil {
		log.Fatal(err)
	}
	back, err := entra.Authorize(ctx, authURL)
	if err != nil {
		log.Fatal(err)
	}
	c.Handler(oauth2client.HandlerConfig{}).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, back, nil))
	return c, entra
}

// IMAP logs a go-imap v2 client in with the account's token, choosing
// the mechanism from the server's capabilities.
func ExampleIMAP() {
	ctx := context.Background()
	client, entra := connectDemo(ctx)
	defer entra.Close()
	cert, _ := mailtest.NewCertificate()
	srv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// In production: mailauth.DialIMAPTLS(ctx, "outlook.office365.com:993", nil).
	// (imapclient.DialTLS works too, but a rejected XOAUTH2 token then
	// gets BAD instead of NO from Dovecot: see IMAPConn.)
	c, err := mailauth.DialIMAPTLS(ctx, srv.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := mailauth.IMAP(ctx, client, c, "a", nil); err != nil {
		log.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("INBOX messages:", sel.NumMessages)
	// Output:
	// INBOX messages: 0
}

// SMTP authenticates a go-smtp client after STARTTLS. Exchange Online and
// Gmail file the sent message in Sent themselves: check
// MailService.ServerSavesSent before appending a copy over IMAP.
func ExampleSMTP() {
	ctx := context.Background()
	client, entra := connectDemo(ctx)
	defer entra.Close()
	cert, _ := mailtest.NewCertificate()
	srv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// In production: smtp.DialStartTLS("smtp.office365.com:587", nil).
	c, err := smtp.DialStartTLS(srv.Addr, cert.ClientConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := mailauth.SMTP(ctx, client, c, "a", nil); err != nil {
		log.Fatal(err)
	}
	tok, _ := client.Token(ctx, "a")
	msg := "From: " + tok.Username + "\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := c.SendMail(tok.Username, []string{"bob@example.net"}, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	info, _ := client.Account(ctx, "a")
	fmt.Println("delivered:", len(srv.Messages()))
	fmt.Println("append a copy to Sent:", !info.Mail.ServerSavesSent)
	// Output:
	// delivered: 1
	// append a copy to Sent: false
}

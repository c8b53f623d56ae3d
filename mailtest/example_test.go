package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// A Ledger on a manual Clock decides which tokens the fake mail servers
// accept: exactly those issued, until they expire or are revoked.
func ExampleLedger() {
	clock := mailtest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	ledger := mailtest.NewLedger(clock.Now)
	ledger.Issue("tok-1", mailtest.TokenInfo{Username: "alice@example.net", Expiry: clock.Now().Add(time.Hour)})

	_, err := ledger.Check("alice@example.net", "tok-1")
	fmt.Println("valid:", err == nil)
	_, err = ledger.Check("bob@example.net", "tok-1")
	fmt.Println("other user:", err != nil)
	clock.Advance(2 * time.Hour)
	_, err = ledger.Check("alice@example.net", "tok-1")
	fmt.Println("expired:", err != nil)
	_, err = ledger.Check("alice@example.net", "never-issued")
	fmt.Println("unknown:", errors.Is(err, mailtest.ErrUnknownToken))
	// Output:
	// valid: true
	// other user: true
	// expired: true
	// unknown: true
}

// NewIMAPServer starts an IMAP server that takes XOAUTH2 and OAUTHBEARER
// with the ledger's tokens, over TLS with a throwaway certificate.
func ExampleNewIMAPServer() {
	clock := mailtest.NewClock(time.Now())
	ledger := mailtest.NewLedger(clock.Now)
	ledger.Issue("tok-1", mailtest.TokenInfo{Username: "alice@example.net", Expiry: clock.Now().Add(time.Hour)})
	cert, err := mailtest.NewCertificate()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: ledger, TLS: cert.ServerConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	login := func(token string) string {
		c, err := imapclient.DialTLS(srv.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		sc := xoauth2.NewClient("alice@example.net", token)
		if err := c.Authenticate(sc); err != nil {
			return "refused, status " + xoauth2.ChallengeError(sc).Status
		}
		return "logged in"
	}
	fmt.Println(login("tok-1"))
	fmt.Println(login("forged"))
	// Output:
	// logged in
	// refused, status 401
}

// Connect plays the user through the authorization code flow against a
// fake provider and the Client's real callback handler: the way to get a
// connected account in a test of your own code.
func ExampleConnect() {
	ctx := context.Background()
	redirect := "http://localhost:8080/oauth2/callback"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect},
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	p, err := azure.New(azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(),
		ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL(), HTTPClient: entra.Client()})
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("m365", p); err != nil {
		log.Fatal(err)
	}

	if err := mailtest.Connect(ctx, client, entra, "m365", "account-1", nil); err != nil {
		log.Fatal(err)
	}
	tok, err := client.Token(ctx, "account-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Username)
	// Output: alice@contoso.example
}

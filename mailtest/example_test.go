package mailtest_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/oauth2mail/oauth2mail/mailtest"
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

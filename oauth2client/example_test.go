package oauth2client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// This example connects a mailbox end to end against the in-process fake
// Entra ID from package mailtest: the application starts an
// authorization, sends the user's browser to the URL, the provider sends
// it back to the one callback handler, and from then on Token returns a
// fresh access token for the account.
func Example() {
	ctx := context.Background()
	const callback = "http://localhost:8080/oauth2/callback"

	// In production: azure.New with the IDs from the Azure portal.
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{callback},
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	m365, err := azure.New(azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(),
		ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL(), HTTPClient: entra.Client()})
	if err != nil {
		log.Fatal(err)
	}

	client, err := oauth2client.New(oauth2client.Config{RedirectURL: callback, Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("m365", m365); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /oauth2/callback", client.Handler(oauth2client.HandlerConfig{}))

	// The user clicks "connect mailbox" for account 42.
	authURL, err := client.StartAuthorization(ctx, "m365", "account-42",
		&oauth2client.AuthOptions{LoginHint: "alice@contoso.example"})
	if err != nil {
		log.Fatal(err)
	}
	// The browser signs in and comes back to the callback.
	back, err := entra.Authorize(ctx, authURL)
	if err != nil {
		log.Fatal(err)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, back, nil))
	fmt.Println("callback:", w.Code)

	tok, err := client.Token(ctx, "account-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("SASL user:", tok.Username)
	fmt.Println("printed token:", tok.AccessToken)

	// A SASL client for go-imap's Authenticate or go-smtp's Auth, for a
	// server that advertised AUTH=XOAUTH2 (package mailauth does this
	// from the server's capabilities).
	sc, err := client.SASLClient(ctx, "account-42", &oauth2client.SASLOptions{Offered: []string{"PLAIN", "XOAUTH2"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("SASL mechanism:", sc.Mechanism())
	// Output:
	// callback: 200
	// SASL user: alice@contoso.example
	// printed token: [redacted]
	// SASL mechanism: XOAUTH2
}

// Secrets print as [redacted] through fmt, %#v and log/slog; convert to
// string only where the value must go on the wire.
func ExampleSecret() {
	s := oauth2client.Secret("client-secret-value")
	fmt.Println(s)
	fmt.Printf("%v %q %#v\n", s, s, s)
	fmt.Println(len(string(s)))
	// Output:
	// [redacted]
	// [redacted] [redacted] [redacted]
	// 19
}

// ChooseMechanism picks the SASL mechanism from the provider's preference
// and what the server advertises, and says clearly when a server offers
// no OAuth mechanism at all.
func ExampleChooseMechanism() {
	m, _ := oauth2client.ChooseMechanism([]string{"XOAUTH2"}, []string{"PLAIN", "OAUTHBEARER", "XOAUTH2"})
	fmt.Println(m)
	m, _ = oauth2client.ChooseMechanism([]string{"XOAUTH2"}, []string{"PLAIN", "OAUTHBEARER"})
	fmt.Println(m)
	_, err := oauth2client.ChooseMechanism(nil, []string{"PLAIN", "LOGIN"})
	fmt.Println(errors.Is(err, oauth2client.ErrNoOAuthMechanism))
	// Output:
	// XOAUTH2
	// OAUTHBEARER
	// true
}

// CheckReturnTo accepts only same-origin relative paths as post-login
// redirect targets.
func ExampleCheckReturnTo() {
	for _, p := range []string{"/settings/mail", "//evil.example", "https://evil.example/", `/\evil.example`} {
		fmt.Printf("%-22q %v\n", p, oauth2client.CheckReturnTo(p) == nil)
	}
	// Output:
	// "/settings/mail"       true
	// "//evil.example"       false
	// "https://evil.example/" false
	// "/\\evil.example"      false
}

// When a mail server rejects a token, name the rejected token: however
// many connections were rejected with it, the account is refreshed once,
// and each gets the new token.
func ExampleClient_RefreshIfCurrent() {
	ctx := context.Background()
	idp := mailtest.NewRotator(mailtest.RotatorOptions{})
	client, err := oauth2client.New(oauth2client.Config{Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("idp", idp); err != nil {
		log.Fatal(err)
	}
	rejected, err := client.ConnectGrant(ctx, "idp", "alice", idp.Grant("alice@example.net"))
	if err != nil {
		log.Fatal(err)
	}
	for range 3 { // three connections were refused with the same token
		tok, err := client.RefreshIfCurrent(ctx, "alice", rejected.AccessToken)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("new token:", tok.AccessToken != rejected.AccessToken)
	}
	fmt.Println("refreshes:", idp.Stats().Rotations)
	// Output:
	// new token: true
	// new token: true
	// new token: true
	// refreshes: 1
}

package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// A fake hands out the provider.Settings a settings page would store; a
// Catalog builds them with the fake's HTTP client. RevokeSessions then
// does what an Entra administrator's "Revoke sessions" does.
func ExampleAzure_RevokeSessions() {
	const callback = "http://localhost:8080/oauth2/callback"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{callback}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	cat := provider.Catalog{HTTPClientFor: func(provider.Settings) *http.Client { return entra.Client() }}
	p, err := cat.Build(context.Background(), entra.Settings())
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
	ctx := context.Background()
	if err := mailtest.Connect(ctx, c, entra, "m365", "a", nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked:", entra.RevokeSessions("alice@contoso.example"))
	_, err = c.Refresh(ctx, "a")
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) {
		fmt.Println(pe.ProviderCode, errors.Is(err, oauth2client.ErrReauthRequired))
	}
	// Output:
	// revoked: 1
	// AADSTS50173 true
}

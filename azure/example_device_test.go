package azure_test

import (
	"context"
	"fmt"
	"log"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// A headless tool connects a mailbox with a device login: it shows the
// user a code to enter at https://microsoft.com/devicelogin, waits, and
// stores the grant. (Here the fake Entra ID approves the code.)
func ExampleProvider_StartDeviceLogin() {
	ctx := context.Background()
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{AllowPublicClientFlows: true,
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	// In production: ClientID and Tenant from the portal; a secret is
	// still needed if the same connection also serves browser sign-ins.
	m365, err := azure.New(azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(),
		ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL(), HTTPClient: entra.Client()})
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauth2client.New(oauth2client.Config{RedirectURL: "http://localhost:8080/oauth2/callback", Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("m365", m365); err != nil {
		log.Fatal(err)
	}

	login, err := m365.StartDeviceLogin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("open", login.VerificationURL, "and enter the code shown")
	_ = entra.ApproveDevice(login.UserCode, "alice@contoso.example") // the user signs in

	grant, err := login.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := client.ConnectGrant(ctx, "m365", "account-7", grant)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected", tok.Username)
	// Output:
	// open https://microsoft.com/devicelogin and enter the code shown
	// connected alice@contoso.example
}

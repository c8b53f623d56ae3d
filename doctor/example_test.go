package doctor_test

import (
	"context"
	"fmt"
	"log"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Diagnose an app-only connection whose mail permissions were never
// consented (here against the fake Entra ID; in production leave
// AuthorityURL and HTTPClient empty, and set IMAP and SMTP to nil to use
// Exchange Online's servers).
func ExampleAzure() {
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{AppRoles: []string{"User.Read.All"}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	r := doctor.Azure(context.Background(), doctor.AzureConfig{
		Azure: azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(), ClientSecret: oauth2client.Secret(entra.ClientSecret()),
			AuthorityURL: entra.URL(), HTTPClient: entra.Client(), AppOnly: true},
		Mailbox: "shared@contoso.example",
	})
	for _, s := range r.Steps {
		fmt.Printf("%-12s %s\n", s.Name, s.Status)
	}
	fmt.Println(r.Step(doctor.StepPermissions).Fix[:20])
	// Output:
	// settings     pass
	// tenant       pass
	// credential   pass
	// redirect URI skipped
	// permissions  fail
	// IMAP login   skipped
	// SMTP login   skipped
	// grant admin consent:
}

package oauth2client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// A multi-tenant app onboards a customer tenant: its administrator grants
// the app's permissions through admin consent, and the callback handler
// hands the app the tenant ID (here against the fake Entra ID, whose
// customer tenant's administrator consents).
func ExampleClient_StartAdminConsent() {
	const callback = "http://localhost:8080/oauth2/callback"
	const customer = "7c3f0b1e-5d2a-4e8f-9b6c-0a1d2e3f4a5b"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{callback},
		Users: []mailtest.AzureUser{{Email: "admin@fabrikam.example", Tenant: customer}}})
	if err != nil {
		log.Fatal(err)
	}
	defer entra.Close()
	cfg := entra.AzureConfig()
	cfg.Tenant = "organizations" // any customer's work accounts
	p, err := azure.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauth2client.New(oauth2client.Config{RedirectURL: callback, Store: tokenstore.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("m365", p); err != nil {
		log.Fatal(err)
	}
	handler := client.Handler(oauth2client.HandlerConfig{
		Session: func(*http.Request) string { return "admin-session" },
		OnAdminConsent: func(w http.ResponseWriter, r *http.Request, res *oauth2client.AdminConsent) {
			fmt.Println("granted:", res.Granted, "tenant:", res.Tenant)
		},
	})

	ctx := context.Background()
	u, err := client.StartAdminConsent(ctx, "m365", &oauth2client.AdminConsentOptions{Session: "admin-session"})
	if err != nil {
		log.Fatal(err)
	}
	back, err := entra.Authorize(ctx, u) // the administrator consents at Entra
	if err != nil {
		log.Fatal(err)
	}
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, back, nil))
	// Output:
	// granted: true tenant: 7c3f0b1e-5d2a-4e8f-9b6c-0a1d2e3f4a5b
}

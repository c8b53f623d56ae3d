package provider_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/oauth2mail/oauth2mail/provider"
)

// Each connection gets the HTTP client it needs (here: one tenant behind
// a proxy), and every kind reads the same clock.
func ExampleCatalog_HTTPClientFor() {
	direct := &http.Client{Timeout: 30 * time.Second}
	viaProxy := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	cat := provider.Catalog{
		HTTPClientFor: func(s provider.Settings) *http.Client {
			if s.Tenant == "fabrikam.example" {
				return viaProxy
			}
			return direct
		},
		Now: time.Now,
	}
	for _, s := range []provider.Settings{
		{Kind: provider.KindAzure, ClientID: "00000000-0000-4000-8000-00000000c11e", ClientSecret: "v~alue", Tenant: "contoso.example"},
		{Kind: provider.KindAzure, ClientID: "00000000-0000-4000-8000-00000000c11e", ClientSecret: "v~alue", Tenant: "fabrikam.example"},
	} {
		p, err := cat.Build(context.Background(), s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %T\n", s.Tenant, p)
	}
	// Output:
	// contoso.example: *azure.Provider
	// fabrikam.example: *azure.Provider
}

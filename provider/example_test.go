package provider_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

// Building a provider from what the settings page stored.
func ExampleCatalog_Build() {
	var catalog provider.Catalog // zero value: default HTTP clients
	p, err := catalog.Build(context.Background(), provider.Settings{
		Kind:         provider.KindGoogle,
		ClientID:     "123-abc.apps.googleusercontent.com",
		ClientSecret: "GOCSPX-from-the-settings-table",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Mail().IMAP.Host, p.Mail().Mechanisms)

	// A wrong setting names the field, for the settings page to highlight.
	_, err = catalog.Build(context.Background(), provider.Settings{Kind: provider.KindAzure, ClientID: "00000000-0000-4000-8000-00000000c11e"})
	var fe *provider.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field)
	}
	// Output:
	// imap.gmail.com [XOAUTH2 OAUTHBEARER]
	// Tenant
}

// Detecting the provider from a mail address.
func ExampleDetect() {
	m, err := provider.Detect(context.Background(), "someone@yahoo.com", provider.DetectOptions{NoMX: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Kind, m.Name, m.Settings.IMAP.Host, m.Settings.Scopes)
	// Without NoMX, a company domain is recognised by its MX records
	// (through net.DefaultResolver when Resolver is nil).
	// Output:
	// generic Yahoo imap.mail.yahoo.com [mail-w]
}

// A static generic provider: no network I/O until it is used.
func ExampleNewGeneric() {
	p, err := provider.NewGeneric(provider.GenericConfig{
		Name:     "fastmail",
		ClientID: "my-public-client-id", // public client: PKCE, no secret
		AuthURL:  "https://api.fastmail.com/oauth/authorize",
		TokenURL: "https://api.fastmail.com/oauth/refresh",
		Mail: oauth2client.MailService{
			IMAP:   oauth2client.ServerAddr{Host: "imap.fastmail.com", Port: 993},
			SMTP:   oauth2client.ServerAddr{Host: "smtp.fastmail.com", Port: 465},
			Scopes: []string{"https://www.fastmail.com/dev/protocol-imap", "https://www.fastmail.com/dev/protocol-smtp"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Mail().Mechanisms)
	// Output:
	// [XOAUTH2 OAUTHBEARER]
}

// Reading the endpoints from an OpenID Connect issuer.
func ExampleDiscover() {
	p, err := provider.Discover(context.Background(), "https://keycloak.corp.example/realms/mail", provider.GenericConfig{
		ClientID: "groupware",
		Scopes:   []string{"openid", "email", "offline_access"},
		Mail: oauth2client.MailService{
			IMAP: oauth2client.ServerAddr{Host: "imap.corp.example", Port: 993},
			SMTP: oauth2client.ServerAddr{Host: "smtp.corp.example", Port: 587, Security: oauth2client.SecuritySTARTTLS},
		},
	})
	if err != nil {
		fmt.Println("discovery failed:", err != nil)
		return
	}
	fmt.Println(p.Issuer())
}

// Finding the tenant ID of a Microsoft 365 domain.
func ExampleFindTenant() {
	tid, err := provider.FindTenant(context.Background(), "alice@contoso.com", provider.TenantOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tid)
}

// Discovery refuses a plain-http issuer (the code, the PKCE verifier and
// the client secret would travel in clear) before any request, unless the
// application opts in with AllowInsecureHTTP, for tests on loopback.
func ExampleDiscover_insecure() {
	_, err := provider.Discover(context.Background(), "http://keycloak.corp.example/realms/mail", provider.GenericConfig{
		ClientID: "groupware",
		Mail: oauth2client.MailService{
			IMAP: oauth2client.ServerAddr{Host: "imap.corp.example", Port: 993},
			SMTP: oauth2client.ServerAddr{Host: "smtp.corp.example", Port: 465},
		},
	})
	fmt.Println(errors.Is(err, provider.ErrInsecureURL), errors.Is(err, provider.ErrConfig))
	// Output:
	// true true
}

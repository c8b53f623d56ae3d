package azure_test

import (
	"fmt"
	"log"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// The three values come from the app registration in the Microsoft Entra
// admin center: the Overview page's "Application (client) ID" and
// "Directory (tenant) ID", and the Value (not the Secret ID) of a client
// secret. The provider is then added to an oauth2client.Client with
// SetConnection.
func ExampleNew() {
	p, err := azure.New(azure.Config{
		ClientID:     "6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10", // Application (client) ID
		Tenant:       "contoso.onmicrosoft.com",              // Directory (tenant) ID or a verified domain
		ClientSecret: oauth2client.Secret("Xy7Q~example-secret-value"),
	})
	if err != nil {
		log.Fatal(err)
	}
	m := p.Mail()
	fmt.Println("IMAP:", m.IMAP.Host, m.IMAP.Port, m.IMAP.Security)
	fmt.Println("SMTP:", m.SMTP.Host, m.SMTP.Port, m.SMTP.Security)
	fmt.Println("SASL:", m.Mechanisms)
	fmt.Println("scopes:", m.Scopes)
	// Output:
	// IMAP: outlook.office365.com 993 tls
	// SMTP: smtp.office365.com 587 starttls
	// SASL: [XOAUTH2]
	// scopes: [https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send]
}

// App-only access uses the application's own credentials (client
// credentials) and needs the tenant's ID, admin consent for
// IMAP.AccessAsApp / SMTP.SendAsApp and a service principal registered in
// Exchange Online. A multi-tenant authority is refused at once.
func ExampleNew_appOnly() {
	_, err := azure.New(azure.Config{
		ClientID:     "6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10",
		Tenant:       "organizations",
		ClientSecret: oauth2client.Secret("Xy7Q~example-secret-value"),
		AppOnly:      true,
	})
	fmt.Println(err)

	p, err := azure.New(azure.Config{
		ClientID:     "6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10",
		Tenant:       "0b7e3c2a-8f1d-4e6b-a9c5-3d2f1e0a9b8c",
		ClientSecret: oauth2client.Secret("Xy7Q~example-secret-value"),
		AppOnly:      true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token scope:", p.Mail().Scopes)
	// Output:
	// azure: invalid configuration: Tenant: app-only access needs the Directory (tenant) ID of the tenant whose mailboxes you open, not "organizations"
	// token scope: [https://outlook.office365.com/.default]
}

// Entra accepts plain http redirect URIs only for loopback development.
func ExampleProvider_ValidateRedirectURI() {
	p, err := azure.New(azure.Config{ClientID: "6f1c0a5e-3f4b-4d1e-9a57-2c8e1b7d9f10", Tenant: "organizations",
		ClientSecret: oauth2client.Secret("Xy7Q~example-secret-value")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.ValidateRedirectURI("http://localhost:8080/oauth2/callback"))
	fmt.Println(p.ValidateRedirectURI("http://mail.example.com/oauth2/callback"))
	// Output:
	// <nil>
	// azure: redirect URI "http://mail.example.com/oauth2/callback" uses http; Entra accepts plain http only for localhost and 127.0.0.1 (development): serve the callback over https
}

// Errors is the troubleshooting table: AADSTS code, who must act and how.
func ExampleErrors() {
	for _, e := range azure.Errors() {
		if e.Code == 7000215 {
			fmt.Printf("AADSTS%d (%s, %s): %s\n", e.Code, e.OAuthError, e.Class, e.Meaning)
		}
	}
	// Output:
	// AADSTS7000215 (invalid_client, config): Invalid client secret provided
}

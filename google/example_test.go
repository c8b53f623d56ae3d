package google_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// A provider for users' consent: the client ID and secret come from
// Google Cloud console > APIs & Services > Credentials.
func ExampleNew() {
	p, err := google.New(google.Config{
		ClientID:     "123-abc.apps.googleusercontent.com",
		ClientSecret: oauth2client.Secret("GOCSPX-" + os.Getenv("GOOGLE_CLIENT_SECRET")),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := p.Mail()
	fmt.Println(m.IMAP.Host, m.IMAP.Port, m.IMAP.Security)
	fmt.Println(m.SMTP.Host, m.SMTP.Port, m.SMTP.Security)
	fmt.Println(m.Mechanisms, m.Scopes)
	// Output:
	// imap.gmail.com 993 tls
	// smtp.gmail.com 465 tls
	// [XOAUTH2 OAUTHBEARER] [https://mail.google.com/]
}

// A configuration error names the field to fix.
func ExampleNew_error() {
	_, err := google.New(google.Config{ClientID: "123-abc.apps.googleusercontent.com"})
	fmt.Println(err)
	// Output:
	// google: invalid configuration: Config.ClientSecret is empty: copy the client secret of 123-abc.apps.googleusercontent.com from Google Cloud console > APIs & Services > Credentials
}

// App-only access to a Google Workspace mailbox through a service account
// with domain-wide delegation.
func ExampleProvider_AppToken() {
	key, err := os.ReadFile("service-account.json")
	if err != nil {
		return // the example needs a real key
	}
	p, err := google.New(google.Config{ServiceAccount: google.ServiceAccount{JSONKey: key}})
	if err != nil {
		log.Fatal(err)
	}
	g, err := p.AppToken(context.Background(), "shared-inbox@corp.example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Identity.Username, g.AppOnly)
}

// The troubleshooting table as data.
func ExampleErrors() {
	for _, e := range google.Errors()[:3] {
		fmt.Printf("%s: %s\n", e.Code, e.Class)
	}
	// Output:
	// invalid_grant: reauth
	// invalid_client: config
	// unauthorized_client: admin
}

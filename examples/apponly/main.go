// Command apponly reads a shared mailbox with Azure app-only access
// (client credentials, IMAP.AccessAsApp): no user signs in.
//
//	go run ./examples/apponly -demo
//
//	AZURE_CLIENT_SECRET=... go run ./examples/apponly \
//	    -client-id 00000000-... -tenant contoso.onmicrosoft.com -mailbox shared@contoso.com
//
// Before it works against Exchange Online, an administrator grants the
// app the IMAP.AccessAsApp application permission (with admin consent)
// and registers it in Exchange Online PowerShell (New-ServicePrincipal,
// Add-MailboxPermission); `go run ./examples/doctor` checks all of that.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "apponly:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("apponly", flag.ContinueOnError)
	fs.SetOutput(out)
	demo := fs.Bool("demo", false, "use an in-process fake Entra ID and IMAP server")
	clientID := fs.String("client-id", "", "Application (client) ID (AZURE_CLIENT_SECRET holds the secret's Value)")
	tenant := fs.String("tenant", "", "Directory (tenant) ID or verified domain (not organizations/common)")
	mailbox := fs.String("mailbox", "", "the mailbox to read, e.g. shared@contoso.com")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg := azure.Config{ClientID: *clientID, Tenant: *tenant, AppOnly: true, ClientSecret: oauth2client.Secret(os.Getenv("AZURE_CLIENT_SECRET"))}
	dial := func() (*imapclient.Client, error) { return imapclient.DialTLS("outlook.office365.com:993", nil) }
	if *demo {
		entra, err := mailtest.NewAzure(mailtest.AzureOptions{})
		if err != nil {
			return err
		}
		defer entra.Close()
		cert, err := mailtest.NewCertificate()
		if err != nil {
			return err
		}
		srv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg = azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(), ClientSecret: oauth2client.Secret(entra.ClientSecret()),
			AuthorityURL: entra.URL(), HTTPClient: entra.Client(), AppOnly: true}
		*mailbox = "shared@contoso.example"
		dial = func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
		}
	} else if *clientID == "" || *tenant == "" || *mailbox == "" {
		return errors.New("give -client-id, -tenant and -mailbox (and AZURE_CLIENT_SECRET), or -demo")
	}

	p, err := azure.New(cfg)
	if err != nil {
		return err
	}
	client, err := oauth2client.New(oauth2client.Config{Store: tokenstore.NewMemory()})
	if err != nil {
		return err
	}
	if err := client.SetConnection("m365-app", p); err != nil {
		return err
	}
	// One account per mailbox; the token is the app's, the SASL user is
	// the mailbox.
	if _, err := client.ConnectAppOnly(ctx, "m365-app", "shared", *mailbox); err != nil {
		return err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := mailauth.IMAP(ctx, client, c, "shared", nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "logged in to %s as the application\n", *mailbox)
	if *demo {
		// Give the empty demo mailbox something to read.
		msg := "Date: " + time.Now().Format(time.RFC1123Z) + "\r\nFrom: bob@example.net\r\nTo: " + *mailbox +
			"\r\nSubject: Quarterly report\r\n\r\nSee attachment.\r\n"
		app := c.Append("INBOX", int64(len(msg)), nil)
		if _, err := io.WriteString(app, msg); err != nil {
			return err
		}
		if err := app.Close(); err != nil {
			return err
		}
		if _, err := app.Wait(); err != nil {
			return err
		}
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "INBOX holds %d messages\n", sel.NumMessages)
	if sel.NumMessages > 0 {
		first := max(1, sel.NumMessages-9)
		var last10 imap.SeqSet
		last10.AddRange(first, sel.NumMessages)
		msgs, err := c.Fetch(last10, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			from := ""
			if len(m.Envelope.From) > 0 {
				from = m.Envelope.From[0].Addr()
			}
			fmt.Fprintf(out, "  %s  %-30s %s\n", m.Envelope.Date.Format("2006-01-02"), from, strings.TrimSpace(m.Envelope.Subject))
		}
	}
	return c.Logout().Wait()
}

// Command doctor checks an Entra ID (Azure) connection, and optionally a
// mailbox, step by step, and prints what to fix.
//
//	go run ./examples/doctor -demo                  # against in-process fakes: every step passes
//	go run ./examples/doctor -demo -break=consent   # ... or one of: tenant, secret, consent, redirect, imap, smtp
//	go run ./examples/doctor -demo -delegated       # a delegated connection: device login, then every step
//	go run ./examples/doctor -demo -delegated -break=secret   # ... or redirect, smtp
//
//	AZURE_CLIENT_SECRET=... go run ./examples/doctor \
//	    -client-id 00000000-... -tenant contoso.onmicrosoft.com -app-only \
//	    -mailbox shared@contoso.com -object-id <Enterprise application Object ID>
//
//	go run ./examples/doctor -delegated -settings conn.json -redirect https://mail.example.com/oauth2/callback -device-login
//	go run ./examples/doctor -delegated -settings conn.json -redirect ... -store /var/lib/app/tokens -key tokens.key -account user-42
//
// With -delegated the connection comes from a provider.Settings JSON file
// (the record a settings page stores) and the user's token from a device
// login or from an account already in a File token store.
//
// It exits 1 when a step fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor:", err)
	}
	os.Exit(code)
}

// run parses args, runs the doctor and prints the report; it returns the
// exit code.
func run(args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(out)
	demo := fs.Bool("demo", false, "check a connection to in-process fakes of Entra ID, IMAP and SMTP")
	breakWhat := fs.String("break", "", "with -demo, break one thing: tenant, secret, consent, redirect, imap or smtp")
	clientID := fs.String("client-id", "", "Application (client) ID")
	tenant := fs.String("tenant", "", "Directory (tenant) ID or verified domain")
	cloud := fs.String("cloud", "global", "cloud: global, usgovernment, usgovernmentdod or china")
	appOnly := fs.Bool("app-only", false, "the connection uses application permissions (client credentials)")
	redirect := fs.String("redirect", "", "the callback URL the application registers (delegated connections)")
	mailbox := fs.String("mailbox", "", "a mailbox to log in to over IMAP and SMTP (app-only connections)")
	objectID := fs.String("object-id", "", "the Enterprise application's Object ID, filled into the PowerShell fixes")
	var df delegatedFlags
	delegated := fs.Bool("delegated", false, "check a delegated connection: the settings, and a user's permissions, IMAP and SMTP")
	fs.StringVar(&df.settings, "settings", "", "with -delegated: a JSON file holding the connection's provider.Settings")
	fs.BoolVar(&df.deviceLogin, "device-login", false, "with -delegated: sign a user in now with a device code")
	fs.StringVar(&df.store, "store", "", "with -delegated: a File token store directory holding -account")
	fs.StringVar(&df.key, "key", "", "with -store: the key file of an encrypted store")
	fs.StringVar(&df.account, "account", "", "with -store: the account to check")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if *delegated {
		var r *doctor.Report
		var err error
		if *demo {
			var done func()
			r, done, err = demoDelegated(ctx, *breakWhat, out)
			if done != nil {
				defer done()
			}
		} else {
			df.redirect, df.objectID = *redirect, *objectID
			r, err = runDelegated(ctx, df, out)
		}
		if err != nil {
			return 2, err
		}
		return report(r, out)
	}

	var cfg doctor.AzureConfig
	if *demo {
		d, err := newDemo(*breakWhat)
		if err != nil {
			return 2, err
		}
		defer d.close()
		cfg = d.cfg
		fmt.Fprintf(out, "Checking a demo connection (fake Entra ID at %s)", d.entra.URL())
		if *breakWhat != "" {
			fmt.Fprintf(out, " with %s broken", *breakWhat)
		}
		fmt.Fprintln(out, ":")
	} else {
		c, ok := azure.CloudByName(*cloud)
		if !ok {
			return 2, fmt.Errorf("unknown -cloud %q", *cloud)
		}
		if *clientID == "" || *tenant == "" {
			return 2, errors.New("give -client-id and -tenant (and the secret in AZURE_CLIENT_SECRET), or -demo")
		}
		cfg = doctor.AzureConfig{
			Azure: azure.Config{ClientID: *clientID, Tenant: *tenant, Cloud: c, AppOnly: *appOnly,
				ClientSecret: oauth2client.Secret(os.Getenv("AZURE_CLIENT_SECRET"))},
			RedirectURL: *redirect, Mailbox: *mailbox, EnterpriseObjectID: *objectID,
		}
		fmt.Fprintf(out, "Checking application %s in tenant %s:\n", *clientID, *tenant)
	}
	return report(doctor.Azure(ctx, cfg), out)
}

// report prints r and returns the exit code.
func report(r *doctor.Report, out io.Writer) (int, error) {
	if _, err := r.WriteTo(out); err != nil {
		return 2, err
	}
	if !r.OK() {
		return 1, nil
	}
	fmt.Fprintln(out, "All checks passed.")
	return 0, nil
}

// demo is a connection to in-process fakes, with one thing broken.
type demo struct {
	entra *mailtest.Azure
	cfg   doctor.AzureConfig
	close func()
}

const demoMailbox = "shared@contoso.example"

func newDemo(breakWhat string, tweaks ...func(*mailtest.AzureOptions)) (*demo, error) {
	const callback = "https://mail.contoso.example/oauth2/callback"
	opts := mailtest.AzureOptions{RedirectURIs: []string{callback}}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	var imapRefuses bool
	var smtpDisabled string
	switch breakWhat {
	case "", "tenant", "secret", "redirect":
	case "consent":
		opts.AppRoles = []string{"User.Read.All"} // the mail permissions were never consented
	case "imap":
		imapRefuses = true // the service principal is not registered in Exchange
	case "smtp":
		smtpDisabled = "Tenant"
	default:
		return nil, fmt.Errorf("unknown -break %q: use tenant, secret, consent, redirect, imap or smtp", breakWhat)
	}
	entra, err := mailtest.NewAzure(opts)
	if err != nil {
		return nil, err
	}
	cert, err := mailtest.NewCertificate()
	if err != nil {
		entra.Close()
		return nil, err
	}
	var tokens mailtest.TokenChecker = entra.Ledger()
	if imapRefuses {
		tokens = unregistered{}
	}
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: tokens, TLS: cert.ServerConfig()})
	if err != nil {
		entra.Close()
		return nil, err
	}
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig(), SMTPAuthDisabled: smtpDisabled})
	if err != nil {
		_ = imapSrv.Close()
		entra.Close()
		return nil, err
	}
	d := &demo{entra: entra, close: func() { _ = smtpSrv.Close(); _ = imapSrv.Close(); entra.Close() }}
	d.cfg = doctor.AzureConfig{
		Azure: azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(), ClientSecret: oauth2client.Secret(entra.ClientSecret()),
			AuthorityURL: entra.URL(), HTTPClient: entra.Client(), AppOnly: true},
		RedirectURL:        callback,
		Mailbox:            demoMailbox,
		EnterpriseObjectID: "6233fba6-0198-4277-892f-9275bf728bcc",
		IMAP: func(ctx context.Context, user string, tok oauth2client.Secret) error {
			c, err := imapclient.DialTLS(imapSrv.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Authenticate(xoauth2.NewClient(user, string(tok)))
		},
		SMTP: func(ctx context.Context, user string, tok oauth2client.Secret) error {
			c, err := smtp.DialStartTLS(smtpSrv.Addr, cert.ClientConfig())
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Auth(mailauth.ForSMTP(xoauth2.NewClient(user, string(tok))))
		},
	}
	switch breakWhat {
	case "tenant":
		d.cfg.Azure.Tenant = "contoso-typo.example"
	case "secret":
		d.cfg.Azure.ClientSecret = "Q~pasted-the-wrong-thing" // e.g. an old or another app's secret
	case "redirect":
		d.cfg.Azure.AppOnly = false
		d.cfg.RedirectURL = "http://mail.contoso.example/oauth2/callback" // plain http off localhost
	}
	return d, nil
}

// unregistered refuses every token, as Exchange Online does for an app
// whose service principal is not registered there.
type unregistered struct{}

func (unregistered) Check(string, string) (mailtest.TokenInfo, error) {
	return mailtest.TokenInfo{}, mailtest.ErrUnknownToken
}

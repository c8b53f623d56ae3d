// Command tokenhelper prints a fresh access token (or a ready XOAUTH2
// string) for a mailbox, refreshing it through an encrypted token store,
// for mail tools that run a command to get their password:
//
//	# msmtp:   passwordeval "tokenhelper -store ~/.oauth2mail -client-id ... -tenant ..."
//	# mbsync:  PassCmd      "tokenhelper -store ~/.oauth2mail -client-id ... -tenant ..."
//	# aerc:    source-cred-cmd = tokenhelper -store ~/.oauth2mail -client-id ... -tenant ...
//
// Connect the mailbox once with a device login (the app registration must
// allow public client flows), then every call prints a valid token:
//
//	tokenhelper -store ~/.oauth2mail -client-id 00000000-... -tenant organizations -connect
//
// Try it offline: go run ./examples/tokenhelper -demo -format xoauth2
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tokenhelper:", err)
		os.Exit(1)
	}
}

// run prints the token to out; messages for the user go to msgs.
func run(args []string, out, msgs io.Writer) error {
	fs := flag.NewFlagSet("tokenhelper", flag.ContinueOnError)
	fs.SetOutput(msgs)
	demo := fs.Bool("demo", false, "connect and print a token against an in-process fake Entra ID")
	dir := fs.String("store", "", "directory of the encrypted token store (its key is <store>.key)")
	account := fs.String("account", "default", "the account name in the store")
	clientID := fs.String("client-id", "", "Application (client) ID")
	tenant := fs.String("tenant", "organizations", "Directory (tenant) ID, organizations, or consumers")
	connect := fs.Bool("connect", false, "connect the account with a device login first")
	format := fs.String("format", "token", "what to print: token (the access token) or xoauth2 (the base64 SASL XOAUTH2 response)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "token" && *format != "xoauth2" {
		return fmt.Errorf("unknown -format %q: use token or xoauth2", *format)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 16*time.Minute) // a device login may take 15 minutes
	defer cancel()

	// A public client: no secret on the user's machine; the device
	// login's tokens are refreshed without one.
	cfg := azure.Config{ClientID: *clientID, Tenant: *tenant, PublicClient: true}
	var approve func(userCode string) error
	if *demo {
		entra, err := mailtest.NewAzure(mailtest.AzureOptions{AllowPublicClientFlows: true})
		if err != nil {
			return err
		}
		defer entra.Close()
		cfg = azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(), AuthorityURL: entra.URL(), HTTPClient: entra.Client(), PublicClient: true}
		approve = func(code string) error { return entra.ApproveDevice(code, "alice@contoso.example") }
		if *dir == "" {
			tmp, err := os.MkdirTemp("", "tokenhelper-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			*dir = filepath.Join(tmp, "tokens")
		}
		*connect = true
	} else if *clientID == "" || *dir == "" {
		return errors.New("give -store and -client-id (and -tenant), or -demo")
	}
	p, err := azure.New(cfg)
	if err != nil {
		return err
	}
	files, err := tokenstore.OpenFile(*dir)
	if err != nil {
		return err
	}
	keys, err := tokenstore.LoadOrCreateKeyFile(filepath.Clean(*dir) + ".key")
	if err != nil {
		return err
	}
	store, err := tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: keys})
	if err != nil {
		return err
	}
	client, err := oauth2client.New(oauth2client.Config{Store: store})
	if err != nil {
		return err
	}
	if err := client.SetConnection("m365", p); err != nil {
		return err
	}

	if *connect {
		login, err := p.StartDeviceLogin(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(msgs, login.Message)
		if approve != nil {
			if err := approve(login.UserCode); err != nil { // the demo user signs in
				return err
			}
		}
		g, err := login.Wait(ctx)
		if err != nil {
			return err
		}
		if _, err := client.ConnectGrant(ctx, "m365", *account, g); err != nil {
			return err
		}
		fmt.Fprintf(msgs, "connected %s as %s\n", *account, g.Identity.Username)
	}

	tok, err := client.Token(ctx, *account)
	if err != nil {
		if errors.Is(err, oauth2client.ErrNotFound) || errors.Is(err, oauth2client.ErrReauthRequired) {
			return fmt.Errorf("%w\nrun again with -connect to sign in", err)
		}
		return err
	}
	switch *format {
	case "xoauth2":
		raw := "user=" + tok.Username + "\x01auth=Bearer " + string(tok.AccessToken) + "\x01\x01"
		_, err = fmt.Fprintln(out, base64.StdEncoding.EncodeToString([]byte(raw)))
	default:
		_, err = fmt.Fprintln(out, string(tok.AccessToken))
	}
	return err
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// delegatedFlags are the command line of a delegated check.
type delegatedFlags struct {
	settings, store, key, account, redirect, objectID string
	deviceLogin                                       bool
}

// runDelegated checks a delegated connection: its settings (a
// provider.Settings JSON file), and a user's permissions, IMAP and SMTP,
// with a token from a device login or from an account already in a
// token store.
func runDelegated(ctx context.Context, f delegatedFlags, out io.Writer) (*doctor.Report, error) {
	if f.settings == "" {
		return nil, errors.New("-delegated needs -settings <file>: the connection's provider.Settings as JSON (or -demo)")
	}
	raw, err := os.ReadFile(f.settings)
	if err != nil {
		return nil, err
	}
	var s provider.Settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.settings, err)
	}
	cfg := doctor.SettingsConfig{Settings: s, RedirectURL: f.redirect, EnterpriseObjectID: f.objectID}
	switch {
	case f.deviceLogin:
		ac, err := doctor.AzureSettings(s)
		if err != nil {
			return nil, err
		}
		tok, who, err := doctor.DeviceLogin(ctx, ac, func(dl *azure.DeviceLogin) { fmt.Fprintln(out, dl.Message) })
		if err != nil {
			return nil, fmt.Errorf("device login: %w", err)
		}
		cfg.Mailbox = who
		cfg.Token = func(context.Context) (oauth2client.Secret, error) { return tok, nil }
	case f.store != "" && f.account != "":
		store, err := openStore(f.store, f.key)
		if err != nil {
			return nil, err
		}
		p, err := provider.Catalog{}.Build(ctx, s)
		if err != nil {
			return nil, err
		}
		if cfg.Token, cfg.Mailbox, err = doctor.StoredAccount(ctx, store, f.account, p); err != nil {
			return nil, err
		}
	default:
		fmt.Fprintln(out, "(no user token: give -device-login, or -store and -account, to check permissions, IMAP and SMTP)")
	}
	fmt.Fprintf(out, "Checking delegated connection %s in tenant %s:\n", s.ClientID, s.Tenant)
	return doctor.Settings(ctx, cfg), nil
}

// openStore opens a File token store, encrypted with the key file if one
// is given.
func openStore(dir, key string) (oauth2client.TokenStore, error) {
	files, err := tokenstore.OpenFile(dir)
	if err != nil || key == "" {
		return files, err
	}
	keys, err := tokenstore.LoadKeyFile(key)
	if err != nil {
		return nil, err
	}
	return tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: keys})
}

// demoDelegated checks a delegated connection to the fakes end to end: a
// user signs in with a device code (the fake plays the user's approval),
// and the doctor checks the settings, the tenant, the credential, the
// registered redirect URI, the token's delegated permissions, and IMAP
// and SMTP logins as that user.
func demoDelegated(ctx context.Context, breakWhat string, out io.Writer) (*doctor.Report, func(), error) {
	switch breakWhat {
	case "", "secret", "redirect", "smtp":
	default:
		return nil, nil, fmt.Errorf("unknown -break %q with -delegated: use secret, redirect or smtp", breakWhat)
	}
	const user = "alice@contoso.example"
	d, err := newDemo(map[string]string{"smtp": "smtp"}[breakWhat], func(o *mailtest.AzureOptions) {
		o.AllowPublicClientFlows = true
		o.Users = []mailtest.AzureUser{{Email: user}}
	})
	if err != nil {
		return nil, nil, err
	}
	s := d.entra.Settings()
	redirect := d.cfg.RedirectURL
	switch breakWhat {
	case "secret":
		s.ClientSecret = "3f2b9a4e-8c1d-4e5f-9a6b-7c8d9e0f1a2b" // the Secret ID, not its Value
	case "redirect":
		redirect = "https://mail.contoso.example/oauth2/callback-typo" // well-formed, never registered
	}
	ac, err := doctor.AzureSettings(d.entra.Settings())
	if err != nil {
		d.close()
		return nil, nil, err
	}
	ac.HTTPClient = d.entra.Client()
	tok, who, err := doctor.DeviceLogin(ctx, ac, func(dl *azure.DeviceLogin) {
		fmt.Fprintf(out, "Device login: %s\n(the demo signs in as %s)\n", dl.Message, user)
		if err := d.entra.ApproveDevice(dl.UserCode, user); err != nil {
			fmt.Fprintln(out, "approving the device code:", err)
		}
	})
	if err != nil {
		d.close()
		return nil, nil, fmt.Errorf("device login: %w", err)
	}
	fmt.Fprintf(out, "Checking a delegated demo connection for %s (fake Entra ID at %s)", who, d.entra.URL())
	if breakWhat != "" {
		fmt.Fprintf(out, " with %s broken", breakWhat)
	}
	fmt.Fprintln(out, ":")
	r := doctor.Settings(ctx, doctor.SettingsConfig{Settings: s, HTTPClient: d.entra.Client(), RedirectURL: redirect,
		Mailbox: who, Token: func(context.Context) (oauth2client.Secret, error) { return tok, nil },
		IMAP: d.cfg.IMAP, SMTP: d.cfg.SMTP})
	return r, d.close, nil
}

package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

// StepSettings is the first step of [Azure]: the connection's settings
// checked locally, before any network call, so that a mistake such as a
// Secret ID (a GUID) pasted as the secret is reported even when the
// tenant cannot be reached.
const StepSettings = "settings"

// SettingsConfig is what [Settings] checks: a connection as a settings
// page stores it, and how to reach it.
type SettingsConfig struct {
	// Settings is the connection (kind "azure"; the doctor checks Entra ID
	// connections only).
	Settings provider.Settings
	// HTTPClient carries every Entra call. Nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// RedirectURL, Mailbox, EnterpriseObjectID, Token, IMAP and SMTP are
	// as in [AzureConfig]. For a delegated connection, Token comes from
	// [DeviceLogin] or [StoredAccount], and Mailbox from the same call.
	RedirectURL        string
	Mailbox            string
	EnterpriseObjectID string
	Token              func(ctx context.Context) (oauth2client.Secret, error)
	IMAP, SMTP         func(ctx context.Context, user string, token oauth2client.Secret) error
}

// Settings diagnoses a connection given as [provider.Settings], the
// record a settings page keeps: it runs [Azure] on the equivalent
// azure.Config. Settings of another kind give a report with one failed
// settings step.
func Settings(ctx context.Context, cfg SettingsConfig) *Report {
	ac, err := AzureSettings(cfg.Settings)
	if err != nil {
		return &Report{Steps: []Step{{Name: StepSettings, Status: Fail, Detail: err.Error(),
			Fix: "give the settings of an Entra ID (kind \"azure\") connection"}}}
	}
	ac.HTTPClient = cfg.HTTPClient
	return Azure(ctx, AzureConfig{Azure: ac, RedirectURL: cfg.RedirectURL, Mailbox: cfg.Mailbox,
		EnterpriseObjectID: cfg.EnterpriseObjectID, Token: cfg.Token, IMAP: cfg.IMAP, SMTP: cfg.SMTP})
}

// AzureSettings returns the azure.Config that provider.Catalog builds
// from s (without an HTTP client or clock). It checks only the kind and
// the cloud's name: [Azure] checks the rest and reports it.
func AzureSettings(s provider.Settings) (azure.Config, error) {
	if s.Kind != provider.KindAzure {
		return azure.Config{}, fmt.Errorf("doctor: the settings are of kind %q: the doctor checks \"azure\" connections only", s.Kind)
	}
	cloud, ok := azure.CloudByName(s.Cloud)
	if !ok {
		return azure.Config{}, fmt.Errorf("doctor: Cloud %q is not one of \"global\", \"usgovernment\", \"usgovernmentdod\", \"china\"", s.Cloud)
	}
	var cert []byte
	if !s.ClientCertificate.IsZero() {
		cert = []byte(s.ClientCertificate.Reveal())
	}
	return azure.Config{ClientID: s.ClientID, Tenant: s.Tenant, Cloud: cloud, AuthorityURL: s.AuthorityURL,
		ClientSecret: s.ClientSecret, CertificatePEM: cert, AppOnly: s.AppOnly, PublicClient: s.PublicClient,
		Scopes: s.Scopes, IMAP: s.IMAP, SMTP: s.SMTP}, nil
}

// DeviceLogin signs a user in to the delegated connection cfg with a
// device code, for the doctor to check that user's permissions and
// mailbox: show is given the code and the instruction to print
// (VerificationURL and UserCode, or Message), and DeviceLogin waits until
// the user signed in, declined, or ctx is done. It returns the access
// token and the signed-in mailbox. The app registration must allow public
// client flows (Authentication > Advanced settings).
func DeviceLogin(ctx context.Context, cfg azure.Config, show func(*azure.DeviceLogin)) (oauth2client.Secret, string, error) {
	cfg.AppOnly = false
	p, err := azure.New(cfg)
	if err != nil {
		return "", "", err
	}
	dl, err := p.StartDeviceLogin(ctx)
	if err != nil {
		return "", "", err
	}
	if show != nil {
		show(dl)
	}
	g, err := dl.Wait(ctx)
	if err != nil {
		return "", "", err
	}
	return g.AccessToken, g.Identity.Username, nil
}

// StoredAccount returns a token function and the mailbox of account, an
// account already connected in store through connection p (built from
// the same settings the application uses): the token is the Client's,
// refreshed and saved back as the application would. It fails, saying
// why, for an account that is not there or was connected through an
// app-only connection.
func StoredAccount(ctx context.Context, store oauth2client.TokenStore, account string, p oauth2client.Provider) (func(context.Context) (oauth2client.Secret, error), string, error) {
	rec, err := store.Load(ctx, account)
	if err != nil {
		return nil, "", fmt.Errorf("doctor: loading account %q: %w", account, err)
	}
	if rec.AppOnly {
		return nil, "", fmt.Errorf("doctor: account %q is app-only: check it without -delegated", account)
	}
	c, err := oauth2client.New(oauth2client.Config{Store: store})
	if err != nil {
		return nil, "", err
	}
	if err := c.SetConnection(rec.Connection, p); err != nil {
		return nil, "", err
	}
	token := func(ctx context.Context) (oauth2client.Secret, error) {
		tok, err := c.Token(ctx, account)
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	return token, rec.Identity.Username, nil
}

// settings is the local step: the connection's settings are checked
// without the network (azure.New validates IDs, the credential's shape
// and the cloud). It reports whether they are usable.
func (d *azureDoctor) settings() bool {
	if _, err := azure.New(d.cfg.Azure); err != nil {
		d.add(StepSettings, Fail, err.Error(), settingsFix(err))
		d.badSettings = true
		return false
	}
	kind := "delegated"
	switch {
	case d.cfg.Azure.AppOnly:
		kind = "app-only"
	case d.cfg.Azure.PublicClient:
		kind = "delegated, public client (device logins)"
	}
	d.add(StepSettings, Pass, "the settings are well-formed ("+kind+" connection to tenant "+d.cfg.Azure.Tenant+")", "")
	return true
}

// settingsFix is the advice for a settings error from azure.New.
func settingsFix(err error) string {
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) && pe.Remedy != "" {
		return pe.Remedy
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "ClientSecret"):
		return "copy the Value (not the Secret ID) of a client secret: Entra admin center > App registrations > your app > Certificates & secrets"
	case strings.Contains(msg, "ClientID"):
		return "copy the Application (client) ID from Entra admin center > App registrations > your app > Overview"
	case strings.Contains(msg, "Tenant"):
		return "copy the Directory (tenant) ID from Entra admin center > App registrations > your app > Overview"
	}
	return "correct the setting the message names"
}

// probeRedirect asks Entra's authorize endpoint whether uri is registered
// for the app, without signing anyone in: Entra answers AADSTS50011 for
// a redirect URI the app does not have. It returns (true, true) for a
// registered URI, (false, true) for one Entra refused, and checked false
// when the answer says neither (unreachable, or another error).
func (d *azureDoctor) probeRedirect(ctx context.Context, uri string) (registered, checked bool, detail string) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"client_id": {d.cfg.Azure.ClientID}, "response_type": {"code"}, "redirect_uri": {uri},
		"scope": {"openid"}, "state": {"doctor-" + hex.EncodeToString(nonce[:])},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"prompt": {"select_account"},
	}
	u := d.authority + "/" + url.PathEscape(d.cfg.Azure.Tenant) + "/oauth2/v2.0/authorize?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, false, err.Error()
	}
	hc := *d.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return false, false, "Entra's authorize endpoint did not answer: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case strings.Contains(string(body), "AADSTS50011"):
		return false, true, "Entra answered AADSTS50011: the app has no such redirect URI"
	case strings.Contains(string(body), "AADSTS"):
		return false, false, "Entra's authorize endpoint answered an error that does not concern the redirect URI"
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(resp.Header.Get("Location"), uri):
		return true, true, "" // signed in already (a test fake): sent back to the URI
	case resp.StatusCode == http.StatusOK:
		return true, true, "" // the sign-in page: the request, redirect URI included, is acceptable
	}
	return false, false, fmt.Sprintf("Entra's authorize endpoint answered HTTP %d", resp.StatusCode)
}

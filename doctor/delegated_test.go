package doctor_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

const alice = "alice@contoso.example"

// delegatedConfig turns the fixture's app-only configuration into the
// SettingsConfig of a delegated connection to the same fake.
func delegatedConfig(f *fixture) doctor.SettingsConfig {
	return doctor.SettingsConfig{Settings: f.entra.Settings(), HTTPClient: f.entra.Client(), RedirectURL: redirect,
		IMAP: f.cfg.IMAP, SMTP: f.cfg.SMTP}
}

func TestSettingsDelegatedDeviceLogin(t *testing.T) {
	f := newFixture(t, fixtureOptions{azure: mailtest.AzureOptions{AllowPublicClientFlows: true}})
	cfg := delegatedConfig(f)
	ctx := context.Background()
	ac, err := doctor.AzureSettings(cfg.Settings)
	require.NoError(t, err)
	ac.HTTPClient = f.entra.Client()
	var shown *azure.DeviceLogin
	tok, who, err := doctor.DeviceLogin(ctx, ac, func(dl *azure.DeviceLogin) {
		shown = dl
		assert.NoError(t, f.entra.ApproveDevice(dl.UserCode, alice)) // the user signs in on another device
	})
	require.NoError(t, err)
	require.NotNil(t, shown)
	assert.NotEmpty(t, shown.UserCode)
	assert.Equal(t, alice, who)
	cfg.Mailbox = who
	cfg.Token = func(context.Context) (oauth2client.Secret, error) { return tok, nil }

	r := doctor.Settings(ctx, cfg)
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	assert.True(t, r.OK(), out.String())
	for _, step := range []string{doctor.StepSettings, doctor.StepTenant, doctor.StepCredential, doctor.StepRedirectURI,
		doctor.StepPermissions, doctor.StepIMAP, doctor.StepSMTP} {
		require.NotNil(t, r.Step(step), step)
		assert.Equal(t, doctor.Pass, r.Step(step).Status, "%s\n%s", step, out.String())
	}
	assert.Contains(t, r.Step(doctor.StepPermissions).Detail, "IMAP.AccessAsUser.All and SMTP.Send")
	assert.Contains(t, r.Step(doctor.StepIMAP).Detail, alice)
}

func TestSettingsDelegatedStoredAccount(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	store := tokenstore.NewMemory()
	p, err := (provider.Catalog{HTTPClient: f.entra.Client()}).Build(ctx, f.entra.Settings())
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	require.NoError(t, mailtest.Connect(ctx, c, f.entra, "m365", "user-7", &oauth2client.AuthOptions{LoginHint: alice}))

	token, who, err := doctor.StoredAccount(ctx, store, "user-7", p)
	require.NoError(t, err)
	assert.Equal(t, alice, who)
	cfg := delegatedConfig(f)
	cfg.Mailbox, cfg.Token = who, token
	r := doctor.Settings(ctx, cfg)
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	assert.True(t, r.OK(), out.String())
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepIMAP).Status, out.String())
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepSMTP).Status, out.String())

	_, _, err = doctor.StoredAccount(ctx, store, "nobody", p)
	assert.ErrorIs(t, err, oauth2client.ErrNotFound)
}

// TestLocalChecksFirst: a Secret ID (a GUID) pasted as the secret is
// reported even when the tenant cannot be reached.
func TestLocalChecksFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "https://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more

	s := provider.Settings{Kind: provider.KindAzure, ClientID: "00000000-0000-4000-8000-00000000c11e",
		Tenant: "11111111-2222-4333-8444-555555555555", ClientSecret: "3f2b9a4e-8c1d-4e5f-9a6b-7c8d9e0f1a2b", AuthorityURL: dead}
	r := doctor.Settings(context.Background(), doctor.SettingsConfig{Settings: s, RedirectURL: redirect})
	require.NotEmpty(t, r.Steps)
	first := r.Steps[0]
	assert.Equal(t, doctor.StepSettings, first.Name)
	assert.Equal(t, doctor.Fail, first.Status)
	assert.Contains(t, first.Detail, "ClientSecret")
	assert.Contains(t, strings.ToLower(first.Detail+first.Fix), "secret id")
	assert.Equal(t, doctor.Fail, r.Step(doctor.StepTenant).Status, "the tenant is unreachable")
	assert.Equal(t, doctor.Skip, r.Step(doctor.StepCredential).Status)
}

func TestSettingsOfAnotherKind(t *testing.T) {
	r := doctor.Settings(context.Background(), doctor.SettingsConfig{Settings: provider.Settings{Kind: provider.KindGoogle}})
	require.Len(t, r.Steps, 1)
	assert.Equal(t, doctor.Fail, r.Steps[0].Status)
	assert.Contains(t, r.Steps[0].Detail, `"azure"`)
}

func TestRedirectRegistration(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	cfg := delegatedConfig(f)

	r := doctor.Settings(ctx, cfg)
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepRedirectURI).Status)
	assert.Contains(t, r.Step(doctor.StepRedirectURI).Detail, "is registered")

	cfg.RedirectURL = "https://other.contoso.example/oauth2/callback"
	r = doctor.Settings(ctx, cfg)
	step := r.Step(doctor.StepRedirectURI)
	assert.Equal(t, doctor.Fail, step.Status)
	assert.Contains(t, step.Detail, "not registered")
	assert.Contains(t, step.Detail, "AADSTS50011")
	assert.Contains(t, step.Fix, "register exactly "+cfg.RedirectURL)

	// An authority whose authorize endpoint says nothing about the URI:
	// only the syntax was checked, and the step says so.
	mute := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/authorize") {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(mute.Close)
	cfg.RedirectURL = redirect
	cfg.Settings.AuthorityURL = mute.URL
	cfg.HTTPClient = mute.Client()
	r = doctor.Settings(ctx, cfg)
	step = r.Step(doctor.StepRedirectURI)
	assert.Equal(t, doctor.Pass, step.Status)
	assert.Contains(t, step.Detail, "syntax only")
}

// TestFixPrintedOnce: an error's remedy is printed once, as the step's
// fix, not again inside the detail; a fix two steps share is printed
// under the first.
func TestFixPrintedOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	cfg := f.cfg
	cfg.Azure.ClientSecret = "Q~not-the-registered-secret"
	r := doctor.Azure(context.Background(), cfg)
	step := r.Step(doctor.StepCredential)
	require.Equal(t, doctor.Fail, step.Status)
	require.NotEmpty(t, step.Fix)
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	assert.Equal(t, 1, strings.Count(out.String(), step.Fix), out.String())
	assert.NotContains(t, step.Detail, "(fix:")

	twice := &doctor.Report{Steps: []doctor.Step{
		{Name: doctor.StepIMAP, Status: doctor.Fail, Detail: "a", Fix: "Set-CASMailbox -Identity x"},
		{Name: doctor.StepSMTP, Status: doctor.Fail, Detail: "b", Fix: "Set-CASMailbox -Identity x"},
	}}
	out.Reset()
	_, _ = twice.WriteTo(&out)
	assert.Equal(t, 1, strings.Count(out.String(), "Set-CASMailbox"), out.String())
	assert.Contains(t, out.String(), `(the fix under "IMAP login" above)`)
}

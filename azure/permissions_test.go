package azure_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func TestCopyPastedSecretAndClientIDAreTrimmed(t *testing.T) {
	az, err := mailtest.NewAzure(mailtest.AzureOptions{})
	require.NoError(t, err)
	t.Cleanup(az.Close)
	p, err := azure.New(azure.Config{ClientID: " " + az.ClientID() + "\n", Tenant: az.Tenant(), AppOnly: true,
		ClientSecret: oauth2client.Secret(az.ClientSecret() + " \r\n"), AuthorityURL: az.URL(), HTTPClient: az.Client()})
	require.NoError(t, err)
	g, err := p.AppToken(context.Background(), "shared@contoso.example")
	require.NoError(t, err, "Entra accepts the trimmed secret")
	assert.NotEmpty(t, g.AccessToken)
}

// appOnlyClient returns a Client with an app-only connection "m365" to a
// fake Entra that grants roles.
func appOnlyClient(t *testing.T, roles []string) (*oauth2client.Client, oauth2client.TokenStore) {
	t.Helper()
	_, p := fakeAndProvider(t, mailtest.AzureOptions{AppRoles: roles}, azure.Config{AppOnly: true})
	store := tokenstore.NewMemory()
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	return c, store
}

func TestConnectAppOnlyRefusesTokenWithoutRoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles []string
	}{
		{"no admin consent: no roles claim", []string{}},
		{"other application permissions only", []string{"User.Read.All", "Mail.Read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, store := appOnlyClient(t, tc.roles)
			_, err := c.ConnectAppOnly(context.Background(), "m365", "shared", "shared@contoso.example")
			var pe *oauth2client.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, oauth2client.ClassAdmin, pe.Class)
			assert.Contains(t, pe.Remedy, "grant admin consent")
			assert.Contains(t, pe.Remedy, "Application permissions > IMAP.AccessAsApp, SMTP.SendAsApp")
			assert.Contains(t, pe.Remedy, "/v2.0/adminconsent?")
			assert.Contains(t, err.Error(), "neither IMAP.AccessAsApp nor SMTP.SendAsApp")
			assert.Equal(t, "The mailbox could not be connected. Please contact your administrator.", oauth2client.UserMessage(err))
			_, lerr := store.Load(context.Background(), "shared")
			assert.ErrorIs(t, lerr, oauth2client.ErrNotFound, "nothing was stored")
		})
	}
}

func TestConnectAppOnlyAcceptsEitherRoleInAnyCase(t *testing.T) {
	for _, roles := range [][]string{{"IMAP.AccessAsApp", "SMTP.SendAsApp"}, {"SMTP.SendAsApp"}, {"imap.accessasapp"}} {
		t.Run(strings.Join(roles, "+"), func(t *testing.T) {
			c, _ := appOnlyClient(t, roles)
			tok, err := c.ConnectAppOnly(context.Background(), "m365", "shared", "shared@contoso.example")
			require.NoError(t, err)
			assert.NotEmpty(t, tok.AccessToken)
		})
	}
}

func TestReadPermissions(t *testing.T) {
	_, err := azure.ReadPermissions("opaque-token")
	require.ErrorIs(t, err, azure.ErrNotJWT)

	_, p := fakeAndProvider(t, mailtest.AzureOptions{AppRoles: []string{"IMAP.AccessAsApp"}}, azure.Config{AppOnly: true})
	g, err := p.AppToken(context.Background(), "shared@contoso.example")
	require.NoError(t, err)
	perms, err := azure.ReadPermissions(string(g.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office365.com", perms.Audience)
	assert.Equal(t, []string{"IMAP.AccessAsApp"}, perms.Roles)
	assert.Empty(t, perms.MissingRoles("imap.accessasapp"), "role names compare without case")
	assert.Equal(t, []string{"SMTP.SendAsApp"}, perms.MissingRoles(azure.PermIMAPAccessAsApp, azure.PermSMTPSendAsApp))
}

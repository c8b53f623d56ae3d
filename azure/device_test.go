package azure_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// credentialRecorder notes whether each token request carried a client
// credential, per grant type.
type credentialRecorder struct {
	mu   sync.Mutex
	seen map[string][]bool
}

func (c *credentialRecorder) fail(r *http.Request) *mailtest.AzureError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string][]bool{}
	}
	g := r.PostForm.Get("grant_type")
	c.seen[g] = append(c.seen[g], r.PostForm.Get("client_secret") != "" || r.PostForm.Get("client_assertion") != "")
	return nil
}

func (c *credentialRecorder) get(grant string) []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.seen[grant]...)
}

func TestDeviceLoginConnectsAndRefreshesAsPublicClient(t *testing.T) {
	rec := &credentialRecorder{}
	az, p := fakeAndProvider(t, mailtest.AzureOptions{AllowPublicClientFlows: true, Fail: rec.fail,
		Users: []mailtest.AzureUser{{Email: "alice@contoso.example"}}}, azure.Config{})
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	ctx := context.Background()

	login, err := p.StartDeviceLogin(ctx)
	require.NoError(t, err)
	assert.Len(t, login.UserCode, 9)
	assert.Equal(t, "https://microsoft.com/devicelogin", login.VerificationURL)
	assert.Contains(t, login.Message, login.UserCode)
	assert.WithinDuration(t, time.Now().Add(15*time.Minute), login.Expiry, time.Minute)

	require.NoError(t, az.ApproveDevice(login.UserCode, "alice@contoso.example"))
	g, err := login.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "alice@contoso.example", g.Identity.Username)

	tok, err := c.ConnectGrant(ctx, "m365", "acct", g)
	require.NoError(t, err)
	assert.Equal(t, "alice@contoso.example", tok.Username)
	info, err := az.Ledger().Check("alice@contoso.example", string(tok.AccessToken))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"IMAP.AccessAsUser.All", "SMTP.Send"}, info.Scopes)

	fresh, err := c.Refresh(ctx, "acct")
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	assert.Equal(t, []bool{false}, rec.get("refresh_token"), "the device login's tokens are refreshed as a public client")
	polls := append(rec.get("device_code"), rec.get("urn:ietf:params:oauth:grant-type:device_code")...)
	assert.NotEmpty(t, polls)
	for _, withCred := range polls {
		assert.False(t, withCred, "device code redeemed as a public client")
	}
}

func TestDeviceLoginFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("declined", func(t *testing.T) {
		az, p := fakeAndProvider(t, mailtest.AzureOptions{AllowPublicClientFlows: true}, azure.Config{})
		login, err := p.StartDeviceLogin(ctx)
		require.NoError(t, err)
		require.NoError(t, az.DenyDevice(login.UserCode))
		_, err = login.Wait(ctx)
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "AADSTS70000", pe.ProviderCode)
		assert.Equal(t, oauth2client.ClassUser, pe.Class)
		assert.Contains(t, pe.Remedy, "start the device login again")
	})
	t.Run("expired", func(t *testing.T) {
		clock := mailtest.NewClock(time.Now())
		az, p := fakeAndProvider(t, mailtest.AzureOptions{AllowPublicClientFlows: true, Now: clock.Now}, azure.Config{Now: clock.Now})
		login, err := p.StartDeviceLogin(ctx)
		require.NoError(t, err)
		clock.Advance(16 * time.Minute)
		require.NoError(t, az.ApproveDevice(login.UserCode, "alice@contoso.example"), "too late: the token endpoint refuses it")
		_, err = login.Wait(ctx)
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "AADSTS70020", pe.ProviderCode)
		assert.Contains(t, pe.Remedy, "15 minutes")
	})
	t.Run("public client flows not allowed", func(t *testing.T) {
		_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{})
		login, err := p.StartDeviceLogin(ctx)
		require.NoError(t, err)
		_, err = login.Wait(ctx)
		var pe *oauth2client.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "AADSTS7000218", pe.ProviderCode)
		assert.Contains(t, pe.Remedy, "Allow public client flows to Yes")
	})
	t.Run("caller gives up", func(t *testing.T) {
		_, p := fakeAndProvider(t, mailtest.AzureOptions{AllowPublicClientFlows: true}, azure.Config{})
		login, err := p.StartDeviceLogin(ctx)
		require.NoError(t, err)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = login.Wait(cctx)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("app-only connection", func(t *testing.T) {
		_, p := fakeAndProvider(t, mailtest.AzureOptions{}, azure.Config{AppOnly: true})
		_, err := p.StartDeviceLogin(ctx)
		assert.ErrorContains(t, err, "ConnectAppOnly")
	})
}

func TestPublicClientConnection(t *testing.T) {
	az, err := mailtest.NewAzure(mailtest.AzureOptions{AllowPublicClientFlows: true})
	require.NoError(t, err)
	defer az.Close()
	cfg := azure.Config{ClientID: az.ClientID(), Tenant: az.Tenant(), AuthorityURL: az.URL(), HTTPClient: az.Client(), PublicClient: true}
	p, err := azure.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	login, err := p.StartDeviceLogin(ctx)
	require.NoError(t, err)
	require.NoError(t, az.ApproveDevice(login.UserCode, "alice@contoso.example"))
	g, err := login.Wait(ctx)
	require.NoError(t, err)
	g2, err := p.Refresh(ctx, g)
	require.NoError(t, err, "a public client refreshes its device-login grant")
	assert.NotEqual(t, g.AccessToken, g2.AccessToken)

	_, err = p.AuthCodeURL(ctx, oauth2client.AuthRequest{State: "s", CodeChallenge: "c", RedirectURI: redirect})
	assert.ErrorContains(t, err, "public client")
	_, err = p.AppToken(ctx, "x@contoso.example")
	assert.Error(t, err)

	bad := cfg
	bad.ClientSecret = "v~alue"
	_, err = azure.New(bad)
	assert.ErrorIs(t, err, azure.ErrConfig)
	bad = cfg
	bad.AppOnly = true
	_, err = azure.New(bad)
	assert.ErrorContains(t, err, "app-only access needs the application's credential")
}

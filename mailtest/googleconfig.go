package mailtest

import (
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// GoogleConfig returns the google.Config of the OAuth client registered
// with this fake: its client ID and secret, its endpoints, an HTTP client
// that trusts its certificate, and its clock, as [Azure.AzureConfig]
// does for the fake Entra ID. Set Scopes, ServiceAccount (with a key
// whose public half is in GoogleOptions.ServiceAccounts), IMAP or SMTP on
// the result as the test needs.
func (g *Google) GoogleConfig() google.Config {
	return google.Config{
		ClientID:     g.ClientID(),
		ClientSecret: oauth2client.Secret(g.ClientSecret()),
		AuthURL:      g.AuthURL(),
		TokenURL:     g.TokenURL(),
		RevokeURL:    g.RevokeURL(),
		Issuer:       g.Issuer(),
		HTTPClient:   g.Client(),
		Now:          g.opts.Now,
	}
}

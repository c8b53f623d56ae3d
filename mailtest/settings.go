package mailtest

import (
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

// Settings returns the provider.Settings of a confidential client
// registered with this fake, as a settings page would store them: kind
// "azure", its client ID, tenant and secret, and its URL as the
// authority. Build them with a provider.Catalog whose HTTPClientFor
// returns [Azure.Client] for them (the fake's certificate is its own),
// and whose Now is the fake's clock if the test injects one.
func (a *Azure) Settings() provider.Settings {
	return provider.Settings{
		Kind:         provider.KindAzure,
		ClientID:     a.ClientID(),
		Tenant:       a.Tenant(),
		ClientSecret: oauth2client.Secret(a.ClientSecret()),
		AuthorityURL: a.URL(),
	}
}

// Settings returns the provider.Settings of the OAuth client registered
// with this fake: kind "google", its client ID and secret, and its
// endpoints. Build them with a provider.Catalog whose HTTPClientFor
// returns [Google.Client] for them.
func (g *Google) Settings() provider.Settings {
	return provider.Settings{
		Kind:         provider.KindGoogle,
		ClientID:     g.ClientID(),
		ClientSecret: oauth2client.Secret(g.ClientSecret()),
		AuthURL:      g.AuthURL(),
		TokenURL:     g.TokenURL(),
		RevokeURL:    g.RevokeURL(),
		Issuer:       g.Issuer(),
	}
}

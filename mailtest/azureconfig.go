package mailtest

import (
	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// AzureConfig returns the azure.Config of a confidential client
// registered with this fake: its client ID, tenant and secret, its URL as
// the authority (instance discovery off), an HTTP client that trusts its
// certificate, and its clock. Set AppOnly, PublicClient (clearing
// ClientSecret) or Scopes on the result as the test needs.
func (a *Azure) AzureConfig() azure.Config {
	return azure.Config{
		ClientID:     a.ClientID(),
		Tenant:       a.Tenant(),
		ClientSecret: oauth2client.Secret(a.ClientSecret()),
		AuthorityURL: a.URL(),
		HTTPClient:   a.Client(),
		Now:          a.opts.Now,
	}
}

package azure

import (
	"context"
	"net/url"
	"strings"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

var _ oauth2client.AdminConsenter = (*Provider)(nil)

// AdminConsentAuthURL implements [oauth2client.AdminConsenter], for
// [oauth2client.Client.StartAdminConsent]: the URL of [Provider.AdminConsentURL]
// with the flow's state, for req.Tenant when given (a customer's tenant
// ID or domain) or else the connection's tenant ("organizations" for a
// multi-tenant app: the administrator's own tenant). Entra returns the
// administrator to the redirect URI with admin_consent=True, tenant and
// state, or with error=access_denied, error_description (AADSTS65004:
// declined) and admin_consent=False.
func (p *Provider) AdminConsentAuthURL(_ context.Context, req oauth2client.AdminConsentRequest) (string, error) {
	u, err := url.Parse(p.AdminConsentURL(req.RedirectURI))
	if err != nil {
		return "", err
	}
	if t := strings.TrimSpace(req.Tenant); t != "" {
		u.Path = strings.TrimSuffix(u.Path, "/"+p.cfg.Tenant+"/v2.0/adminconsent") + "/" + url.PathEscape(t) + "/v2.0/adminconsent"
	}
	q := u.Query()
	q.Set("state", req.State)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

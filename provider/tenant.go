package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrTenantNotFound means no Microsoft Entra tenant has the domain as a
// verified domain.
var ErrTenantNotFound = errors.New("provider: no Microsoft 365 tenant has this domain")

// TenantOptions configure [FindTenant].
type TenantOptions struct {
	// BaseURL is the authority host. Zero means
	// https://login.microsoftonline.com (use the national cloud's host
	// for others, a fake in tests).
	BaseURL string
	// HTTPClient is used for the request. If nil, a client with a
	// 30-second timeout is used. Redirects are followed only on the same
	// host and never down to http.
	HTTPClient *http.Client
	// AllowInsecureHTTP accepts a plain-http BaseURL: for tests only.
	AllowInsecureHTTP bool
}

// FindTenant returns the tenant ID (a GUID) of the Microsoft 365 tenant
// that has domain (or the domain of a mail address) as a verified
// domain. It reads the tenant's OpenID configuration,
// {BaseURL}/{domain}/v2.0/.well-known/openid-configuration, whose issuer
// carries the GUID; an unknown domain gives [ErrTenantNotFound].
func FindTenant(ctx context.Context, domain string, opts TenantOptions) (string, error) {
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if domain == "" || strings.ContainsAny(domain, "/?#%@ :") {
		return "", &FieldError{Field: "domain", Problem: fmt.Sprintf("%q is not a domain name", domain)}
	}
	base := opts.BaseURL
	if base == "" {
		base = "https://login.microsoftonline.com"
	}
	if err := checkURLOpt("BaseURL", base, true, opts.AllowInsecureHTTP); err != nil {
		return "", err
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = oauthflow.DefaultClient()
	}
	hc = oauthflow.GuardRedirects(hc, opts.AllowInsecureHTTP)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/"+url.PathEscape(domain)+"/v2.0/.well-known/openid-configuration", nil)
	if err != nil {
		return "", &FieldError{Field: "BaseURL", Problem: "is not a URL", Err: err}
	}
	body, err := oauthflow.Do(hc, req, "azure", "discovery", nil, time.Now())
	if err != nil {
		var pe *oauth2client.ProviderError
		if errors.As(err, &pe) && pe.HTTPStatus == http.StatusBadRequest {
			return "", fmt.Errorf("provider: %s: %w (%s)", domain, ErrTenantNotFound, pe.Description)
		}
		return "", err
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("provider: the OpenID configuration of %s is not a JSON object: check BaseURL", domain)
	}
	u, err := url.Parse(doc.Issuer)
	if err != nil {
		return "", fmt.Errorf("provider: the issuer in the OpenID configuration of %s is not a URL: check BaseURL", domain)
	}
	tid, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !isGUID(tid) {
		return "", fmt.Errorf("provider: the issuer in the OpenID configuration of %s carries no tenant ID: check BaseURL", domain)
	}
	return tid, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

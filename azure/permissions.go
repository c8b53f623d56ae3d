package azure

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// The Exchange Online permissions mail access needs.
const (
	// PermIMAPAccessAsApp and PermSMTPSendAsApp are the application
	// permissions (token roles) of app-only access.
	PermIMAPAccessAsApp = "IMAP.AccessAsApp"
	PermSMTPSendAsApp   = "SMTP.SendAsApp"
	// PermIMAPAccessAsUser and PermSMTPSend are the delegated permissions
	// (token scp) of a signed-in user.
	PermIMAPAccessAsUser = "IMAP.AccessAsUser.All"
	PermSMTPSend         = "SMTP.Send"
)

// ErrNotJWT is returned by [ReadPermissions] for an access token that is
// not a JWT (personal Microsoft accounts get opaque tokens).
var ErrNotJWT = errors.New("azure: the access token is not a JWT; its permissions cannot be read")

// Permissions is what an Entra access token grants, read from its claims
// without verifying its signature: use it to diagnose, never to decide
// access (the mail server verifies the token).
type Permissions struct {
	// Audience is the aud claim, e.g. https://outlook.office.com.
	Audience string
	// Roles are the application permissions (roles claim) of an app-only
	// token.
	Roles []string
	// Scopes are the delegated permissions (scp claim) of a user's token.
	Scopes []string
}

// ReadPermissions reads the audience, roles and scopes of an Entra
// access token. It returns [ErrNotJWT] for an opaque token.
func ReadPermissions(accessToken string) (*Permissions, error) {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(accessToken, claims); err != nil {
		return nil, ErrNotJWT
	}
	p := &Permissions{}
	p.Audience, _ = claims["aud"].(string)
	switch r := claims["roles"].(type) {
	case []any:
		for _, v := range r {
			if s, ok := v.(string); ok {
				p.Roles = append(p.Roles, strings.Fields(s)...)
			}
		}
	case string:
		p.Roles = strings.Fields(r)
	}
	if s, ok := claims["scp"].(string); ok {
		p.Scopes = strings.Fields(s)
	}
	return p, nil
}

// MissingRoles returns the names in need that are not among the token's
// roles. Names compare without regard to case, as Entra treats them.
func (p *Permissions) MissingRoles(need ...string) []string { return missing(p.Roles, need) }

// MissingScopes returns the names in need that are not among the
// token's delegated scopes, compared without regard to case.
func (p *Permissions) MissingScopes(need ...string) []string { return missing(p.Scopes, need) }

func missing(have, need []string) []string {
	var out []string
	for _, n := range need {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, n) || strings.HasSuffix(strings.ToLower(h), "/"+strings.ToLower(n)) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

// ConsentRemedy says how an administrator grants the Exchange Online
// permissions missing (application permissions when appOnly, else
// delegated ones), with the admin consent URL when one is given. The
// doctor and [oauth2client.Client.ConnectAppOnly] give this remedy.
func ConsentRemedy(appOnly bool, missing []string, adminConsentURL string) string {
	kind := "Delegated permissions"
	if appOnly {
		kind = "Application permissions"
	}
	fix := "grant admin consent: Entra admin center > App registrations > your app > API permissions > Add a permission > " +
		"APIs my organization uses > Office 365 Exchange Online > " + kind + " > " + strings.Join(missing, ", ") +
		", then \"Grant admin consent for <tenant>\""
	if adminConsentURL != "" {
		fix += "\nor have an administrator open: " + adminConsentURL
	}
	fix += "\n(a multi-tenant application onboards each customer tenant from its own pages with oauth2client's Client.StartAdminConsent, which hands it the tenant ID)"
	if !appOnly {
		fix += "\nthen connect the mailbox again so the new token carries them"
	}
	return fix
}

// CheckAppGrant implements [oauth2client.AppGrantChecker]: an app-only
// token must carry IMAP.AccessAsApp or SMTP.SendAsApp among its roles.
// Entra issues a token without them when the application permissions
// were never granted admin consent in the tenant, and Exchange Online
// then refuses every login; this returns a [*oauth2client.ProviderError]
// of [oauth2client.ClassAdmin] whose remedy is the admin consent. Opaque
// tokens are not judged.
func (p *Provider) CheckAppGrant(g *oauth2client.Grant) error {
	perms, err := ReadPermissions(string(g.AccessToken))
	if err != nil {
		return nil
	}
	need := []string{PermIMAPAccessAsApp, PermSMTPSendAsApp}
	miss := perms.MissingRoles(need...)
	if len(miss) < len(need) {
		return nil // at least one mail permission: the app may serve only IMAP or only SMTP
	}
	consent := p.AdminConsentURL(p.redirectForErrors()) // without a known redirect URI, Entra returns to the app's first one
	have := "none"
	if len(perms.Roles) > 0 {
		have = strings.Join(perms.Roles, ", ")
	}
	return &oauth2client.ProviderError{Provider: "azure", Op: "app_token", Code: "missing_application_permission",
		Description: fmt.Sprintf("the app-only token carries neither %s nor %s among its roles (it has: %s); Exchange Online would refuse every login",
			PermIMAPAccessAsApp, PermSMTPSendAsApp, have),
		Class: oauth2client.ClassAdmin, Remedy: ConsentRemedy(true, need, consent)}
}

// trimSecret trims the surrounding whitespace of a client secret Value
// and refuses one with whitespace inside (a Value wrapped over lines).
func trimSecret(s oauth2client.Secret) (oauth2client.Secret, error) {
	raw := string(s)
	t := strings.TrimSpace(raw)
	switch {
	case raw != "" && t == "":
		return "", configError("ClientSecret", "only whitespace: copy the secret's Value (Certificates & secrets > Client secrets > Value column)")
	case strings.ContainsFunc(t, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }):
		return "", configError("ClientSecret", "the value has whitespace inside it, which secret Values never have: it was probably wrapped over lines when copied; copy the Value column again in one piece")
	}
	return oauth2client.Secret(t), nil
}

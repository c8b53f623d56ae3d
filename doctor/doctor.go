// Package doctor diagnoses a mail connection end to end and says the next
// step in plain words: it checks an Entra ID (Azure) connection — the
// tenant, the credential, the redirect URI, the permissions in the token —
// and, given a mailbox, an IMAP and an SMTP login, and reports each step as
// passed, failed or skipped with the fix: the portal path, the admin
// consent URL, or the Exchange Online PowerShell with this app's IDs
// filled in.
//
// The settings are checked locally first ([StepSettings]), so that a
// mistake is reported even when Entra cannot be reached. Delegated
// connections are checked with a user's token, from a device login
// ([DeviceLogin]) or an account already in a token store
// ([StoredAccount]); [Settings] takes the connection as the
// provider.Settings a settings page stores. The redirect step asks Entra
// whether the URI is registered, and says when it could check only the
// syntax.
//
// Every step's network I/O goes through the configured *http.Client and
// the IMAP and SMTP functions, so the doctor runs against the fakes of
// package mailtest as well as against the real cloud.
//
// The doctor validates its inputs exactly as the azure package does
// ([azure.Config.Authority], [azure.New], the redirect URI rules) before
// its first request: a tenant or authority that could change the URL's
// path or host, or plain http, fails the tenant step without any request,
// and redirects are followed only on the same host over https. Values it
// pastes into the Exchange Online PowerShell it suggests are quoted
// (PowerShell single quotes, embedded quotes doubled); a mailbox that is
// not a plain mail address is refused and never pasted.
//
// # Onboarding a customer tenant
//
// A multi-tenant Entra application (Tenant "organizations") is onboarded
// in each customer's tenant by that tenant's administrator, through admin
// consent: the application starts it with oauth2client's
// Client.StartAdminConsent, the same callback handler receives the answer
// and HandlerConfig.OnAdminConsent hands over the customer's Directory
// (tenant) ID. Run the doctor with that tenant ID (and, for app-only
// access, AppOnly and a mailbox of the tenant) to check the tenant end to
// end; its permission step names the consent still missing.
//
// This package imports go-imap and go-smtp (for the default mail logins);
// the core packages do not.
package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// Status is the outcome of one step.
type Status string

// The outcomes of a step.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skipped"
)

// Step is one check: what was checked, what was found, and, when it
// failed, what to do.
type Step struct {
	// Name says what is checked, e.g. "credential".
	Name string
	// Status is the outcome.
	Status Status
	// Detail is what was found. It never contains a token or secret.
	Detail string
	// Fix is what to do next, for a failed step.
	Fix string
}

// Report is the outcome of a diagnosis, step by step.
type Report struct {
	Steps []Step
}

// OK reports whether no step failed.
func (r *Report) OK() bool {
	for _, s := range r.Steps {
		if s.Status == Fail {
			return false
		}
	}
	return true
}

// Step returns the step called name, or nil.
func (r *Report) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// WriteTo writes the report for a terminal: one line per step, the fix
// indented below a failed one.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	printed := map[string]string{} // fix -> the step it was printed under
	for _, s := range r.Steps {
		mark := map[Status]string{Pass: "PASS", Fail: "FAIL", Skip: "SKIP"}[s.Status]
		fmt.Fprintf(&b, "%-4s  %-12s %s\n", mark, s.Name, s.Detail)
		if first, ok := printed[s.Fix]; ok && s.Fix != "" {
			fmt.Fprintf(&b, "              (the fix under %q above)\n", first)
			continue
		}
		printed[s.Fix] = s.Name
		if s.Fix != "" {
			for _, line := range strings.Split(s.Fix, "\n") {
				fmt.Fprintf(&b, "              %s\n", line)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// The names of the steps of [Azure], in order.
const (
	StepTenant      = "tenant"
	StepCredential  = "credential"
	StepRedirectURI = "redirect URI"
	StepPermissions = "permissions"
	StepIMAP        = "IMAP login"
	StepSMTP        = "SMTP login"
)

// AzureConfig is what [Azure] checks.
type AzureConfig struct {
	// Azure is the connection as configured: IDs, credential, cloud,
	// AppOnly, and the HTTPClient every Entra call goes through.
	Azure azure.Config
	// RedirectURL is the callback URL the application sends users back
	// to (not checked for app-only connections).
	RedirectURL string
	// Mailbox, if set, is the mailbox to log in to over IMAP and SMTP.
	Mailbox string
	// EnterpriseObjectID is the Object ID on the Enterprise application's
	// Overview page, filled into the New-ServicePrincipal command when
	// given (it is not the Object ID on the App registration's page).
	EnterpriseObjectID string
	// Token returns a delegated access token for Mailbox, e.g. from
	// oauth2client.Client.Token; for a delegated connection without it
	// the permission and login steps are skipped.
	Token func(ctx context.Context) (oauth2client.Secret, error)
	// IMAP and SMTP log user in with XOAUTH2 and token. Nil means the
	// cloud's servers (outlook.office365.com:993, smtp.office365.com:587)
	// through go-imap and go-smtp.
	IMAP, SMTP func(ctx context.Context, user string, token oauth2client.Secret) error
}

// Azure diagnoses an Entra ID connection, and the mailbox when one is
// given. It stops at nothing: every step that can run runs, and a step
// that depends on a failed one is skipped.
func Azure(ctx context.Context, cfg AzureConfig) *Report {
	d := &azureDoctor{cfg: cfg, r: &Report{}}
	d.cloud = cfg.Azure.Cloud
	if d.cloud.AuthorityHost == "" {
		d.cloud = azure.Global
	}
	d.authority = strings.TrimSuffix(cfg.Azure.AuthorityURL, "/")
	if d.authority == "" {
		d.authority = d.cloud.AuthorityHost
	}
	d.hc = cfg.Azure.HTTPClient
	if d.hc == nil {
		d.hc = &http.Client{Timeout: 30 * time.Second}
	}
	d.hc = oauthflow.GuardRedirects(d.hc, false)
	d.mailboxErr = checkMailbox(cfg.Mailbox)
	d.settings() // local checks first: they need no network
	tenantOK := d.tenant(ctx)
	appToken := d.credential(ctx, tenantOK)
	d.redirect(ctx)
	token := d.permissions(ctx, appToken)
	d.imap(ctx, token)
	d.smtp(ctx, token)
	return d.r
}

type azureDoctor struct {
	cfg       AzureConfig
	r         *Report
	cloud     azure.Cloud
	authority string
	hc        *http.Client
	provider  *azure.Provider
	// mailboxErr says why Mailbox is not a usable mail address.
	mailboxErr error
	// badSettings: the settings step failed; steps that need them skip.
	badSettings bool
}

// add records a step. A fix already in the detail (errors carry their
// remedy as "(fix: ...)") is printed once, under Fix.
func (d *azureDoctor) add(name string, st Status, detail, fix string) {
	if fix != "" {
		detail = strings.Replace(detail, " (fix: "+fix+")", "", 1)
	}
	d.r.Steps = append(d.r.Steps, Step{Name: name, Status: st, Detail: detail, Fix: fix})
}

// tenant: the authority and tenant resolve (OpenID configuration).
func (d *azureDoctor) tenant(ctx context.Context) bool {
	t := d.cfg.Azure.Tenant
	if t == "" {
		d.add(StepTenant, Fail, "no Directory (tenant) ID is configured",
			"copy the Directory (tenant) ID from Entra admin center > App registrations > your app > Overview")
		return false
	}
	// The same validation as the provider's, before any request: a tenant
	// such as "x?y", "../" or "evil.example/.." must not steer the URL.
	authority, err := d.cfg.Azure.Authority()
	if err != nil {
		d.add(StepTenant, Fail, err.Error(),
			"use the Directory (tenant) ID (a GUID) from the app's Overview page, a verified domain, or \"organizations\"; and an https AuthorityURL, or none")
		return false
	}
	u := authority + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		d.add(StepTenant, Fail, "the authority URL is invalid: "+err.Error(), "check the connection's cloud or AuthorityURL")
		return false
	}
	resp, err := d.hc.Do(req) // #nosec G704 -- the URL is built from a validated authority and tenant (azure.Config.Authority)
	if err != nil {
		d.add(StepTenant, Fail, "cannot reach "+d.authority+": "+err.Error(),
			"check the network path (proxy, firewall) to "+d.authority)
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fix := "check the Directory (tenant) ID " + t + " for typos, and the cloud: an app registered in a national cloud signs in there"
		if strings.Contains(string(body), "AADSTS90002") {
			fix = "Entra does not know the tenant " + t + " (AADSTS90002): " + fix
		}
		d.add(StepTenant, Fail, fmt.Sprintf("%s answered HTTP %d for tenant %s", d.authority, resp.StatusCode, t), fix)
		return false
	}
	d.add(StepTenant, Pass, "tenant "+t+" resolves at "+d.authority, "")
	return true
}

// credential: a client-credentials call proves the secret or
// certificate (for delegated connections too: Entra issues the token
// without roles).
func (d *azureDoctor) credential(ctx context.Context, tenantOK bool) *oauth2client.Grant {
	switch {
	case d.badSettings:
		d.add(StepCredential, Skip, "needs valid settings (see the settings step)", "")
		return nil
	case d.cfg.Azure.PublicClient:
		d.add(StepCredential, Skip, "a public client has no credential to check", "")
		return nil
	case !tenantOK:
		d.add(StepCredential, Skip, "needs a tenant that resolves", "")
		return nil
	}
	probe := d.cfg.Azure
	probe.AppOnly, probe.Scopes = true, nil
	if probe.Tenant == "organizations" || probe.Tenant == "common" || probe.Tenant == "consumers" {
		d.add(StepCredential, Skip, "the credential can only be checked against a real tenant, not "+probe.Tenant+
			": run the doctor again with the Directory (tenant) ID of a customer tenant once its administrator has granted admin consent (Client.StartAdminConsent returns that ID)", "")
		return nil
	}
	p, err := azure.New(probe)
	if err != nil {
		d.add(StepCredential, Fail, err.Error(), "fix the connection's settings as the message says")
		return nil
	}
	d.provider = p
	g, err := p.AppToken(ctx, d.cfg.Mailbox)
	if err != nil {
		var pe *oauth2client.ProviderError
		fix := "see the error above"
		if errors.As(err, &pe) && pe.Remedy != "" {
			fix = pe.Remedy
		}
		d.add(StepCredential, Fail, "Entra refused the application's credential: "+err.Error(), fix)
		return nil
	}
	d.add(StepCredential, Pass, "Entra accepts the application's credential (client credentials)", "")
	if d.cfg.Azure.AppOnly {
		return g
	}
	return nil
}

// redirect: the redirect URI is one Entra accepts, and whether the app
// has it registered (or, when Entra cannot say, exactly what to
// register).
func (d *azureDoctor) redirect(ctx context.Context) {
	switch {
	case d.cfg.Azure.AppOnly:
		d.add(StepRedirectURI, Skip, "app-only connections have no user sign-in", "")
		return
	case d.cfg.Azure.PublicClient:
		d.add(StepRedirectURI, Skip, "a public client signs users in with device logins, without a redirect URI", "")
		return
	}
	uri := d.cfg.RedirectURL
	if uri == "" {
		d.add(StepRedirectURI, Fail, "no redirect URI is configured",
			"configure the application's callback URL, e.g. https://mail.example.com/oauth2/callback")
		return
	}
	p := d.provider
	if p == nil && d.badSettings {
		d.add(StepRedirectURI, Skip, "needs valid settings (see the settings step)", "")
		return
	}
	if p == nil {
		cfg := d.cfg.Azure
		cfg.AppOnly = false
		var err error
		if p, err = azure.New(cfg); err != nil {
			d.add(StepRedirectURI, Skip, "needs a valid connection: "+err.Error(), "")
			return
		}
	}
	if err := p.ValidateRedirectURI(uri); err != nil {
		d.add(StepRedirectURI, Fail, err.Error(),
			"use an https URL (plain http only for localhost), then register it exactly under Authentication > Web > Redirect URIs")
		return
	}
	registerAt := "App registrations > your app > Authentication > Web > Redirect URIs"
	registered, checked, why := d.probeRedirect(ctx, uri)
	switch {
	case checked && registered:
		d.add(StepRedirectURI, Pass, uri+" is registered for the app (checked with Entra's authorize endpoint)", "")
	case checked:
		d.add(StepRedirectURI, Fail, uri+" is well-formed but not registered for the app: "+why,
			"register exactly "+uri+" under "+registerAt)
	default:
		d.add(StepRedirectURI, Pass, uri+" is a valid Web redirect URI (syntax only: "+why+
			"); register exactly this under "+registerAt, "")
	}
}

// permissions: the token carries what mail needs.
func (d *azureDoctor) permissions(ctx context.Context, appToken *oauth2client.Grant) oauth2client.Secret {
	var tok oauth2client.Secret
	switch {
	case d.cfg.Azure.AppOnly && appToken != nil:
		tok = appToken.AccessToken
	case d.cfg.Azure.AppOnly:
		d.add(StepPermissions, Skip, "needs an app-only token (see the credential step)", "")
		return ""
	case d.cfg.Token == nil:
		d.add(StepPermissions, Skip, "no delegated token to inspect: connect a mailbox first and pass AzureConfig.Token", "")
		return ""
	default:
		t, err := d.cfg.Token(ctx)
		if err != nil {
			d.add(StepPermissions, Fail, "no delegated token: "+err.Error(), "connect the mailbox (again) through the application")
			return ""
		}
		tok = t
	}
	perms, err := azure.ReadPermissions(string(tok))
	if err != nil {
		// Not a JWT (e.g. a personal account's token): nothing to read.
		d.add(StepPermissions, Skip, "the access token is not a JWT; its permissions cannot be read", "")
		return tok
	}
	aud := perms.Audience
	var have, need, missing []string
	kind := "delegated permissions (scp)"
	if d.cfg.Azure.AppOnly {
		have = perms.Roles
		need = []string{azure.PermIMAPAccessAsApp, azure.PermSMTPSendAsApp}
		missing = perms.MissingRoles(need...)
		kind = "application permissions (roles)"
	} else {
		have = perms.Scopes
		need = []string{azure.PermIMAPAccessAsUser, azure.PermSMTPSend}
		missing = perms.MissingScopes(need...)
	}
	if !strings.Contains(aud, "outlook.office") && !strings.Contains(aud, "outlook.office365") && !strings.Contains(aud, "partner.outlook.cn") {
		d.add(StepPermissions, Fail, fmt.Sprintf("the token is for %q, not Exchange Online", aud),
			"request the Exchange Online scopes ("+d.cloud.Resource+"/IMAP.AccessAsUser.All, or "+d.cloud.AppResource+"/.default for app-only)")
		return ""
	}
	if len(missing) > 0 {
		d.add(StepPermissions, Fail, fmt.Sprintf("the token's %s lack %s (it has: %s)", kind, strings.Join(missing, ", "), orNone(have)),
			d.consentFix(missing))
		return "" // Exchange would refuse it: the logins would only repeat this
	}
	d.add(StepPermissions, Pass, fmt.Sprintf("the token (aud %s) carries %s", aud, strings.Join(need, " and ")), "")
	return tok
}

func (d *azureDoctor) consentFix(missing []string) string {
	consent := ""
	if d.provider != nil && d.cfg.RedirectURL != "" {
		consent = d.provider.AdminConsentURL(d.cfg.RedirectURL)
	}
	return azure.ConsentRemedy(d.cfg.Azure.AppOnly, missing, consent)
}

type loginFunc = func(ctx context.Context, user string, token oauth2client.Secret) error

// login runs one mail login step: skipped without a mailbox or token,
// passed when login (or fallback, if login is nil) succeeds. It returns
// the login's error, unrecorded, for the caller to explain.
func (d *azureDoctor) login(ctx context.Context, step, proto string, tok oauth2client.Secret, login, fallback loginFunc) error {
	switch {
	case d.cfg.Mailbox == "":
		d.add(step, Skip, "no mailbox given", "")
		return nil
	case d.mailboxErr != nil:
		d.add(step, Fail, d.mailboxErr.Error(), "give the mailbox's plain address, e.g. shared@contoso.com")
		return nil
	case tok == "":
		d.add(step, Skip, "needs a token with the mail permissions (see the steps above)", "")
		return nil
	case login == nil:
		login = fallback
	}
	if err := login(ctx, d.cfg.Mailbox, tok); err != nil {
		return err
	}
	d.add(step, Pass, proto+" accepted XOAUTH2 for "+d.cfg.Mailbox, "")
	return nil
}

// imap: XOAUTH2 login with a token that carries the permissions.
func (d *azureDoctor) imap(ctx context.Context, tok oauth2client.Secret) {
	err := d.login(ctx, StepIMAP, "IMAP", tok, d.cfg.IMAP, d.defaultIMAP)
	if err == nil {
		return
	}
	detail := "IMAP refused the token for " + d.cfg.Mailbox + ": " + err.Error()
	if d.cfg.Azure.AppOnly {
		d.add(StepIMAP, Fail, detail, d.servicePrincipalFix(false))
		return
	}
	d.add(StepIMAP, Fail, detail,
		"the token is valid, so Exchange refuses the mailbox: check that IMAP is enabled for it (Exchange Online PowerShell):\n"+
			"  Connect-ExchangeOnline -Organization "+psQuote(d.cfg.Azure.Tenant)+"\n"+
			"  Set-CASMailbox -Identity "+psQuote(d.cfg.Mailbox)+" -ImapEnabled $true\n"+
			"and that the signed-in user is the mailbox's owner (or has FullAccess to it)")
}

// servicePrincipalFix is the Exchange Online PowerShell that registers
// the app's service principal and gives it the mailbox.
func (d *azureDoctor) servicePrincipalFix(smtp bool) string {
	obj := d.cfg.EnterpriseObjectID
	if obj == "" {
		obj = "<Object ID from Enterprise applications > your app > Overview, not from App registrations>"
	}
	fix := "the token is valid, so Exchange Online does not know the app or does not let it open this mailbox.\n" +
		"Register its service principal and grant access (Exchange Online PowerShell):\n" +
		"  Install-Module -Name ExchangeOnlineManagement\n" +
		"  Connect-ExchangeOnline -Organization " + psQuote(d.cfg.Azure.Tenant) + "\n" +
		"  New-ServicePrincipal -AppId " + psQuote(d.cfg.Azure.ClientID) + " -ObjectId " + psQuote(obj) + "\n" +
		"  Add-MailboxPermission -Identity " + psQuote(d.cfg.Mailbox) + " -User " + psQuote(obj) + " -AccessRights FullAccess"
	if smtp {
		fix += "\nor, for SMTP only, without the SMTP.SendAsApp permission (App RBAC):\n" +
			"  New-ManagementRoleAssignment -Name oauth2mail-smtp -Role 'Application SMTP.SendAsApp' -App " + psQuote(d.cfg.Azure.ClientID)
	}
	if d.provider != nil && d.cfg.RedirectURL != "" {
		fix += "\nA multi-tenant app needs an administrator's consent first: " + d.provider.AdminConsentURL(d.cfg.RedirectURL)
	}
	return fix
}

// smtp: XOAUTH2 submission login; 5.7.139 means SMTP AUTH is off.
func (d *azureDoctor) smtp(ctx context.Context, tok oauth2client.Secret) {
	err := d.login(ctx, StepSMTP, "SMTP", tok, d.cfg.SMTP, d.defaultSMTP)
	if err == nil {
		return
	}
	detail := "SMTP refused the token for " + d.cfg.Mailbox + ": " + err.Error()
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.EnhancedCode == (smtp.EnhancedCode{5, 7, 139}) &&
		strings.Contains(strings.ToLower(se.Message), "smtpclientauthentication is disabled") {
		fix := "SMTP AUTH is disabled. Enable it for the mailbox (Exchange Online PowerShell):\n" +
			"  Connect-ExchangeOnline -Organization " + psQuote(d.cfg.Azure.Tenant) + "\n" +
			"  Set-CASMailbox -Identity " + psQuote(d.cfg.Mailbox) + " -SmtpClientAuthenticationDisabled $false"
		if strings.Contains(strings.ToLower(se.Message), "for the tenant") {
			fix += "\nor for the whole organization:\n  Set-TransportConfig -SmtpClientAuthenticationDisabled $false"
		}
		fix += "\n(with security defaults on, SMTP AUTH stays off: see https://aka.ms/smtp_auth_disabled)"
		d.add(StepSMTP, Fail, detail, fix)
		return
	}
	if d.cfg.Azure.AppOnly {
		d.add(StepSMTP, Fail, detail, d.servicePrincipalFix(true))
		return
	}
	d.add(StepSMTP, Fail, detail, "check that the mailbox may send with SMTP AUTH (Get-CASMailbox -Identity "+psQuote(d.cfg.Mailbox)+
		" | Format-List SmtpClientAuthenticationDisabled) and that the user owns it")
}

func (d *azureDoctor) defaultIMAP(ctx context.Context, user string, tok oauth2client.Secret) error {
	addr := net.JoinHostPort(d.cloud.IMAP.Host, strconv.Itoa(d.cloud.IMAP.Port))
	conn, err := (&tls.Dialer{Config: &tls.Config{ServerName: d.cloud.IMAP.Host, MinVersion: tls.VersionTLS12}}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		return err
	}
	return c.Authenticate(xoauth2.NewClient(user, string(tok)))
}

func (d *azureDoctor) defaultSMTP(ctx context.Context, user string, tok oauth2client.Secret) error {
	addr := net.JoinHostPort(d.cloud.SMTP.Host, strconv.Itoa(d.cloud.SMTP.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: d.cloud.SMTP.Host, MinVersion: tls.VersionTLS12})
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer c.Close()
	return c.Auth(mailauth.ForSMTP(xoauth2.NewClient(user, string(tok))))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// psQuote quotes s as a PowerShell single-quoted string: nothing inside
// is expanded ($, `, ;, | are literal), and the single quotes PowerShell
// recognises (', ‘, ’, ‚, ‛) are doubled, which is how a single-quoted
// string embeds them. Control characters, which a terminal would not
// show faithfully, are replaced by U+FFFD.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201A' || r == '\u201B':
			b.WriteRune(r)
			b.WriteRune(r)
		case unicode.IsControl(r):
			b.WriteRune(unicode.ReplacementChar)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// checkMailbox refuses a Mailbox that is not a plain address
// (local@domain, no display name, spaces or control characters): the
// doctor logs in as it and pastes it into PowerShell.
func checkMailbox(m string) error {
	if m == "" {
		return nil
	}
	a, err := mail.ParseAddress(m)
	if err != nil || a.Address != m || a.Name != "" || strings.ContainsAny(m, " \t\r\n;|&`$'\"<>()") {
		return fmt.Errorf("the mailbox %q is not a plain mail address", m)
	}
	return nil
}

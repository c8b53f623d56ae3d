package azure

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/internal/scrub"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrorInfo describes an Entra ID (AADSTS) error code: what it means and
// how to fix it. [Errors] lists those the package knows; the README's
// troubleshooting table is generated from the same data.
type ErrorInfo struct {
	// Code is the AADSTS number.
	Code int
	// OAuthError is the OAuth 2.0 error Entra usually sends with it
	// (RFC 6749 §5.2), e.g. "invalid_client".
	OAuthError string
	// Class says who has to act.
	Class oauth2client.Class
	// Meaning is what Entra reports, in short.
	Meaning string
	// Remedy is what to do. Placeholders {redirect_uri}, {client_id},
	// {tenant} and {admin_consent_url} are filled in for the connection
	// at hand.
	Remedy string
}

var errorTable = []ErrorInfo{
	{7000215, "invalid_client", oauth2client.ClassConfig, "Invalid client secret provided",
		"the client secret is wrong; you probably pasted the secret's ID (a GUID) instead of its Value. In the portal: App registrations > your app > Certificates & secrets > New client secret, then copy the Value column right away (it is shown once)"},
	{7000222, "invalid_client", oauth2client.ClassAdmin, "The client secret has expired",
		"create a new client secret (App registrations > your app > Certificates & secrets), put its Value into the connection, and note the new expiry date; or switch to a certificate"},
	{7000218, "invalid_client", oauth2client.ClassConfig, "No client secret or client assertion was sent",
		"configure the connection's client secret Value or certificate; if the app registration is marked 'Allow public client flows', the token request must still carry a credential for a web app"},
	{700016, "unauthorized_client", oauth2client.ClassConfig, "Application not found in the directory",
		"check the Application (client) ID {client_id} and the Directory (tenant) ID {tenant}; a multi-tenant app must first be consented in that tenant ({admin_consent_url})"},
	{90002, "invalid_request", oauth2client.ClassConfig, "Tenant not found",
		"check the Directory (tenant) ID {tenant} for typos, and the cloud: an app registered in a national cloud (US Government, China) signs in there, not at login.microsoftonline.com"},
	{50011, "invalid_request", oauth2client.ClassConfig, "The redirect URI does not match those registered for the app",
		"in App registrations > your app > Authentication > Web > Redirect URIs, add exactly {redirect_uri} (scheme, host, port, path, case and trailing slash must match)"},
	{500113, "invalid_request", oauth2client.ClassConfig, "No reply address is registered for the application",
		"in App registrations > your app > Authentication, add a Web platform with the redirect URI {redirect_uri}"},
	{900971, "invalid_request", oauth2client.ClassConfig, "No reply address provided",
		"in App registrations > your app > Authentication, add a Web platform with the redirect URI {redirect_uri}"},
	{65001, "invalid_grant", oauth2client.ClassReauth, "The user or administrator has not consented to the application",
		"the user must sign in again and consent; if users may not consent in this tenant, an administrator grants admin consent for the API permissions (App registrations > your app > API permissions > Grant admin consent) or opens {admin_consent_url}"},
	{70008, "invalid_grant", oauth2client.ClassReauth, "The authorization code or refresh token has expired",
		"the user must connect the mailbox again (for a code: complete the sign-in within 10 minutes)"},
	{54005, "invalid_grant", oauth2client.ClassUser, "The authorization code was already redeemed",
		"the callback was called twice (a double click or a replayed URL); start the connection again"},
	{700082, "invalid_grant", oauth2client.ClassReauth, "The refresh token expired after 90 days without use",
		"the user must connect the mailbox again; keep accounts in use (the library refreshes them ahead of expiry while it runs)"},
	{50173, "invalid_grant", oauth2client.ClassReauth, "The grant was revoked (password change or an administrator revoked sessions)",
		"the user must connect the mailbox again"},
	{70043, "invalid_grant", oauth2client.ClassReauth, "The refresh token expired under a Conditional Access sign-in frequency policy",
		"the user must connect the mailbox again; an administrator can relax the sign-in frequency for this app"},
	{50076, "interaction_required", oauth2client.ClassReauth, "Multi-factor authentication is required",
		"the user must sign in again interactively and complete MFA"},
	{50079, "interaction_required", oauth2client.ClassReauth, "The user must register for multi-factor authentication",
		"the user must sign in interactively, register MFA, then connect the mailbox again"},
	{53003, "interaction_required", oauth2client.ClassAdmin, "Access blocked by Conditional Access",
		"an administrator must review the Conditional Access policies that apply to this app and the user's sign-in (location, device compliance, legacy clients)"},
	{50126, "invalid_grant", oauth2client.ClassReauth, "Invalid username or password",
		"the user must sign in again with the right password"},
	{9002313, "invalid_request", oauth2client.ClassConfig, "The request is malformed or invalid",
		"a parameter is missing or duplicated; if the code came from another app or flow, start the connection again"},
	{50194, "invalid_request", oauth2client.ClassConfig, "A single-tenant app was used with the /common endpoint",
		"set the connection's tenant to the Directory (tenant) ID instead of common, or make the app multi-tenant"},
	{9001023, "invalid_request", oauth2client.ClassConfig, "The grant type is not supported over /common or /consumers",
		"app-only access needs the Directory (tenant) ID as tenant, not common, organizations or consumers"},
	{70011, "invalid_scope", oauth2client.ClassConfig, "Invalid scope",
		"use full scopes such as https://outlook.office.com/IMAP.AccessAsUser.All"},
	{700022, "invalid_scope", oauth2client.ClassConfig, "More than one resource in the scopes",
		"do not mix Microsoft Graph scopes (User.Read) with Exchange scopes in one request"},
	{500011, "invalid_resource", oauth2client.ClassAdmin, "The resource principal (Exchange Online) was not found in the tenant",
		"the tenant has no Exchange Online (licence or provisioning), or the scope's resource is mistyped"},
	{50020, "access_denied", oauth2client.ClassUser, "The user does not exist in the tenant",
		"sign in with an account of tenant {tenant}, or invite the user as a guest"},
	{700005, "invalid_grant", oauth2client.ClassReauth, "The code or refresh token belongs to another tenant",
		"the user must connect the mailbox again"},
	{501481, "invalid_grant", oauth2client.ClassConfig, "The PKCE code verifier does not match the challenge",
		"the pending authorization was lost or mixed up between instances; start the connection again (and share the state store between instances)"},
	{700027, "invalid_client", oauth2client.ClassConfig, "The client assertion failed signature validation",
		"upload the certificate whose private key the connection uses (App registrations > your app > Certificates & secrets > Certificates)"},
	{65004, "access_denied", oauth2client.ClassUser, "The user declined to consent",
		"the user may start again and accept the permissions"},
	{530035, "access_denied", oauth2client.ClassAdmin, "Access blocked by security defaults",
		"an administrator must review the tenant's security defaults"},
	{700084, "invalid_grant", oauth2client.ClassReauth, "The refresh token of a single-page app expired (24 hours)",
		"register the redirect URI as a Web platform, not Single-page application, so refresh tokens last 90 days; then connect the mailbox again"},
	{90055, "temporarily_unavailable", oauth2client.ClassTransient, "Entra is throttling the tenant",
		"wait and retry (the library backs off); many sign-ins or refreshes at once can cause it"},
	{90033, "temporarily_unavailable", oauth2client.ClassTransient, "A transient error occurred at Entra",
		"retry later; the stored tokens are intact"},
	{1002012, "invalid_scope", oauth2client.ClassConfig, "The scope is not valid for client credentials",
		"app-only tokens need the scope https://outlook.office365.com/.default"},
	{70000, "authorization_declined", oauth2client.ClassUser, "The user declined the device login",
		"start the device login again and approve it at the verification page"},
	{70020, "expired_token", oauth2client.ClassUser, "The device code expired before the user signed in",
		"start the device login again; the user has 15 minutes to enter the code"},
}

// Errors returns the AADSTS codes the package explains, in a fresh slice.
func Errors() []ErrorInfo { return append([]ErrorInfo(nil), errorTable...) }

func lookupError(code int) (ErrorInfo, bool) {
	for _, e := range errorTable {
		if e.Code == code {
			return e, true
		}
	}
	return ErrorInfo{}, false
}

// entraError is Entra's error JSON.
type entraError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

var traceTail = regexp.MustCompile(`(?s)(^|\s+)(Trace ID|Correlation ID|Timestamp):.*$`)

// cleanDescription drops the trace, correlation and timestamp lines and
// the leading AADSTS code.
func cleanDescription(d string) string {
	d = traceTail.ReplaceAllString(d, "")
	if i := strings.Index(d, ": "); i > 0 && strings.HasPrefix(d, "AADSTS") {
		d = d[i+2:]
	}
	d = strings.TrimSpace(d)
	if len(d) > 400 {
		d = strings.ToValidUTF8(d[:400], "") + "…"
	}
	return d
}

// scrubbing returns ctx carrying a [scrub.Set] for one call to Entra: it
// holds the connection's credential and known, and the provider's
// transport adds every secret the call's requests carry (client secret or
// assertion, code, PKCE verifier, refresh token, device code). Every
// error of the call goes through [Provider.mapError] with that ctx.
func (p *Provider) scrubbing(ctx context.Context, known ...string) context.Context {
	set := scrub.New(known...)
	set.Add(string(p.cfg.ClientSecret), string(p.cfg.CertificatePassword))
	return scrub.NewContext(ctx, set)
}

// mapError turns an MSAL or transport error of a call made with ctx
// (see [Provider.scrubbing]) into a *ProviderError free of the call's
// secrets.
func (p *Provider) mapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	pe := &oauth2client.ProviderError{Provider: "azure", Op: op}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		raw, _ := io.ReadAll(io.LimitReader(ce.Resp.Body, 1<<20))
		return p.scrub(ctx, p.mapResponse(pe, ce.Resp, raw))
	}
	return p.scrub(ctx, p.mapOther(pe, err))
}

// scrub removes the secrets of the call made with ctx from err.
func (p *Provider) scrub(ctx context.Context, err error) error {
	set := scrub.FromContext(ctx)
	if set == nil {
		set = scrub.New(string(p.cfg.ClientSecret), string(p.cfg.CertificatePassword))
	}
	return oauthflow.Scrub(err, set)
}

// mapResponse fills pe from Entra's error answer resp with body raw.
func (p *Provider) mapResponse(pe *oauth2client.ProviderError, resp *http.Response, raw []byte) error {
	pe.HTTPStatus = resp.StatusCode
	pe.RetryAfter = oauthflow.RetryAfter(resp.Header, p.cfg.Now())
	var e entraError
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		pe.Code = e.Error
		pe.Description = cleanDescription(e.Description)
		pe.TraceID, pe.CorrelationID = e.TraceID, e.CorrelationID
		if len(e.Codes) > 0 {
			pe.ProviderCode = "AADSTS" + strconv.Itoa(e.Codes[0])
			if info, ok := lookupError(e.Codes[0]); ok {
				pe.Class = info.Class
				pe.Remedy = p.fill(info.Remedy)
			}
		}
	}
	switch {
	case throttledOrDown(pe.HTTPStatus) && pe.Class != oauth2client.ClassTransient:
		// The status line wins over the body: a 429 or 5xx answer is
		// Entra (or a proxy in front of it) failing, whatever error code the
		// body names, and a retry is the right answer to it.
		pe.Class = oauth2client.ClassTransient
		pe.Remedy = "Entra answered HTTP " + strconv.Itoa(pe.HTTPStatus) + "; the library retries"
	case pe.Class == oauth2client.ClassUnknown:
		pe.Class = classifyOAuth(pe.Code, pe.HTTPStatus)
	}
	return pe
}

// throttledOrDown reports whether an HTTP status means the server is
// throttling or failing rather than judging the request.
func throttledOrDown(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// mapOther fills pe for an error that is not an answer from Entra.
func (p *Provider) mapOther(pe *oauth2client.ProviderError, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		pe.Err = &scrubbed{msg: stripBodies(err.Error()), err: err}
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		pe.Class = oauth2client.ClassTransient
		pe.Err = &scrubbed{msg: stripBodies(err.Error()), err: err}
		pe.Remedy = "check the network path to " + p.base + "; the library retries"
	case strings.Contains(err.Error(), "no token found"):
		pe.Class = oauth2client.ClassReauth
		pe.Err = errors.New("no refresh token is cached for this account")
		pe.Remedy = "the user must connect the mailbox again"
	default:
		pe.Err = &scrubbed{msg: stripBodies(err.Error()), err: err}
	}
	return pe
}

// scrubbed is an MSAL or transport error whose text had response bodies
// and query strings removed; it still unwraps to the original, so
// errors.Is(err, context.DeadlineExceeded) works.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

func classifyOAuth(code string, status int) oauth2client.Class {
	switch {
	case throttledOrDown(status) || code == "temporarily_unavailable" || code == "server_error":
		return oauth2client.ClassTransient
	case code == "invalid_grant" || code == "interaction_required":
		return oauth2client.ClassReauth
	case code == "invalid_client" || code == "unauthorized_client" || code == "invalid_scope" || code == "invalid_request":
		return oauth2client.ClassConfig
	}
	return oauth2client.ClassUnknown
}

var (
	bodyInError = regexp.MustCompile(`(?s)(reply status code was \d+:).*`)
	rawInError  = regexp.MustCompile(`(?s)(raw message was:).*`)
)

// stripBodies removes response bodies and query strings MSAL puts into
// its error texts ("reply status code was 400: <body>", and "raw message
// was: <body>" for an answer that is not JSON), so no token or code
// leaks through.
func stripBodies(s string) string {
	s = bodyInError.ReplaceAllString(s, "$1 [body omitted]")
	s = rawInError.ReplaceAllString(s, "$1 [body omitted]")
	if i := strings.IndexByte(s, '?'); i >= 0 {
		if j := strings.IndexAny(s[i:], " )\n"); j > 0 {
			s = s[:i] + s[i+j:]
		} else {
			s = s[:i]
		}
	}
	return s
}

func (p *Provider) fill(remedy string) string {
	return strings.NewReplacer(
		"{redirect_uri}", p.redirectForErrors(),
		"{client_id}", p.cfg.ClientID,
		"{tenant}", p.cfg.Tenant,
		"{admin_consent_url}", p.AdminConsentURL(p.redirectForErrors()),
	).Replace(remedy)
}

func (p *Provider) redirectForErrors() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastRedirect == "" {
		return "(the Client's RedirectURL)"
	}
	return p.lastRedirect
}

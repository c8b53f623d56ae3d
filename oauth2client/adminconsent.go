package oauth2client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// ErrAdminConsentUnsupported means the connection's provider has no
// admin consent flow (it does not implement [AdminConsenter]).
var ErrAdminConsentUnsupported = errors.New("oauth2client: provider has no admin consent flow")

// AdminConsenter is implemented by providers where an administrator can
// grant an application's permissions for a whole organisation in one
// step — Microsoft Entra's admin consent, which a multi-tenant
// application needs in each customer tenant before app-only access (or
// delegated access where users may not consent) works there.
type AdminConsenter interface {
	// AdminConsentAuthURL returns the URL the administrator's browser is
	// sent to. The provider returns it to req.RedirectURI with req.State.
	AdminConsentAuthURL(ctx context.Context, req AdminConsentRequest) (string, error)
}

// AdminConsentRequest is what [Client.StartAdminConsent] asks an
// [AdminConsenter] for.
type AdminConsentRequest struct {
	// State is the opaque value the provider must return unchanged.
	State string
	// RedirectURI is the Client's RedirectURL.
	RedirectURI string
	// Tenant, if set, is the organisation to consent for (an Entra tenant
	// ID or verified domain); empty lets the administrator's own sign-in
	// decide ("organizations").
	Tenant string
}

// AdminConsentOptions are the options of [Client.StartAdminConsent].
type AdminConsentOptions struct {
	// Session binds the flow to the administrator's browser session, as
	// [AuthOptions.Session] does for a user's sign-in: the callback
	// handler accepts the answer only in a request whose
	// [HandlerConfig.Session] returns the same value.
	Session string
	// ReturnTo is a same-origin path the default page redirects to.
	ReturnTo string
	// Tenant is the customer tenant to consent for, if known (see
	// [AdminConsentRequest].Tenant).
	Tenant string
}

// AdminConsent is the outcome of an admin consent flow, handed to
// [HandlerConfig.OnAdminConsent] whether the administrator granted or
// refused.
type AdminConsent struct {
	// Connection is the connection the flow was started on.
	Connection string
	// Granted reports whether the administrator granted the permissions.
	Granted bool
	// Tenant is the organisation the administrator consented for (Entra:
	// the Directory (tenant) ID), as the provider returned it. On a
	// refusal it is set when the provider says.
	Tenant string
	// ReturnTo is the AdminConsentOptions.ReturnTo of the flow.
	ReturnTo string
	// Err is the provider's refusal when Granted is false: an
	// [*AuthorizationError], e.g. access_denied with AADSTS65004 when the
	// administrator declined. [UserMessage] explains it safely.
	Err error
}

// StartAdminConsent begins an admin consent flow on connection, whose
// provider must implement [AdminConsenter], and returns the URL to send
// the administrator's browser to. The state is bound to the connection
// and, with opts.Session, to the browser session, single use and short
// lived, exactly as for [Client.StartAuthorization]. The provider returns
// the browser to the Client's RedirectURL: [Client.Handler] recognises the
// answer and calls [HandlerConfig.OnAdminConsent] with the tenant.
func (c *Client) StartAdminConsent(ctx context.Context, connection string, opts *AdminConsentOptions) (string, error) {
	if c.redirect == "" {
		return "", errors.New("oauth2client: Config.RedirectURL is empty: set it to the absolute URL where you mount the callback handler, exactly as registered with the provider")
	}
	p, err := c.Connection(connection)
	if err != nil {
		return "", err
	}
	ac, ok := p.(AdminConsenter)
	if !ok {
		return "", fmt.Errorf("oauth2client: connection %q: %w", connection, ErrAdminConsentUnsupported)
	}
	var o AdminConsentOptions
	if opts != nil {
		o = *opts
	}
	if err := CheckReturnTo(o.ReturnTo); err != nil {
		return "", err
	}
	if strings.ContainsAny(o.Tenant, "/?#") {
		return "", fmt.Errorf("oauth2client: %q is not a tenant ID or domain", o.Tenant)
	}
	id, mac, state, err := newState()
	if err != nil {
		return "", err
	}
	pend := &Pending{Connection: connection, MAC: mac, ReturnTo: o.ReturnTo, AdminConsent: true, Expires: c.now().Add(c.stateTTL)}
	if o.Session != "" {
		h := sha256.Sum256([]byte(o.Session))
		pend.Session = h[:]
	}
	u, err := ac.AdminConsentAuthURL(ctx, AdminConsentRequest{State: state, RedirectURI: c.redirect, Tenant: o.Tenant})
	if err != nil {
		return "", fmt.Errorf("oauth2client: connection %q: building the admin consent URL: %w", connection, err)
	}
	if err := c.states.Put(ctx, id, pend); err != nil {
		return "", fmt.Errorf("oauth2client: saving the pending admin consent: %w", err)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: admin consent started", slog.String("connection", connection))
	return u, nil
}

// adminConsentReturn carries a recognised admin consent answer from
// complete to ServeHTTP.
type adminConsentReturn struct{ res *AdminConsent }

func (*adminConsentReturn) Error() string { return "oauth2client: admin consent answer" }

// adminConsentResult reads the answer to an admin consent request:
// Entra's admin_consent=True&tenant=… or error=…&admin_consent=False.
func adminConsentResult(pend *Pending, q url.Values) (*AdminConsent, error) {
	res := &AdminConsent{Connection: pend.Connection, ReturnTo: pend.ReturnTo, Tenant: clean(q.Get("tenant"), 64)}
	if code := q.Get("error"); code != "" {
		res.Err = &AuthorizationError{Code: clean(code, 64), Description: clean(q.Get("error_description"), maxDescription)}
		return res, nil
	}
	if !strings.EqualFold(q.Get("admin_consent"), "true") || res.Tenant == "" || len(q["tenant"]) != 1 {
		return nil, &CallbackError{Connection: pend.Connection, Status: http.StatusBadRequest, Err: ErrMalformedRequest}
	}
	res.Granted = true
	return res, nil
}

// serveAdminConsent answers the browser after an admin consent.
func (h *callbackHandler) serveAdminConsent(w http.ResponseWriter, r *http.Request, res *AdminConsent) {
	c := h.c
	if res.Granted {
		c.log.LogAttrs(r.Context(), slog.LevelInfo, "oauth2client: admin consent granted",
			slog.String("connection", res.Connection), slog.String("tenant", res.Tenant))
	} else {
		c.log.LogAttrs(r.Context(), slog.LevelWarn, "oauth2client: admin consent refused",
			slog.String("connection", res.Connection), slog.String("tenant", res.Tenant), slog.String("error", res.Err.Error()))
	}
	if h.cfg.OnAdminConsent != nil {
		h.cfg.OnAdminConsent(w, r, res)
		return
	}
	switch {
	case !res.Granted:
		writePage(w, http.StatusForbidden, "Access not granted", UserMessage(res.Err))
	case res.ReturnTo != "":
		http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
	default:
		writePage(w, http.StatusOK, "Access granted", "Access was granted for your organisation. You can close this window.")
	}
}

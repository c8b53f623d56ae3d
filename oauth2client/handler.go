package oauth2client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Errors of the callback handler, returned wrapped in a [*CallbackError]
// (along with the state errors such as [ErrStateExpired]).
var (
	// ErrMethodNotAllowed: the callback was called with a method other
	// than GET (or POST when form_post is allowed).
	ErrMethodNotAllowed = errors.New("oauth2client: method not allowed on the callback")
	// ErrRequestTooLarge: the query or body exceeds the handler's limits.
	ErrRequestTooLarge = errors.New("oauth2client: callback request too large")
	// ErrMalformedRequest: the request could not be parsed.
	ErrMalformedRequest = errors.New("oauth2client: malformed callback request")
	// ErrMissingCode: the provider returned neither a code nor an error.
	ErrMissingCode = errors.New("oauth2client: the callback carries no authorization code")
	// ErrSessionMismatch: the callback arrived in another browser session
	// than the one that started the authorization (possible login CSRF).
	ErrSessionMismatch = errors.New("oauth2client: the authorization was started in another browser session")
	// ErrIssuerMismatch: the RFC 9207 iss parameter is not the provider's.
	ErrIssuerMismatch = errors.New("oauth2client: the authorization response comes from an unexpected issuer")
	// ErrIdentityMismatch: the provider signed in another mailbox than
	// the one the application required.
	ErrIdentityMismatch = errors.New("oauth2client: the signed-in mailbox is not the one required")
	// ErrDuplicateParameter: a parameter appears more than once in the
	// callback (RFC 6749 §3.1: request and response parameters must not
	// be included more than once), e.g. a second iss after a right one.
	// It also matches [ErrMalformedRequest].
	ErrDuplicateParameter = errors.New("oauth2client: a callback parameter appears more than once")
)

// ErrSessionNotSent: the callback arrived without a browser session at
// all ([HandlerConfig.Session] returned "") while the authorization was
// bound to one. It matches [ErrSessionMismatch] too. Besides a sign-in
// finished in another browser, the usual cause is the session cookie's
// SameSite attribute: the error says what to configure for the response
// mode the callback came with (see [HandlerConfig.Session]).
var ErrSessionNotSent = fmt.Errorf("%w: the callback request carried no browser session (HandlerConfig.Session returned \"\")", ErrSessionMismatch)

// sessionNotSent explains a callback without a session, by method: a
// form_post answer is a cross-site POST, a query answer a cross-site
// redirect, and browsers send different cookies with each.
func sessionNotSent(r *http.Request) error {
	if r.Method == http.MethodPost {
		return fmt.Errorf("%w: a response_mode=form_post answer is a cross-site POST from the provider's page, and browsers send no SameSite=Lax or Strict cookie with it: make the session cookie SameSite=None; Secure (served over https), or have the provider answer with response_mode=query", ErrSessionNotSent)
	}
	return fmt.Errorf("%w: browsers do not send SameSite=Strict cookies when the provider's page sends the user back: make the session cookie SameSite=Lax (or None; Secure); if it is, the sign-in was finished in a browser without the session (another browser, or expired or blocked cookies)", ErrSessionNotSent)
}

// Limits of the callback handler.
const (
	maxCallbackQuery     = 8 << 10
	maxCallbackBody      = 16 << 10
	maxDescription       = 512
	maxLoggedDescription = 200
	// Failed callbacks that do not name a pending authorization (bogus
	// or replayed ones, which anyone can send) are logged at most
	// failureLogBurst at once and failureLogRate a second after that;
	// the next line logged says how many were left out.
	failureLogRate  = 1
	failureLogBurst = 10
)

// quoteUntrusted shortens s to at most n bytes of valid UTF-8 and quotes
// it for a log line: Go syntax, ASCII only, with <, > and & escaped.
func quoteUntrusted(s string, n int) string {
	cut := false
	if len(s) > n {
		s, cut = s[:n], true
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	q := strconv.QuoteToASCII(s)
	q = strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(q)
	if cut {
		q += "…"
	}
	return q
}

// CallbackError is the error the callback handler passes to
// [HandlerConfig.OnError]. It wraps the cause (a sentinel such as
// [ErrStateExpired], an [*AuthorizationError], or a [*ProviderError]) and
// says which account it concerns when that is known.
type CallbackError struct {
	// Connection and Account are set once the state was recognised.
	Connection, Account string
	// Status is the HTTP status the default error page uses.
	Status int
	// Err is the cause.
	Err error
}

// Error describes the failure.
func (e *CallbackError) Error() string {
	if e.Account != "" {
		return fmt.Sprintf("oauth2client: callback for account %q (connection %q): %v", e.Account, e.Connection, e.Err)
	}
	return "oauth2client: callback: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CallbackError) Unwrap() error { return e.Err }

// AuthorizationError is an error answer the provider sent to the callback
// instead of a code (RFC 6749 §4.1.2.1): the user cancelled or refused
// consent, or the request was wrong.
type AuthorizationError struct {
	// Code is the error parameter, e.g. "access_denied".
	Code string
	// Description is the error_description parameter, shortened and
	// stripped of control characters.
	Description string
}

// Error describes the answer. The code and description come from the
// callback's query, which anyone can forge: they are quoted (Go syntax,
// ASCII only, with <, > and & escaped) and the description is cut to 200
// bytes, so a log line shows them as data.
func (e *AuthorizationError) Error() string {
	s := "oauth2client: the provider refused the authorization: " + quoteUntrusted(e.Code, 64)
	if e.Description != "" {
		s += ": " + quoteUntrusted(e.Description, maxLoggedDescription)
	}
	switch e.Class() {
	case ClassUser:
		s += " (the user cancelled or declined; they can start again)"
	case ClassTransient:
		s += " (temporary; try again)"
	case ClassConfig:
		s += " (check the connection's client ID, scopes and redirect URI at the provider)"
	}
	return s
}

// Class classifies the answer.
func (e *AuthorizationError) Class() Class {
	switch e.Code {
	case "access_denied", "consent_required", "interaction_required", "login_required", "account_selection_required":
		return ClassUser
	case "temporarily_unavailable", "server_error":
		return ClassTransient
	case "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope", "invalid_client":
		return ClassConfig
	}
	return ClassUnknown
}

// Is matches [ErrTransient] for transient answers.
func (e *AuthorizationError) Is(target error) bool {
	return target == ErrTransient && e.Class() == ClassTransient
}

// Authorization is what the callback handler passes to
// [HandlerConfig.OnSuccess].
type Authorization struct {
	Connection, Account string
	// Username is the mailbox the provider signed in.
	Username string
	// ReturnTo is the validated same-origin path passed to
	// StartAuthorization, or empty.
	ReturnTo string
}

// HandlerConfig configures [Client.Handler]. The zero value is usable:
// it renders minimal pages and accepts only GET.
type HandlerConfig struct {
	// OnSuccess renders the response after the tokens were stored. If
	// nil, the handler redirects (303) to the authorization's ReturnTo or
	// shows a short page saying the mailbox is connected.
	OnSuccess func(w http.ResponseWriter, r *http.Request, a *Authorization)
	// OnError renders a failure; err is a [*CallbackError]. If nil, a
	// short page with a safe explanation ([UserMessage]) and the status
	// from the CallbackError is shown. Never write err.Error() into a
	// page: it is for logs.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Session returns the browser-session binding of r, the same value
	// passed as [AuthOptions.Session] when the authorization started. It
	// is required if any authorization is started with a Session.
	//
	// It usually reads a session cookie, and the provider is another site
	// than the application: whether the browser sends the cookie back to
	// the callback depends on its SameSite attribute and on the response
	// mode. As the browser tests of examples/webapp check in Chromium:
	//
	//   - response_mode=query (a redirect to the callback, GET; what the
	//     azure and google providers ask for by default): SameSite=Lax
	//     works and is the setting to use; SameSite=None; Secure works
	//     too. SameSite=Strict is not sent when the user comes back from
	//     the provider's sign-in page, so the callback fails.
	//   - response_mode=form_post (a POST to the callback from a page of
	//     the provider, see AllowFormPost): only SameSite=None; Secure
	//     works, which needs the application on https. Lax and Strict
	//     cookies are not sent. A cookie without a SameSite attribute is
	//     sent by Chromium only in the first two minutes after it was set:
	//     do not rely on it.
	//
	// When Session returns "" for a bound authorization the callback
	// fails with [ErrSessionNotSent], whose text says which of these to
	// configure.
	Session func(r *http.Request) string
	// AllowFormPost accepts the provider's response_mode=form_post (a
	// POST with a form body) as well as GET. That POST comes from the
	// provider's page, another site: mount the handler for POST, exempt
	// it from cross-origin request protection such as net/http's
	// CrossOriginProtection (which refuses cross-site POSTs; the state
	// parameter is the callback's protection), and make the session
	// cookie SameSite=None; Secure (see Session).
	AllowFormPost bool
	// OnAdminConsent receives the outcome of an admin consent flow
	// started with [Client.StartAdminConsent], granted or refused, with
	// the tenant: record it and render the response. If nil, the handler
	// redirects (303) to its ReturnTo or shows a short page, and a
	// refusal shows a page with [UserMessage].
	OnAdminConsent func(w http.ResponseWriter, r *http.Request, res *AdminConsent)
}

// Handler returns the one callback handler for all connections: mount it
// at the path of the Client's RedirectURL. It validates the state
// (single use, expiry, connection and account binding, browser session),
// completes PKCE, exchanges the code, stores the tokens, then calls the
// hooks. Its responses carry Cache-Control: no-store and Referrer-Policy:
// no-referrer and never contain a code, token or internal error text.
func (c *Client) Handler(cfg HandlerConfig) http.Handler {
	return &callbackHandler{c: c, cfg: cfg, logLimit: rate.NewLimiter(failureLogRate, failureLogBurst)}
}

type callbackHandler struct {
	c   *Client
	cfg HandlerConfig

	logLimit   *rate.Limiter // failures without a pending authorization
	suppressed atomic.Int64  // failure lines left out since the last one logged
}

// logFailure logs a failed callback. Failures that name a pending
// authorization are always logged; the others (anyone can send them) are
// rate-limited, and the next line logged counts those left out.
func (h *callbackHandler) logFailure(ctx context.Context, err error) {
	var ce *CallbackError
	if !errors.As(err, &ce) || ce.Account == "" {
		if !h.logLimit.AllowN(h.c.now(), 1) {
			h.suppressed.Add(1)
			return
		}
	}
	attrs := []slog.Attr{slog.String("error", err.Error())}
	if n := h.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, slog.Int64("suppressed", n))
	}
	h.c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: callback failed", attrs...)
}

func (h *callbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	a, err := h.complete(r)
	if ac := (*adminConsentReturn)(nil); errors.As(err, &ac) {
		h.serveAdminConsent(w, r, ac.res)
		return
	}
	if err != nil {
		h.logFailure(r.Context(), err)
		if h.cfg.OnError != nil {
			h.cfg.OnError(w, r, err)
			return
		}
		status := http.StatusBadRequest
		var ce *CallbackError
		if errors.As(err, &ce) && ce.Status != 0 {
			status = ce.Status
		}
		if status == http.StatusMethodNotAllowed {
			allow := http.MethodGet
			if h.cfg.AllowFormPost {
				allow += ", " + http.MethodPost
			}
			hdr.Set("Allow", allow)
		}
		writePage(w, status, "Mailbox not connected", UserMessage(err))
		return
	}
	if h.cfg.OnSuccess != nil {
		h.cfg.OnSuccess(w, r, a)
		return
	}
	if a.ReturnTo != "" {
		http.Redirect(w, r, a.ReturnTo, http.StatusSeeOther)
		return
	}
	writePage(w, http.StatusOK, "Mailbox connected", "The mailbox "+a.Username+" is connected. You can close this window.")
}

func writePage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>%s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

func (h *callbackHandler) params(r *http.Request) (url.Values, error) {
	if len(r.URL.RawQuery) > maxCallbackQuery {
		return nil, &CallbackError{Status: http.StatusRequestURITooLong, Err: ErrRequestTooLarge}
	}
	switch {
	case r.Method == http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, &CallbackError{Status: http.StatusBadRequest, Err: ErrMalformedRequest}
		}
		return q, nil
	case r.Method == http.MethodPost && h.cfg.AllowFormPost:
		if r.Body == nil {
			return nil, &CallbackError{Status: http.StatusBadRequest, Err: ErrMalformedRequest}
		}
		r.Body = http.MaxBytesReader(nil, r.Body, maxCallbackBody)
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &CallbackError{Status: http.StatusRequestEntityTooLarge, Err: ErrRequestTooLarge}
			}
			return nil, &CallbackError{Status: http.StatusBadRequest, Err: ErrMalformedRequest}
		}
		return r.PostForm, nil
	}
	return nil, &CallbackError{Status: http.StatusMethodNotAllowed, Err: ErrMethodNotAllowed}
}

func (h *callbackHandler) complete(r *http.Request) (*Authorization, error) {
	q, err := h.params(r)
	if err != nil {
		return nil, err
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, &CallbackError{Status: http.StatusBadRequest,
				Err: fmt.Errorf("%w: %w: %s", ErrMalformedRequest, ErrDuplicateParameter, quoteUntrusted(k, 32))}
		}
	}
	c := h.c
	id, mac, ok := splitState(q.Get("state"))
	if !ok || len(q["state"]) != 1 {
		return nil, &CallbackError{Status: http.StatusBadRequest, Err: ErrStateInvalid}
	}
	pend, err := c.states.Take(r.Context(), id)
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, ErrStateInvalid) && !errors.Is(err, ErrStateExpired) && !errors.Is(err, ErrStateReplayed) {
			status = http.StatusServiceUnavailable
		}
		return nil, &CallbackError{Status: status, Err: err}
	}
	if subtle.ConstantTimeCompare(pend.MAC, mac) != 1 {
		return nil, &CallbackError{Status: http.StatusBadRequest, Err: ErrStateInvalid}
	}
	fail := func(status int, err error) (*Authorization, error) {
		return nil, &CallbackError{Connection: pend.Connection, Account: pend.Account, Status: status, Err: err}
	}
	if pend.Session != nil {
		if h.cfg.Session == nil {
			return fail(http.StatusForbidden, fmt.Errorf("%w: the authorization was started with AuthOptions.Session but HandlerConfig.Session is nil: set it to return the same value from the request", ErrSessionMismatch))
		}
		got := h.cfg.Session(r)
		if got == "" {
			return fail(http.StatusForbidden, sessionNotSent(r))
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(pend.Session, sum[:]) != 1 {
			return fail(http.StatusForbidden, ErrSessionMismatch)
		}
	}
	if pend.AdminConsent {
		res, err := adminConsentResult(pend, q)
		if err != nil {
			return nil, err
		}
		return nil, &adminConsentReturn{res: res}
	}
	p, err := c.Connection(pend.Connection)
	if err != nil {
		return fail(http.StatusBadRequest, err)
	}
	iss := q.Get("iss")
	want := ""
	if ip, ok := p.(IssuerProvider); ok {
		want = ip.Issuer()
	}
	if (iss != "" || want != "") && iss != want {
		return fail(http.StatusBadRequest, ErrIssuerMismatch)
	}
	if code := q.Get("error"); code != "" {
		return fail(http.StatusBadRequest, &AuthorizationError{Code: clean(code, 64), Description: clean(q.Get("error_description"), maxDescription)})
	}
	code := q.Get("code")
	if code == "" || len(q["code"]) != 1 {
		return fail(http.StatusBadRequest, ErrMissingCode)
	}
	// The exchange must not be abandoned when the browser goes away: the
	// code is single-use.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.refreshTimeout)
	defer cancel()
	g, err := p.Exchange(ctx, ExchangeRequest{Code: Secret(code), CodeVerifier: pend.Verifier, RedirectURI: c.redirect, Nonce: pend.Nonce})
	if err != nil {
		err = ScrubError(err, Secret(code), pend.Verifier) // the provider may have echoed the request
		status := http.StatusBadGateway
		if ClassOf(err) == ClassTransient {
			status = http.StatusServiceUnavailable
		}
		if errors.Is(err, ErrInvalidIDToken) || errors.Is(err, ErrUnverifiedIdentity) {
			status = http.StatusForbidden
		}
		return fail(status, err)
	}
	if err := checkIdentity(pend, g.Identity); err != nil {
		return fail(http.StatusForbidden, err)
	}
	rec, _, err := c.storeGrant(ctx, pend.Connection, pend.Account, g)
	if err != nil {
		return fail(http.StatusServiceUnavailable, err)
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "oauth2client: account authorized",
		slog.String("connection", pend.Connection), slog.String("account", pend.Account))
	c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: stored grant",
		slog.String("account", pend.Account), slog.Any("grant", &rec.Grant)) // the grant's secrets print as [redacted]
	if c.hooks.Authorized != nil {
		c.hooks.Authorized(ctx, pend.Account)
	}
	return &Authorization{Connection: pend.Connection, Account: pend.Account, Username: g.Identity.Username, ReturnTo: pend.ReturnTo}, nil
}

// clean shortens s to at most n bytes of valid UTF-8 without control
// characters, for provider text that ends up in errors.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// UserMessage returns a short explanation of err that is safe to show to
// the end user: it never contains codes, tokens or internal details. It
// sorts by who can fix the failure:
//   - a revoked, expired or withdrawn grant ([ErrReauthRequired], a
//     [*ProviderError] of [ClassReauth] such as invalid_grant or Entra's
//     AADSTS50173 and AADSTS70008): the user reconnects the mailbox;
//   - a refresh that named another identity ([ErrIdentityChanged]) or a
//     stored record that can no longer be read ([ErrUnreadable]): the user
//     reconnects too, which replaces the record;
//   - a temporary failure of the provider, the mail server or the token
//     store ([ErrTransient], [ErrStoreUnavailable], [ErrLeaseLost]), or
//     too many sign-ins in progress ([ErrTooManyPending]): the user tries
//     again later;
//   - a sign-in the user cancelled or declined ([ClassUser]), or one that
//     expired, was replayed or came back malformed: the user starts again;
//   - the application's configuration or a missing administrator action
//     ([ClassConfig], [ClassAdmin], an unknown connection, a server
//     without OAuth) and anything unrecognised: the user contacts the
//     administrator.
func UserMessage(err error) string {
	var ae *AuthorizationError
	var le *LoginError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrStateExpired):
		return "The sign-in took too long and has expired. Please start again."
	case errors.Is(err, ErrStateReplayed):
		return "This sign-in link was already used. Please start again."
	case errors.Is(err, ErrStateInvalid):
		return "This sign-in response is not valid here. Please start again from the application."
	case errors.Is(err, ErrSessionNotSent):
		return "This browser did not send its session with the sign-in response: the sign-in was started in another browser session, or the browser withheld this site's cookie. Please start again from the application."
	case errors.Is(err, ErrSessionMismatch):
		return "The sign-in was started in another browser session. Please start again from the application."
	case errors.Is(err, ErrIdentityMismatch):
		return "You signed in with a different mailbox than the one being connected. Please sign in with the right account."
	case errors.Is(err, ErrUnverifiedIdentity):
		return "Your mail provider has not verified this address. Verify it with your provider, or sign in with another account."
	case errors.Is(err, ErrInvalidIDToken):
		return "The sign-in answer from the mail provider could not be trusted. Please contact your administrator."
	case errors.As(err, &le) && !le.Temporary:
		return msgLoginRefused
	case errors.As(err, &ae) && ae.Class() == ClassUser, ClassOf(err) == ClassUser:
		return msgCancelled
	case errors.Is(err, ErrReauthRequired) || ClassOf(err) == ClassReauth, errors.Is(err, ErrIdentityChanged), errors.Is(err, ErrUnreadable):
		return msgReconnect
	case ClassOf(err) == ClassTransient || errors.Is(err, ErrTransient) || errors.Is(err, ErrConflict),
		errors.Is(err, ErrStoreUnavailable), errors.Is(err, ErrLeaseLost), errors.Is(err, ErrTooManyPending):
		return msgTryLater
	case errors.Is(err, ErrNotFound):
		return "This mailbox is not connected yet. Please connect your mailbox."
	case errors.Is(err, ErrMethodNotAllowed), errors.Is(err, ErrRequestTooLarge), errors.Is(err, ErrMalformedRequest), errors.Is(err, ErrMissingCode),
		errors.Is(err, ErrDuplicateParameter):
		return "The sign-in response was malformed. Please start again."
	}
	return msgAdministrator
}

// The messages of [UserMessage] shared by several causes.
const (
	msgReconnect     = "Access to your mailbox has expired or was revoked. Please reconnect your mailbox."
	msgTryLater      = "The mail service is temporarily unavailable. Please try again in a few minutes."
	msgCancelled     = "The sign-in was cancelled or access was not granted. You can start again."
	msgAdministrator = "The mailbox could not be connected. Please contact your administrator."
	msgLoginRefused  = "The mail server refused access to your mailbox. Please reconnect your mailbox; if that does not help, contact your administrator."
)

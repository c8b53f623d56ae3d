// Package oauthflow holds the x/oauth2 plumbing shared by the google and
// provider packages: a default HTTP client, bounded body reads, RFC 6749
// §5.2 error bodies turned into [*oauth2client.ProviderError], Retry-After
// parsing and id_token payload decoding.
package oauthflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/internal/scrub"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// MaxBody is the most bytes read from any provider response.
const MaxBody = 1 << 20

// DefaultClient returns a new HTTP client with sane timeouts for calls to
// an identity provider.
func DefaultClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		},
	}
}

// Context returns ctx carrying hc the way x/oauth2 expects it. The
// returned context is used for one call only, never stored.
func Context(ctx context.Context, hc *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// Body is an RFC 6749 §5.2 error body.
type Body struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
}

// ParseBody decodes an error body; it returns the zero Body when b is
// not one.
func ParseBody(b []byte) Body {
	var e Body
	if json.Unmarshal(b, &e) != nil {
		return Body{}
	}
	return e
}

// MaxRetryAfter is the longest Retry-After honoured: a longer one (or a
// date further away) is taken as this, so a hostile or broken answer
// cannot park an account for years.
const MaxRetryAfter = 24 * time.Hour

// RetryAfter parses a Retry-After header (seconds or an HTTP date,
// relative to now); zero when absent, unparsable or in the past, and at
// most [MaxRetryAfter].
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}

// Classifier explains an OAuth error code for one provider: the class
// and the remedy. ok false means the code is unknown to it.
type Classifier func(code string) (class oauth2client.Class, remedy string, ok bool)

// Generic classifies the RFC 6749 and RFC 6750 error codes.
func Generic(code string) (oauth2client.Class, string, bool) {
	switch code {
	case "invalid_grant":
		return oauth2client.ClassReauth, "the authorization expired or was revoked: connect the account again", true
	case "invalid_client", "unauthorized_client":
		return oauth2client.ClassConfig, "check the client ID and client secret registered with the provider", true
	case "invalid_request", "unsupported_grant_type", "unsupported_response_type":
		return oauth2client.ClassConfig, "the provider rejected the request: check the endpoints and client settings", true
	case "invalid_scope":
		return oauth2client.ClassConfig, "the provider does not allow a requested scope: check the configured scopes", true
	case "access_denied":
		return oauth2client.ClassUser, "the user declined: ask them to connect again and accept", true
	case "interaction_required", "login_required", "consent_required":
		return oauth2client.ClassReauth, "the user must sign in again", true
	case "server_error", "temporarily_unavailable", "slow_down":
		return oauth2client.ClassTransient, "the provider is unavailable: try again later", true
	}
	return oauth2client.ClassUnknown, "", false
}

// Error turns err from an x/oauth2 call (or a hand-made request) into a
// [*oauth2client.ProviderError] for provider and op. classify (which may
// be nil) is consulted before [Generic]. now is used for Retry-After
// dates. Request bodies, tokens and secrets never reach the result: only
// the provider's error code and description, the status and the
// underlying network error.
func Error(provider, op string, err error, classify Classifier, now time.Time) *oauth2client.ProviderError {
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) {
		return pe
	}
	out := &oauth2client.ProviderError{Provider: provider, Op: op}
	if errors.Is(err, ErrInsecureURL) {
		out.Err, out.Class = ErrInsecureURL, oauth2client.ClassConfig
		out.Description = "the provider redirected to another host or to plain http, which is refused"
		out.Remedy = "configure the provider's final https URLs (the issuer and endpoints as the server names them)"
		return out
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		out.Err = err
		if isNetwork(err) {
			out.Class = oauth2client.ClassTransient
			out.Remedy = "the provider could not be reached: check the network and try again later"
		}
		return out
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		b := ParseBody(re.Body)
		code, desc = b.Error, b.Description
	}
	out.Code, out.Description = code, desc
	if re.Response != nil {
		out.HTTPStatus = re.Response.StatusCode
		out.RetryAfter = RetryAfter(re.Response.Header, now)
	}
	return Classify(out, classify)
}

// Classify fills e.Class and e.Remedy from e.Code and e.HTTPStatus.
func Classify(e *oauth2client.ProviderError, classify Classifier) *oauth2client.ProviderError {
	if classify != nil {
		if c, r, ok := classify(e.Code); ok {
			e.Class, e.Remedy = c, r
		}
	}
	if e.Class == oauth2client.ClassUnknown {
		if c, r, ok := Generic(e.Code); ok {
			e.Class, e.Remedy = c, r
		}
	}
	if e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500 {
		e.Class = oauth2client.ClassTransient
		if e.Remedy == "" || e.Code == "" {
			e.Remedy = "the provider is unavailable or throttling: try again later"
		}
	}
	return e
}

// FromResponse builds the error for a non-2xx response whose body is b.
func FromResponse(provider, op string, resp *http.Response, b []byte, classify Classifier, now time.Time) *oauth2client.ProviderError {
	body := ParseBody(b)
	e := &oauth2client.ProviderError{Provider: provider, Op: op, Code: body.Error, Description: body.Description,
		HTTPStatus: resp.StatusCode, RetryAfter: RetryAfter(resp.Header, now)}
	if e.Code == "" && e.Description == "" {
		e.Err = fmt.Errorf("unexpected HTTP status %d", resp.StatusCode)
	}
	return Classify(e, classify)
}

func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// Do sends req with hc and returns the body, read through a [MaxBody]
// limit. Non-2xx answers are returned as errors by [FromResponse]. Every
// error is scrubbed of the secrets req carries (see [scrub.Set.AddRequest])
// and of secrets.
func Do(hc *http.Client, req *http.Request, provider, op string, classify Classifier, now time.Time, secrets ...string) ([]byte, error) {
	set := scrub.New(secrets...)
	set.AddRequest(req)
	resp, err := hc.Do(req) // #nosec G704 -- the URL is a provider endpoint from the connection's configuration or its discovery document, not user input
	if err != nil {
		return nil, Scrub(Error(provider, op, err, classify, now), set)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, Scrub(Error(provider, op, err, classify, now), set)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, Scrub(FromResponse(provider, op, resp, b, classify, now), set)
	}
	return b, nil
}

// Scrub returns err with the secrets of set removed from its text (see
// [oauth2client.ScrubError]).
func Scrub(err error, set *scrub.Set) error {
	secrets := set.Secrets()
	if err == nil || len(secrets) == 0 {
		return err
	}
	vs := make([]oauth2client.Secret, len(secrets))
	for i, v := range secrets {
		vs[i] = oauth2client.Secret(v)
	}
	return oauth2client.ScrubError(err, vs...)
}

// Call is one exchange with a provider's token endpoint through x/oauth2.
// Its Client records every secret it sends (and the transport error,
// which x/oauth2/jwt formats with %v, losing the chain), so that [Call.Fail]
// can build an error free of them. Use a Call for one request only.
type Call struct {
	// Client is the HTTP client to pass to x/oauth2 (with [Context]).
	Client *http.Client
	// Secrets holds the secrets sent so far, and those given to [Begin].
	Secrets   *scrub.Set
	transport func() error
}

// Begin starts a Call through hc; secrets are known secrets of the
// request (the client secret, the code, the refresh token), added to
// whatever the request turns out to carry.
func Begin(hc *http.Client, secrets ...string) *Call {
	set := scrub.New(secrets...)
	c, transport := Capture(scrub.Client(hc, set))
	return &Call{Client: c, Secrets: set, transport: transport}
}

// Fail turns err from the call into a scrubbed
// [*oauth2client.ProviderError] (see [Error]); a transport error recorded
// by the Client replaces err, so that network failures keep their chain.
func (c *Call) Fail(provider, op string, err error, classify Classifier, now time.Time) error {
	if t := c.transport(); t != nil {
		err = t
	}
	return Scrub(Error(provider, op, err, classify, now), c.Secrets)
}

// Claims decodes the payload of a JWT (an id_token) without verifying
// it. Use it only on tokens received directly from the token endpoint
// over TLS (OpenID Connect Core §3.1.3.7), never to authenticate.
func Claims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("id_token is not a JWT")
	}
	p, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("id_token payload: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(p, &c); err != nil {
		return nil, fmt.Errorf("id_token payload: %w", err)
	}
	return c, nil
}

// String returns claim name of c as a string ("" if absent or not a
// string).
func String(c map[string]any, name string) string {
	s, _ := c[name].(string)
	return s
}

// Scopes splits the scope field of a token response.
func Scopes(t *oauth2.Token) []string {
	s, _ := t.Extra("scope").(string)
	return strings.Fields(s)
}

// Expiry returns when t expires, from its expires_in measured on now
// (so that an injected clock is honoured), else t.Expiry.
func Expiry(t *oauth2.Token, now time.Time) time.Time {
	secs := t.ExpiresIn
	if secs == 0 {
		if f, ok := t.Extra("expires_in").(float64); ok {
			secs = int64(f)
		}
	}
	if secs > 0 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	return t.Expiry
}

// Capture returns a copy of hc whose transport errors are also kept in
// the returned func's result: x/oauth2/jwt formats them with %v, which
// loses the chain, and callers need to tell a network failure apart.
// Use the pair for one call only.
func Capture(hc *http.Client) (*http.Client, func() error) {
	c := *hc
	rt := &capture{base: hc.Transport}
	if rt.base == nil {
		rt.base = http.DefaultTransport
	}
	c.Transport = rt
	return &c, func() error {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.err
	}
}

type capture struct {
	base http.RoundTripper
	mu   sync.Mutex
	err  error
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	return resp, err
}

// ErrInsecureURL is wrapped by the errors about a URL refused for its
// transport: plain http where https is required, or a redirect to
// another host or from https down to http.
var ErrInsecureURL = errors.New("insecure URL refused (plain http, or a redirect to another host or down to http)")

// CheckURL validates an absolute URL the library will send requests
// to: https (or http when allowHTTP), a host, no user information and no
// fragment. field names it in the error, which wraps [ErrInsecureURL] for
// a plain-http URL. The URL's value is not quoted when quote is false
// (values that came from a server).
func CheckURL(field, v string, allowHTTP, quote bool) error {
	shown := ""
	if quote {
		shown = fmt.Sprintf(" %q", v)
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%s%s is not an absolute https URL", field, shown)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%s%s carries user information (user@host): remove it", field, shown)
	case u.Fragment != "" || strings.Contains(v, "#"):
		return fmt.Errorf("%s%s has a fragment ('#'): remove it", field, shown)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP:
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%s%s uses plain http: %w; use https (plain http is only for tests, with the AllowInsecureHTTP option)", field, shown, ErrInsecureURL)
	}
	return fmt.Errorf("%s%s is not an https URL", field, shown)
}

// GuardRedirects returns a copy of hc that follows a redirect only to
// the same host (and port) as the original request and never from https
// down to http, nor to http at all unless allowHTTP; a refused redirect
// fails the request with an error wrapping [ErrInsecureURL]. hc's own
// CheckRedirect, if any, still applies after these checks.
func GuardRedirects(hc *http.Client, allowHTTP bool) *http.Client {
	c := *hc
	prev := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		first, last := via[0].URL, via[len(via)-1].URL
		switch {
		case !strings.EqualFold(req.URL.Host, first.Host):
			return fmt.Errorf("redirect to another host: %w", ErrInsecureURL)
		case last.Scheme == "https" && req.URL.Scheme != "https":
			return fmt.Errorf("redirect from https down to %s: %w", req.URL.Scheme, ErrInsecureURL)
		case req.URL.Scheme != "https" && !allowHTTP:
			return fmt.Errorf("redirect to plain http: %w", ErrInsecureURL)
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	return &c
}

package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// DeviceLogin is a device-code sign-in in progress (RFC 8628), for
// headless admin tools and servers without a browser: show the user
// [DeviceLogin.Message] (or the code and URL), then call
// [DeviceLogin.Wait]; store the grant it returns with
// [oauth2client.Client.ConnectGrant].
//
// The app registration must allow it: Azure portal → App registrations →
// your app → Authentication → Advanced settings → "Allow public client
// flows": Yes. The tokens are then issued to the app as a public client
// (no secret), and the provider refreshes them the same way.
type DeviceLogin struct {
	// UserCode is the code the user types at VerificationURL.
	UserCode string
	// VerificationURL is where the user signs in, e.g.
	// https://microsoft.com/devicelogin.
	VerificationURL string
	// Message is Entra's ready-made instruction for the user.
	Message string
	// Expiry is when the code stops being accepted (15 minutes).
	Expiry time.Time

	p    *Provider
	dc   public.DeviceCode
	b    *blob
	kept *keptError
}

// StartDeviceLogin asks Entra ID for a device code for the connection's
// delegated mail scopes. It fails for an app-only connection.
func (p *Provider) StartDeviceLogin(ctx context.Context) (*DeviceLogin, error) {
	if p.cfg.AppOnly {
		return nil, fmt.Errorf("azure: connection is app-only: a device login signs in a user; use Client.ConnectAppOnly for app-only access")
	}
	kept := &keptError{}
	hc := *p.hc
	hc.Transport = &errorKeeper{base: p.hc.Transport, kept: kept}
	c, err := p.publicClient(&hc)
	if err != nil {
		return nil, err
	}
	b := &blob{}
	ctx = p.scrubbing(ctx)
	dc, err := c.AcquireTokenByDeviceCode(context.WithValue(ctx, blobKey{}, b), p.scopes)
	if err != nil {
		return nil, deviceError(p.mapDevice(ctx, err, kept))
	}
	return &DeviceLogin{UserCode: dc.Result.UserCode, VerificationURL: dc.Result.VerificationURL, Message: dc.Result.Message,
		Expiry: p.expiry(dc.Result.ExpiresOn), p: p, dc: dc, b: b, kept: kept}, nil
}

// Wait polls Entra ID until the user has signed in, declined, or the code
// expired, or ctx is done (polling starts at 50 ms and backs off to 5 s,
// as MSAL does). The grant carries the signed-in mailbox's identity.
func (d *DeviceLogin) Wait(ctx context.Context) (*oauth2client.Grant, error) {
	ctx = d.p.scrubbing(ctx)
	res, err := d.dc.AuthenticationResult(context.WithValue(ctx, blobKey{}, d.b))
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("azure: waiting for the device login: %w", err)
		}
		return nil, deviceError(d.p.mapDevice(ctx, err, d.kept))
	}
	g, err := d.p.grantFor(ctx, res, d.b, true, "")
	if err != nil {
		return nil, err
	}
	return g, d.p.named(g, "device")
}

// deviceError adapts the remedy of a missing client credential to the
// device login, where the fix is to allow public client flows.
func deviceError(err error) error {
	var pe *oauth2client.ProviderError
	if errors.As(err, &pe) && pe.ProviderCode == "AADSTS7000218" {
		pe.Remedy = "the app registration does not allow device logins: set App registrations > your app > Authentication > " +
			"Advanced settings > Allow public client flows to Yes, or connect the mailbox through the browser sign-in"
	}
	return err
}

// publicClient returns an MSAL public client for the connection; it
// reads and writes the per-call cache like the confidential clients.
func (p *Provider) publicClient(hc *http.Client) (public.Client, error) {
	c, err := public.New(p.cfg.ClientID,
		public.WithAuthority(p.authority(p.cfg.Tenant)),
		public.WithCache(callCache{}),
		public.WithHTTPClient(hc),
		public.WithInstanceDiscovery(p.discovery))
	if err != nil {
		return public.Client{}, configError("AuthorityURL", "%v", err)
	}
	return c, nil
}

// refreshPublic renews a device-login grant with MSAL's public client.
func (p *Provider) refreshPublic(ctx context.Context, st state, b *blob) (*oauth2client.Grant, error) {
	c, err := p.publicClient(p.hc)
	if err != nil {
		return nil, err
	}
	cctx := context.WithValue(ctx, blobKey{}, b)
	accounts, err := c.Accounts(cctx)
	if err != nil {
		return nil, p.mapError(cctx, "refresh", err)
	}
	var acct public.Account
	for _, a := range accounts {
		if a.HomeAccountID == st.HomeAccountID {
			acct = a
		}
	}
	if acct.HomeAccountID == "" {
		return nil, notInCache()
	}
	opts := []public.AcquireSilentOption{public.WithSilentAccount(acct)}
	if p.tenantOverride(st) {
		opts = append(opts, public.WithTenantID(st.Tenant))
	}
	res, err := c.AcquireTokenSilent(cctx, p.scopes, opts...)
	if err != nil {
		return nil, p.mapError(cctx, "refresh", err)
	}
	return p.grantFor(ctx, res, b, true, "")
}

// mapDevice maps an error of the device flow. MSAL reads the body of the
// token endpoint's 400 answers itself while polling (to see whether the
// user is still signing in), so its error arrives with an empty body:
// the errorKeeper kept a copy of the last error answer.
func (p *Provider) mapDevice(ctx context.Context, err error, kept *keptError) error {
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		if resp, raw := kept.get(); resp != nil {
			return p.scrub(ctx, p.mapResponse(&oauth2client.ProviderError{Provider: "azure", Op: "device_code"}, resp, raw))
		}
	}
	return p.mapError(ctx, "device_code", err)
}

// keptError is the last error answer an errorKeeper saw.
type keptError struct {
	mu   sync.Mutex
	resp *http.Response
	raw  []byte
}

func (k *keptError) get() (*http.Response, []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.resp, k.raw
}

// errorKeeper is an http.RoundTripper that keeps a copy of the body of
// each 4xx/5xx answer (at most 1 MiB, the limit mapError reads) and hands
// the caller an identical body.
type errorKeeper struct {
	base http.RoundTripper
	kept *keptError
}

func (e *errorKeeper) RoundTrip(r *http.Request) (*http.Response, error) {
	base := e.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	e.kept.mu.Lock()
	e.kept.resp, e.kept.raw = resp, raw
	e.kept.mu.Unlock()
	return resp, nil
}

package mailtest

import (
	"context"
	"net/http"
	"net/http/httptest"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Authorizer is a fake identity provider that plays the user at its
// authorization endpoint: given an authorization URL, it signs the user in,
// consents and returns the URL the browser would be sent back to. [*Azure]
// and [*Google] are Authorizers.
type Authorizer interface {
	Authorize(ctx context.Context, authURL string) (callbackURL string, err error)
}

// Connect connects account on connection of c the way a user does: it
// starts the authorization with opts (nil for none), lets idp sign the
// user in, and serves the callback to c's own callback handler, which
// exchanges the code and stores the tokens. It returns nil once the tokens
// are stored; otherwise the error from StartAuthorization, from idp, or the
// handler's [*oauth2client.CallbackError]. A Session in opts is presented
// back to the handler as the browser's session.
func Connect(ctx context.Context, c *oauth2client.Client, idp Authorizer, connection, account string, opts *oauth2client.AuthOptions) error {
	authURL, err := c.StartAuthorization(ctx, connection, account, opts)
	if err != nil {
		return err
	}
	back, err := idp.Authorize(ctx, authURL)
	if err != nil {
		return err
	}
	var failed error
	cfg := oauth2client.HandlerConfig{
		OnSuccess: func(w http.ResponseWriter, _ *http.Request, _ *oauth2client.Authorization) {
			w.WriteHeader(http.StatusNoContent)
		},
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			failed = err
			w.WriteHeader(http.StatusBadRequest)
		},
	}
	if opts != nil && opts.Session != "" {
		cfg.Session = func(*http.Request) string { return opts.Session }
	}
	c.Handler(cfg).ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, back, nil))
	return failed
}

// Package mailauth logs go-imap v2 and go-smtp clients in with the tokens
// of an [oauth2client.Client]: it picks XOAUTH2 or OAUTHBEARER from what
// the server advertises and the provider prefers, authenticates, and
// when the server rejects a token the Client believed valid (revoked, or
// clock skew) it forces one refresh and tries once more — never more.
// Failures come back as [*oauth2client.LoginError] with the server's
// decoded challenge and its IMAP or SMTP status, and temporary server
// failures (IMAP [UNAVAILABLE], SMTP 454) match [oauth2client.ErrTransient]
// instead of looking like a bad token.
//
// This package imports go-imap and go-smtp; the core packages do not.
// Import it only if you use those clients.
package mailauth

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// IMAP authenticates c as account. The server's AUTH= capabilities choose
// the mechanism unless opts.Mechanism forces one; opts.Offered is ignored.
func IMAP(ctx context.Context, oc *oauth2client.Client, c *imapclient.Client, account string, opts *oauth2client.SASLOptions) error {
	o := options(opts)
	o.Offered = c.Caps().AuthMechanisms()
	if o.Offered == nil {
		o.Offered = []string{}
	}
	return login(ctx, oc, account, o, func(sc *oauth2client.SASLClient) error { return c.Authenticate(sc) }, classifyIMAP)
}

// SMTP authenticates c as account. The server's EHLO AUTH line chooses
// the mechanism unless opts.Mechanism forces one; opts.Offered is ignored.
// Call it after STARTTLS where the server requires it.
func SMTP(ctx context.Context, oc *oauth2client.Client, c *smtp.Client, account string, opts *oauth2client.SASLOptions) error {
	o := options(opts)
	_, params := c.Extension("AUTH")
	o.Offered = strings.Fields(params)
	return login(ctx, oc, account, o, func(sc *oauth2client.SASLClient) error { return c.Auth(sc) }, classifySMTP)
}

func options(opts *oauth2client.SASLOptions) oauth2client.SASLOptions {
	if opts == nil {
		return oauth2client.SASLOptions{}
	}
	return *opts
}

// verdict is what a failed authentication means.
type verdict int

const (
	notAuth   verdict = iota // not an authentication answer (network, protocol)
	rejected                 // the server refused the credentials
	temporary                // the server could not check them now
)

func login(ctx context.Context, oc *oauth2client.Client, account string, o oauth2client.SASLOptions,
	auth func(*oauth2client.SASLClient) error, classify func(error) verdict) error {
	for attempt := 0; ; attempt++ {
		sc, err := oc.SASLClient(ctx, account, &o)
		if err != nil {
			return err
		}
		err = auth(sc)
		if err == nil {
			return nil
		}
		v := classify(err)
		if v == notAuth && sc.Rejection() == nil {
			return err
		}
		lerr := &oauth2client.LoginError{Account: account, Mechanism: sc.Mechanism(), Challenge: sc.Rejection(), Temporary: v == temporary, Err: err}
		if v == temporary || attempt > 0 {
			return lerr
		}
		if _, rerr := oc.Refresh(ctx, account); rerr != nil {
			return errors.Join(lerr, rerr)
		}
	}
}

func classifyIMAP(err error) verdict {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return notAuth
	}
	switch ie.Code {
	case imap.ResponseCodeUnavailable:
		return temporary
	case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed, imap.ResponseCodeExpired, "":
		return rejected
	}
	if ie.Type == imap.StatusResponseTypeNo {
		return rejected
	}
	return notAuth
}

func classifySMTP(err error) verdict {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return notAuth
	}
	switch {
	case se.Code == 454 || se.Code == 421 || (se.Code >= 400 && se.Code < 500):
		return temporary
	case se.Code == 535 || se.Code == 534 || se.Code == 530:
		return rejected
	}
	return notAuth
}

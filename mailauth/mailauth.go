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
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

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
//
// When "AUTH <mechanism> <initial response>" would be longer than the
// 512-octet command line of RFC 5321 §4.5.3.1.4 (always the case for
// Exchange Online's 1.5–3 KB tokens), SMTP withholds the initial
// response and sends it in answer to the server's empty 334 challenge,
// as RFC 4954 §4 requires: servers such as Dovecot's submission service
// refuse longer command lines with "500 5.5.2 Line too long". Short
// tokens still go in one round trip.
func SMTP(ctx context.Context, oc *oauth2client.Client, c *smtp.Client, account string, opts *oauth2client.SASLOptions) error {
	o := options(opts)
	_, params := c.Extension("AUTH")
	o.Offered = strings.Fields(params)
	return login(ctx, oc, account, o, func(sc *oauth2client.SASLClient) error { return c.Auth(withholdLong(sc)) }, classifySMTP)
}

// maxSMTPCommandLine is the longest SMTP command line, CRLF included,
// that every server must accept (RFC 5321 §4.5.3.1.4).
const maxSMTPCommandLine = 512

// ForSMTP adapts a SASL client for go-smtp's Client.Auth: when "AUTH
// <mechanism> <initial response>" would be longer than the 512-octet
// command line of RFC 5321, the initial response is withheld and sent in
// answer to the server's empty 334 challenge (RFC 4954 §4). [SMTP] does
// this itself; use ForSMTP with clients of your own, such as
// xoauth2.NewClient.
func ForSMTP(c sasl.Client) sasl.Client { return &withheld{Client: c} }

func withholdLong(sc *oauth2client.SASLClient) sasl.Client { return ForSMTP(sc) }

// withheld sends the initial response of a SASL client only in answer to
// the server's first, empty challenge when it is too long for the AUTH
// command line.
type withheld struct {
	sasl.Client
	ir      []byte // the withheld initial response, until sent
	pending bool
}

func (w *withheld) Start() (string, []byte, error) {
	mech, ir, err := w.Client.Start()
	if err != nil {
		return mech, ir, err
	}
	line := len("AUTH ") + len(mech) + 1 + base64.StdEncoding.EncodedLen(len(ir)) + len("\r\n")
	if line <= maxSMTPCommandLine {
		return mech, ir, nil
	}
	w.ir, w.pending = ir, true
	return mech, nil, nil
}

func (w *withheld) Next(challenge []byte) ([]byte, error) {
	if w.pending && len(challenge) == 0 {
		w.pending = false
		ir := w.ir
		w.ir = nil
		return ir, nil
	}
	w.pending = false
	return w.Client.Next(challenge)
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
		if _, rerr := oc.RefreshIfCurrent(ctx, account, sc.Token()); rerr != nil {
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

package oauth2client

import (
	"context"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// SASL mechanism names.
const (
	MechXOAUTH2     = xoauth2.Mechanism
	MechOAUTHBEARER = sasl.OAuthBearer
)

// SASLOptions are per-login extras for [Client.SASLClient]. The zero value
// uses the provider's preferred mechanism.
type SASLOptions struct {
	// Offered are the SASL mechanisms the server advertised (IMAP
	// CAPABILITY AUTH=..., SMTP EHLO AUTH ...). When set, the mechanism
	// is the provider's most preferred one the server offers, and an
	// error wrapping [ErrNoOAuthMechanism] says so when there is none.
	Offered []string
	// Mechanism forces XOAUTH2 or OAUTHBEARER.
	Mechanism string
	// Username overrides the SASL user, e.g. a shared mailbox's address
	// opened with a delegate's token.
	Username string
	// Host and Port are sent in OAUTHBEARER's initial response (RFC 7628
	// recommends them). Optional.
	Host string
	Port int
}

// ChooseMechanism picks the first of preferred (XOAUTH2 and OAUTHBEARER
// if empty) that the server offers; names compare case-insensitively. A
// nil offered means the server's list is unknown: the first preference
// wins. If the server offers none of them, the error is a
// [*MechanismError] wrapping [ErrNoOAuthMechanism].
func ChooseMechanism(preferred, offered []string) (string, error) {
	if len(preferred) == 0 {
		preferred = []string{MechXOAUTH2, MechOAUTHBEARER}
	}
	if offered == nil {
		return strings.ToUpper(preferred[0]), nil
	}
	for _, p := range preferred {
		for _, o := range offered {
			if strings.EqualFold(p, o) {
				return strings.ToUpper(p), nil
			}
		}
	}
	// The provider's list is a preference, not a limit: a server that
	// only speaks the other OAuth mechanism still gets it.
	for _, m := range []string{MechXOAUTH2, MechOAUTHBEARER} {
		for _, o := range offered {
			if strings.EqualFold(m, o) {
				return m, nil
			}
		}
	}
	return "", &MechanismError{Offered: append([]string(nil), offered...)}
}

// SASLClient returns a ready SASL client for one login to account's
// mailbox: it obtains a valid token first (all I/O happens here, because
// go-imap's Authenticate and go-smtp's Auth take no context), then
// chooses XOAUTH2 or OAUTHBEARER from the provider's preference and
// opts.Offered. Pass the result to imapclient.Client.Authenticate or
// smtp.Client.Auth; if the server rejects the token, [SASLClient.Rejection]
// has the server's decoded error challenge.
func (c *Client) SASLClient(ctx context.Context, account string, opts *SASLOptions) (*SASLClient, error) {
	var o SASLOptions
	if opts != nil {
		o = *opts
	}
	tok, err := c.Token(ctx, account)
	if err != nil {
		return nil, err
	}
	mech := strings.ToUpper(o.Mechanism)
	if mech == "" {
		var pref []string
		if p, err := c.Connection(tok.Connection); err == nil {
			pref = p.Mail().Mechanisms
		}
		if mech, err = ChooseMechanism(pref, o.Offered); err != nil {
			return nil, err
		}
	}
	user := tok.Username
	if o.Username != "" {
		user = o.Username
	}
	return NewSASLClient(mech, user, tok.AccessToken, o.Host, o.Port)
}

// NewSASLClient returns a SASL client for mech (XOAUTH2 or OAUTHBEARER)
// presenting token as username. Host and port are only used by
// OAUTHBEARER and may be empty.
func NewSASLClient(mech, username string, token Secret, host string, port int) (*SASLClient, error) {
	var inner sasl.Client
	switch strings.ToUpper(mech) {
	case MechXOAUTH2:
		inner = xoauth2.NewClient(username, string(token))
	case MechOAUTHBEARER:
		inner = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: username, Token: string(token), Host: host, Port: port})
	default:
		return nil, fmt.Errorf("oauth2client: SASL mechanism %q is not an OAuth mechanism: use XOAUTH2 or OAUTHBEARER", mech)
	}
	return &SASLClient{mech: strings.ToUpper(mech), inner: inner, token: token}, nil
}

// SASLClient is a [sasl.Client] for XOAUTH2 or OAUTHBEARER that answers a
// server's error challenge the way the mechanisms require (an empty
// response for XOAUTH2, %x01 for OAUTHBEARER, so the server ends the
// command with NO or 535 instead of waiting) and keeps the decoded
// challenge for the caller. Use one value for one authentication; it is
// not safe for concurrent use.
type SASLClient struct {
	mech      string
	inner     sasl.Client
	rejection *xoauth2.Error
	steps     int
	token     Secret
}

// Token returns the access token the client presents. After the server
// rejected it, pass it to [Client.RefreshIfCurrent], so that several
// connections rejected with the same token cause one refresh.
func (s *SASLClient) Token() Secret { return s.token }

// Mechanism returns the SASL mechanism name.
func (s *SASLClient) Mechanism() string { return s.mech }

// Start implements [sasl.Client]: it returns the mechanism and its
// initial response (never nil).
func (s *SASLClient) Start() (string, []byte, error) { return s.inner.Start() }

// Next implements [sasl.Client]. A server sends a challenge to XOAUTH2 or
// OAUTHBEARER only to report an error: Next records it and returns the
// mechanism's non-nil acknowledgement. A second challenge is an error.
func (s *SASLClient) Next(challenge []byte) ([]byte, error) {
	s.steps++
	if s.steps > 1 {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	ch, err := xoauth2.ParseChallenge(challenge)
	if err != nil {
		ch = &xoauth2.Error{Status: "unknown"}
	}
	s.rejection = ch
	if s.mech == MechOAUTHBEARER {
		return []byte{0x01}, nil
	}
	return []byte{}, nil
}

// Rejection returns the error challenge the server sent, or nil if it
// sent none (a server may reject without one, e.g. Exchange Online).
func (s *SASLClient) Rejection() *xoauth2.Error { return s.rejection }

// LoginError is a mail server's refusal of a token, with what the server
// said.
type LoginError struct {
	// Account is the account whose token was refused.
	Account string
	// Mechanism is the SASL mechanism used.
	Mechanism string
	// Challenge is the server's decoded error challenge (status, schemes,
	// scope), if it sent one.
	Challenge *xoauth2.Error
	// Temporary is true when the server reported a temporary failure
	// (IMAP [UNAVAILABLE], SMTP 454): the token may be fine.
	Temporary bool
	// Err is the protocol error (*imap.Error, *smtp.SMTPError, ...).
	Err error
}

// Error describes the refusal.
func (e *LoginError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth2client: mail server refused %s login for account %q", e.Mechanism, e.Account)
	if e.Challenge != nil {
		fmt.Fprintf(&b, " (status %s", e.Challenge.Status)
		if e.Challenge.Schemes != "" {
			fmt.Fprintf(&b, ", schemes %s", e.Challenge.Schemes)
		}
		if e.Challenge.Scope != "" {
			fmt.Fprintf(&b, ", scope %s", e.Challenge.Scope)
		}
		b.WriteByte(')')
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Temporary {
		b.WriteString(" (temporary: the server could not verify the token now; retry later)")
	} else {
		b.WriteString(" (the token was rejected: expired, revoked, wrong user or missing mailbox permission)")
	}
	return b.String()
}

// Unwrap returns the protocol error.
func (e *LoginError) Unwrap() error { return e.Err }

// Is matches [ErrTransient] for temporary failures.
func (e *LoginError) Is(target error) bool { return target == ErrTransient && e.Temporary }

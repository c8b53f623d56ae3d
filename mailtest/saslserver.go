package mailtest

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-sasl"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// TokenChecker decides whether a bearer token opens username's mailbox.
// [*Ledger] implements it.
type TokenChecker interface {
	Check(username, token string) (TokenInfo, error)
}

// ErrUnavailable, returned by a [TokenChecker], makes the fake servers
// answer with a temporary failure (IMAP NO [UNAVAILABLE], SMTP 454), as
// Dovecot does when its token introspection endpoint is down.
var ErrUnavailable = errors.New("mailtest: token verification unavailable")

// Mechanisms are the SASL mechanisms the fake servers offer.
var mechanisms = []string{xoauth2.Mechanism, sasl.OAuthBearer}

type verdict int

const (
	pending verdict = iota
	accepted
	rejected
	unavailable
)

// saslGuard runs one XOAUTH2 or OAUTHBEARER exchange like a real server:
// a rejected token, or a malformed message, gets the JSON error
// challenge, after which the client's answer, whatever it is, ends the
// exchange with a failure. The inner server sees at most one client
// message: go-sasl's OAUTHBEARER server panics when a malformed message is
// followed by an empty answer (it indexes response[0] unchecked), so it is
// never called again once it has answered a message.
type saslGuard struct {
	inner    sasl.Server
	v        verdict
	answered bool // the inner server has been given the client's message
	failing  bool
	fail     func(verdict) error
}

func (g *saslGuard) Next(resp []byte) ([]byte, bool, error) {
	if g.failing || g.answered {
		g.failing = false
		return nil, true, g.fail(rejected)
	}
	if resp != nil {
		g.answered = true
	}
	ch, done, err := g.inner.Next(resp)
	switch {
	case g.v == unavailable:
		return nil, true, g.fail(unavailable)
	case (g.v == rejected || g.v == pending && resp != nil) && !done && err == nil && len(ch) > 0:
		// A rejected token, or a message the inner server found
		// malformed: its error challenge, then failure whatever the
		// client answers.
		g.failing = true
		return ch, false, nil
	case err != nil || g.v == rejected:
		return nil, true, g.fail(rejected)
	case g.v == pending && !done && len(ch) == 0:
		// No initial response: ask for it with an empty continuation
		// ("+ ", "334 "), as Dovecot does. go-sasl's OAUTHBEARER server
		// returns []byte{} here, which go-imap would send as "+ =".
		return nil, false, nil
	}
	return ch, done, nil
}

// newSASL returns the server side of mech, checking tokens with check and
// calling login with the authenticated user.
func newSASL(mech string, check TokenChecker, scope, role string, login func(user string), fail func(verdict) error, stats *Stats) (sasl.Server, bool) {
	g := &saslGuard{fail: fail}
	decide := func(user, token string) bool {
		ti, err := check.Check(user, token)
		if err == nil && !hasAppRole(ti, role) {
			err = ErrMissingRole
		}
		switch {
		case err == nil:
			g.v = accepted
			stats.Logins.Add(1)
			login(user)
			return true
		case errors.Is(err, ErrUnavailable):
			g.v = unavailable
		default:
			g.v = rejected
		}
		stats.Failures.Add(1)
		return false
	}
	switch mech {
	case xoauth2.Mechanism:
		g.inner = xoauth2.NewServer(func(user, token string) error {
			if decide(user, token) {
				return nil
			}
			return &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: scope}
		})
	case sasl.OAuthBearer:
		g.inner = sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if decide(o.Username, o.Token) {
				return nil
			}
			return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: scope}
		})
	default:
		return nil, false
	}
	return g, true
}

// ErrMissingRole means an app-only Entra token lacks the application
// permission the service needs (IMAP.AccessAsApp for IMAP,
// SMTP.SendAsApp for SMTP): Exchange Online refuses such tokens.
var ErrMissingRole = errors.New("mailtest: the app-only token lacks the service's application permission")

// hasAppRole reports whether ti may use the service that needs role. Only
// app-only tokens carrying Entra roles (names, not URL scopes such as a
// Google service account's https://mail.google.com/) are checked.
func hasAppRole(ti TokenInfo, role string) bool {
	if !ti.AppOnly || role == "" {
		return true
	}
	for _, s := range ti.Scopes {
		if strings.Contains(s, "://") {
			return true
		}
	}
	return slices.Contains(ti.Scopes, role)
}

// Stats counts a fake server's authentications.
type Stats struct {
	// Logins counts accepted tokens; Failures rejected or unverifiable
	// ones.
	Logins, Failures atomic.Int64
}

// Package pendingjson is the stored form of an oauth2client.Pending that
// the shared state stores (tokenstore's SQL store, redisstore) write: one
// encoding with explicit JSON names, so that a field added to Pending is
// carried by every store at once and a field renamed in oauth2client
// cannot silently change what is stored.
package pendingjson

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// stored is a Pending as stored. The names are the stored form's: keep
// them when Pending changes.
type stored struct {
	Connection      string              `json:"connection"`
	Account         string              `json:"account"`
	MAC             []byte              `json:"mac"`
	Verifier        oauth2client.Secret `json:"verifier"`
	Session         []byte              `json:"session,omitempty"`
	ReturnTo        string              `json:"return_to,omitempty"`
	RequireUsername string              `json:"require_username,omitempty"`
	Expires         int64               `json:"expires_unix_nano"`
	RequireTenant   string              `json:"require_tenant,omitempty"`
	RequireDomain   string              `json:"require_domain,omitempty"`
	Nonce           string              `json:"nonce,omitempty"`
	AdminConsent    bool                `json:"admin_consent,omitempty"`
}

// Marshal encodes p. The PKCE verifier is in it: the store must keep the
// entry no longer than twice the state's lifetime.
func Marshal(p *oauth2client.Pending) ([]byte, error) {
	return json.Marshal(stored{p.Connection, p.Account, p.MAC, p.Verifier, p.Session, p.ReturnTo, p.RequireUsername, // #nosec G117 -- the verifier must reach the store; it lives at most twice the state's lifetime
		p.Expires.UnixNano(), p.RequireTenant, p.RequireDomain, p.Nonce, p.AdminConsent})
}

// Unmarshal decodes what Marshal wrote. An entry it cannot read is
// [oauth2client.ErrStateInvalid].
func Unmarshal(b []byte) (*oauth2client.Pending, error) {
	var sp stored
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("%w (the stored entry is unreadable)", oauth2client.ErrStateInvalid)
	}
	return &oauth2client.Pending{Connection: sp.Connection, Account: sp.Account, MAC: sp.MAC, Verifier: sp.Verifier,
		Session: sp.Session, ReturnTo: sp.ReturnTo, RequireUsername: sp.RequireUsername, Expires: time.Unix(0, sp.Expires),
		RequireTenant: sp.RequireTenant, RequireDomain: sp.RequireDomain, Nonce: sp.Nonce, AdminConsent: sp.AdminConsent}, nil
}

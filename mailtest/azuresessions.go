package mailtest

import "strings"

// RevokeSessions does what an administrator's "Revoke sessions" does for
// email in the Entra admin center (or Revoke-MgUserSignInSession): every
// refresh token issued to the user so far stops working, and redeeming
// one answers invalid_grant with AADSTS50173 ("The provided grant has
// expired due to it being revoked"), as the Google fake's
// [Google.RevokeUser] does for Google. Access tokens already issued stay
// valid until they expire, as with Entra without continuous access
// evaluation; revoke them in the [Ledger] as well to model it. The user
// may sign in again afterwards. It returns the number of refresh tokens
// revoked.
func (a *Azure) RevokeSessions(email string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessionRevoked == nil {
		a.sessionRevoked = make(map[*azRT]bool)
	}
	n := 0
	for _, rt := range a.rts {
		if strings.EqualFold(rt.user.Email, email) && !rt.revoked {
			rt.revoked = true
			a.sessionRevoked[rt] = true
			n++
		}
	}
	return n
}

package mailtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Errors returned by [Ledger.Check].
var (
	ErrUnknownToken = errors.New("mailtest: token was not issued by this provider")
	ErrTokenExpired = errors.New("mailtest: token has expired")
	ErrTokenRevoked = errors.New("mailtest: token was revoked")
	ErrWrongUser    = errors.New("mailtest: token belongs to another user")
)

// TokenInfo is what a fake provider records about an access token it
// issued.
type TokenInfo struct {
	// Username is the mailbox the token opens (the SASL user).
	Username string
	// Subject is the user's identifier at the provider.
	Subject string
	// ClientID is the application the token was issued to.
	ClientID string
	// Scopes are the scopes granted (delegated) or roles (app-only).
	Scopes []string
	// AppOnly marks tokens from client credentials or service accounts.
	AppOnly bool
	// Issued and Expiry bound the token's validity.
	Issued, Expiry time.Time
	// Revoked is set by [Ledger.Revoke].
	Revoked bool
}

// Ledger is the record of access tokens a fake provider issued. The fake
// mail servers and the introspection endpoint consult it, so exactly the
// tokens a fake issued, and only while they are valid, open a mailbox.
// It is safe for concurrent use.
type Ledger struct {
	now    func() time.Time
	mu     sync.Mutex
	tokens map[string]*TokenInfo
}

// NewLedger returns an empty ledger reading time from now (time.Now if
// nil).
func NewLedger(now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{now: now, tokens: make(map[string]*TokenInfo)}
}

// Now returns the ledger's current time.
func (l *Ledger) Now() time.Time { return l.now() }

// Issue records token with info.
func (l *Ledger) Issue(token string, info TokenInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := info
	c.Scopes = append([]string(nil), info.Scopes...)
	l.tokens[token] = &c
}

// Revoke marks token as revoked. It reports whether the token was known.
func (l *Ledger) Revoke(token string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ti, ok := l.tokens[token]
	if ok {
		ti.Revoked = true
	}
	return ok
}

// RevokeUser revokes every token issued for username and returns how many.
func (l *Ledger) RevokeUser(username string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ti := range l.tokens {
		if strings.EqualFold(ti.Username, username) && !ti.Revoked {
			ti.Revoked = true
			n++
		}
	}
	return n
}

// Len returns the number of tokens issued.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tokens)
}

// Lookup returns a copy of what the ledger knows of token.
func (l *Ledger) Lookup(token string) (TokenInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ti, ok := l.tokens[token]
	if !ok {
		return TokenInfo{}, false
	}
	c := *ti
	c.Scopes = append([]string(nil), ti.Scopes...)
	return c, true
}

// Check reports whether token is valid now for username (compared
// case-insensitively). An empty username skips the user check, and so do
// app-only tokens, which open any mailbox the application may access.
func (l *Ledger) Check(username, token string) (TokenInfo, error) {
	ti, ok := l.Lookup(token)
	switch {
	case !ok:
		return TokenInfo{}, ErrUnknownToken
	case ti.Revoked:
		return ti, ErrTokenRevoked
	case !l.now().Before(ti.Expiry):
		return ti, ErrTokenExpired
	case username != "" && !ti.AppOnly && !strings.EqualFold(username, ti.Username):
		return ti, ErrWrongUser
	}
	return ti, nil
}

// IntrospectionHandler returns an RFC 7662 token introspection endpoint
// over the ledger, in the form Dovecot's oauth2 passdb calls it
// (introspection_mode = post: a form with token=...). A valid token
// answers {"active":true,"email":...,"sub":...,"scope":...,"exp":...,
// "client_id":...}; anything else {"active":false}.
func (l *Ledger) IntrospectionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		ti, err := l.Check("", r.PostForm.Get("token"))
		if err != nil {
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"active":    true,
			"email":     ti.Username,
			"username":  ti.Username,
			"sub":       ti.Subject,
			"client_id": ti.ClientID,
			"scope":     strings.Join(ti.Scopes, " "),
			"exp":       ti.Expiry.Unix(),
			"iat":       ti.Issued.Unix(),
		})
	})
}

package oauth2client_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// fakeProvider is an in-process Provider whose behaviour each test sets.
// It checks PKCE like a real authorization server: the verifier presented
// at Exchange must hash to the challenge sent with the authorization.
type fakeProvider struct {
	now func() time.Time

	mu         sync.Mutex
	challenges map[string]string // code -> challenge
	codes      int
	username   string

	refreshes atomic.Int64
	// refreshFn, if set, replaces the default refresh.
	refreshFn func(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error)
	revoked   []oauth2client.Secret
	issuer    string
}

func newFakeProvider(now func() time.Time) *fakeProvider {
	return &fakeProvider{now: now, challenges: map[string]string{}, username: "alice@example.com"}
}

func (p *fakeProvider) AuthCodeURL(_ context.Context, req oauth2client.AuthRequest) (string, error) {
	v := url.Values{"state": {req.State}, "code_challenge": {req.CodeChallenge}, "code_challenge_method": {"S256"}, "redirect_uri": {req.RedirectURI}}
	if req.LoginHint != "" {
		v.Set("login_hint", req.LoginHint)
	}
	return "https://idp.example/authorize?" + v.Encode(), nil
}

// approve plays the provider's authorize endpoint: it returns the
// callback query the browser would bring back for authURL.
func (p *fakeProvider) approve(authURL string) url.Values {
	u, _ := url.Parse(authURL)
	q := u.Query()
	p.mu.Lock()
	p.codes++
	code := fmt.Sprintf("code-%d", p.codes)
	p.challenges[code] = q.Get("code_challenge")
	p.mu.Unlock()
	out := url.Values{"code": {code}, "state": {q.Get("state")}}
	if p.issuer != "" {
		out.Set("iss", p.issuer)
	}
	return out
}

func (p *fakeProvider) Exchange(_ context.Context, req oauth2client.ExchangeRequest) (*oauth2client.Grant, error) {
	p.mu.Lock()
	ch, ok := p.challenges[string(req.Code)]
	delete(p.challenges, string(req.Code))
	user := p.username
	p.mu.Unlock()
	if !ok {
		return nil, &oauth2client.ProviderError{Provider: "fake", Op: "exchange", Code: "invalid_grant", Class: oauth2client.ClassReauth}
	}
	if oauth2.S256ChallengeFromVerifier(string(req.CodeVerifier)) != ch {
		return nil, &oauth2client.ProviderError{Provider: "fake", Op: "exchange", Code: "invalid_grant", Description: "PKCE verification failed", Class: oauth2client.ClassConfig}
	}
	return &oauth2client.Grant{
		AccessToken:  oauth2client.Secret("at-" + string(req.Code)),
		RefreshToken: oauth2client.Secret("rt-" + string(req.Code)),
		Expiry:       p.now().Add(time.Hour),
		Identity:     oauth2client.Identity{Username: user, Subject: "sub-" + user},
	}, nil
}

func (p *fakeProvider) Refresh(ctx context.Context, g *oauth2client.Grant) (*oauth2client.Grant, error) {
	n := p.refreshes.Add(1)
	if p.refreshFn != nil {
		return p.refreshFn(ctx, g)
	}
	return &oauth2client.Grant{
		AccessToken:  oauth2client.Secret(fmt.Sprintf("at-refresh-%d", n)),
		RefreshToken: oauth2client.Secret(fmt.Sprintf("rt-refresh-%d", n)),
		Expiry:       p.now().Add(time.Hour),
	}, nil
}

func (p *fakeProvider) Mail() oauth2client.MailService {
	return oauth2client.MailService{
		IMAP:            oauth2client.ServerAddr{Host: "imap.example", Port: 993},
		SMTP:            oauth2client.ServerAddr{Host: "smtp.example", Port: 587, Security: oauth2client.SecuritySTARTTLS},
		Mechanisms:      []string{"XOAUTH2", "OAUTHBEARER"},
		ServerSavesSent: true,
	}
}

func (p *fakeProvider) Revoke(_ context.Context, g *oauth2client.Grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, g.RefreshToken)
	return nil
}

func (p *fakeProvider) Issuer() string { return p.issuer }

// appOnlyProvider adds client-credentials support to fakeProvider.
type appOnlyProvider struct {
	*fakeProvider
	calls atomic.Int64
}

func (p *appOnlyProvider) AppToken(_ context.Context, mailbox string) (*oauth2client.Grant, error) {
	n := p.calls.Add(1)
	return &oauth2client.Grant{
		AccessToken: oauth2client.Secret(fmt.Sprintf("app-%d", n)),
		Expiry:      p.now().Add(time.Hour),
		Identity:    oauth2client.Identity{Username: mailbox},
		AppOnly:     true,
	}, nil
}

package azure_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/mailtest"
)

// BenchmarkAzureSilent measures MSAL's own AcquireTokenSilent for a
// delegated token already in its cache, against the fake authority: the
// cost that the Client's hot path (BenchmarkTokenCached in oauth2client)
// avoids by never going through MSAL for a valid token. See
// BENCHMARKS.md.
func BenchmarkAzureSilent(b *testing.B) {
	const redirect = "http://localhost/callback"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}})
	if err != nil {
		b.Fatal(err)
	}
	defer entra.Close()
	cred, err := confidential.NewCredFromSecret(entra.ClientSecret())
	if err != nil {
		b.Fatal(err)
	}
	c, err := confidential.New(entra.URL()+"/"+entra.Tenant(), entra.ClientID(), cred,
		confidential.WithHTTPClient(entra.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	scopes := []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send"}

	// Sign in once: authorization code with PKCE, as the provider does.
	raw, err := c.AuthCodeURL(ctx, entra.ClientID(), redirect, append(scopes, "offline_access"))
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	q := u.Query()
	q.Set("state", "s")
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	back, err := entra.Authorize(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	cb, err := url.Parse(back)
	if err != nil {
		b.Fatal(err)
	}
	res, err := c.AcquireTokenByAuthCode(ctx, cb.Query().Get("code"), redirect, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		b.Fatal(err)
	}
	account := res.Account

	before := entra.TokenRequests("refresh_token")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(account)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := entra.TokenRequests("refresh_token"); n != before {
		b.Fatalf("AcquireTokenSilent went to the token endpoint %d times: not a cache hit", n-before)
	}
}

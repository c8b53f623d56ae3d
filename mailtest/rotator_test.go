package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// A Rotator rotates the refresh token on every refresh and revokes the
// whole family when a rotated-out one comes back, like Okta or Ory Hydra.
// Here a Client keeps an account fresh against it under a manual clock.
func ExampleRotator() {
	clock := mailtest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now, Lifetime: 5 * time.Minute})
	client, err := oauth2client.New(oauth2client.Config{Store: tokenstore.NewMemory(), Clock: clock})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.SetConnection("idp", idp); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	first := idp.Grant("alice@example.net") // the user consented
	if _, err := client.ConnectGrant(ctx, "idp", "alice", first); err != nil {
		log.Fatal(err)
	}
	clock.Advance(5 * time.Minute) // the access token expired
	tok, err := client.Token(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", idp.Valid(tok.AccessToken))

	// Someone redeems the first, rotated-out refresh token again.
	_, err = idp.Refresh(ctx, first)
	fmt.Println("reuse refused:", errors.Is(err, oauth2client.ErrReauthRequired))
	fmt.Println("family revoked:", idp.NeedsConsent("alice@example.net"))
	fmt.Printf("%+v\n", idp.Stats())
	// Output:
	// valid: true
	// reuse refused: true
	// family revoked: true
	// {Refreshes:2 Rotations:1 RotatedOutRedemptions:1 RevokedFamilies:1 Faults:0}
}

func TestRotatorStrictRotation(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	ledger := mailtest.NewLedger(clock.Now)
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now, Ledger: ledger})
	idp.SetLifetime("bob", time.Minute)
	ctx := context.Background()

	g1 := idp.Grant("bob")
	assert.Equal(t, clock.Now().Add(time.Minute), g1.Expiry, "per-user lifetime")
	g2, err := idp.Refresh(ctx, g1)
	require.NoError(t, err)
	assert.NotEqual(t, g1.RefreshToken, g2.RefreshToken, "rotated")
	g3, err := idp.Refresh(ctx, g2)
	require.NoError(t, err)
	_, err = ledger.Check("bob", string(g3.AccessToken))
	require.NoError(t, err, "the ledger knows the issued token")
	assert.Len(t, idp.Issued("bob"), 3)

	_, err = idp.Refresh(ctx, g2) // rotated out
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, oauth2client.ClassReauth, pe.Class)
	assert.Equal(t, "invalid_grant", pe.Code)
	_, err = idp.Refresh(ctx, g3)
	assert.ErrorIs(t, err, oauth2client.ErrReauthRequired, "the current token died with its family")
	assert.False(t, idp.Valid(g3.AccessToken))
	_, err = ledger.Check("bob", string(g3.AccessToken))
	assert.ErrorIs(t, err, mailtest.ErrTokenRevoked)
	st := idp.Stats()
	assert.Equal(t, 1, st.RotatedOutRedemptions)
	assert.Equal(t, 1, st.RevokedFamilies)
	assert.Equal(t, 2, st.Rotations)
	assert.True(t, idp.NeedsConsent("bob"))

	fresh := idp.Grant("bob") // consent again: a new family
	assert.False(t, idp.NeedsConsent("bob"))
	_, err = idp.Refresh(ctx, fresh)
	assert.NoError(t, err)
}

func TestRotatorFaultsAndHold(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	var fault error
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now,
		Fault: func(context.Context, string) error { return fault }})
	ctx := context.Background()
	g := idp.Grant("carol")

	fault = mailtest.Throttled(7 * time.Second)
	_, err := idp.Refresh(ctx, g)
	var pe *oauth2client.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, http.StatusTooManyRequests, pe.HTTPStatus)
	assert.Equal(t, 7*time.Second, pe.RetryAfter)
	fault = mailtest.Unavailable()
	_, err = idp.Refresh(ctx, g)
	assert.ErrorIs(t, err, oauth2client.ErrTransient)
	fault = nil
	_, err = idp.Refresh(ctx, g)
	require.NoError(t, err, "a fault rotates nothing: the same refresh token still works")
	assert.Equal(t, 2, idp.Stats().Faults)

	release := idp.Hold()
	g2 := idp.Issued("carol")
	require.Len(t, g2, 2)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := idp.Refresh(cctx, g); done <- err }()
	cancel()
	err = <-done
	assert.ErrorIs(t, err, oauth2client.ErrTransient, "a held call ends with its context")
	assert.ErrorIs(t, err, context.Canceled)
	release()
	release()
}

package oauth2client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/faultstore"
)

// Callers asking while the store is down and the account is already in
// backoff are not new attempts: they must not push the next attempt
// further out, or an outage under load leaves accounts unable to refresh
// for minutes after the store is back (found by the real-server restart
// test in interop).
func TestStoreReadsDuringBackoffDoNotEscalateIt(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now})
	faults := faultstore.New(tokenstore.NewMemory(), faultstore.Config{})
	c, err := oauth2client.New(oauth2client.Config{Store: faults.TokenStore(), Clock: clock})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", idp))
	ctx := context.Background()
	_, err = c.ConnectGrant(ctx, "idp", "acct", idp.Grant("acct"))
	require.NoError(t, err)

	faults.Down()
	for range 20 {
		_, err := c.Refresh(ctx, "acct")
		require.ErrorIs(t, err, oauth2client.ErrStoreUnavailable)
	}
	faults.Up()
	info, err := c.Account(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, 1, info.Failures, "one attempt failed; the other calls met its backoff")

	// The first backoff is at most BackoffMin (1s): after it, a refresh
	// reaches the provider.
	clock.Advance(oauth2client.DefaultBackoffMin + time.Millisecond)
	before := idp.Stats().Rotations
	_, err = c.Refresh(ctx, "acct")
	require.NoError(t, err, "the store is back and the backoff is over")
	assert.Equal(t, before+1, idp.Stats().Rotations)
}

// A lease whose release failed is kept for the account's next visit. If
// that visit meets the store still down (extending the kept lease fails,
// and so does releasing it), the lease must still be kept: dropping it
// leaves the store holding a lease nobody will release, and the account
// blocked for the whole LockTTL once the store is back (issue 13 item 5,
// found by the real-server restart test in interop).
func TestKeptLeaseSurvivesAVisitDuringTheOutage(t *testing.T) {
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now})
	faults := faultstore.New(tokenstore.NewMemory(), faultstore.Config{})
	c, err := oauth2client.New(oauth2client.Config{Store: faults.TokenStore(), Clock: clock, RefreshTimeout: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", idp))
	ctx := context.Background()
	_, err = c.ConnectGrant(ctx, "idp", "acct", idp.Grant("acct"))
	require.NoError(t, err)

	// The store fails as the refresh releases its lease: the Client
	// keeps the lease to release on the next visit.
	faults.Add(faultstore.Rule{Ops: []faultstore.Op{faultstore.OpRelease}, Times: 3})
	_, err = c.Refresh(ctx, "acct")
	require.NoError(t, err)
	require.Equal(t, 3, faults.Injected(faultstore.OpRelease))

	// The next visit reads the record, and then the store goes down:
	// extending, releasing and taking leases fail.
	stillDown := faults.Add(faultstore.Rule{Ops: []faultstore.Op{faultstore.OpExtend, faultstore.OpRelease, faultstore.OpLock}})
	_, err = c.Refresh(ctx, "acct")
	require.Error(t, err)
	require.Positive(t, faults.Injected(faultstore.OpExtend))
	stillDown()

	// Once the store is back, the account refreshes at once: its lease
	// does not wait out the 90-second LockTTL.
	clock.Advance(oauth2client.DefaultBackoffMin + time.Millisecond)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	before := idp.Stats().Rotations
	_, err = c.Refresh(rctx, "acct")
	require.NoError(t, err, "the account is blocked by its own orphaned lease")
	assert.Equal(t, before+1, idp.Stats().Rotations)
	assert.Zero(t, idp.Stats().RotatedOutRedemptions)
}

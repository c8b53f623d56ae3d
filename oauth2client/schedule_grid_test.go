package oauth2client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// gridLifetimes are the access-token lifetimes of issue 13: Keycloak's 5
// minutes, Entra's 10-minute floor, the usual hour, a day, and the odd
// ones around the defaults' RefreshAhead (10 min) and jitter (5 min).
var gridLifetimes = []time.Duration{time.Minute, 4 * time.Minute, 5 * time.Minute, 9 * time.Minute,
	10 * time.Minute, 11 * time.Minute, 30 * time.Minute, time.Hour, 24 * time.Hour}

var gridSettings = []struct {
	name                  string
	ahead, margin, jitter time.Duration
}{
	{"defaults", 0, 0, 0},
	{"no-jitter", 10 * time.Minute, 2 * time.Minute, -1},
	{"tight", 20 * time.Second, 10 * time.Second, 5 * time.Second},
	{"ahead-3m", 3 * time.Minute, time.Minute, time.Minute},
	{"wide", time.Hour, 30 * time.Minute, 30 * time.Minute},
}

// TestScheduleGrid runs Client.Run for a simulated day under a manual
// clock for every lifetime × setting, stepping the clock to each
// scheduled refresh, and checks the schedule: always in the future, never
// before half the current token's lifetime, before the token is due, at
// most one refresh per token (refreshes ≤ tokens whose lifetime elapsed +
// 1, and ≤ 2 per lifetime), and a valid token from memory at every step.
// On main the proactive instant of a token living 10 minutes or less is
// already past when it is scheduled: the first check fails.
func TestScheduleGrid(t *testing.T) {
	for _, s := range gridSettings {
		for _, life := range gridLifetimes {
			t.Run(fmt.Sprintf("%s/%v", s.name, life), func(t *testing.T) {
				runGridCell(t, life, s.ahead, s.margin, s.jitter)
			})
		}
	}
}

func runGridCell(t *testing.T, life, ahead, margin, jitter time.Duration) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clock := mailtest.NewClock(t0)
	idp := mailtest.NewRotator(mailtest.RotatorOptions{Now: clock.Now, Lifetime: life})
	refreshed := make(chan struct{}, 1<<12)
	c, err := oauth2client.New(oauth2client.Config{Store: tokenstore.NewMemory(), Clock: clock,
		RefreshAhead: ahead, ExpiryMargin: margin, RefreshJitter: jitter, RefreshRate: 1e6,
		Hooks: oauth2client.Hooks{Refreshed: func(context.Context, string) { refreshed <- struct{}{} }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("idp", idp))
	ctx := context.Background()
	_, err = c.ConnectGrant(ctx, "idp", "acct", idp.Grant("user"))
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	end := t0.Add(24 * time.Hour)
	steps := 0
	for {
		info, err := c.Account(ctx, "acct")
		require.NoError(t, err)
		issued := idp.Issued("user")
		cur := issued[len(issued)-1]
		next := info.NextRefresh
		require.False(t, next.IsZero(), "step %d: the account is scheduled", steps)
		require.True(t, next.After(clock.Now()), "step %d: next refresh %v is not after now %v (refresh loop)", steps, next, clock.Now())
		require.GreaterOrEqual(t, next.Sub(cur.Issued), life/2, "step %d: a token is refreshed before half its lifetime", steps)
		require.True(t, next.Before(cur.Expiry), "step %d: refreshed before it expires", steps)
		if next.After(end) {
			break
		}
		clock.Set(next.Add(-time.Millisecond))
		tok, err := c.Token(ctx, "acct")
		require.NoError(t, err)
		require.True(t, idp.Valid(tok.AccessToken), "step %d: the served token is valid", steps)
		clock.Set(next)
		select {
		case <-refreshed:
		case <-time.After(30 * time.Second):
			t.Fatalf("step %d: the scheduler did not refresh at %v", steps, next)
		}
		steps++
	}
	stop()
	require.NoError(t, <-done)
	st := idp.Stats()
	assert.Equal(t, steps, st.Rotations, "only the scheduled refreshes happened")
	assert.Zero(t, st.RotatedOutRedemptions)
	elapsed := clock.Now().Sub(t0)
	expired := 0
	for _, tk := range idp.Issued("user") {
		if !tk.Expiry.After(clock.Now()) {
			expired++
		}
	}
	assert.LessOrEqual(t, st.Rotations, expired+1, "refreshes ≤ lifetimes elapsed + 1")
	assert.LessOrEqual(t, float64(st.Rotations), float64(elapsed)/float64(life/2)+1, "at most two refreshes per lifetime")
	assert.GreaterOrEqual(t, float64(st.Rotations), float64(elapsed)/float64(life)-1, "the account was kept fresh all day")
}

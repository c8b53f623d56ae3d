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

// Tokens shorter-lived than the refresh window (5-minute tokens against
// the default RefreshAhead + RefreshJitter of 15 minutes) are renewed
// late in their life, not the moment they arrive. (A long-lived token
// found close to its expiry is still due at once: see lifecycle_test.go.)
func TestShortLivedTokensAreNotRefreshedOnArrival(t *testing.T) {
	for _, life := range []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute} {
		t.Run(life.String(), func(t *testing.T) {
			clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
			store := tokenstore.NewMemory()
			// A token just obtained (its record written now).
			require.NoError(t, store.Save(context.Background(), &oauth2client.Record{Account: "acct-0000", Connection: "corp", Updated: clock.Now(),
				Grant: oauth2client.Grant{AccessToken: "at-0", RefreshToken: "rt", Expiry: clock.Now().Add(life),
					Identity: oauth2client.Identity{Username: "a@example.com"}}}))
			p := newFakeProvider(clock.Now)
			p.refreshFn = func(context.Context, *oauth2client.Grant) (*oauth2client.Grant, error) {
				return &oauth2client.Grant{AccessToken: oauth2client.Secret(fmt.Sprintf("at-%d", p.refreshes.Load())), RefreshToken: "rt",
					Expiry: clock.Now().Add(life)}, nil
			}
			c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
			require.NoError(t, err)
			require.NoError(t, c.SetConnection("corp", p))
			ctx := context.Background()
			tok, err := c.Token(ctx, "acct-0000")
			require.NoError(t, err)
			info, err := c.Account(ctx, "acct-0000")
			require.NoError(t, err)
			require.False(t, info.NextRefresh.IsZero())
			assert.True(t, info.NextRefresh.After(clock.Now()), "scheduled after it arrived (%v), not at once", info.NextRefresh.Sub(clock.Now()))
			assert.True(t, info.NextRefresh.Before(tok.Expiry), "scheduled before it expires")
			assert.True(t, info.NextRefresh.Before(tok.Expiry.Add(-life/8)),
				"renewed before the (scaled) expiry margin, so Token never waits for it")
			assert.False(t, info.NextRefresh.Before(clock.Now().Add(life/4)), "not in the first quarter of its life")
			assert.Zero(t, p.refreshes.Load())
		})
	}
}

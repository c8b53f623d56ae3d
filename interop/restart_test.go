package interop_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/pgtest"
	"github.com/oauth2mail/oauth2mail/internal/redistest"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/redisstore"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// restartable is a store server the test may stop and start again.
type restartable struct {
	// down stops the server (fast shutdown, or a crash when crash is
	// set); up starts it and returns once it answers.
	down func(crash bool) error
	up   func(ctx context.Context) error
	// open returns a new store over the server, with its own connection
	// pool, as another instance of the application would have.
	open func(t *testing.T) oauth2client.TokenStore
}

// TestStoreRestartsUnderLoad is issue 13's real-server check: two
// instances of an application share a token store on a real PostgreSQL
// (tokenstore.SQL) or Redis (redisstore), started by the test on a free
// port, and keep refreshing 200 accounts at a strict-rotation provider
// while the server is restarted twice (a fast shutdown, then a crash).
// Afterwards no account needs re-consent, no rotated-out refresh token
// was ever redeemed, and after each restart every account refreshes
// again within seconds of the server being back.
func TestStoreRestartsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts real servers: skipped with -short")
	}
	servers := []struct {
		name  string
		start func(t *testing.T) restartable
	}{
		{"PostgreSQL", func(t *testing.T) restartable {
			pg := pgtest.Start(t)
			table := ""
			return restartable{
				down: func(crash bool) error {
					if crash {
						return pg.Crash()
					}
					return pg.Down()
				},
				up: pg.Up,
				open: func(t *testing.T) oauth2client.TokenStore {
					db, err := sql.Open("pgx", pg.DSN)
					require.NoError(t, err)
					t.Cleanup(func() { _ = db.Close() })
					s, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: tokenstore.PostgreSQL})
					require.NoError(t, err)
					if table == "" {
						require.NoError(t, s.Migrate(context.Background()))
						table = s.Table()
					}
					return s
				},
			}
		}},
		{"Redis", func(t *testing.T) restartable {
			rs := redistest.Start(t)
			return restartable{
				down: func(crash bool) error {
					if crash {
						return rs.Crash()
					}
					return rs.Down()
				},
				up: rs.Up,
				open: func(t *testing.T) oauth2client.TokenStore {
					c := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1, DialTimeout: time.Second,
						ReadTimeout: time.Second, WriteTimeout: time.Second})
					t.Cleanup(func() { _ = c.Close() })
					s, err := redisstore.NewTokenStore(redisstore.Config{Client: c})
					require.NoError(t, err)
					return s
				},
			}
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) { soakRestarts(t, srv.start(t)) })
	}
}

const (
	restartAccounts = 200
	restartWorkers  = 16
	// recoveryBound is how soon after the server is back every account
	// must have refreshed again.
	recoveryBound = 15 * time.Second
)

func soakRestarts(t *testing.T, srv restartable) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	idp := mailtest.NewRotator(mailtest.RotatorOptions{})
	instance := func() *oauth2client.Client {
		c, err := oauth2client.New(oauth2client.Config{Store: srv.open(t), RefreshRate: 1e6, RefreshWorkers: 8})
		require.NoError(t, err)
		require.NoError(t, c.SetConnection("idp", idp))
		return c
	}
	a, b := instance(), instance()
	instances := []*oauth2client.Client{a, b}
	accounts := make([]string, restartAccounts)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-%03d", i)
		_, err := a.ConnectGrant(ctx, "idp", accounts[i], idp.Grant(accounts[i]))
		require.NoError(t, err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, c := range instances {
		running.Go(func() { assert.NoError(t, c.Run(runCtx)) })
	}

	// Load: workers force refreshes (each redeems and rotates a refresh
	// token) and ask for tokens, on random accounts and instances.
	var calls, failures atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	for w := range restartWorkers {
		load.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 13))
			for loadCtx.Err() == nil {
				c := instances[rng.IntN(len(instances))]
				acct := accounts[rng.IntN(len(accounts))]
				cctx, ccancel := context.WithTimeout(loadCtx, 3*time.Second)
				var err error
				if rng.IntN(2) == 0 {
					_, err = c.Refresh(cctx, acct)
				} else {
					_, err = c.Token(cctx, acct)
				}
				ccancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
				}
			}
		})
	}

	// warmUp lets the load run for d, or fails the test.
	warmUp := func(d time.Duration) {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
			t.Fatal("the test ran out of time")
		}
	}
	for i, crash := range []bool{false, true} {
		warmUp(2 * time.Second)
		before := calls.Load()
		require.NoError(t, srv.down(crash), "stopping the server")
		downAt := time.Now()
		warmUp(1500 * time.Millisecond)
		require.NoError(t, srv.up(ctx), "starting the server again")
		backAt := time.Now()
		took := waitRecovery(ctx, t, idp, instances, accounts)
		t.Logf("restart %d (crash %v): down %v, every account refreshed again %v after the server was back; %d calls meanwhile, %d failed in total",
			i+1, crash, backAt.Sub(downAt).Round(time.Millisecond), took.Round(time.Millisecond), calls.Load()-before, failures.Load())
		assert.Less(t, took, recoveryBound, "restart %d: accounts took %v to refresh again after the server was back", i+1, took)
	}
	warmUp(time.Second)
	stopLoad()
	load.Wait()
	stopRun()
	running.Wait()

	st := idp.Stats()
	t.Logf("%d calls, %d failed; provider %+v", calls.Load(), failures.Load(), st)
	assert.Zero(t, st.RotatedOutRedemptions, "rotated-out refresh tokens were redeemed")
	assert.Zero(t, st.RevokedFamilies, "token families were revoked")
	needConsent := 0
	for _, acct := range accounts {
		if idp.NeedsConsent(acct) {
			needConsent++
			continue
		}
		for _, c := range instances {
			info, err := c.Account(ctx, acct)
			if assert.NoError(t, err, acct) && info.State == oauth2client.StateNeedsReauth {
				needConsent++
				break
			}
		}
	}
	assert.Zero(t, needConsent, "accounts needing re-consent")
	assert.Greater(t, st.Rotations, 2*restartAccounts, "the load refreshed")
}

// waitRecovery waits until every account has been refreshed at the provider
// once more, through either instance, and returns how long that took.
// It gives up (and fails) after twice recoveryBound.
func waitRecovery(ctx context.Context, t *testing.T, idp *mailtest.Rotator, instances []*oauth2client.Client, accounts []string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(2 * recoveryBound)
	var wg sync.WaitGroup
	var stuck atomic.Int64
	var lastErr atomic.Value
	next := make(chan string)
	for w := range restartWorkers {
		wg.Go(func() {
			for acct := range next {
				issued := len(idp.Issued(acct))
				for attempt := 0; ; attempt++ {
					c := instances[(w+attempt)%len(instances)]
					cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
					_, err := c.Refresh(cctx, acct)
					cancel()
					if err == nil && len(idp.Issued(acct)) > issued {
						break
					}
					if err != nil {
						lastErr.Store(fmt.Sprintf("%s: %v", acct, err))
					}
					if time.Now().After(deadline) || errors.Is(err, oauth2client.ErrReauthRequired) {
						stuck.Add(1)
						break
					}
					tm := time.NewTimer(100 * time.Millisecond) // Refresh in backoff answers at once
					select {
					case <-tm.C:
					case <-ctx.Done():
						tm.Stop()
						return
					}
				}
			}
		})
	}
	for _, acct := range accounts {
		next <- acct
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if n := stuck.Load(); n > 0 {
		t.Errorf("%d accounts did not refresh again within %v of the server being back; last error: %v", n, 2*recoveryBound, lastErr.Load())
	}
	return took
}

package oauth2client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// BenchmarkTokenCached measures the hot path: a valid cached token for one
// of 10,000 accounts, from parallel goroutines. Compare with
// BenchmarkReuseTokenSource (see BENCHMARKS.md).
func BenchmarkTokenCached(b *testing.B) {
	const n = 10000
	store := tokenstore.NewMemory()
	exp := time.Now().Add(24 * time.Hour)
	accounts := make([]string, n)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("account-%05d", i)
		if err := store.Save(context.Background(), &oauth2client.Record{Account: accounts[i], Connection: "corp",
			Grant: oauth2client.Grant{AccessToken: "at", RefreshToken: "rt", Expiry: exp}}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.SetConnection("corp", newFakeProvider(time.Now)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, a := range accounts {
		if _, err := c.Token(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			i++
			if _, err := c.Token(ctx, accounts[i%n]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReuseTokenSource is the reference: x/oauth2's cache serving a
// single valid token, from parallel goroutines.
func BenchmarkReuseTokenSource(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(24 * time.Hour)}
	ts := oauth2.ReuseTokenSource(tok, oauth2.StaticTokenSource(tok))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ts.Token(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRefreshStorm: 1,000 accounts whose tokens all expire at once,
// each asked for by 20 goroutines. Reports the token-endpoint calls per
// storm (must be 1,000) and the wall time per storm.
func BenchmarkRefreshStorm(b *testing.B) {
	const accounts, perAccount = 1000, 20
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var calls int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clock := mailtest.NewClock(t0)
		store := tokenstore.NewMemory()
		names := make([]string, accounts)
		for a := range names {
			names[a] = fmt.Sprintf("storm-%04d", a)
			if err := store.Save(context.Background(), &oauth2client.Record{Account: names[a], Connection: "corp",
				Grant: oauth2client.Grant{AccessToken: "old", RefreshToken: "rt", Expiry: t0.Add(time.Hour)}}); err != nil {
				b.Fatal(err)
			}
		}
		p := newFakeProvider(clock.Now)
		c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Clock: clock})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SetConnection("corp", p); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, a := range names {
			if _, err := c.Token(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
		clock.Advance(time.Hour) // all expire
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, a := range names {
			for range perAccount {
				wg.Go(func() {
					<-start
					if _, err := c.Token(ctx, a); err != nil {
						b.Error(err)
					}
				})
			}
		}
		b.StartTimer()
		close(start)
		wg.Wait()
		if got := p.refreshes.Load(); got != accounts {
			b.Fatalf("storm made %d token requests for %d accounts", got, accounts)
		}
		calls += p.refreshes.Load()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "tokenreqs/op")
}

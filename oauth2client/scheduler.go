package oauth2client

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// scheduler keeps each connected account's next proactive refresh in a
// min-heap by time: scheduling or rescheduling one account costs
// O(log n), and the loop in Run wakes only for the earliest.
type scheduler struct {
	mu      sync.Mutex
	items   map[string]*schedItem
	heap    schedHeap
	wake    chan struct{}
	running bool
}

type schedItem struct {
	account, connection string
	at                  time.Time
	index               int
}

type schedHeap []*schedItem

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h schedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *schedHeap) Push(x any) {
	it := x.(*schedItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *schedHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	it.index = -1
	*h = old[:n-1]
	return it
}

func (s *scheduler) init() {
	s.items = make(map[string]*schedItem)
	s.wake = make(chan struct{}, 1)
}

// add schedules (or moves) account's refresh to at.
func (s *scheduler) add(account, connection string, at time.Time) {
	s.mu.Lock()
	it, ok := s.items[account]
	if ok {
		it.at, it.connection = at, connection
		heap.Fix(&s.heap, it.index)
	} else {
		it = &schedItem{account: account, connection: connection, at: at}
		s.items[account] = it
		heap.Push(&s.heap, it)
	}
	first := it.index == 0
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

func (s *scheduler) remove(account string) {
	s.mu.Lock()
	if it, ok := s.items[account]; ok {
		heap.Remove(&s.heap, it.index)
		delete(s.items, account)
	}
	s.mu.Unlock()
}

func (s *scheduler) next(account string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[account]; ok {
		return it.at
	}
	return time.Time{}
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// due pops the items due at now and returns them with the time of the
// next one (zero if none).
func (s *scheduler) due(now time.Time, buf []schedItem) ([]schedItem, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.heap) > 0 && !s.heap[0].at.After(now) {
		it := heap.Pop(&s.heap).(*schedItem)
		delete(s.items, it.account)
		buf = append(buf, *it)
	}
	if len(s.heap) == 0 {
		return buf, time.Time{}
	}
	return buf, s.heap[0].at
}

// Scheduled returns the number of accounts with a proactive refresh
// scheduled.
func (c *Client) Scheduled() int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	return len(c.sched.items)
}

// ErrAlreadyRunning is returned by [Client.Run] when the scheduler is
// already running.
var ErrAlreadyRunning = errors.New("oauth2client: Run was called twice")

// Run refreshes connected accounts ahead of expiry, so that in steady
// state [Client.Token] never waits on the network. It blocks until ctx
// ends, then cancels the refreshes it started (their provider calls
// included), waits for them and for its workers, and returns nil;
// accounts that were due but not yet refreshed stay scheduled for a later
// Run. Call it once, in its own goroutine, for the life of the
// application.
//
// Each token is renewed once, at a random point of Config.RefreshJitter
// before Config.RefreshAhead ahead of its expiry, both scaled down for
// short-lived tokens (the rule is in [Config.RefreshAhead]); refreshes
// are limited per connection to Config.RefreshRate per second and run on
// Config.RefreshWorkers goroutines. Accounts stored before the Client
// started are picked up if the store implements [Lister]: their first
// check is spread over the jitter window. Failed refreshes follow the
// same rules as [Client.Token]: transient failures (provider, store,
// lease, a connection removed for now) are retried with backoff and the
// account stays scheduled; refusals mark the account and stop its
// schedule. An unsaved grant (the store failing after the provider
// rotated the tokens) is written again at each retry.
func (c *Client) Run(ctx context.Context) error {
	c.sched.mu.Lock()
	if c.sched.running {
		c.sched.mu.Unlock()
		return ErrAlreadyRunning
	}
	c.sched.running = true
	c.sched.mu.Unlock()
	defer func() {
		c.sched.mu.Lock()
		c.sched.running = false
		c.sched.mu.Unlock()
	}()

	if l, ok := c.store.(Lister); ok {
		accounts, err := l.List(ctx)
		if err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "oauth2client: listing stored accounts failed; only accounts used from now on are refreshed ahead",
				slog.String("error", err.Error()))
		}
		now := c.now()
		for _, a := range accounts {
			if c.sched.next(a).IsZero() {
				at := now
				if c.jitter > 0 {
					at = at.Add(rand.N(c.jitter)) // #nosec G404 -- scheduling jitter, not a secret
				}
				c.sched.add(a, "", at)
			}
		}
	}

	work := make(chan schedItem)
	var wg sync.WaitGroup
	limits := newLimiters(c.rate, c.burst)
	for range c.workers {
		wg.Go(func() {
			for it := range work {
				c.proactive(ctx, limits, it)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()

	var buf []schedItem
	for {
		now := c.now()
		var next time.Time
		buf, next = c.sched.due(now, buf[:0])
		for i, it := range buf {
			select {
			case work <- it:
			case <-ctx.Done():
				// Put them back so a later Run picks them up.
				for _, it := range buf[i:] {
					c.sched.add(it.account, it.connection, it.at)
				}
				return nil
			}
		}
		var timer Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = c.armTimer(next)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-fire:
		case <-c.sched.wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// armTimer returns a timer that fires at the instant at. A Clock's
// timers are relative, so if the clock jumped (a manual clock, a
// suspended host) while the timer was being made, it is made again.
func (c *Client) armTimer(at time.Time) Timer {
	for {
		before := c.now()
		t := c.clock.NewTimer(at.Sub(before))
		after := c.now()
		if !after.Before(at) && before.Before(at) {
			t.Stop()
			return c.clock.NewTimer(0) // due already
		}
		if after.Sub(before) < time.Millisecond {
			return t
		}
		t.Stop()
	}
}

// proactive runs one scheduled refresh: it renews the account's token if
// it is in its proactive window (or writes an unsaved grant), else it
// adopts what the store holds, which schedules the next one. Every
// outcome but a refusal or a disconnection leaves the account scheduled.
func (c *Client) proactive(ctx context.Context, limits *limiters, it schedItem) {
	if it.connection == "" {
		if ct := c.cached(it.account); ct != nil {
			it.connection = ct.Connection
		}
	}
	if err := c.throttle(ctx, limits.get(it.connection)); err != nil {
		c.sched.add(it.account, it.connection, it.at)
		return
	}
	if _, err := c.obtain(ctx, it.account, want{ahead: true}, true); err != nil {
		if ctx.Err() != nil {
			if c.sched.next(it.account).IsZero() && c.cached(it.account) != nil {
				c.sched.add(it.account, it.connection, it.at)
			}
			return
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "oauth2client: proactive refresh failed",
			slog.String("account", it.account), slog.String("error", err.Error()))
	}
}

// throttle waits for lim's permission using the Client's clock.
func (c *Client) throttle(ctx context.Context, lim *rate.Limiter) error {
	now := c.now()
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		r.CancelAt(c.now())
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// limiters holds one token bucket per connection.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newLimiters(r float64, burst int) *limiters {
	return &limiters{rate: rate.Limit(r), burst: burst, m: make(map[string]*rate.Limiter)}
}

func (l *limiters) get(connection string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[connection]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[connection] = lim
	}
	return lim
}

package mailtest

import (
	"sync"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Clock is a manual clock for tests: it stands still until advanced, and
// its timers fire when Advance or Set moves it past their deadline. It is
// safe for concurrent use. It implements [oauth2client.Clock]; pass its
// Now method wherever a func() time.Time is accepted.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*clockTimer
	added  chan struct{}
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t, added: make(chan struct{}, 1)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.setLocked(c.t.Add(d))
	c.mu.Unlock()
}

// Set sets the clock to t and fires the timers that are due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.setLocked(t)
	c.mu.Unlock()
}

func (c *Clock) setLocked(t time.Time) {
	c.t = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(t) {
			tm.ch <- t
			continue
		}
		kept = append(kept, tm)
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// NewTimer implements [oauth2client.Clock].
func (c *Clock) NewTimer(d time.Duration) oauth2client.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &clockTimer{c: c, at: c.t.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		tm.ch <- c.t
		return tm
	}
	c.timers = append(c.timers, tm)
	select {
	case c.added <- struct{}{}:
	default:
	}
	return tm
}

// Timers returns the number of timers waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// TimerAdded returns a channel that receives a value after a timer is
// created, so a test can wait until the code under test is waiting on the
// clock instead of sleeping. It has a buffer of one.
func (c *Clock) TimerAdded() <-chan struct{} { return c.added }

type clockTimer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

func (t *clockTimer) C() <-chan time.Time { return t.ch }

func (t *clockTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

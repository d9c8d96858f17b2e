package vrrptest

import (
	"sync"
	"time"

	"github.com/vigil-lb/vigil/vrrp"
)

// Clock is a fake vrrp.Clock: time moves only when the test calls Advance.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a clock at t0.
func NewClock(t0 time.Time) *Clock { return &Clock{now: t0} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has been advanced past d.
func (c *Clock) NewTimer(d time.Duration) vrrp.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing the timers that fall due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*timer
	for _, t := range c.timers {
		if t.active && !t.at.After(now) {
			t.active = false
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.fire(now)
	}
}

// Waiting is how many timers are set and not yet fired.
func (c *Clock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

type timer struct {
	c      *Clock
	ch     chan time.Time
	at     time.Time
	active bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *timer) Reset(d time.Duration) {
	t.c.mu.Lock()
	now := t.c.now
	t.at, t.active = now.Add(d), d > 0
	t.c.mu.Unlock()
	if d <= 0 {
		t.fire(now)
	}
}

func (t *timer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

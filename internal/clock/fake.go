package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Fake is a Clock that moves only when Advance is called, which makes tests of timing
// logic exact and fast. Everything that falls due on the way fires inside Advance, in time
// order and each at its own time: an AfterFunc callback runs there (so what it starts has
// happened when Advance returns, and callbacks it schedules within the step run too), a
// timer or ticker sends on its channel, which holds one value as the system clock's do
// (a timer of no duration sends at once).
// A goroutine that receives from such a channel runs on its own schedule; a test waits
// for what it does, not for time.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers fakeHeap
}

// NewFake returns a Fake reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d; it runs inside the Advance that reaches that time.
func (c *Fake) AfterFunc(d time.Duration, f func()) Stopper {
	return c.add(&fakeTimer{f: f}, d)
}

// NewTimer returns a timer that sends on its channel at Now()+d.
func (c *Fake) NewTimer(d time.Duration) Timer {
	return c.add(&fakeTimer{ch: make(chan time.Time, 1)}, d)
}

// NewTicker returns a ticker that sends on its channel every d from now.
func (c *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{c.add(&fakeTimer{ch: make(chan time.Time, 1), period: d}, d)}
}

func (c *Fake) add(t *fakeTimer, d time.Duration) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.c, t.idx = c, -1
	c.schedule(t, d)
	return t
}

// schedule queues t at now+d; c.mu is held. A timer of no duration fires at once, as
// the system clock's does; an AfterFunc call waits for the next Advance (its caller may
// hold a lock the call takes).
func (c *Fake) schedule(t *fakeTimer, d time.Duration) {
	if t.ch != nil && t.period == 0 && d <= 0 {
		select {
		case t.ch <- c.now:
		default:
		}
		return
	}
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	heap.Push(&c.timers, t)
}

// Advance moves time forward by d, firing everything that falls due on the way.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for len(c.timers) > 0 && !c.timers[0].when.After(end) {
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		if t.ch != nil {
			select {
			case t.ch <- c.now:
			default: // the reader has not taken the last one: dropped, as a ticker does
			}
			if t.period > 0 {
				c.schedule(t, t.period)
			}
			continue
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending returns the number of timers, tickers and AfterFunc calls waiting to fire.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c      *Fake
	when   time.Time
	seq    uint64
	idx    int            // in the heap; -1 when not pending
	f      func()         // AfterFunc
	ch     chan time.Time // NewTimer, NewTicker
	period time.Duration  // NewTicker
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	if t.ch != nil {
		select { // a stopped timer's channel holds no stale value (Go 1.23 timers)
		case <-t.ch:
		default:
		}
	}
	if t.idx < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.idx)
	return true
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.stopLocked()
	t.c.schedule(t, d)
	return was
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }

func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.c.mu.Lock()
	defer k.t.c.mu.Unlock()
	k.t.stopLocked()
	k.t.period = d
	k.t.c.schedule(k.t, d)
}

type fakeHeap []*fakeTimer

func (h fakeHeap) Len() int { return len(h) }
func (h fakeHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h fakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *fakeHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *fakeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.idx = -1
	*h = old[:len(old)-1]
	return t
}

// Package clock is vigil's one source of time: the system clock in the daemon, and a fake
// one that moves only when a test advances it.
package clock

import "time"

// Clock tells the time and runs timers. Every part of vigil that waits or stamps takes one
// (checks, vrrp, the userspace data plane, the director), so a test can run them all on a
// Fake.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has elapsed, unless stopped first: in its own goroutine on
	// the system clock, inside Advance on a Fake.
	AfterFunc(d time.Duration, f func()) Stopper
	// NewTimer returns a timer that sends the time on its channel once d has elapsed.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time on its channel every d (d > 0),
	// dropping ticks a slow reader misses.
	NewTicker(d time.Duration) Ticker
}

// Stopper is a pending AfterFunc call (a *time.Timer on the system clock).
type Stopper interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	Stop() bool
}

// Timer is what a caller of NewTimer holds: the channel and the methods of a *time.Timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset makes the timer fire d from now; it reports whether it had been pending.
	Reset(d time.Duration) bool
}

// Ticker is what a caller of NewTicker holds.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	// Reset changes the period to d (d > 0) and restarts it from now.
	Reset(d time.Duration)
}

// System returns the wall clock: the runtime's timers, no goroutine per timer.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time { return time.Now() }

// AfterFunc returns the *time.Timer itself: on the health checks' path, one probe's
// timer, it costs no allocation beyond the runtime's.
func (system) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

func (system) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

func (system) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time        { return s.t.C }
func (s sysTimer) Stop() bool                 { return s.t.Stop() }
func (s sysTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }

type sysTicker struct{ t *time.Ticker }

func (s sysTicker) C() <-chan time.Time   { return s.t.C }
func (s sysTicker) Stop()                 { s.t.Stop() }
func (s sysTicker) Reset(d time.Duration) { s.t.Reset(d) }

// OrSystem returns c, or the system clock when c is nil: what an Options field of type
// Clock means when it is left out.
func OrSystem(c Clock) Clock {
	if c == nil {
		return System()
	}
	return c
}

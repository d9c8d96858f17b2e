package userspace

import (
	"sync"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// What every carrier does when accept(2) fails in a way that retrying at once does not
// mend: EMFILE and ENFILE (no descriptor for the new socket), ENOBUFS and ENOMEM. The
// connection stays in the listener's backlog, so the listening socket is still readable:
// an epoll loop (level-triggered listener) would wake again at once, an io_uring loop
// would see its re-armed accept fail again at once, and either would spin a CPU while
// the condition lasts, which is when the host can least afford it. So the listener stops
// accepting on that loop for a pause that starts at 5 ms and doubles up to 1 s, as
// net/http's Server.Serve does, and starts again at the first accept that succeeds.
// EAGAIN, EINTR and ECONNABORTED are no such failure: the loops retry or wait as before.
//
// Any other error is paused on too: per accept(2), Linux passes some errors of the new
// connection (EPROTO, ENETDOWN, EHOSTUNREACH, ...) to accept, and they call for a retry,
// which the 5 ms of the first pause delays by little; an error that lasts is then not a
// spin either.

const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = time.Second
	// acceptWarnEvery bounds a service's "accept failed" warnings: one a second, with the
	// number of failures it stands for.
	acceptWarnEvery = time.Second
)

// acceptBackoff is the pause of one listener's accepts (on one loop, or the goroutine
// path's one accept loop); the zero value has not failed.
type acceptBackoff struct{ pause time.Duration }

// failed returns how long to pause after another failed accept: 5 ms after a success,
// twice the last pause after a failure, at most 1 s.
func (b *acceptBackoff) failed() time.Duration {
	b.pause = min(max(2*b.pause, acceptPauseMin), acceptPauseMax)
	return b.pause
}

// accepted records a successful accept: the next failure pauses 5 ms again.
func (b *acceptBackoff) accepted() { b.pause = 0 }

// acceptWarning limits a service's warnings about failed accepts, which every loop's
// listener reports, to one per acceptWarnEvery.
type acceptWarning struct {
	mu         sync.Mutex
	last       time.Time // when the last warning was logged
	suppressed int       // failures since then not logged
}

// failed counts a failure at now and reports whether to log it, and if so how many
// failures since the last warning were not.
func (w *acceptWarning) failed(now time.Time) (warn bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < acceptWarnEvery {
		w.suppressed++
		return false, 0
	}
	suppressed, w.last, w.suppressed = w.suppressed, now, 0
	return true, suppressed
}

// acceptFailed accounts for a failed accept on s's listening socket (err: not EAGAIN,
// EINTR or ECONNABORTED), warns at most once a second, and returns how long the
// listener whose back-off is b pauses.
func (s *service) acceptFailed(b *acceptBackoff, err error) time.Duration {
	s.acceptErrors.Add(1)
	pause := b.failed()
	now := s.t.clock.Now()
	s.notePause(now.Add(pause))
	if warn, suppressed := s.acceptWarn.failed(now); warn {
		s.t.log.Warn("accept failed; pausing accepts", "service", s.key.String(), "err", err,
			"retry_in", pause, "suppressed", suppressed, "failures_total", s.acceptErrors.Load())
	}
	return pause
}

// notePause records that a pause of one of s's listeners runs until end: the latest
// end of the pauses of all its loops is when the service accepts on every loop again.
func (s *service) notePause(end time.Time) {
	for {
		cur := s.acceptPausedTill.Load()
		if end.UnixNano() <= cur || s.acceptPausedTill.CompareAndSwap(cur, end.UnixNano()) {
			return
		}
	}
}

// acceptStats is what Table.Services reports of s's failed accepts: nil for UDP, which
// accepts nothing. A pause counts as running until its planned end, also when an
// io_uring accept that was in flight succeeds and ends it early.
func (s *service) acceptStats() *ipvs.AcceptStats {
	if s.key.Protocol != ipvs.TCP {
		return nil
	}
	return &ipvs.AcceptStats{
		Errors: s.acceptErrors.Load(),
		Paused: s.t.clock.Now().UnixNano() < s.acceptPausedTill.Load(),
	}
}

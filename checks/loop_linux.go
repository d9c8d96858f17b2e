package checks

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
)

// loopTick is the grain of the loop's timers: a check's next probe and a probe's deadline
// fire at the first multiple of loopTick (since the loop's start) at or after their time,
// so the loop wakes for its timers at most once per tick (not every millisecond) and
// starts every probe due in a tick in one batch, as HAProxy does (it wakes about a
// hundred times a second at 10,000 checks/s). Events (a connect done, a response) still
// wake the loop at once: latencies are measured to the event, not to the tick. Probes
// start up to one tick late without drifting (the next probe is due an interval after the
// last was due, not after it started) and time out up to one tick late.
const loopTick = 10 * time.Millisecond

// probeLoop runs a scheduler's fast probes (fastProbe) on one goroutine around one epoll
// instance, as HAProxy runs its checks: non-blocking sockets registered edge-triggered,
// and one timer wheel holding both the checks' next-probe times and the probes'
// deadlines. A probe costs its own system calls (socket, two setsockopt, connect,
// epoll_ctl, close; plus send and read for http), all made with RawSyscall
// (internal/rawsys), and a share of one epoll_wait; no goroutine, no runtime timer, no
// poller registration. Results go to the scheduler on the loop's goroutine, many per
// wake-up.
//
// Where the kernel allows it (Linux 6.7), the probes go through an io_uring instead
// (probeRing, loopring_linux.go): the probes due in a tick cost one system call, and
// the epoll instance only carries the ring's eventfd and the probes that bind a source
// address. Without io_uring, or once the ring has failed, everything runs on epoll.
//
// The loop sleeps parked on the runtime's poller, not in a blocking epoll_wait
// (rawsys.Poller says why), with a deadline for the next tick.
type probeLoop struct {
	s    *Scheduler
	p    *rawsys.Poller
	base time.Time // loop times are nanoseconds since base (monotonic)
	done chan struct{}

	mu       sync.Mutex
	timers   timerWheel
	sleeping bool  // parked (or about to park) until wakeAt
	wakeAt   int64 // when the sleeping loop will look at its timers again
	closing  bool

	// Owned by the loop goroutine.
	byFD    []*loopProbe
	free    []*loopProbe
	gen     int32
	scratch [maxStatusHead]byte
	ring    *probeRing // probes on io_uring (loopring_linux.go); nil: all on epoll
	dead    *probeRing // a ring given up after an error, closed when the loop ends

	started    atomic.Uint64 // probes started, for tests
	onRing     atomic.Uint64 // of which on the ring
	warmStarts atomic.Uint64 // of which on a socket that an earlier probe disconnected
}

// loopTimer is a check's next probe (e) or a probe's deadline (p) in the loop's timer
// wheel.
type loopTimer struct {
	l          *probeLoop
	when       int64 // loop time it is due
	tick       int64 // the tick it fires on (when rounded up), while armed
	armed      bool
	prev, next *loopTimer // in its wheel slot
	e          *entry
	p          *loopProbe
}

type probeState uint8

const (
	connecting probeState = iota
	sending
	reading
)

// loopProbe is one probe in flight.
type loopProbe struct {
	e        *entry
	fp       *fastProbe
	fd       int
	gen      int32
	start    time.Time // when it started, for its latency
	due      time.Time // when it was due to start, for the next probe's time
	timeout  time.Duration
	deadline loopTimer
	state    probeState
	sent     int
	head     *respHead // what was read so far, when one read did not bring a verdict

	// On the ring (probeRing): its fixed-file slot (-1: on epoll), its generation there,
	// whether its result is out, the completions it awaits, whether its
	// connect succeeded and no request failed since (its socket may then be reused),
	// its address and read buffer, which the kernel reads and writes while its requests
	// are in flight.
	slot      int32
	rgen      uint32
	over      bool
	pending   int
	connected bool
	sa        rawsys.Sockaddr
	rbuf      []byte
}

func newProbeLoop(s *Scheduler) (*probeLoop, error) {
	p, err := rawsys.NewPoller("check-epoll")
	if err != nil {
		return nil, fmt.Errorf("start check event loop: %w", err)
	}
	l := &probeLoop{s: s, p: p, base: time.Now(), done: make(chan struct{})}
	if !noProbeRing {
		if l.ring, err = newProbeRing(l); err != nil {
			s.o.Logger.Info("check event loop on epoll: io_uring unavailable", "reason", err)
		}
	}
	go l.run()
	return l, nil
}

func (l *probeLoop) now() int64 { return int64(time.Since(l.base)) }

// tickOf returns the tick a timer due at loop time when fires on: the first tick at or
// after it (tick k is at loop time k*loopTick).
func tickOf(when int64) int64 {
	const tick = int64(loopTick)
	return (max(when, 0) + tick - 1) / tick
}

// arm schedules e's next probe after d and returns its timer; s.mu is held.
func (l *probeLoop) arm(e *entry, d time.Duration) Timer {
	if e.lt == nil {
		e.lt = &loopTimer{l: l, e: e}
	}
	l.add(e.lt, d)
	return e.lt
}

// add arms t after d, waking the loop if it sleeps past t.
func (l *probeLoop) add(t *loopTimer, d time.Duration) {
	l.mu.Lock()
	if t.armed {
		l.timers.remove(t)
	}
	t.when = l.now() + int64(d)
	l.timers.add(t, tickOf(t.when))
	wake := l.sleeping && t.tick*int64(loopTick) < l.wakeAt && !l.closing
	if wake {
		l.sleeping = false
	}
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

// Stop disarms t; it reports whether t was armed.
func (t *loopTimer) Stop() bool {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if !t.armed {
		return false
	}
	l.timers.remove(t)
	return true
}

func (l *probeLoop) wake() { l.p.Wake() }

// close aborts the probes in flight (their results reach the scheduler, which is stopped
// and drops them) and ends the loop.
func (l *probeLoop) close() {
	l.mu.Lock()
	again := l.closing
	l.closing = true
	l.mu.Unlock()
	if !again {
		// Only once: after the loop ends its eventfd's number may belong to another file.
		l.wake()
	}
	<-l.done
}

func (l *probeLoop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 512)
	var due []*loopTimer
	for {
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			l.shutdown()
			return
		}
		now := l.now()
		due = l.timers.expire(now/int64(loopTick), due[:0])
		// With timers due, start them and collect whatever events are ready; otherwise
		// park until an event or the next timer's tick.
		park := len(due) == 0
		var deadline time.Time // of the park: the next timer's tick, or none
		if park {
			l.wakeAt = math.MaxInt64
			if next, ok := l.timers.next(); ok {
				l.wakeAt = next * int64(loopTick)
				deadline = l.base.Add(time.Duration(l.wakeAt))
			}
			l.sleeping = true
		}
		l.mu.Unlock()
		expiring := false
		for _, t := range due {
			if t.e != nil {
				l.start(t.e, t.when)
			} else {
				expiring = true
			}
		}
		if expiring {
			// A probe whose answer is waiting in its socket is judged by the answer: the
			// loop itself may run late (a loaded host, a slow OnCheck), and the answer may
			// have come in time. So the ready events go first, then what is still in
			// flight times out (a finished probe's e is nil: it was released, and nothing
			// allocates a probe between here and the expiry).
			l.dispatch(events, false, time.Time{})
			// (A probe on the ring whose result is out is over while the ring still
			// holds its requests; a probe restarted on epoll has its deadline armed again.)
			for _, t := range due {
				if t.p != nil && t.p.e != nil && !t.p.over && !t.armed {
					l.expire(t.p)
				}
			}
		}
		l.dispatch(events, park, deadline)
	}
}

// dispatch collects the ready events, parked until deadline when park is set, and
// advances their probes.
func (l *probeLoop) dispatch(events []unix.EpollEvent, park bool, deadline time.Time) {
	if l.ring != nil {
		l.ring.run()
		if park {
			// Signalled from here on, for what completes while the loop sleeps;
			// then once more what completed before.
			l.ring.r.SignalEventfd(true)
			l.ring.run()
		}
		l.ringCheck()
	}
	var n int
	var err error
	if park {
		n, _, err = l.p.Wait(events, deadline)
	} else {
		n, _, err = l.p.Poll(events)
	}
	if park && l.ring != nil {
		l.ring.r.SignalEventfd(false) // awake: the loop reaps without being told
	}
	if err != nil {
		// Not expected on a valid epoll fd; back off rather than spin.
		l.s.o.Logger.Error("check event loop: epoll_wait failed", "error", err)
		time.Sleep(10 * time.Millisecond)
	}
	if park {
		// Before the events: a result re-arms its check, which must not wake a loop
		// that is awake.
		l.mu.Lock()
		l.sleeping = false
		l.mu.Unlock()
	}
	for i := range n {
		ev := &events[i]
		if fd := int(ev.Fd); fd < len(l.byFD) {
			if p := l.byFD[fd]; p != nil && p.gen == ev.Pad {
				l.handle(p, ev.Events)
			}
		}
	}
	if l.ring != nil {
		l.ring.run() // for what completed meanwhile, and what the results queued
		l.ringCheck()
	}
}

// start opens e's probe, due at loop time due: a non-blocking socket set to close with an
// RST (prepareSocket) and a connect, registered edge-triggered for both directions.
func (l *probeLoop) start(e *entry, due int64) {
	timeout, ok := l.s.startFast(e)
	if !ok {
		return
	}
	l.started.Add(1)
	p := l.alloc()
	p.e, p.fp, p.start, p.timeout = e, e.fast, time.Now(), timeout
	p.due = l.base.Add(time.Duration(due))
	if l.ring != nil && !p.fp.source.IsValid() && l.ring.start(p) {
		l.onRing.Add(1)
		l.add(&p.deadline, timeout)
		return
	}
	l.startEpoll(p)
}

// startEpoll opens p's socket and registers it with the loop's epoll instance.
func (l *probeLoop) startEpoll(p *loopProbe) {
	fd, err := openProbe(p.fp)
	if err != nil {
		l.finish(p, Result{Reason: fmt.Sprintf("connect %s: %v", p.fp.addr, err)})
		return
	}
	l.gen++
	if l.gen < 0 {
		l.gen = 0
	}
	p.fd, p.gen = fd, l.gen
	if err := l.p.Add(fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, p.gen); err != 0 {
		l.finish(p, Result{Reason: fmt.Sprintf("connect %s: epoll_ctl: %v", p.fp.addr, err)})
		return
	}
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, nil)
	}
	l.byFD[fd] = p
	l.add(&p.deadline, p.timeout)
}

// openProbe returns a socket connecting to fp.addr (the connect may be in progress).
// Errors are bare errnos: the caller names the operation.
func openProbe(fp *fastProbe) (int, error) {
	ip := fp.addr.Addr().Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := rawsys.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != 0 {
		return -1, err
	}
	// As prepareSocket: SO_LINGER 0 (every close an RST) and TCP_QUICKACK cleared (best
	// effort: a connect-only probe then answers the SYN-ACK with its RST alone).
	linger := unix.Linger{Onoff: 1, Linger: 0}
	if err := rawsys.Setsockopt(fd, unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&linger), unix.SizeofLinger); err != 0 {
		rawsys.Close(fd)
		return -1, err
	}
	_ = rawsys.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
	var sa rawsys.Sockaddr
	if fp.source.IsValid() {
		sa.Set(netip.AddrPortFrom(fp.source.Unmap(), 0), ip.Is6())
		if err := rawsys.Bind(fd, &sa); err != 0 {
			rawsys.Close(fd)
			return -1, err
		}
	}
	sa.Set(netip.AddrPortFrom(ip, fp.addr.Port()), ip.Is6())
	if err := rawsys.Connect(fd, &sa); err != 0 && err != unix.EINPROGRESS {
		rawsys.Close(fd)
		return -1, err
	}
	return fd, nil
}

// handle advances p on an epoll event.
func (l *probeLoop) handle(p *loopProbe, events uint32) {
	fp := p.fp
	if p.state == connecting {
		if events&unix.EPOLLERR != 0 || events&(unix.EPOLLOUT|unix.EPOLLHUP) == unix.EPOLLHUP {
			// The connect failed: SO_ERROR says why (ECONNREFUSED on an RST, EHOSTUNREACH
			// on an ICMP error).
			v, err := rawsys.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == 0 {
				err = unix.Errno(v)
				if v == 0 {
					err = unix.ECONNRESET
				}
			}
			l.finish(p, Result{Reason: fmt.Sprintf("connect %s: %v", fp.addr, err)})
			return
		}
		if events&unix.EPOLLOUT == 0 {
			return
		}
		if fp.request == nil {
			l.finish(p, Result{OK: true, Reason: fp.passReason})
			return
		}
		p.state = sending
	}
	if p.state == sending {
		for p.sent < len(fp.request) {
			n, err := rawsys.Send(p.fd, fp.request[p.sent:], unix.MSG_NOSIGNAL)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return // the rest on the next writable edge
			case err != 0:
				l.finish(p, Result{Reason: fmt.Sprintf("send request to %s: %v", fp.addr, err)})
				return
			}
			p.sent += n
		}
		p.state = reading
		// The answer comes with a later edge: the request has only just left.
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) == 0 {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	l.read(p)
}

// read reads p's response until it has a verdict (respHead) or the socket is drained.
func (l *probeLoop) read(p *loopProbe) {
	fp := p.fp
	for {
		// Reads go to the loop's scratch buffer: a response head nearly always comes
		// whole in one segment, and then the probe allocates nothing.
		n, err := rawsys.Read(p.fd, l.scratch[:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != 0:
			l.finish(p, Result{Reason: fmt.Sprintf("read response from %s: %v", fp.addr, err)})
			return
		}
		if l.judge(p, l.scratch[:n]) {
			return
		}
	}
}

// judge takes got, the next read of p's response (empty: the server closed), and
// finishes p if it brings a verdict; it reports whether it did.
func (l *probeLoop) judge(p *loopProbe, got []byte) bool {
	fp := p.fp
	if p.head == nil {
		if pass200(fp, got) {
			l.finish(p, Result{OK: true, Reason: fp.passReason})
			return true
		}
		p.head = &respHead{}
	}
	p.head.add(got)
	if res, done := p.head.verdict(fp.addr, fp.status, len(got) == 0); done {
		l.finish(p, res)
		return true
	}
	return false
}

// expire ends p at its deadline.
func (l *probeLoop) expire(p *loopProbe) {
	doing := "connecting to " + p.fp.addr.String()
	switch p.state {
	case sending:
		doing = "send request to " + p.fp.addr.String()
	case reading:
		doing = "read response from " + p.fp.addr.String()
	}
	l.finish(p, Result{Reason: fmt.Sprintf("timeout after %s %s", roundDur(p.timeout), doing)})
}

// finish closes p's socket (an RST: SO_LINGER 0) and hands its result to the scheduler.
func (l *probeLoop) finish(p *loopProbe, res Result) {
	res.Latency = time.Since(p.start)
	res.Weight = NoWeight
	p.deadline.Stop()
	e, due := p.e, p.due
	switch {
	case p.slot >= 0:
		l.ring.end(p) // releases p once the ring is done with it
	case p.fd >= 0:
		// Closing also removes the socket from the epoll set: it has no other descriptor.
		if p.fd < len(l.byFD) {
			l.byFD[p.fd] = nil
		}
		rawsys.Close(p.fd)
		fallthrough
	default:
		l.release(p)
	}
	l.s.finish(e, due, res)
}

// shutdown aborts every probe in flight and closes the loop's descriptors.
func (l *probeLoop) shutdown() {
	for _, p := range l.byFD {
		if p != nil {
			l.finish(p, Result{Reason: "checks stopped"})
		}
	}
	if l.ring != nil {
		for _, p := range l.ring.slots {
			if p != nil && !p.over {
				l.finish(p, Result{Reason: "checks stopped"})
			}
		}
		l.ring.shutdown()
	}
	if l.dead != nil {
		l.dead.close()
	}
	l.p.Close()
}

func (l *probeLoop) alloc() *loopProbe {
	var p *loopProbe
	if n := len(l.free); n > 0 {
		p = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		p = &loopProbe{}
		p.deadline = loopTimer{l: l, p: p}
	}
	p.fd, p.slot, p.over = -1, -1, false
	return p
}

func (l *probeLoop) release(p *loopProbe) {
	p.e, p.fp, p.state, p.sent, p.head = nil, nil, connecting, 0, nil
	// Keep a bounded free list: enough for a burst, not a leak after one.
	if len(l.free) < 4096 {
		l.free = append(l.free, p)
	}
}

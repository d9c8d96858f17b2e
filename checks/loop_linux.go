package checks

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// probeLoop runs a scheduler's fast probes (fastProbe) on one goroutine around one epoll
// instance, as HAProxy runs its checks: non-blocking sockets registered edge-triggered,
// and one heap holding both the checks' next-probe times and the probes' deadlines. A
// probe costs its own system calls (socket, two setsockopt, connect, epoll_ctl, close;
// plus send and read for http) and a share of one epoll_wait; no goroutine, no runtime
// timer, no poller registration. Results go to the scheduler on the loop's goroutine,
// many per wake-up.
type probeLoop struct {
	s          *Scheduler
	epfd, evfd int
	base       time.Time // loop times are nanoseconds since base (monotonic)
	done       chan struct{}

	mu       sync.Mutex
	timers   timerHeap
	sleeping bool  // in (or about to enter) epoll_wait until wakeAt
	wakeAt   int64 // when the sleeping loop will look at its timers again
	closing  bool

	// Owned by the loop goroutine.
	byFD    []*loopProbe
	free    []*loopProbe
	gen     int32
	scratch [maxStatusHead]byte

	started atomic.Uint64 // probes started, for tests
}

// loopTimer is a check's next probe (e) or a probe's deadline (p) in the loop's heap.
type loopTimer struct {
	l    *probeLoop
	when int64
	idx  int // in the heap; -1 when not armed
	e    *entry
	p    *loopProbe
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
	start    time.Time
	timeout  time.Duration
	deadline loopTimer
	state    probeState
	sent     int
	buf      []byte // status bytes read so far, when one read did not bring them all
}

func newProbeLoop(s *Scheduler) (*probeLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("start check event loop: %w", os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("start check event loop: %w", os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd), Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("start check event loop: %w", os.NewSyscallError("epoll_ctl", err))
	}
	l := &probeLoop{s: s, epfd: epfd, evfd: evfd, base: time.Now(), done: make(chan struct{})}
	go l.run()
	return l, nil
}

func (l *probeLoop) now() int64 { return int64(time.Since(l.base)) }

// arm schedules e's next probe after d and returns its timer; s.mu is held.
func (l *probeLoop) arm(e *entry, d time.Duration) Timer {
	if e.lt == nil {
		e.lt = &loopTimer{l: l, idx: -1, e: e}
	}
	l.add(e.lt, d)
	return e.lt
}

// add arms t after d, waking the loop if it sleeps past t.
func (l *probeLoop) add(t *loopTimer, d time.Duration) {
	l.mu.Lock()
	if t.idx >= 0 {
		l.timers.remove(t.idx)
	}
	t.when = l.now() + int64(d)
	l.timers.push(t)
	wake := l.sleeping && t.when < l.wakeAt && !l.closing
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
	if t.idx < 0 {
		return false
	}
	l.timers.remove(t.idx)
	return true
}

func (l *probeLoop) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(l.evfd, one[:])
}

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
		due = due[:0]
		for len(l.timers) > 0 && l.timers[0].when <= now {
			due = append(due, l.timers.pop())
		}
		timeout := 0
		if len(due) == 0 {
			timeout, l.wakeAt = -1, math.MaxInt64
			if len(l.timers) > 0 {
				l.wakeAt = l.timers[0].when
				// Round up to whole milliseconds (epoll_wait's unit): waking early would
				// spin, and probes due within the same millisecond start in one batch.
				timeout = int((l.wakeAt - now + int64(time.Millisecond) - 1) / int64(time.Millisecond))
			}
			l.sleeping = true
		}
		l.mu.Unlock()
		for _, t := range due {
			if t.e != nil {
				l.start(t.e)
			} else {
				l.expire(t.p)
			}
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			// Not expected on a valid epoll fd; back off rather than spin.
			l.s.o.Logger.Error("check event loop: epoll_wait failed", "error", err)
			time.Sleep(10 * time.Millisecond)
		}
		if timeout != 0 {
			l.mu.Lock()
			l.sleeping = false
			l.mu.Unlock()
		}
		for i := range max(n, 0) {
			ev := &events[i]
			if ev.Pad == -1 {
				var b [8]byte
				_, _ = unix.Read(l.evfd, b[:])
				continue
			}
			if fd := int(ev.Fd); fd < len(l.byFD) {
				if p := l.byFD[fd]; p != nil && p.gen == ev.Pad {
					l.handle(p, ev.Events)
				}
			}
		}
	}
}

// start opens e's probe: a non-blocking socket set to close with an RST (prepareSocket)
// and a connect, registered edge-triggered for both directions.
func (l *probeLoop) start(e *entry) {
	timeout, ok := l.s.startFast(e)
	if !ok {
		return
	}
	l.started.Add(1)
	p := l.alloc()
	p.e, p.fp, p.start, p.timeout = e, e.fast, time.Now(), timeout
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
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd), Pad: p.gen}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.finish(p, Result{Reason: fmt.Sprintf("connect %s: epoll_ctl: %v", p.fp.addr, err)})
		return
	}
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, nil)
	}
	l.byFD[fd] = p
	l.add(&p.deadline, timeout)
}

// openProbe returns a socket connecting to fp.addr (the connect may be in progress).
// Errors are bare errnos: the caller names the operation.
func openProbe(fp *fastProbe) (int, error) {
	ip := fp.addr.Addr().Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	if err := prepareSocket(uintptr(fd), true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if fp.source.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(fp.source.Unmap(), 0), ip.Is6())); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	err = unix.Connect(fd, sockaddr(netip.AddrPortFrom(ip, fp.addr.Port()), ip.Is6()))
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
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
			v, err := unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil {
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
			n, err := unix.SendmsgN(p.fd, fp.request[p.sent:], nil, nil, unix.MSG_NOSIGNAL)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return // the rest on the next writable edge
			case err != nil:
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

// read reads p's response until statusVerdict has a verdict or the socket is drained.
func (l *probeLoop) read(p *loopProbe) {
	fp := p.fp
	for {
		// The first read goes to the loop's scratch buffer: a status line nearly always
		// comes whole in one segment, and then the probe allocates nothing.
		dst := l.scratch[:]
		if p.buf != nil {
			dst = p.buf[len(p.buf):cap(p.buf)]
		}
		n, err := unix.Read(p.fd, dst)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			l.finish(p, Result{Reason: fmt.Sprintf("read response from %s: %v", fp.addr, err)})
			return
		}
		got := dst[:n]
		if p.buf != nil {
			p.buf = p.buf[:len(p.buf)+n]
			got = p.buf
		}
		if pass200(fp, got) {
			l.finish(p, Result{OK: true, Reason: fp.passReason})
			return
		}
		eof := n == 0 || len(got) >= maxStatusHead
		if res, done := statusVerdict(fp.addr, fp.status, got, eof); done {
			l.finish(p, res)
			return
		}
		if p.buf == nil {
			p.buf = append(make([]byte, 0, maxStatusHead), got...)
		}
	}
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
	if p.fd >= 0 {
		// Closing also removes the socket from the epoll set: it has no other descriptor.
		if p.fd < len(l.byFD) {
			l.byFD[p.fd] = nil
		}
		unix.Close(p.fd)
	}
	e, start := p.e, p.start
	l.release(p)
	l.s.finish(e, start, res)
}

// shutdown aborts every probe in flight and closes the loop's descriptors.
func (l *probeLoop) shutdown() {
	for _, p := range l.byFD {
		if p != nil {
			l.finish(p, Result{Reason: "checks stopped"})
		}
	}
	unix.Close(l.epfd)
	unix.Close(l.evfd)
}

func (l *probeLoop) alloc() *loopProbe {
	var p *loopProbe
	if n := len(l.free); n > 0 {
		p = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		p = &loopProbe{}
		p.deadline = loopTimer{l: l, idx: -1, p: p}
	}
	p.fd = -1
	return p
}

func (l *probeLoop) release(p *loopProbe) {
	p.e, p.fp, p.state, p.sent, p.buf = nil, nil, connecting, 0, nil
	// Keep a bounded free list: enough for a burst, not a leak after one.
	if len(l.free) < 4096 {
		l.free = append(l.free, p)
	}
}

// timerHeap is a binary min-heap of timers by when, each knowing its index so that Stop
// removes it in O(log n).
type timerHeap []*loopTimer

func (h *timerHeap) push(t *loopTimer) {
	t.idx = len(*h)
	*h = append(*h, t)
	h.up(t.idx)
}

func (h *timerHeap) pop() *loopTimer {
	t := (*h)[0]
	h.remove(0)
	return t
}

func (h *timerHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	t := old[i]
	if i != last {
		old[i] = old[last]
		old[i].idx = i
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.idx = -1
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].when <= h[i].when {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].when < h[c].when {
			c = r
		}
		if h[i].when <= h[c].when {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i != start
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

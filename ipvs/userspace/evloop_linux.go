//go:build linux

package userspace

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
)

// engine moves the bytes of proxied TCP connections on Linux: a few event loops (one per
// GOMAXPROCS) over non-blocking sockets that the Go runtime's poller never sees, on
// io_uring (uloop, uloop_linux.go) where the kernel allows it, else on epoll (loop, this
// file).
//
// Why not a goroutine per direction (tcp.go, the portable path): profiled against HAProxy
// (docs/benchmarks.md (Userspace data plane)) it spends about 1.5x HAProxy's CPU per connection on
// goroutine hand-offs (futex, spinning threads) and, per message, a read that fails with
// EAGAIN. The loop learns from EPOLLRDHUP whether a FIN came with the data, so after a
// short read it waits for the next edge instead of reading again, as HAProxy does.
//
// Every loop watches every listening socket and keeps the connections it accepts:
// accept, connect and the transfer of a connection all run on one loop, and no loop
// touches another's sockets.
type engine struct {
	loops   []*loop  // epoll
	uloops  []*uloop // io_uring (uloop_linux.go): one or the other
	ringErr error    // why not io_uring
}

// newEngine starts one loop per GOMAXPROCS: over io_uring where the kernel allows it,
// else over epoll.
func newEngine(noRing bool) (*engine, error) {
	e := &engine{}
	if !noRing {
		if e.ringErr = e.startRing(); e.ringErr == nil {
			return e, nil
		}
		// Without io_uring (an old kernel, or one that refuses it to this process),
		// epoll does the same job with more system calls.
	} else {
		e.ringErr = errors.New("not tried")
	}
	for range runtime.GOMAXPROCS(0) {
		l, err := newLoop()
		if err != nil {
			e.stop()
			return nil, err
		}
		l.engine = e
		e.loops = append(e.loops, l)
		go l.run()
	}
	return e, nil
}

// stop ends the loops; every connection must have ended first (Table.Shutdown drains or
// cuts them).
func (e *engine) stop() {
	for _, l := range e.uloops {
		l.post(func() { l.stopped = true })
	}
	for _, l := range e.uloops {
		<-l.done
	}
	for _, l := range e.loops {
		l.post(func() { l.stopped = true })
	}
	for _, l := range e.loops {
		<-l.done
		l.epf.Close()
		unix.Close(l.evfd)
	}
}

type loop struct {
	cmdQueue
	epfd   int
	epf    *os.File // epfd, registered with the Go poller
	eprc   syscall.RawConn
	done   chan struct{}
	engine *engine

	mu        sync.Mutex
	listeners map[int32]*service // listening sockets this loop accepts on

	// Loop-owned.
	conns      []*econn // by both of a connection's fds
	connecting int      // connects in flight
	checked    time.Time
	stopped    bool

	// load is the number of connections this loop owns or has been handed and not yet
	// started; other loops read it to balance what they accept.
	load atomic.Int32
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	// An epoll descriptor is itself pollable: readable while it has events. Given to the
	// Go poller (os.NewFile sees O_NONBLOCK), the loop parks like any goroutine waiting
	// for I/O instead of blocking its thread in epoll_wait.
	unix.SetNonblock(epfd, true)
	f := os.NewFile(uintptr(epfd), "userspace-epoll")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails unless the poller took the descriptor
	}
	if err != nil {
		f.Close()
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll descriptor in the Go poller: %w", err)
	}
	return &loop{cmdQueue: cmdQueue{evfd: evfd}, epfd: epfd, epf: f, eprc: rc, done: make(chan struct{}), listeners: map[int32]*service{}}, nil
}

// cmdQueue is how other goroutines hand work to a loop (either kind): functions queued
// under a lock and an eventfd that wakes the loop to run them.
type cmdQueue struct {
	evfd int
	mu   sync.Mutex
	cmds []func()
}

// post runs f on the loop's goroutine.
func (q *cmdQueue) post(f func()) {
	q.mu.Lock()
	q.cmds = append(q.cmds, f)
	q.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(q.evfd, one[:])
}

// runCmds runs what was posted, on the loop's goroutine, once its eventfd was read.
func (q *cmdQueue) runCmds() {
	q.mu.Lock()
	cmds := q.cmds
	q.cmds = nil
	q.mu.Unlock()
	for _, f := range cmds {
		f()
	}
}

var connGen atomic.Int32

// watch registers fd for c, edge-triggered, tagged with c's generation so that an event
// for a closed fd whose number was reused cannot reach the new connection.
func (l *loop) watch(c *econn, fd int) error {
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*econn, max(64, len(l.conns)))...)
	}
	l.conns[fd] = c
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd), Pad: c.gen}
	if e := rawsys.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); e != 0 {
		l.conns[fd] = nil
		return e
	}
	return nil
}

func (l *loop) watching(c *econn, fd int) bool {
	return fd >= 0 && fd < len(l.conns) && l.conns[fd] == c
}

// forget closes fd, which also takes it out of the epoll set.
func (l *loop) forget(fd int) {
	if fd < len(l.conns) {
		l.conns[fd] = nil
	}
	rawsys.Close(fd)
}

// run processes events until the loop is stopped. Whatever is ready is taken with a
// zero-timeout epoll_wait (a raw system call); only when nothing is does the goroutine
// park in the Go poller on the epoll descriptor, which frees its P without a hand-off.
//
// Blocking in epoll_wait instead (a system call the runtime sees) cost about 1 context
// switch per Connection: close request more: with every P in such a call, sysmon
// retakes them and runs every 20 us while it keeps finding one (docs/benchmarks.md).
func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	armed := false // a read deadline is set: a connect in flight needs its timeout checked
	poll := func(uintptr) bool {
		for {
			n, _ := rawsys.EpollPoll(l.epfd, events)
			if n <= 0 {
				if l.connecting > 0 && !armed {
					armed = true
					l.epf.SetReadDeadline(time.Now().Add(connectCheck))
				}
				return false // park until the epoll descriptor is readable
			}
			l.dispatch(events[:n])
			if l.stopped {
				return true
			}
		}
	}
	for !l.stopped {
		err := l.eprc.Read(poll)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			armed = false
			l.epf.SetReadDeadline(time.Time{})
			l.checked = time.Now()
			l.checkDeadlines(l.checked)
		case err != nil:
			panic("userspace: event loop: " + err.Error())
		}
	}
}

// connectCheck is how often connects in flight are checked against their deadline.
const connectCheck = 100 * time.Millisecond

func (l *loop) dispatch(events []unix.EpollEvent) {
	for _, ev := range events {
		fd := int(ev.Fd)
		if fd < len(l.conns) {
			if c := l.conns[fd]; c != nil {
				if c.gen == ev.Pad && !c.closed {
					c.handle(fd, ev.Events)
				}
				continue
			}
		}
		if fd == l.evfd {
			var b [8]byte
			rawsys.Read(l.evfd, b[:])
			l.runCmds()
			continue
		}
		l.mu.Lock()
		s := l.listeners[ev.Fd]
		l.mu.Unlock()
		if s != nil {
			s.accept(l, fd)
		}
	}
	if l.connecting > 0 {
		if now := time.Now(); now.Sub(l.checked) >= connectCheck {
			l.checked = now
			l.checkDeadlines(now)
		}
	}
}

func (l *loop) checkDeadlines(now time.Time) {
	var late []*econn
	for fd, c := range l.conns {
		if c != nil && c.connecting && fd == c.sfd && now.After(c.deadline) {
			late = append(late, c)
		}
	}
	for _, c := range late {
		c.connectFailed(unix.ETIMEDOUT)
	}
}

// econn is one proxied connection owned by a loop. p[0] is client to real server, p[1]
// real server to client.
type econn struct {
	l      *loop
	s      *service
	d      *dest
	tp     *template
	client netip.AddrPort
	gen    int32

	cfd, sfd   int
	ready      bool // connected to the real server
	connecting bool // a connect is in flight on sfd (counted in loop.connecting)
	deadline   time.Time
	retried    bool
	closed     bool
	halves     int // directions finished (EOF seen and everything written)

	p [2]epipe
	// Readiness learnt from edges: [0] client socket, [1] real server socket.
	readable, hup, writable [2]bool
	// fin: the peer's FIN was in (EPOLLRDHUP or EPOLLHUP without EPOLLERR), so a read
	// that does not fill the buffer has reached the end of the stream.
	fin [2]bool
}

type epipe struct {
	buf     *[]byte
	off, n  int
	eof     bool
	rerr    unix.Errno // a read error, pending until the data read before it is written
	shut    bool
	counter *atomic.Uint64 // the dest's InBytes or OutBytes
	total   *atomic.Uint64 // the service's
}

func (c *econn) cut() {
	c.l.post(func() {
		if !c.closed {
			c.abort()
		}
	})
}

func (c *econn) handle(fd int, ev uint32) {
	i := 0
	if fd == c.sfd {
		i = 1
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readable[i] = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup[i] = true
		c.fin[i] = ev&unix.EPOLLERR == 0
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.writable[i] = true
	}
	if !c.ready {
		if !c.connecting || i != 1 || ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			return // client data waits for the real server
		}
		if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			// A connecting socket reports EPOLLOUT alone once connected, and
			// EPOLLERR (with the reason in SO_ERROR) when the attempt failed.
			soerr, err := unix.GetsockoptInt(c.sfd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil {
				err = unix.ECONNRESET
				if soerr != 0 {
					err = unix.Errno(soerr)
				}
			}
			c.connectFailed(err)
			return
		}
		c.established()
	}
	c.pump(0)
	if !c.closed {
		c.pump(1)
	}
}

// established records that the connect to the real server completed.
func (c *econn) established() {
	c.connecting = false
	c.ready = true
	c.l.connecting--
	c.s.reached(c.d)
	c.s.stats.conns.Add(1)
}

// pump moves one direction as far as the sockets allow.
//
// With a FIN (or an error) pending on the source, it reads until the end of the stream
// before it writes what it has, while the buffer has room: the last data then goes out
// with MSG_MORE, and the FIN that shutdown(2) or close(2) sends rides in the same
// segment, one packet (and one wake-up of the peer) less per closing direction. HAProxy
// does the same. It costs no read: the one that returns EOF comes before the write
// instead of after it.
func (c *econn) pump(dir int) {
	p := &c.p[dir]
	src, dst := c.cfd, c.sfd
	if dir == 1 {
		src, dst = c.sfd, c.cfd
	}
	si, di := dir, 1-dir
	buf := *p.buf
	for {
		if !p.eof && p.rerr == 0 && c.readable[si] && (p.n == 0 || c.hup[si] && p.off == 0 && p.n < len(buf)) {
			want := len(buf) - p.n
			r, e := rawsys.Read(src, buf[p.n:])
			switch {
			case e == unix.EAGAIN:
				c.readable[si] = false
			case e == unix.EINTR:
			case e != 0 && p.n == 0:
				c.abort()
				return
			case e != 0:
				p.rerr = e // pass on what came before the error, then reset
			case r == 0:
				p.eof = true
			default:
				p.counter.Add(uint64(r))
				p.total.Add(uint64(r))
				p.n += r
				if r < want && c.fin[si] {
					// The FIN came before this read, in order after all the data,
					// and TCP returns less than asked only with its queue empty:
					// this is the end, and the read that would return 0 is saved
					// (HAProxy saves it the same way). The one exception is TCP
					// urgent data, where a read stops at the urgent mark: data
					// after an urgent byte sent together with the FIN would be
					// lost, a case no protocol still in use produces.
					p.eof = true
				} else if p.n < len(buf) && !c.hup[si] {
					// Drained, and no FIN or error is pending (EPOLLRDHUP would
					// have said so): the next edge brings more. This is the read
					// that net.Conn would spend on EAGAIN.
					c.readable[si] = false
				}
			}
			continue
		}
		if p.off < p.n {
			if !c.writable[di] {
				return
			}
			flags := unix.MSG_NOSIGNAL
			if p.eof {
				flags |= unix.MSG_MORE
			}
			w, e := rawsys.Send(dst, buf[p.off:p.n], flags)
			switch e {
			case 0:
			case unix.EAGAIN:
				c.writable[di] = false
				return
			case unix.EINTR:
				continue
			default:
				c.abort()
				return
			}
			p.off += w
			continue
		}
		if p.n > 0 {
			p.off, p.n = 0, 0 // all written: read on
			continue
		}
		switch {
		case p.rerr != 0:
			c.abort()
		case p.eof && !p.shut:
			p.shut = true
			if c.halves++; c.halves == 1 {
				c.s.halfClosed(c.d)
				rawsys.Shutdown(dst, unix.SHUT_WR)
			} else {
				c.finish() // close(2) sends the second FIN
			}
		}
		return
	}
}

func (c *econn) connectFailed(err error) {
	s := c.s
	s.unreachable(c.d, err)
	c.l.connecting--
	c.connecting = false
	c.l.forget(c.sfd)
	c.sfd = -1
	s.release(c.d, c.tp, true, c)
	if !c.retried {
		c.retried = true
		if d, tp := s.pick(c.client, c.d, false, c); d != nil {
			if n := uint64(c.p[0].n); n > 0 {
				// Read early (see early) but not sent: count it to the real
				// server it goes to.
				c.p[0].counter.Add(-n)
				d.stats.inBytes.Add(n)
			}
			c.d, c.tp = d, tp
			c.p[0].counter, c.p[1].counter = &d.stats.inBytes, &d.stats.outBytes
			if c.connect() == nil {
				return
			}
		}
	}
	c.closed = true
	resetFD(c.cfd)
	c.l.forget(c.cfd)
	c.freeBufs()
	c.l.ended(s)
}

// connect starts a non-blocking connect to c.d; on an immediate error it accounts the
// failure itself (releasing c.d) and returns it.
func (c *econn) connect() error {
	fd, e := rawConnect(c.d.target(c.s.key.Addr.Port()))
	if e != 0 {
		c.s.unreachable(c.d, e)
		c.s.release(c.d, c.tp, true, c)
		return e
	}
	c.sfd = fd
	c.connecting = true
	c.deadline = time.Now().Add(c.s.t.dialTimeout)
	c.readable[1], c.hup[1], c.writable[1], c.fin[1] = false, false, false, false
	c.l.connecting++
	if err := c.l.watch(c, fd); err != nil {
		c.l.connecting--
		c.connecting = false
		rawsys.Close(fd)
		c.sfd = -1
		c.s.release(c.d, c.tp, true, c)
		return err
	}
	return nil
}

// tuneConnect sets what net.TCPConn would on a socket to a real server: TCP_NODELAY, and
// keep-alive with the system's timers. Accepted sockets inherit both from the listener.
func tuneConnect(fd int) {
	rawsys.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	rawsys.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
}

func resetFD(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// finish closes a connection both of whose directions ended.
func (c *econn) finish() {
	c.closed = true
	c.l.forget(c.cfd)
	c.l.forget(c.sfd)
	c.freeBufs()
	c.s.release(c.d, c.tp, false, c)
	c.l.ended(c.s)
}

// abort resets both sides: an error on either socket, or a forced shutdown.
func (c *econn) abort() {
	c.closed = true
	wasActive := c.halves == 0 // pick counted it active; the first finished direction moved it
	if c.connecting {
		c.l.connecting--
	}
	resetFD(c.cfd)
	c.l.forget(c.cfd)
	if c.sfd >= 0 {
		resetFD(c.sfd)
		c.l.forget(c.sfd)
	}
	c.freeBufs()
	c.s.release(c.d, c.tp, wasActive, c)
	c.l.ended(c.s)
}

func (c *econn) freeBufs() {
	for i := range c.p {
		if c.p[i].buf != nil {
			bufPool.Put(c.p[i].buf)
			c.p[i].buf = nil
		}
	}
}

// listenTCP opens the service's listening socket outside the Go poller (a net.Listener's
// RawConn cannot wait for readability) and accepts on every loop.
func (s *service) listenTCP(e *engine) error {
	a := s.key.Addr
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip := a.Addr().Unmap(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(a.Port()), Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(a.Port()), Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("listen: socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
	} else {
		unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1)
	}
	// Accepted sockets inherit these (the kernel clones the listener): two setsockopt
	// per connection saved.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listen tcp %s: bind: %w", a, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listen tcp %s: %w", a, err)
	}
	onEveryLoop(e.uloops, func(l *uloop) { l.addListener(fd, s) })
	loops := e.loops
	for i, l := range loops {
		l.mu.Lock()
		l.listeners[int32(fd)] = s
		l.mu.Unlock()
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			for _, l := range loops[:i+1] {
				l.mu.Lock()
				delete(l.listeners, int32(fd))
				l.mu.Unlock()
			}
			unix.Close(fd) // also leaves the epoll sets it joined
			return fmt.Errorf("listen tcp %s: epoll: %w", a, err)
		}
	}
	s.mu.Lock()
	s.lfd, s.leng = fd, e
	s.mu.Unlock()
	s.wg.Add(1)
	return nil
}

// closeListener takes the listening socket out of every loop, then closes it, so that
// no loop accepts on it any more and the address is free when DeleteService returns.
func (s *service) closeListener() {
	s.mu.Lock()
	e, fd := s.leng, s.lfd
	s.leng = nil
	s.mu.Unlock()
	if e == nil {
		return
	}
	onEveryLoop(e.loops, func(l *loop) {
		l.mu.Lock()
		_, ok := l.listeners[int32(fd)]
		delete(l.listeners, int32(fd))
		l.mu.Unlock()
		if ok {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
	})
	// An accept in flight in a ring holds the socket, and its address, after close(2):
	// each ring loop cancels its accepts and says done once they are back.
	onEveryLoopAsync(e.uloops, func(l *uloop, done func()) { l.removeListener(fd, done) })
	// A loop may have handed a connection it accepted to another loop that had already
	// left the listener; the hand-off is queued there ahead of this second round, so
	// once it has run every accepted connection is started and in s.conns, where a
	// forced shutdown finds it to cut.
	onEveryLoop(e.loops, func(*loop) {})
	onEveryLoop(e.uloops, func(*uloop) {})
	unix.Close(fd)
	s.wg.Done()
}

// onEveryLoop runs f on each loop's goroutine and waits for all of them.
func onEveryLoop[L interface{ post(func()) }](loops []L, f func(L)) {
	onEveryLoopAsync(loops, func(l L, done func()) {
		defer done()
		f(l)
	})
}

// onEveryLoopAsync runs f on each loop's goroutine and waits until each has called its
// done, which it may do later, from the loop's goroutine.
func onEveryLoopAsync[L interface{ post(func()) }](loops []L, f func(l L, done func())) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		l.post(func() { f(l, wg.Done) })
	}
	wg.Wait()
}

// handoffSlack is how many more connections than the least loaded loop a loop keeps
// before it hands what it accepts to that loop. In one 8-round comparison with the same
// code without hand-offs, p99 was 0.91x HAProxy's against 0.98x (keep-alive) and 1.01x
// against 1.11x (Connection: close), for 0.09 more context switches per close request
// (docs/benchmarks.md, userspace round 4); slack 4 or 8 made no difference beyond noise.
const handoffSlack = 1

// acceptBatch bounds the connections one loop takes per wake-up, so that a burst is
// shared with the other loops (the listener is level-triggered: the rest wake another).
const acceptBatch = 16

// accept takes pending connections for l.
func (s *service) accept(l *loop, lfd int) {
	for range acceptBatch {
		fd, client, e := rawsys.Accept(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch e {
		case 0:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		default:
			// EMFILE and friends: leave the connection in the backlog; the
			// level-triggered listener wakes us again.
			s.t.log.Warn("accept failed", "service", s.key.String(), "err", e)
			return
		}
		s.wg.Add(1)
		to := spread(l.engine.loops, l)
		to.load.Add(1)
		if to == l {
			s.startConn(l, fd, client)
		} else {
			to.post(func() { s.startConn(to, fd, client) })
		}
	}
}

// spread picks the loop for a connection that l accepted: l itself, unless another
// loop owns fewer connections by more than handoffSlack.
//
// Every loop accepts on the shared listener, but whichever loop wakes first takes the
// whole burst: measured with 64 keep-alive connections opened at once, one loop owned
// all 64 and the other none, so one thread carried the whole load. Handing a
// connection over costs the other loop a wake-up (its eventfd), so it is done only
// when the loops are out of balance.
func spread[L interface {
	*loop | *uloop
	loadCount() *atomic.Int32
}](loops []L, l L) L {
	to, min := l, l.loadCount().Load()
	for _, o := range loops {
		if n := o.loadCount().Load(); n < min {
			to, min = o, n
		}
	}
	if to != l && l.loadCount().Load()-min <= handoffSlack {
		return l
	}
	return to
}

func (l *loop) loadCount() *atomic.Int32  { return &l.load }
func (l *uloop) loadCount() *atomic.Int32 { return &l.load }

// ended accounts for the end of a connection l owned.
func (l *loop) ended(s *service) {
	l.load.Add(-1)
	s.wg.Done()
}

func (s *service) startConn(l *loop, fd int, client netip.AddrPort) {
	c := &econn{l: l, s: s, client: client, gen: connGen.Add(1), cfd: fd, sfd: -1}
	c.p[0].total, c.p[1].total = &s.stats.inBytes, &s.stats.outBytes
	d, tp := s.pick(c.client, nil, false, c)
	if d == nil {
		resetFD(fd)
		rawsys.Close(fd)
		l.ended(s)
		return
	}
	c.d, c.tp = d, tp
	c.p[0].counter, c.p[1].counter = &d.stats.inBytes, &d.stats.outBytes
	// Connect now, retrying once on an immediate failure.
	for try := 0; ; try++ {
		sfd, e := rawConnect(d.target(s.key.Addr.Port()))
		if e == 0 {
			c.sfd = sfd
			break
		}
		s.unreachable(d, e)
		s.release(d, tp, true, c)
		if try == 1 {
			d = nil
		} else {
			c.retried = true
			d, tp = s.pick(c.client, d, false, c)
		}
		if d == nil {
			resetFD(c.cfd)
			rawsys.Close(c.cfd)
			l.ended(s)
			return
		}
		c.d, c.tp = d, tp
		c.p[0].counter, c.p[1].counter = &d.stats.inBytes, &d.stats.outBytes
	}
	c.p[0].buf, c.p[1].buf = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	c.connecting = true
	c.deadline = time.Now().Add(s.t.dialTimeout)
	l.connecting++
	if !c.early() {
		return
	}
	// A retry after a failed early send watched its new socket already.
	if !l.watching(c, c.sfd) && l.watch(c, c.sfd) != nil || l.watch(c, c.cfd) != nil {
		c.abort()
	}
}

// early forwards what the client sent before its connection was accepted, in the same
// pass as the connect: a client that writes at once (HTTP) usually has its request
// queued by then, and a loopback or LAN connect is often complete when connect(2)
// returns. The real server then finds the request with the connection it accepts,
// instead of accepting, reading nothing, sleeping, and waking again for the request:
// measured against HAProxy, which sends the same way, that wake-up was 0.13 context
// switches and 6 us of the real servers' CPU per Connection: close request. A client
// that waits for the server to speak first costs one read that finds nothing.
//
// It reports whether c is still open. The sockets are not watched yet: whatever is
// left (more data, a FIN, the connect's completion) is reported when they are.
func (c *econn) early() bool {
	p := &c.p[0]
	buf := *p.buf
	r, e := rawsys.Read(c.cfd, buf)
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return true
	case e != 0:
		c.abort()
		return false
	case r == 0:
		p.eof = true
		return true
	}
	p.counter.Add(uint64(r))
	p.total.Add(uint64(r))
	p.n = r
	w, e := rawsys.Send(c.sfd, buf[:r], unix.MSG_NOSIGNAL)
	switch e {
	case 0:
		c.established()
		if p.off = w; p.off == p.n {
			p.off, p.n = 0, 0
		}
	case unix.EAGAIN, unix.EINTR:
		// Still connecting: pump sends it once the connect completes.
	default:
		// The connect failed (send reports the socket's error). Nothing reached the
		// real server, so the request may go to another one.
		c.connectFailed(e)
		return !c.closed
	}
	return true
}

//go:build linux

package userspace

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// engine moves the bytes of proxied TCP connections on Linux: a few epoll event loops
// (one per GOMAXPROCS) over non-blocking sockets that the Go runtime's poller never sees.
//
// Why not a goroutine per direction (tcp.go, the portable path): profiled against HAProxy
// (docs/benchmarks.md (Userspace data plane)) it spends about 1.5x HAProxy's CPU per connection on
// goroutine hand-offs (futex, spinning threads) and, per message, a read that fails with
// EAGAIN. The loop learns from EPOLLRDHUP whether a FIN came with the data, so after a
// short read it waits for the next edge instead of reading again, as HAProxy does.
type engine struct {
	loops []*loop
	next  atomic.Uint32
}

func newEngine() (*engine, error) {
	e := &engine{}
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

func (e *engine) loop() *loop {
	return e.loops[int(e.next.Add(1))%len(e.loops)]
}

// stop ends the loops; every connection must have ended first (Table.Shutdown drains or
// cuts them).
func (e *engine) stop() {
	for _, l := range e.loops {
		l.post(func() { l.stopped = true })
	}
	for _, l := range e.loops {
		<-l.done
		unix.Close(l.epfd)
		unix.Close(l.evfd)
	}
}

type loop struct {
	epfd, evfd int
	done       chan struct{}

	mu        sync.Mutex
	conns     map[int32]*econn   // by both of a connection's fds
	listeners map[int32]*service // listening sockets accepted on this loop
	cmds      []func()
	engine    *engine

	stopped    bool // loop-owned
	connecting atomic.Int32
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
	l := &loop{epfd: epfd, evfd: evfd, done: make(chan struct{}), conns: map[int32]*econn{}, listeners: map[int32]*service{}}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return l, nil
}

// post runs f on the loop's goroutine.
func (l *loop) post(f func()) {
	l.mu.Lock()
	l.cmds = append(l.cmds, f)
	l.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(l.evfd, one[:])
}

var connGen atomic.Int32

// watch registers fd for c, edge-triggered, tagged with c's generation so that an event
// for a closed fd whose number was reused cannot reach the new connection.
func (l *loop) watch(c *econn, fd int) error {
	l.mu.Lock()
	l.conns[int32(fd)] = c
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd), Pad: c.gen}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (l *loop) forget(fd int) {
	l.mu.Lock()
	delete(l.conns, int32(fd))
	l.mu.Unlock()
	unix.Close(fd)
}

func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var batch []*econn
	var lbatch []*service
	for {
		timeout := -1
		if l.connecting.Load() > 0 {
			timeout = 100 // ms: check connect deadlines
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			panic("userspace: epoll_wait: " + err.Error())
		}
		batch, lbatch = batch[:0], lbatch[:0]
		l.mu.Lock()
		cmds := l.cmds
		l.cmds = nil
		for i := range n {
			batch = append(batch, l.conns[events[i].Fd])
			lbatch = append(lbatch, l.listeners[events[i].Fd])
		}
		l.mu.Unlock()
		for i := range n {
			ev := events[i]
			if ev.Fd == int32(l.evfd) {
				var b [8]byte
				unix.Read(l.evfd, b[:])
				continue
			}
			if s := lbatch[i]; s != nil {
				s.accept(l.engine, int(ev.Fd))
				continue
			}
			if c := batch[i]; c != nil && c.gen == ev.Pad && !c.closed {
				c.handle(int(ev.Fd), ev.Events)
			}
		}
		for _, f := range cmds {
			f()
		}
		if l.connecting.Load() > 0 {
			l.checkDeadlines()
		}
		if l.stopped {
			return
		}
	}
}

func (l *loop) checkDeadlines() {
	now := time.Now()
	var late []*econn
	l.mu.Lock()
	for fd, c := range l.conns {
		if c.connecting && int(fd) == c.sfd && now.After(c.deadline) {
			late = append(late, c)
		}
	}
	l.mu.Unlock()
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
}

type epipe struct {
	buf     *[]byte
	off, n  int
	eof     bool
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
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.writable[i] = true
	}
	if !c.ready {
		if !c.connecting || i != 1 || ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			return // client data waits for the real server
		}
		soerr, err := unix.GetsockoptInt(c.sfd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			c.connectFailed(err)
			return
		}
		c.connecting = false
		c.ready = true
		c.l.connecting.Add(-1)
		c.s.reached(c.d)
		c.s.stats.conns.Add(1)
	}
	c.pump(0)
	if !c.closed {
		c.pump(1)
	}
}

// pump moves one direction as far as the sockets allow.
func (c *econn) pump(dir int) {
	p := &c.p[dir]
	src, dst := c.cfd, c.sfd
	if dir == 1 {
		src, dst = c.sfd, c.cfd
	}
	si, di := dir, 1-dir
	buf := *p.buf
	for {
		if p.off < p.n {
			if !c.writable[di] {
				return
			}
			w, err := unix.Write(dst, buf[p.off:p.n])
			switch {
			case err == unix.EAGAIN:
				c.writable[di] = false
				return
			case err == unix.EINTR:
				continue
			case err != nil:
				c.abort()
				return
			}
			p.off += w
			continue
		}
		p.off, p.n = 0, 0
		if p.eof {
			if !p.shut {
				p.shut = true
				if c.halves++; c.halves == 1 {
					c.s.halfClosed(c.d)
					unix.Shutdown(dst, unix.SHUT_WR)
				} else {
					c.finish() // close(2) sends the second FIN
				}
			}
			return
		}
		if !c.readable[si] {
			return
		}
		r, err := unix.Read(src, buf)
		switch {
		case err == unix.EAGAIN:
			c.readable[si] = false
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			c.abort()
			return
		case r == 0:
			p.eof = true
			continue
		}
		p.counter.Add(uint64(r))
		p.total.Add(uint64(r))
		p.n = r
		if r < len(buf) && !c.hup[si] {
			// Drained, and no FIN or error is pending (EPOLLRDHUP would have said so):
			// the next edge brings more. This is the read that net.Conn would spend on
			// EAGAIN.
			c.readable[si] = false
		}
	}
}

func (c *econn) connectFailed(err error) {
	s := c.s
	s.unreachable(c.d, err)
	c.l.connecting.Add(-1)
	c.connecting = false
	c.l.forget(c.sfd)
	c.sfd = -1
	s.release(c.d, c.tp, true, c)
	if !c.retried {
		c.retried = true
		if d, tp := s.pick(c.client, c.d, false, c); d != nil {
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
	s.wg.Done()
}

// connect starts a non-blocking connect to c.d; on an immediate error it accounts the
// failure itself (releasing c.d) and returns it.
func (c *econn) connect() error {
	fd, err := startConnect(c.d.target(c.s.key.Addr.Port()))
	if err != nil {
		c.s.unreachable(c.d, err)
		c.s.release(c.d, c.tp, true, c)
		return err
	}
	c.sfd = fd
	c.connecting = true
	c.deadline = time.Now().Add(c.s.t.dialTimeout)
	c.readable[1], c.hup[1], c.writable[1] = false, false, false
	c.l.connecting.Add(1)
	if err := c.l.watch(c, fd); err != nil {
		c.l.connecting.Add(-1)
		c.connecting = false
		c.l.forget(fd)
		c.s.release(c.d, c.tp, true, c)
		return err
	}
	return nil
}

func startConnect(to netip.AddrPort) (int, error) {
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if a := to.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tune(fd)
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// tune sets what net.TCPConn would: TCP_NODELAY, and keep-alive with the system's timers.
func tune(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
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
	c.s.wg.Done()
}

// abort resets both sides: an error on either socket, or a forced shutdown.
func (c *econn) abort() {
	c.closed = true
	wasActive := c.halves == 0 // pick counted it active; the first finished direction moved it
	if c.connecting {
		c.l.connecting.Add(-1)
	}
	resetFD(c.cfd)
	c.l.forget(c.cfd)
	if c.sfd >= 0 {
		resetFD(c.sfd)
		c.l.forget(c.sfd)
	}
	c.freeBufs()
	c.s.release(c.d, c.tp, wasActive, c)
	c.s.wg.Done()
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
// RawConn cannot wait for readability) and accepts on one of the loops.
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
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listen tcp %s: bind: %w", a, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listen tcp %s: %w", a, err)
	}
	l := e.loop()
	s.mu.Lock()
	s.lfd, s.lloop = fd, l
	s.mu.Unlock()
	s.wg.Add(1)
	l.mu.Lock()
	l.listeners[int32(fd)] = s
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.listeners, int32(fd))
		l.mu.Unlock()
		unix.Close(fd)
		s.wg.Done()
		return fmt.Errorf("listen tcp %s: epoll: %w", a, err)
	}
	return nil
}

// closeListener closes the listening socket on its loop and waits, so that the address
// is free when DeleteService returns.
func (s *service) closeListener() {
	s.mu.Lock()
	l, fd := s.lloop, s.lfd
	s.lloop = nil
	s.mu.Unlock()
	if l == nil {
		return
	}
	done := make(chan struct{})
	l.post(func() {
		l.mu.Lock()
		delete(l.listeners, int32(fd))
		l.mu.Unlock()
		unix.Close(fd)
		s.wg.Done()
		close(done)
	})
	<-done
}

// accept takes every pending connection (level-triggered: one accept4 that fails with
// EAGAIN per wake-up is the price of not starving other sockets).
func (s *service) accept(e *engine, lfd int) {
	for range 64 {
		fd, sa, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err != nil:
			// EMFILE and friends: leave the connection in the backlog; the
			// level-triggered listener wakes us again.
			s.t.log.Warn("accept failed", "service", s.key.String(), "err", err)
			return
		}
		s.wg.Add(1)
		s.startConn(e, fd, sa)
	}
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

func (s *service) startConn(e *engine, fd int, sa unix.Sockaddr) {
	tune(fd)
	l := e.loop()
	c := &econn{l: l, s: s, client: sockaddrAddrPort(sa), gen: connGen.Add(1), cfd: fd, sfd: -1}
	c.p[0].total, c.p[1].total = &s.stats.inBytes, &s.stats.outBytes
	d, tp := s.pick(c.client, nil, false, c)
	if d == nil {
		resetFD(fd)
		unix.Close(fd)
		s.wg.Done()
		return
	}
	c.d, c.tp = d, tp
	c.p[0].counter, c.p[1].counter = &d.stats.inBytes, &d.stats.outBytes
	// Connect here, on the accepting thread, retrying once on an immediate failure; only
	// then does the loop get the connection (no cross-thread post per connection).
	for try := 0; ; try++ {
		fd, err := startConnect(d.target(s.key.Addr.Port()))
		if err == nil {
			c.sfd = fd
			break
		}
		s.unreachable(d, err)
		s.release(d, tp, true, c)
		if try == 1 {
			d = nil
		} else {
			c.retried = true
			d, tp = s.pick(c.client, d, false, c)
		}
		if d == nil {
			resetFD(c.cfd)
			unix.Close(c.cfd)
			s.wg.Done()
			return
		}
		c.d, c.tp = d, tp
		c.p[0].counter, c.p[1].counter = &d.stats.inBytes, &d.stats.outBytes
	}
	c.p[0].buf, c.p[1].buf = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	c.connecting = true
	c.deadline = time.Now().Add(s.t.dialTimeout)
	l.connecting.Add(1)
	// From the first watch on, the loop owns c. A forced shutdown racing this setup can
	// only make the second watch fail on a closed socket, which changes nothing.
	if err := l.watch(c, c.sfd); err != nil {
		l.post(func() {
			if !c.closed {
				c.abort()
			}
		})
		return
	}
	l.watch(c, c.cfd)
}

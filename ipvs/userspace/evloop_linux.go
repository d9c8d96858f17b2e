//go:build linux

package userspace

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/rawsys"
)

// epollCarrier carries TCP on edge-triggered epoll loops (one per GOMAXPROCS), where
// io_uring is not available (uloop_linux.go). A loop learns from EPOLLRDHUP whether a
// FIN came with the data, so after a short read it waits for the next edge instead of
// reading again, as HAProxy does.
type epollCarrier struct{ loopSet[*loop] }

func startEpoll(env carrierEnv) (carrier, error) {
	c := &epollCarrier{loopSet[*loop]{env: env}}
	err := c.start(runtime.GOMAXPROCS(0), func() (*loop, error) {
		l, err := newLoop(c)
		if err == nil {
			go l.run()
		}
		return l, err
	}, (*loop).closePoller)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *epollCarrier) String() string { return fmt.Sprintf("%d epoll event loops", len(c.loops)) }

func (c *epollCarrier) stop() { c.loopSet.stop((*loop).closePoller) }

// halt asks l to stop, and returns what closes when it has.
func (l *loop) halt() <-chan struct{} {
	l.post(func() { l.stopped = true })
	return l.done
}

func (l *loop) closePoller() { l.p.Close() }

type loop struct {
	cmdQueue
	c    *epollCarrier
	p    *rawsys.Poller
	done chan struct{}

	mu        sync.Mutex
	listeners map[int32]*loopListener // listening sockets this loop accepts on

	// Loop-owned.
	conns      []*econn // by both of a connection's fds
	connecting int      // connects in flight
	checked    time.Time
	stopped    bool

	// load is the number of connections this loop owns or has been handed and not yet
	// started; other loops read it to balance what they accept.
	load atomic.Int32
}

func newLoop(c *epollCarrier) (*loop, error) {
	p, err := rawsys.NewPoller("userspace-epoll")
	if err != nil {
		return nil, err
	}
	return &loop{cmdQueue: cmdQueue{wake: p.Wake}, c: c, p: p, done: make(chan struct{}), listeners: map[int32]*loopListener{}}, nil
}

// watch registers fd for c, edge-triggered, tagged with c's generation so that an event
// for a closed fd whose number was reused cannot reach the new connection.
func (l *loop) watch(c *econn, fd int) error {
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*econn, max(64, len(l.conns)))...)
	}
	l.conns[fd] = c
	if e := l.p.Add(fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, c.gen); e != 0 {
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

// run processes events until the loop is stopped, or dies of an error of its wait.
// Whatever is ready is taken with a zero-timeout epoll_wait; only when nothing is does
// the goroutine park in the Go poller on the epoll descriptor (rawsys.Poller).
func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var deadline time.Time // set while a connect is in flight: when to check deadlines
	for !l.stopped {
		if l.connecting > 0 && deadline.IsZero() {
			deadline = time.Now().Add(connectCheck)
		}
		n, woke, err := l.p.Wait(events, deadline)
		if e := l.c.env.faulted("epoll_pwait"); e != 0 {
			err = os.NewSyscallError("epoll_pwait", e)
		}
		if err != nil {
			l.die(fmt.Errorf("epoll event loop: %w", err))
			return
		}
		if woke {
			l.runCmds()
		}
		if n == 0 && !woke {
			deadline = time.Time{}
			l.checked = time.Now()
			l.checkDeadlines(l.checked)
			continue
		}
		l.dispatch(events[:n])
	}
}

// die ends a loop that cannot wait for events any more: its connections are reset (no
// one would move their bytes), it accepts no more, what is posted to it from now on runs
// at once (cmdQueue.die), and its carrier reports the error. Its epoll descriptor stays
// open until the carrier stops, so that no descriptor number it held is reused under it.
func (l *loop) die(err error) {
	for _, c := range l.conns {
		if c != nil && !c.closed {
			c.abort()
		}
	}
	l.mu.Lock()
	for _, ln := range l.listeners {
		ln.stopPause()
	}
	clear(l.listeners)
	l.mu.Unlock()
	l.load.Store(deadLoad)
	l.cmdQueue.die()
	l.c.report(l.c, err)
}

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
		l.mu.Lock()
		ln := l.listeners[ev.Fd]
		l.mu.Unlock()
		if ln != nil {
			l.accept(ln, fd)
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
	l   *loop
	f   *tcpFlow
	gen int32

	cfd, sfd   int
	ready      bool // connected to the real server
	connecting bool // a connect is in flight on sfd (counted in loop.connecting)
	deadline   time.Time
	closed     bool

	p [2]epipe
	// Readiness learnt from edges: [0] client socket, [1] real server socket.
	readable, hup, writable [2]bool
	// fin: the peer's FIN was in (EPOLLRDHUP or EPOLLHUP without EPOLLERR), so a read
	// that does not fill the buffer has reached the end of the stream.
	fin [2]bool
}

type epipe struct {
	buf    *[]byte
	off, n int
	eof    bool
	rerr   unix.Errno // a read error, pending until the data read before it is written
	shut   bool
}

func (c *econn) cut() {
	c.l.post(func() {
		if !c.closed {
			c.abort()
		}
	})
}

// count counts n bytes read in direction dir.
func (c *econn) count(dir, n int) {
	if dir == 0 {
		c.f.in(n)
	} else {
		c.f.out(n)
	}
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
	c.f.connected()
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
				c.count(dir, r)
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
			if !c.f.ended() {
				rawsys.Shutdown(dst, unix.SHUT_WR)
			} else {
				c.finish() // close(2) sends the second FIN
			}
		}
		return
	}
}

// connectFailed handles a connect that failed after it started: the flow names another
// real server to try, or the connection is over and the client is reset.
func (c *econn) connectFailed(err error) {
	c.l.connecting--
	c.connecting = false
	c.l.forget(c.sfd)
	c.sfd = -1
	if to, ok := c.f.failed(err, c.p[0].n); ok && c.connect(to) {
		if c.l.watch(c, c.sfd) != nil {
			c.abort()
		}
		return
	}
	c.closed = true
	resetFD(c.cfd)
	c.l.forget(c.cfd)
	c.freeBufs()
	c.l.ended(c.f.s)
}

// connect starts a non-blocking connect to to, moving on to the real server the flow
// names next while connect(2) fails at once. false: none is left, the flow is over.
// The caller watches the new socket.
func (c *econn) connect(to netip.AddrPort) bool {
	fd, ok := connectFlow(c.f, to, c.p[0].n)
	if !ok {
		return false
	}
	c.sfd, c.connecting = fd, true
	c.deadline = time.Now().Add(c.f.dialTimeout())
	c.readable[1], c.hup[1], c.writable[1], c.fin[1] = false, false, false, false
	c.l.connecting++
	return true
}

// finish closes a connection both of whose directions ended.
func (c *econn) finish() {
	c.closed = true
	c.l.forget(c.cfd)
	c.l.forget(c.sfd)
	c.freeBufs()
	c.f.closed()
	c.l.ended(c.f.s)
}

// abort resets both sides: an error on either socket, or a forced shutdown.
func (c *econn) abort() {
	c.closed = true
	if c.connecting {
		c.connecting = false
		c.l.connecting--
	}
	resetFD(c.cfd)
	c.l.forget(c.cfd)
	if c.sfd >= 0 {
		resetFD(c.sfd)
		c.l.forget(c.sfd)
	}
	c.freeBufs()
	c.f.closed()
	c.l.ended(c.f.s)
}

func (c *econn) freeBufs() {
	for i := range c.p {
		if c.p[i].buf != nil {
			bufPool.Put(c.p[i].buf)
			c.p[i].buf = nil
		}
	}
}

// epollListener is a service's listening socket, watched by every loop.
type epollListener struct {
	c  *epollCarrier
	s  *service
	fd int
}

func (c *epollCarrier) listen(s *service) (listener, error) {
	fd, err := openListener(s.key.Addr, &c.env)
	if err != nil {
		return nil, err
	}
	for i, l := range c.loops {
		l.mu.Lock()
		l.listeners[int32(fd)] = &loopListener{s: s}
		l.mu.Unlock()
		if e := l.p.Add(fd, unix.EPOLLIN, 0); e != 0 {
			for _, l := range c.loops[:i+1] {
				l.mu.Lock()
				delete(l.listeners, int32(fd))
				l.mu.Unlock()
			}
			unix.Close(fd) // also leaves the epoll sets it joined
			return nil, fmt.Errorf("listen tcp %s: %w", s.key.Addr, os.NewSyscallError("epoll_ctl", e))
		}
	}
	s.wg.Add(1)
	return &epollListener{c: c, s: s, fd: fd}, nil
}

// close takes the listening socket out of every loop, then closes it, so that no loop
// accepts on it any more and the address is free when it returns.
func (ln *epollListener) close() {
	fd := ln.fd
	onEveryLoop(ln.c.loops, func(l *loop) {
		l.mu.Lock()
		lln := l.listeners[int32(fd)]
		delete(l.listeners, int32(fd))
		l.mu.Unlock()
		switch {
		case lln == nil:
		case lln.resume != nil:
			lln.stopPause() // out of the epoll set already
		default:
			l.p.Del(fd)
		}
	})
	closeListened(ln.c.loops, fd, ln.s)
}

// acceptBatch bounds the connections one loop takes per wake-up, so that a burst is
// shared with the other loops (the listener is level-triggered: the rest wake another).
const acceptBatch = 16

// loopListener is what a loop keeps of a listening socket it accepts on. Its fields
// other than s are loop-owned.
type loopListener struct {
	s       *service
	backoff acceptBackoff
	// resume is pending while accepts are paused (pause): the socket is out of the
	// loop's epoll set until it runs. It holds s.wg, so that the table waits for it
	// before it stops the loop.
	resume clock.Stopper
}

// accept takes pending connections of the listening socket lfd.
func (l *loop) accept(ln *loopListener, lfd int) {
	s := ln.s
	for range acceptBatch {
		fd, client, e := rawsys.Accept(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch e {
		case 0:
			ln.backoff.accepted()
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		default:
			// EMFILE and friends: the connection stays in the backlog, and the
			// level-triggered listener would wake the loop again at once.
			l.pause(ln, lfd, os.NewSyscallError("accept4", e))
			return
		}
		s.wg.Add(1)
		to := spread(l.c.loops, l)
		to.load.Add(1)
		if to == l {
			l.startConn(s, fd, client)
		} else {
			to.post(func() { to.startConn(s, fd, client) })
		}
	}
}

// pause takes the listening socket lfd out of the loop's epoll set for the pause its
// back-off gives after err (acceptbackoff.go), and puts it back when the pause is over.
// The other loops go on accepting on it until they fail too.
func (l *loop) pause(ln *loopListener, lfd int, err error) {
	s := ln.s
	d := s.acceptFailed(&ln.backoff, err)
	l.p.Del(lfd)
	s.wg.Add(1)
	ln.resume = s.t.clock.AfterFunc(d, func() {
		l.post(func() {
			defer s.wg.Done()
			l.resumeAccepts(ln, lfd)
		})
	})
}

// resumeAccepts ends ln's pause, unless the listener went meanwhile (closed, or the
// loop died; a socket opened since may have the same number).
func (l *loop) resumeAccepts(ln *loopListener, lfd int) {
	l.mu.Lock()
	current := l.listeners[int32(lfd)] == ln
	l.mu.Unlock()
	if !current || ln.resume == nil {
		return
	}
	ln.resume = nil
	// Level-triggered: a connection that waited in the backlog wakes the loop at once.
	if e := l.p.Add(lfd, unix.EPOLLIN, 0); e != 0 {
		l.pause(ln, lfd, os.NewSyscallError("epoll_ctl", e))
	}
}

// stopPause cancels a pending resume, on the loop (the listener closes, or the loop
// dies). A resume that has fired already finds the listener gone.
func (ln *loopListener) stopPause() {
	if ln.resume != nil && ln.resume.Stop() {
		ln.s.wg.Done()
	}
	ln.resume = nil
}

func (l *loop) loadCount() *atomic.Int32 { return &l.load }

// ended accounts for the end of a connection l owned.
func (l *loop) ended(s *service) {
	l.load.Add(-1)
	s.wg.Done()
}

// startConn carries a connection accepted from client: it connects to the real server
// the service picks, forwarding what the client has sent already (early), and watches
// both sockets.
func (l *loop) startConn(s *service, fd int, client netip.AddrPort) {
	if l.isDead() {
		resetClose(fd)
		l.ended(s)
		return
	}
	c := &econn{l: l, gen: connGen.Add(1), cfd: fd, sfd: -1}
	f, to, ok := s.openTCP(client, c)
	if c.f = f; !ok || !c.connect(to) {
		resetClose(fd)
		l.ended(s)
		return
	}
	c.p[0].buf, c.p[1].buf = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
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
	c.f.in(r)
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

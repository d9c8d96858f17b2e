//go:build linux

package userspace

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/rawsys"
)

// uloop is an event loop over io_uring: the same job as loop (epoll), with the reads
// and writes of every connection it owns submitted together and their results reaped
// together, so that one io_uring_enter carries what took a system call each.
//
// A system call costs about 1 us on the virtual machines vigil is benchmarked on (a
// getppid loop: 1.03-1.08 us), where an epoll loop spends 4 to 5 of them on every
// proxied request: a read and a write in each direction, and its share of epoll_wait.
//
// Each direction of a connection is one chain at a time: a recv into the direction's
// buffer; when it completes, a send of what it read linked to the next recv, so the
// kernel starts the recv only once the send has gone out, and the buffer is free again.
// The send posts a completion only if it fails (CQE_SKIP_SUCCESS), and it sends
// everything or fails (MSG_WAITALL), so each message costs one completion and no system
// call of its own.
//
// With SINGLE_ISSUER and DEFER_TASKRUN the ring belongs to one thread, and the kernel
// does the work of completions (the recv that data made possible) only when that thread
// enters the ring: the loop locks its goroutine to the thread, and the ring's work runs
// in the loop's time instead of interrupting whatever the thread runs next.
type uloop struct {
	cmdQueue
	r    *rawsys.Ring
	c    *ringCarrier
	evfd int // the eventfd the ring reads, to wake the loop
	done chan struct{}

	// Loop-owned.
	wakeBuf    [8]byte
	listeners  []*ulistener // by slot; nil once gone
	conns      []*uconn     // by slot
	free       []int32      // free slots in conns
	gen        uint32
	connecting int
	checked    time.Time
	stopped    bool

	// load is the number of connections this loop owns or has been handed and not yet
	// started; other loops read it to balance what they accept.
	load atomic.Int32
}

// User data of a submission: what it is (uop*), the slot of its connection or
// listener, and a generation that tells a slot's current owner from an earlier one.
const (
	uopIgnore = iota // results nobody waits for: a failed close, shutdown or cancel
	uopWake          // the read of the loop's eventfd
	uopAccept        // gen holds the index of the accept's address buffer
	uopRecv0         // client to real server
	uopRecv1         // real server to client
	uopSend0
	uopSend1
	uopConnect // the poll for a connect's completion
)

func userData(op uint8, slot int32, gen uint32) uint64 {
	return uint64(op) | uint64(slot)<<8 | uint64(gen)<<32
}

// acceptDepth is how many accepts each loop keeps in flight on each listening socket.
const acceptDepth = 4

type ulistener struct {
	fd      int
	s       *service
	slot    int32
	addrs   [acceptDepth]acceptAddr
	pending int    // accepts in flight
	closing bool   // being taken out: accepts cancelled, none re-armed
	gone    func() // called once closing and no accept is in flight

	// After a failed accept the listener pauses (acceptbackoff.go): the accepts that
	// fail are parked (by index, a bit each) instead of re-armed, and resume, pending
	// while the pause lasts, re-arms one of them. The first that succeeds re-arms the
	// rest. resume holds s.wg, so that the table waits for it before it stops the loop.
	backoff acceptBackoff
	parked  uint32
	resume  clock.Stopper
}

type acceptAddr struct {
	rsa unix.RawSockaddrAny
	n   uint32
}

// ringCarrier carries TCP on io_uring loops.
type ringCarrier struct{ loopSet[*uloop] }

// startRing starts a uloop per GOMAXPROCS, at most one per CPU, or none. GOMAXPROCS
// above the CPU count leaves a P for the process's other goroutines, and the runtime then
// lets a loop blocked in io_uring_enter keep its P instead of taking it back after 20 us
// (docs/benchmarks.md, userspace round 5: fewer context switches with Connection: close).
func startRing(env carrierEnv) (carrier, error) {
	c := &ringCarrier{loopSet[*uloop]{env: env}}
	n := min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	if err := c.start(n, func() (*uloop, error) { return newULoop(c) }, (*uloop).release); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ringCarrier) String() string { return fmt.Sprintf("%d io_uring event loops", len(c.loops)) }

func (c *ringCarrier) stop() { c.loopSet.stop((*uloop).release) }

// halt asks l to stop, and returns what closes when it has.
func (l *uloop) halt() <-chan struct{} {
	l.post(func() { l.stopped = true })
	return l.done
}

// release frees what a stopped loop still holds.
func (l *uloop) release() { unix.Close(l.evfd) }

// setupRing sets up a loop's ring: for its thread only, the kernel's work for
// completions deferred to the loop's own calls. Tests replace it to see the fallback to
// epoll.
var setupRing = func(entries, cqEntries uint32) (*rawsys.Ring, error) {
	return rawsys.NewRing(entries, cqEntries, rawsys.SetupCoopTaskrun|rawsys.SetupSingleIssuer|rawsys.SetupDeferTaskrun)
}

// newULoop starts a loop on its own locked thread; it fails if the kernel refuses the
// ring (no io_uring, disabled by sysctl or seccomp, or too old for DEFER_TASKRUN).
func newULoop(c *ringCarrier) (*uloop, error) {
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking: the ring's read waits on it
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &uloop{c: c, evfd: evfd, done: make(chan struct{})}
	l.cmdQueue.wake = l.wake
	started := make(chan error, 1)
	go l.run(started)
	if err := <-started; err != nil {
		unix.Close(evfd)
		return nil, err
	}
	return l, nil
}

// wake makes the ring's read of the eventfd complete.
func (l *uloop) wake() {
	one := [8]byte{1}
	unix.Write(l.evfd, one[:])
}

func (l *uloop) run(started chan<- error) {
	defer close(l.done)
	// The ring is this thread's (SINGLE_ISSUER); the thread ends with the goroutine.
	runtime.LockOSThread()
	r, err := setupRing(1024, 8192)
	if err != nil {
		started <- err
		return
	}
	r.Fault = l.c.env.fault
	l.r = r
	l.armWake()
	started <- nil
	for !l.stopped {
		var timeout int64
		if l.connecting > 0 {
			timeout = int64(connectCheck)
		}
		r.Enter(true, timeout)
		r.Reap(l.dispatch)
		if r.Err() != nil {
			l.die(fmt.Errorf("io_uring event loop: %w", r.Err()))
			return
		}
		if l.connecting > 0 {
			if now := time.Now(); now.Sub(l.checked) >= connectCheck {
				l.checked = now
				l.checkDeadlines(now)
			}
		}
	}
	// Every connection and listener is gone (ringCarrier.stop); closing the ring
	// cancels the eventfd's read.
	r.Close()
}

// die ends a loop whose ring failed: its connections are reset (no one would move their
// bytes), it accepts no more, what is posted to it from now on runs at once
// (cmdQueue.die), its ring is closed, and its carrier reports the error. Closing the
// ring makes the kernel cancel the requests still in flight (a thread's exit does not
// cancel its accepts and receives); until it has, they may name the connections'
// buffers and the listeners' address slots, which the loop keeps.
func (l *uloop) die(err error) {
	for _, c := range l.conns {
		if c != nil && !c.released {
			c.drop()
		}
	}
	// What accepts completed since the last pass were never carried.
	l.r.Reap(func(e *rawsys.CQE) {
		if uint8(e.UserData) == uopAccept && e.Res >= 0 {
			resetClose(int(e.Res))
		}
	})
	l.r.Close()
	for _, ln := range l.listeners {
		if ln != nil {
			ln.stopPause()
		}
	}
	l.load.Store(deadLoad)
	l.cmdQueue.die()
	l.c.report(l.c, err)
}

func (l *uloop) armWake() {
	s := l.r.Get()
	s.Opcode = rawsys.OpRead
	s.Fd = int32(l.evfd)
	s.Addr = uint64(uintptr(unsafe.Pointer(&l.wakeBuf)))
	s.Len = 8
	s.Off = ^uint64(0)
	s.UserData = userData(uopWake, 0, 0)
}

func (l *uloop) dispatch(e *rawsys.CQE) {
	op, slot, gen := uint8(e.UserData), int32(uint32(e.UserData)>>8), uint32(e.UserData>>32)
	switch op {
	case uopIgnore:
		return
	case uopWake:
		l.runCmds()
		if !l.stopped {
			l.armWake()
		}
		return
	case uopAccept:
		l.accepted(l.listeners[slot], int(gen), e.Res)
		return
	}
	c := l.conns[slot]
	if c == nil || c.gen != gen {
		return
	}
	if op != uopSend0 && op != uopSend1 {
		c.inflight--
	}
	switch op {
	case uopRecv0, uopRecv1:
		c.received(int(op-uopRecv0), e.Res, e.Flags)
	case uopSend0, uopSend1:
		c.sendFailed(e.Res)
	case uopConnect:
		c.connectDone(e.Res)
	}
	if c.closing && c.inflight == 0 && !c.released {
		c.release()
	}
}

func (l *uloop) checkDeadlines(now time.Time) {
	for _, c := range l.conns {
		if c != nil && c.connecting && !c.timedOut && now.After(c.deadline) {
			c.timedOut = true
			l.cancel(userData(uopConnect, c.slot, c.gen))
		}
	}
}

// cancel cancels the request with user data ud.
func (l *uloop) cancel(ud uint64) {
	s := l.r.Get()
	s.Opcode = rawsys.OpAsyncCancel
	s.Fd = -1
	s.Addr = ud
	s.Flags = rawsys.SQECQESkipSuccess
	s.UserData = userData(uopIgnore, 0, 0)
}

// cancelFD cancels every request on fd.
func (l *uloop) cancelFD(fd int) {
	s := l.r.Get()
	s.Opcode = rawsys.OpAsyncCancel
	s.Fd = int32(fd)
	s.OpFlags = rawsys.AsyncCancelAll | rawsys.AsyncCancelFD
	s.Flags = rawsys.SQECQESkipSuccess
	s.UserData = userData(uopIgnore, 0, 0)
}

// closeFD closes fd in the next submission.
func (l *uloop) closeFD(fd int) {
	s := l.r.Get()
	s.Opcode = rawsys.OpClose
	s.Fd = int32(fd)
	s.Flags = rawsys.SQECQESkipSuccess
	s.UserData = userData(uopIgnore, 0, 0)
}

// ---- Listening sockets ----

func (l *uloop) addListener(fd int, s *service) {
	if l.isDead() {
		return
	}
	ln := &ulistener{fd: fd, s: s, slot: int32(len(l.listeners))}
	for i, li := range l.listeners {
		if li == nil {
			ln.slot = int32(i)
			break
		}
	}
	if int(ln.slot) == len(l.listeners) {
		l.listeners = append(l.listeners, ln)
	} else {
		l.listeners[ln.slot] = ln
	}
	for i := range acceptDepth {
		l.armAccept(ln, i)
	}
}

func (l *uloop) armAccept(ln *ulistener, i int) {
	a := &ln.addrs[i]
	a.n = uint32(unix.SizeofSockaddrAny)
	s := l.r.Get()
	s.Opcode = rawsys.OpAccept
	s.Fd = int32(ln.fd)
	s.Addr = uint64(uintptr(unsafe.Pointer(&a.rsa)))
	s.Off = uint64(uintptr(unsafe.Pointer(&a.n)))
	s.OpFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	s.UserData = userData(uopAccept, ln.slot, uint32(i))
	ln.pending++
}

// removeListener stops accepting on fd and calls gone once no accept is in flight: a
// pending accept holds the socket open, and with it the address.
func (l *uloop) removeListener(fd int, gone func()) {
	if l.isDead() {
		gone() // the ring is not entered again; its thread's exit cancels the accepts
		return
	}
	for _, ln := range l.listeners {
		if ln != nil && ln.fd == fd && !ln.closing {
			ln.closing, ln.gone = true, gone
			ln.stopPause()
			if ln.pending == 0 { // every accept parked
				l.listeners[ln.slot] = nil
				gone()
				return
			}
			l.cancelFD(fd)
			return
		}
	}
	gone()
}

// pause parks accept i of ln after it failed with err, and, unless ln is paused
// already, starts a pause of the length its back-off gives.
func (l *uloop) pause(ln *ulistener, i int, err error) {
	ln.parked |= 1 << i
	if ln.resume != nil {
		return // in flight when the first failed: it waits for the same resume
	}
	s := ln.s
	d := s.acceptFailed(&ln.backoff, err)
	s.wg.Add(1)
	ln.resume = s.t.clock.AfterFunc(d, func() {
		l.post(func() {
			defer s.wg.Done()
			l.resumeAccepts(ln)
		})
	})
}

// resumeAccepts ends ln's pause with one accept: the others wait for it to succeed,
// so that a listener whose accepts still fail fails once per pause.
func (l *uloop) resumeAccepts(ln *ulistener) {
	if ln.closing || ln.resume == nil || l.isDead() {
		return
	}
	ln.resume = nil
	for i := range acceptDepth {
		if ln.parked&(1<<i) != 0 {
			ln.parked &^= 1 << i
			l.armAccept(ln, i)
			return
		}
	}
}

// stopPause cancels a pending resume, on the loop (the listener closes, or the loop
// dies). A resume that has fired already finds the listener closing.
func (ln *ulistener) stopPause() {
	if ln.resume != nil && ln.resume.Stop() {
		ln.s.wg.Done()
	}
	ln.resume = nil
}

func (l *uloop) accepted(ln *ulistener, i int, res int32) {
	ln.pending--
	if ln.closing {
		if res >= 0 {
			resetClose(int(res)) // accepted as the listener went: as if still in its backlog
		}
		if ln.pending == 0 {
			l.listeners[ln.slot] = nil
			ln.gone()
		}
		return
	}
	if res < 0 {
		switch e := unix.Errno(-res); e {
		case unix.EINTR, unix.ECONNABORTED, unix.EAGAIN:
			l.armAccept(ln, i)
		default:
			// EMFILE and friends: the connection stays in the backlog, and an accept
			// re-armed now would fail again at once.
			l.pause(ln, i, os.NewSyscallError("accept", e))
		}
		return
	}
	client := rawsys.AddrPort(&ln.addrs[i].rsa)
	l.armAccept(ln, i)
	ln.backoff.accepted()
	if ln.parked != 0 {
		ln.stopPause() // an accept in flight when another failed came back with a connection
		for j := range acceptDepth {
			if ln.parked&(1<<j) != 0 {
				l.armAccept(ln, j)
			}
		}
		ln.parked = 0
	}
	s, fd := ln.s, int(res)
	s.wg.Add(1)
	to := spread(l.c.loops, l)
	to.load.Add(1)
	if to == l {
		l.startConn(s, fd, client)
	} else {
		to.post(func() { to.startConn(s, fd, client) })
	}
}

func (l *uloop) loadCount() *atomic.Int32 { return &l.load }

// ringListener is a service's listening socket, with accepts in flight on every loop.
type ringListener struct {
	c  *ringCarrier
	s  *service
	fd int
}

func (c *ringCarrier) listen(s *service) (listener, error) {
	fd, err := openListener(s.key.Addr, &c.env)
	if err != nil {
		return nil, err
	}
	onEveryLoop(c.loops, func(l *uloop) { l.addListener(fd, s) })
	s.wg.Add(1)
	return &ringListener{c: c, s: s, fd: fd}, nil
}

// close stops every loop accepting on the listening socket, then closes it: an accept
// in flight holds the socket, and its address, after close(2), so each loop cancels its
// accepts and says done once they are back.
func (ln *ringListener) close() {
	fd := ln.fd
	onEveryLoopAsync(ln.c.loops, func(l *uloop, done func()) { l.removeListener(fd, done) })
	closeListened(ln.c.loops, fd, ln.s)
}

// ended accounts for the end of a connection l owned.
func (l *uloop) ended(s *service) {
	l.load.Add(-1)
	s.wg.Done()
}

// ---- Connections ----

// uconn is one proxied connection owned by a uloop. p[0] is client to real server,
// p[1] real server to client.
type uconn struct {
	l    *uloop
	f    *tcpFlow
	slot int32
	gen  uint32

	cfd, sfd   int
	ready      bool // connected to the real server
	connecting bool // counted in l.connecting
	timedOut   bool // the connect's poll was cancelled at its deadline
	deadline   time.Time
	closing    bool // accounted for; waiting for its requests to come back
	released   bool // sockets closed, slot and buffers freed
	reset      bool // close with a reset
	inflight   int  // requests whose completion has not been reaped

	p [2]upipe
}

type upipe struct {
	buf *[]byte
	n   int  // read and held: the real server is not connected yet
	eof bool // the source's stream ended
}

func (c *uconn) cut() {
	c.l.post(func() {
		if !c.closing {
			c.abort()
		}
	})
}

// startConn carries a connection accepted from client: it connects to the real server
// the service picks and reads what the client sends.
func (l *uloop) startConn(s *service, fd int, client netip.AddrPort) {
	if l.isDead() {
		resetClose(fd)
		l.ended(s)
		return
	}
	c := &uconn{l: l, cfd: fd, sfd: -1}
	f, to, ok := s.openTCP(client, c)
	if !ok {
		resetClose(fd)
		l.ended(s)
		return
	}
	c.f = f
	if len(l.free) == 0 {
		l.free = append(l.free, int32(len(l.conns)))
		l.conns = append(l.conns, nil)
	}
	c.slot = l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	l.gen++
	c.gen = l.gen
	l.conns[c.slot] = c
	c.p[0].buf, c.p[1].buf = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	if !c.connect(to) {
		c.reset = true
		c.teardown()
		return
	}
	// The client's request is usually queued by now: this recv completes as it is
	// submitted, in the same pass as the connect's completion on loopback or a LAN.
	c.recv(0, false)
}

// connect starts a non-blocking connect to to and waits for its completion in the ring,
// moving on to the real server the flow names next while connect(2) fails at once.
// false: none is left, the flow is over.
func (c *uconn) connect(to netip.AddrPort) bool {
	fd, ok := connectFlow(c.f, to, c.p[0].n)
	if !ok {
		return false
	}
	c.sfd, c.connecting, c.timedOut = fd, true, false
	c.deadline = time.Now().Add(c.f.dialTimeout())
	c.l.connecting++
	s := c.l.r.Get()
	s.Opcode = rawsys.OpPollAdd
	s.Fd = int32(c.sfd)
	s.OpFlags = unix.POLLOUT
	s.UserData = userData(uopConnect, c.slot, c.gen)
	c.inflight++
	return true
}

func (c *uconn) connectDone(res int32) {
	if c.closing {
		return
	}
	c.connecting = false
	c.l.connecting--
	var err error
	switch {
	case res == -int32(unix.ECANCELED) && c.timedOut:
		err = unix.ETIMEDOUT
	case res < 0:
		err = unix.Errno(-res)
	case res&(unix.POLLERR|unix.POLLHUP) != 0:
		soerr, gerr := unix.GetsockoptInt(c.sfd, unix.SOL_SOCKET, unix.SO_ERROR)
		err = unix.ECONNRESET
		if gerr == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
	}
	if err != nil {
		c.connectFailed(err)
		return
	}
	c.ready = true
	c.f.connected()
	p := &c.p[0]
	c.recv(1, p.n > 0) // a response cannot come before the request
	switch {
	case p.n > 0:
		c.forward(0)
	case p.eof:
		c.ended(0)
	}
}

// connectFailed handles a connect that failed after it started: the flow names another
// real server to try, or the connection is over and the client is reset.
func (c *uconn) connectFailed(err error) {
	rawsys.Close(c.sfd) // its only request (the poll) is back
	c.sfd = -1
	if to, ok := c.f.failed(err, c.p[0].n); ok && c.connect(to) {
		return
	}
	c.reset = true
	c.teardown()
}

// recv reads the next message of direction dir. pollFirst skips the attempt at
// submission when no data can be there yet.
func (c *uconn) recv(dir int, pollFirst bool) {
	src := c.cfd
	if dir == 1 {
		src = c.sfd
	}
	buf := *c.p[dir].buf
	s := c.l.r.Get()
	c.fillRecv(s, dir, src, buf, pollFirst)
}

func (c *uconn) fillRecv(s *rawsys.SQE, dir, fd int, buf []byte, pollFirst bool) {
	s.Opcode = rawsys.OpRecv
	s.Fd = int32(fd)
	s.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	s.Len = uint32(len(buf))
	if pollFirst {
		s.Ioprio = rawsys.RecvSendPollFirst
	}
	s.UserData = userData(uopRecv0+uint8(dir), c.slot, c.gen)
	c.inflight++
}

// forward sends what direction dir holds, and reads on once it is sent.
func (c *uconn) forward(dir int) {
	src, dst := c.cfd, c.sfd
	if dir == 1 {
		src, dst = c.sfd, c.cfd
	}
	p := &c.p[dir]
	buf := *p.buf
	c.l.r.Reserve(2) // the send and the recv linked to it
	s := c.l.r.Get()
	s.Opcode = rawsys.OpSend
	s.Fd = int32(dst)
	s.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	s.Len = uint32(p.n)
	s.OpFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	s.Flags = rawsys.SQEIOLink | rawsys.SQECQESkipSuccess
	s.UserData = userData(uopSend0+uint8(dir), c.slot, c.gen)
	// Not counted in inflight: the recv it is linked to completes after it, whatever
	// happens, and that completion accounts for both.
	p.n = 0
	c.fillRecv(c.l.r.Get(), dir, src, buf, true)
}

func (c *uconn) received(dir int, res int32, flags uint32) {
	if c.closing {
		return
	}
	p := &c.p[dir]
	switch {
	case res > 0:
		if dir == 0 {
			c.f.in(int(res))
		} else {
			c.f.out(int(res))
		}
		p.n = int(res)
		if c.ready {
			c.forward(dir)
		}
	case res == 0:
		p.eof = true
		if c.ready {
			c.ended(dir)
		}
	default:
		// A reset, or the recv cancelled because the send before it failed (which
		// aborted already).
		c.abort()
	}
}

func (c *uconn) sendFailed(int32) {
	if !c.closing {
		c.abort()
	}
}

// ended finishes direction dir, whose source reached the end of its stream with
// everything sent: the first passes the FIN on, the second closes the connection.
func (c *uconn) ended(dir int) {
	if !c.f.ended() {
		dst := c.sfd
		if dir == 1 {
			dst = c.cfd
		}
		// A system call, not IORING_OP_SHUTDOWN: the ring runs that on a worker
		// thread, after the close of the next pass may have handed the descriptor
		// number to a new socket.
		rawsys.Shutdown(dst, unix.SHUT_WR)
		return
	}
	c.f.closed()
	c.teardown()
}

// abort resets both sides: an error on either socket, or a forced shutdown.
func (c *uconn) abort() {
	if c.connecting {
		c.connecting = false
		c.l.connecting--
	}
	c.f.closed()
	c.reset = true
	c.teardown()
}

// teardown ends a connection that is accounted for: its requests are cancelled, and
// once all are back its sockets close and its slot and buffers are freed.
func (c *uconn) teardown() {
	c.closing = true
	if c.inflight == 0 {
		c.release()
		return
	}
	c.l.cancelFD(c.cfd)
	if c.sfd >= 0 {
		c.l.cancelFD(c.sfd)
	}
}

func (c *uconn) release() {
	c.released = true
	l := c.l
	for _, fd := range []int{c.cfd, c.sfd} {
		if fd < 0 {
			continue
		}
		if c.reset {
			resetFD(fd)
		}
		l.closeFD(fd)
	}
	for i := range c.p {
		bufPool.Put(c.p[i].buf)
		c.p[i].buf = nil
	}
	l.conns[c.slot] = nil
	l.free = append(l.free, c.slot)
	l.ended(c.f.s)
}

// drop ends c on a loop that died: what the flow holds is released, and the sockets are
// reset and closed with plain system calls, the ring not being entered again. The
// buffers stay with c (it stays in l.conns): requests in flight may name them until the
// ring's thread has gone.
func (c *uconn) drop() {
	l := c.l
	if c.connecting {
		c.connecting = false
		l.connecting--
	}
	c.f.closed()
	c.closing, c.released = true, true
	for _, fd := range []int{c.cfd, c.sfd} {
		if fd >= 0 {
			resetClose(fd)
		}
	}
	l.ended(c.f.s)
}

//go:build linux

package userspace

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
)

// What the two kinds of event loop (epoll, evloop_linux.go; io_uring, uloop_linux.go)
// share: how other goroutines hand them work, how accepted connections are spread
// between them, and their sockets.
//
// Why event loops rather than a goroutine per direction (tcp.go, the portable path):
// profiled against HAProxy (docs/benchmarks.md (Userspace data plane)) that path spends
// about 1.5x HAProxy's CPU per connection on goroutine hand-offs (futex, spinning
// threads) and, per message, a read that fails with EAGAIN. Each loop kind runs one
// loop per GOMAXPROCS over non-blocking sockets the Go runtime's poller never sees;
// every loop accepts on every listening socket and keeps the connections it accepts, so
// that accept, connect and the transfer of a connection all run on one loop, and no loop
// touches another's sockets.

// dataPathsFor lists the Linux data paths: io_uring loops where the kernel allows them
// (Linux 6.1 or later, io_uring not disabled by sysctl or seccomp), else epoll loops.
func dataPathsFor(o Options) []dataPath {
	epoll := dataPath{"epoll", startEpoll}
	if o.epoll {
		return []dataPath{epoll}
	}
	return []dataPath{{"io_uring", startRing}, epoll}
}

// loopSet is what both loop carriers keep: their loops, and whether the death of one
// was reported.
type loopSet[L interface {
	*loop | *uloop
	halt() <-chan struct{}
}] struct {
	env   carrierEnv
	loops []L
	once  sync.Once
}

// start starts n loops with newLoop; on an error it stops those it started.
func (ls *loopSet[L]) start(n int, newLoop func() (L, error), after func(L)) error {
	for range n {
		l, err := newLoop()
		if err != nil {
			ls.stop(after)
			return err
		}
		ls.loops = append(ls.loops, l)
	}
	return nil
}

// report reports, once, that a loop of c died of err.
func (ls *loopSet[L]) report(c carrier, err error) { ls.once.Do(func() { ls.env.fail(c, err) }) }

// stop ends the loops, then calls after on each; every connection must have ended first
// (Table.Shutdown drains or cuts them).
func (ls *loopSet[L]) stop(after func(L)) {
	dones := make([]<-chan struct{}, len(ls.loops))
	for i, l := range ls.loops {
		dones[i] = l.halt()
	}
	for i, l := range ls.loops {
		<-dones[i]
		after(l)
	}
}

// cmdQueue is how other goroutines hand work to a loop (either kind): functions queued
// under a lock, and a wake-up of the loop to run them.
type cmdQueue struct {
	wake func()
	mu   sync.Mutex
	cmds []func()
	// dead: the loop has died (see die); post runs f at once, under mu, in the
	// caller's goroutine. What is posted to a loop checks isDead where it would touch
	// the loop's sockets or ring.
	dead bool
}

// post runs f on the loop's goroutine. f must not post to the same loop.
func (q *cmdQueue) post(f func()) {
	q.mu.Lock()
	if q.dead {
		defer q.mu.Unlock()
		f()
		return
	}
	q.cmds = append(q.cmds, f)
	q.mu.Unlock()
	q.wake()
}

// runCmds runs what was posted, on the loop's goroutine, once it was woken.
func (q *cmdQueue) runCmds() {
	q.mu.Lock()
	cmds := q.cmds
	q.cmds = nil
	q.mu.Unlock()
	for _, f := range cmds {
		f()
	}
}

// die makes every later post run at once, and runs what is queued; the loop's goroutine
// calls it as it gives up.
func (q *cmdQueue) die() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = true
	for _, f := range q.cmds {
		f()
	}
	q.cmds = nil
}

// isDead tells a function posted to the loop, or the loop itself, that the loop has
// died. Only the loop's goroutine sets dead, under mu, and posted functions run under mu
// once it has, so neither needs the lock to read it.
func (q *cmdQueue) isDead() bool { return q.dead }

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

// closeListened closes the listening socket fd of s once every loop has stopped
// accepting on it.
func closeListened[L interface{ post(func()) }](loops []L, fd int, s *service) {
	// A loop may have handed a connection it accepted to another loop that had already
	// left the listener; the hand-off is queued there ahead of this second round, so
	// once it has run every accepted connection is started and in s.conns, where a
	// forced shutdown finds it to cut.
	onEveryLoop(loops, func(L) {})
	unix.Close(fd)
	s.wg.Done()
}

// handoffSlack is how many more connections than the least loaded loop a loop keeps
// before it hands what it accepts to that loop. In one 8-round comparison with the same
// code without hand-offs, p99 was 0.91x HAProxy's against 0.98x (keep-alive) and 1.01x
// against 1.11x (Connection: close), for 0.09 more context switches per close request
// (docs/benchmarks.md, userspace round 4); slack 4 or 8 made no difference beyond noise.
const handoffSlack = 1

// deadLoad is the load a dead loop shows, so that spread never picks it.
const deadLoad = math.MaxInt32 / 2

// spread picks the loop for a connection that l accepted: l itself, unless another
// loop owns fewer connections by more than handoffSlack.
//
// Every loop accepts on the shared listener, but whichever loop wakes first takes the
// whole burst: measured with 64 keep-alive connections opened at once, one loop owned
// all 64 and the other none, so one thread carried the whole load. Handing a
// connection over costs the other loop a wake-up, so it is done only when the loops are
// out of balance.
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

var connGen atomic.Int32

// connectCheck is how often connects in flight are checked against their deadline.
const connectCheck = 100 * time.Millisecond

// openListener opens a TCP listening socket on a outside the Go poller (a
// net.Listener's RawConn cannot wait for readability), for the loops to accept on.
func openListener(a netip.AddrPort, env *carrierEnv) (int, error) {
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip := a.Addr().Unmap(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(a.Port()), Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(a.Port()), Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("listen: %w", os.NewSyscallError("socket", err))
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
		return -1, fmt.Errorf("listen tcp %s: bind: %w", a, err)
	}
	err = unix.Listen(fd, 4096)
	if e := env.faulted("listen"); e != 0 {
		err = e
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen tcp %s: %w", a, err)
	}
	return fd, nil
}

// The loops make their socket calls through rawsys (RawSyscall: none of them blocks).
// Only a loop's one blocking wait is a normal system call.

// rawConnect opens a non-blocking TCP socket with TCP_NODELAY and SO_KEEPALIVE and
// starts connecting it to to (EINPROGRESS is success).
func rawConnect(to netip.AddrPort) (int, unix.Errno) {
	a := to.Addr().Unmap()
	family := unix.AF_INET
	if !a.Is4() {
		family = unix.AF_INET6
	}
	var sa rawsys.Sockaddr
	sa.Set(netip.AddrPortFrom(a, to.Port()), !a.Is4())
	fd, e := rawsys.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	// What net.TCPConn sets on a socket to a real server: TCP_NODELAY, and keep-alive
	// with the system's timers. Accepted sockets inherit both from the listener.
	rawsys.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	rawsys.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	if e := rawsys.Connect(fd, &sa); e != 0 && e != unix.EINPROGRESS {
		rawsys.Close(fd)
		return -1, e
	}
	return fd, 0
}

// connectFlow starts a non-blocking connect to to, moving on to the real server f names
// next while connect(2) fails at once (held: bytes of the client's read and not sent).
// ok false: none is left, and the flow is over.
func connectFlow(f *tcpFlow, to netip.AddrPort, held int) (fd int, ok bool) {
	for {
		fd, e := rawConnect(to)
		if e == 0 {
			return fd, true
		}
		if to, ok = f.failed(e, held); !ok {
			return -1, false
		}
	}
}

// resetFD makes fd's close send an RST instead of a FIN.
func resetFD(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// resetClose closes fd with an RST: a connection accepted but not carried (as if it had
// been left in the backlog of a listener that closed), or one cut.
func resetClose(fd int) {
	resetFD(fd)
	rawsys.Close(fd)
}

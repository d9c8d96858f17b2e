package checks

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
)

// probeRing carries the probe loop's probes on io_uring where the kernel allows it
// (Linux 6.7 or later: a setsockopt through the ring): each probe is one chain of
// requests, socket (into a fixed-file slot), SO_LINGER 0, TCP_QUICKACK 0 and connect,
// then for http a send linked to a recv, then a disconnect of the socket (a connect to
// AF_UNSPEC) that leaves it ready for the next probe (probeRing.end), or a close of the
// slot. The probes due in a
// tick are submitted with one io_uring_enter, and their results are read from the
// completion ring without a system call.
//
// Why: a system call costs about 1 us on the virtual machines vigil is measured on, and
// a connect-only probe made six (socket, two setsockopt, connect, epoll_ctl, close) plus
// its share of epoll_wait; the kernel's work for the probe itself (the handshake, the
// RST) is the same either way. A fixed file also skips the descriptor table, and a
// connect completes without an epoll registration. Measured beside the epoll path in
// one process on this machine: 20.1-21.0 against 25.2-25.3 us of CPU per loopback
// connect-only probe (docs/benchmarks.md, checks, issue 15).
//
// The ring has no submitting thread of its own (the loop is a goroutine like any
// other): a completion that the kernel cannot post while the loop submits (a connect
// that waits for the network, a response) is posted by work queued to the thread that
// submitted it. With COOP_TASKRUN the kernel does not interrupt that thread for it
// while it runs: the work waits for its next system call, so the responses that come
// while the loop is busy are posted together and handled in one pass; a sleeping
// thread is woken for it. An eventfd registered with the ring wakes the loop through
// its Poller, signalled only while the loop sleeps (Ring.SignalEventfd): awake, it
// reaps after every system call of its own without being told.
//
// A ring that fails (an io_uring_enter error no retry mends) is given up: the error is
// logged, its probes start again on epoll, and the loop carries on without it.
type probeRing struct {
	l     *probeLoop
	r     *rawsys.Ring
	evfd  int
	slots []*loopProbe // by fixed-file slot; nil: free or warm
	free  []int32      // slots without a socket, first in first out: a slot just closed waits longest
	// warm holds the slots whose socket is disconnected and ready to connect again, by
	// family (0: IPv4, 1: IPv6), last in first out (end says why they exist): no more
	// than the slots, and in practice as many as the probes that passed while in flight
	// at once (a CLOSED socket each, some kilobytes of kernel memory).
	warm  [2][]int32
	gen   uint32
	dirty bool // entries queued since the last submission
	// pending is the number of requests whose completion is awaited (connects, recvs
	// and disconnects: the others post one only when they fail).
	pending int
}

// noProbeRing keeps every probe on epoll (tests of the epoll path); probeRingFault, when
// set, is the rings' Fault hook (tests of a ring that fails); ringDisconnectFault, when
// set and true, makes the next disconnect one the kernel refuses (tests of the slot's
// close then); ringSlotsTest, when positive, is the number of slots a ring registers
// (tests of a ring whose slots all hold a socket).
var (
	noProbeRing         bool
	probeRingFault      func(call string) syscall.Errno
	ringDisconnectFault func() bool
	ringSlotsTest       int
)

// ringSlots is the most fixed-file slots a ring registers; fewer when RLIMIT_NOFILE is
// lower (ringSlotsFor), and a probe that finds every slot taken goes through epoll.
const ringSlots = 4096

// ringMinSlots: below this many slots the ring is not worth setting up.
const ringMinSlots = 64

// ringSlotsFor returns how many fixed-file slots a ring may register under the soft
// RLIMIT_NOFILE limit: io_uring_register(IORING_REGISTER_FILES) refuses a table larger
// than that limit with EMFILE (io_uring/rsrc.c), although fixed files take no
// descriptor. Go raises the soft limit to the hard limit minus one at start (package
// syscall), so under a hard limit of 4096 (the kernel's default for init, and so for a
// daemon started from a plain /init or a container without LimitNOFILE) a table of 4096
// failed and the engine fell back to epoll for good.
func ringSlotsFor(softNofile uint64) int {
	return int(min(softNofile, ringSlots))
}

// What a completion is for, in the top byte of its user data; then the slot and the
// probe's generation.
const (
	ropSetup      = iota + 1 // the socket or its SO_LINGER failed (success posts nothing)
	ropConnect               // the connect's result
	ropSend                  // the request's send failed (success posts nothing)
	ropRecv                  // a read of the response
	ropIgnore                // the result of a close, a cancel or TCP_QUICKACK: nobody waits
	ropDisconnect            // the result of the connect to AF_UNSPEC that ends a probe (end)
)

func ringData(op uint8, slot int32, gen uint32) uint64 {
	return uint64(op)<<56 | uint64(uint32(slot))<<32 | uint64(gen)
}

// SO_LINGER 0 and TCP_QUICKACK 0, read by the kernel when it runs the setsockopt; the
// address a disconnect connects to (read as the request is submitted).
var (
	ringLinger = unix.Linger{Onoff: 1, Linger: 0}
	ringZero   int32
	ringUnspec = unix.RawSockaddr{Family: unix.AF_UNSPEC}
)

// newProbeRing sets up the loop's ring and tries one socket with SO_LINGER through it,
// so that a kernel without what the probes need is found at start, not per probe.
func newProbeRing(l *probeLoop) (*probeRing, error) {
	r, err := rawsys.NewRing(4096, 16384, rawsys.SetupCoopTaskrun)
	if err != nil {
		return nil, err
	}
	r.Fault = probeRingFault
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		r.Close()
		return nil, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	n := ringSlotsFor(lim.Cur)
	if n < ringMinSlots {
		r.Close()
		return nil, fmt.Errorf("RLIMIT_NOFILE %d leaves fewer than %d fixed-file slots", lim.Cur, ringMinSlots)
	}
	if ringSlotsTest > 0 {
		n = ringSlotsTest
	}
	pr := &probeRing{l: l, r: r, evfd: -1, slots: make([]*loopProbe, n), free: make([]int32, 0, n)}
	fail := func(err error) (*probeRing, error) {
		pr.close()
		return nil, err
	}
	if err := r.RegisterFilesSparse(n); err != nil {
		return fail(fmt.Errorf("%w (%d slots, RLIMIT_NOFILE %d)", err, n, lim.Cur))
	}
	if err := pr.try(); err != nil {
		return fail(err)
	}
	if pr.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fail(fmt.Errorf("eventfd: %w", err))
	}
	// Signalled for every completion: the "async" registration signals only those that
	// io-wq workers post, not those of the submitting thread's task work (a response).
	if err := r.RegisterEventfd(pr.evfd, false); err != nil {
		return fail(err)
	}
	// Never read: edge-triggered, every signal is an edge, and the loop reaps on any.
	if e := l.p.Add(pr.evfd, unix.EPOLLIN|unix.EPOLLET, -1); e != 0 {
		return fail(fmt.Errorf("epoll_ctl: %w", e))
	}
	for i := range int32(n) {
		pr.free = append(pr.free, i)
	}
	return pr, nil
}

// try runs a socket, its SO_LINGER and its close through the ring, in slot 0.
func (pr *probeRing) try() error {
	r := pr.r
	r.Reserve(3)
	s := r.Get()
	s.Opcode, s.Fd, s.Off, s.Len, s.FileIndex = rawsys.OpSocket, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP, 1
	s.Flags, s.UserData = rawsys.SQEIOLink, 1
	s = r.Get()
	setsockopt(s, 0, unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&ringLinger), unix.SizeofLinger)
	s.Flags, s.UserData = rawsys.SQEFixedFile|rawsys.SQEIOLink, 2
	s = r.Get()
	s.Opcode, s.FileIndex, s.UserData = rawsys.OpClose, 1, 3
	var errs []error
	deadline := time.Now().Add(time.Second)
	for got := 0; got < 3 && r.Err() == nil; {
		if time.Now().After(deadline) {
			return errors.New("io_uring: no completion within 1s")
		}
		r.Enter(true, int64(100*time.Millisecond))
		r.Reap(func(e *rawsys.CQE) {
			got++
			if e.Res < 0 {
				errs = append(errs, fmt.Errorf("io_uring %s: %w", [...]string{"", "socket", "setsockopt", "close"}[e.UserData], unix.Errno(-e.Res)))
			}
		})
	}
	return errors.Join(r.Err(), errors.Join(errs...))
}

// setsockopt fills s with a setsockopt of the socket in slot.
func setsockopt(s *rawsys.SQE, slot int32, level, opt int, val unsafe.Pointer, size uintptr) {
	s.Opcode, s.Fd, s.Off = rawsys.OpURingCmd, slot, rawsys.CmdSetsockopt
	s.Addr = uint64(uint32(level)) | uint64(uint32(opt))<<32
	s.FileIndex, s.Addr3 = uint32(size), uint64(uintptr(val))
}

// ringFamily is the index of ip's family in probeRing.warm.
func ringFamily(ip netip.Addr) int {
	if ip.Is6() {
		return 1
	}
	return 0
}

// start queues p's connect, on a warm slot's socket of p's family if there is one, or
// on a new socket; false: every slot is taken (p goes through epoll).
func (pr *probeRing) start(p *loopProbe) bool {
	fp := p.fp
	ip := fp.addr.Addr().Unmap()
	fam := ringFamily(ip)
	slot, warm, evict := int32(-1), false, false
	switch w, o := pr.warm[fam], pr.warm[1-fam]; {
	case len(w) > 0:
		slot, warm = w[len(w)-1], true
		pr.warm[fam] = w[:len(w)-1]
	case len(pr.free) > 0:
		slot = pr.free[0]
		pr.free = pr.free[1:]
		if n := len(pr.slots); cap(pr.free) > 2*n && len(pr.free) < n {
			pr.free = append(make([]int32, 0, n), pr.free...)
		}
	case len(o) > 0:
		// Every slot holds a socket, and those idle are of the other family: one of
		// them makes room (the warm sockets never starve a family of slots).
		slot, evict = o[len(o)-1], true
		pr.warm[1-fam] = o[:len(o)-1]
	default:
		return false
	}
	pr.gen++
	p.slot, p.rgen, p.over, p.connected = slot, pr.gen, false, false
	pr.slots[slot] = p
	p.sa.Set(netip.AddrPortFrom(ip, fp.addr.Port()), ip.Is6())
	r := pr.r
	r.Reserve(5) // one chain, one submission
	if warm {
		pr.l.warmStarts.Add(1)
	} else {
		if evict {
			// A hard link: the socket goes into the slot whatever the close says.
			s := r.Get()
			s.Opcode, s.FileIndex = rawsys.OpClose, uint32(slot)+1
			s.Flags, s.UserData = rawsys.SQEIOHardlink|rawsys.SQECQESkipSuccess, ringData(ropIgnore, 0, 0)
		}
		family := unix.AF_INET
		if fam == 1 {
			family = unix.AF_INET6
		}
		s := r.Get()
		s.Opcode, s.Fd, s.Off, s.Len, s.FileIndex = rawsys.OpSocket, int32(family), unix.SOCK_STREAM, unix.IPPROTO_TCP, uint32(slot)+1
		s.Flags, s.UserData = rawsys.SQEIOLink|rawsys.SQECQESkipSuccess, ringData(ropSetup, slot, p.rgen)
		// As openProbe: SO_LINGER 0 (every close an RST). A disconnect keeps it.
		s = r.Get()
		setsockopt(s, slot, unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&ringLinger), unix.SizeofLinger)
		s.Flags, s.UserData = rawsys.SQEFixedFile|rawsys.SQEIOLink|rawsys.SQECQESkipSuccess, ringData(ropSetup, slot, p.rgen)
	}
	// As openProbe: TCP_QUICKACK cleared as best effort (a hard link: the connect goes
	// ahead if it fails), so that the handshake's last ACK waits for the request (http)
	// or is never sent (tcp: the RST goes alone). Again on a warm socket: the disconnect
	// re-initialised its delayed-ACK state (tcp_disconnect, inet_csk_delack_init).
	s := r.Get()
	setsockopt(s, slot, unix.IPPROTO_TCP, unix.TCP_QUICKACK, unsafe.Pointer(&ringZero), 4)
	s.Flags, s.UserData = rawsys.SQEFixedFile|rawsys.SQEIOHardlink|rawsys.SQECQESkipSuccess, ringData(ropIgnore, slot, p.rgen)
	s = r.Get()
	s.Opcode, s.Fd, s.Flags = rawsys.OpConnect, slot, rawsys.SQEFixedFile
	s.Addr, s.Off = uint64(uintptr(p.sa.Ptr())), uint64(p.sa.Len())
	s.UserData = ringData(ropConnect, slot, p.rgen)
	p.pending++
	pr.pending++
	pr.dirty = true
	return true
}

// flush submits what is queued. Requests that can complete at once (a loopback
// connect) do so during the call.
func (pr *probeRing) flush() {
	if pr.dirty {
		pr.dirty = false
		pr.r.Enter(false, 0)
	}
}

// run submits what is queued and handles the completions posted, until neither is
// left: what completes as it is submitted (a loopback connect, then the http request's
// send and recv) must be reaped before the loop parks: its eventfd signal may have
// come before the loop's last poll.
func (pr *probeRing) run() {
	for {
		pr.flush()
		n := 0
		pr.r.Reap(func(e *rawsys.CQE) {
			n++
			pr.complete(e)
		})
		if n == 0 && !pr.dirty {
			return
		}
	}
}

func (pr *probeRing) complete(e *rawsys.CQE) {
	op, slot, gen := uint8(e.UserData>>56), int32(uint32(e.UserData>>32)&0xffffff), uint32(e.UserData)
	if op == ropIgnore {
		return
	}
	p := pr.slots[slot]
	if p == nil || p.rgen != gen {
		return
	}
	if op == ropConnect || op == ropRecv || op == ropDisconnect {
		p.pending--
		pr.pending--
	}
	if op == ropDisconnect {
		pr.disconnected(p, e.Res)
		return
	}
	if p.over {
		if p.pending == 0 {
			pr.free1(p)
		}
		return
	}
	l, fp := pr.l, p.fp
	switch op {
	case ropSetup, ropConnect: // a set-up request posts only its failure
		if e.Res < 0 {
			l.finish(p, Result{Reason: fmt.Sprintf("connect %s: %v", fp.addr, unix.Errno(-e.Res))})
			return
		}
		p.connected = true
		if fp.request == nil {
			l.finish(p, Result{OK: true, Reason: fp.passReason})
			return
		}
		// The request is small and the connection new: the send goes out as it is
		// submitted, so the probe is reading from here on (as on epoll).
		p.state = reading
		r := pr.r
		r.Reserve(2)
		s := r.Get()
		s.Opcode, s.Fd, s.Flags = rawsys.OpSend, slot, rawsys.SQEFixedFile|rawsys.SQEIOLink|rawsys.SQECQESkipSuccess
		s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(fp.request)))), uint32(len(fp.request))
		s.OpFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
		s.UserData = ringData(ropSend, slot, p.rgen)
		pr.recv(p)
	case ropSend:
		p.connected = false
		l.finish(p, Result{Reason: fmt.Sprintf("send request to %s: %v", fp.addr, unix.Errno(-e.Res))})
	case ropRecv:
		if e.Res < 0 {
			p.connected = false
			l.finish(p, Result{Reason: fmt.Sprintf("read response from %s: %v", fp.addr, unix.Errno(-e.Res))})
			return
		}
		if !l.judge(p, p.rbuf[:e.Res]) {
			pr.recv(p)
		}
	}
}

// ringCheck gives the ring up if it has failed: its probes in flight start again on
// epoll (their latency counts from their first start), and every later probe goes
// there. The ring is closed only when the loop ends: requests the kernel may still hold
// name the buffers of the probes in its slots, which keep them referenced until then.
func (l *probeLoop) ringCheck() {
	pr := l.ring
	err := pr.r.Err()
	if err == nil {
		return
	}
	l.s.o.Logger.Error("check event loop: io_uring failed, its probes continue on epoll", "error", err)
	l.ring, l.dead = nil, pr
	l.p.Del(pr.evfd)
	for _, p := range pr.slots {
		if p == nil || p.over {
			continue
		}
		p.over = true
		p.deadline.Stop()
		q := l.alloc()
		q.e, q.fp, q.start, q.due, q.timeout = p.e, p.fp, p.start, p.due, p.timeout
		l.startEpoll(q)
	}
}

// recv queues a read of p's response into its buffer.
func (pr *probeRing) recv(p *loopProbe) {
	if p.rbuf == nil {
		p.rbuf = make([]byte, maxStatusHead)
	}
	s := pr.r.Get()
	s.Opcode, s.Fd, s.Flags = rawsys.OpRecv, p.slot, rawsys.SQEFixedFile
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p.rbuf)))), uint32(len(p.rbuf))
	s.UserData = ringData(ropRecv, p.slot, p.rgen)
	p.pending++
	pr.pending++
	pr.dirty = true
}

// end closes the slot of p, whose result is out: its requests in flight are cancelled
// first. p and its slot are freed once every completion it awaits is back, since a
// request in flight names p's buffers.
//
// A probe that connected and awaits nothing (its verdict is in: a tcp probe connected,
// an http probe judged the response) disconnects its socket instead, for the next
// probe of its family to connect again: a connect to an address of family AF_UNSPEC
// (__inet_stream_connect) runs tcp_disconnect, which is what the close of a socket
// with SO_LINGER 0 runs (__tcp_close): the same RST, the queues purged, the source port
// given back (tcp_set_state), so the wire sees what a close sends and no TIME_WAIT is
// left. The socket is then CLOSED and unconnected, SO_LINGER still set; the ECONNRESET
// that tcp_disconnect leaves in sk_err is cleared by the next connect
// (tcp_connect_init) before anything reads it. That saves the kernel a socket's
// creation and destruction per probe (and the SO_LINGER). The slot goes warm only once
// the disconnect's completion is back: io_uring does not order requests that are not
// linked, and the next connect must come after it.
func (pr *probeRing) end(p *loopProbe) {
	p.over = true
	r := pr.r
	r.Reserve(2)
	if p.pending == 0 && p.connected {
		s := r.Get()
		s.Opcode, s.Fd, s.Flags = rawsys.OpConnect, p.slot, rawsys.SQEFixedFile
		s.Addr, s.Off = uint64(uintptr(unsafe.Pointer(&ringUnspec))), unix.SizeofSockaddrAny
		if ringDisconnectFault != nil && ringDisconnectFault() {
			s.Off = 1 // shorter than a family: EINVAL
		}
		s.UserData = ringData(ropDisconnect, p.slot, p.rgen)
		p.pending++
		pr.pending++
		pr.dirty = true
		return
	}
	if p.pending > 0 {
		s := r.Get()
		s.Opcode, s.Fd = rawsys.OpAsyncCancel, p.slot
		s.OpFlags = rawsys.AsyncCancelAll | rawsys.AsyncCancelFD | rawsys.AsyncCancelFDFixed
		s.Flags, s.UserData = rawsys.SQECQESkipSuccess, ringData(ropIgnore, 0, 0)
	}
	// The socket closes, with its RST, once the cancelled requests have let it go.
	pr.closeSlot(p.slot)
	if p.pending == 0 {
		pr.free1(p)
	}
}

// disconnected takes the result of p's disconnect (end): its slot goes warm, or, if the
// disconnect failed, is closed (an RST: SO_LINGER 0), and p is freed.
func (pr *probeRing) disconnected(p *loopProbe, res int32) {
	if res < 0 {
		pr.closeSlot(p.slot)
		pr.free1(p)
		return
	}
	fam := ringFamily(p.fp.addr.Addr().Unmap())
	pr.slots[p.slot] = nil
	pr.warm[fam] = append(pr.warm[fam], p.slot)
	p.slot = -1
	pr.l.release(p)
}

// closeSlot queues the close of slot's socket.
func (pr *probeRing) closeSlot(slot int32) {
	s := pr.r.Get()
	s.Opcode, s.FileIndex = rawsys.OpClose, uint32(slot)+1
	s.Flags, s.UserData = rawsys.SQECQESkipSuccess, ringData(ropIgnore, 0, 0)
	pr.dirty = true
}

// free1 gives p's slot back and p to the loop's free list.
func (pr *probeRing) free1(p *loopProbe) {
	pr.slots[p.slot] = nil
	pr.free = append(pr.free, p.slot)
	p.slot = -1
	pr.l.release(p)
}

// shutdown waits, at most a second, for the completions still awaited (the loop has
// ended every probe), so that nothing in the kernel names a probe's buffers, and closes
// the ring.
func (pr *probeRing) shutdown() {
	pr.flush()
	deadline := time.Now().Add(time.Second)
	for pr.pending > 0 && pr.r.Err() == nil && time.Now().Before(deadline) {
		pr.r.Enter(true, int64(10*time.Millisecond))
		pr.run()
	}
	pr.close()
}

func (pr *probeRing) close() {
	pr.r.Close()
	if pr.evfd >= 0 {
		unix.Close(pr.evfd)
	}
}

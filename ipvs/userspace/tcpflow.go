package userspace

import (
	"net/netip"
	"time"
)

// tcpFlow is one proxied TCP connection as its service sees it: the real server that
// carries it and the counts it holds there. The carrier that moves the connection's
// bytes reports what happens to it (connected, a direction ended, closed, bytes moved)
// and asks where to connect; every choice (which real server, whether to try another
// after a failed connect, what is counted where) is made here, once for every carrier.
//
// A flow belongs to its carrier's connection: the carrier calls its methods from one
// goroutine at a time, except in and out, which the goroutine carrier calls from one
// goroutine per direction.
type tcpFlow struct {
	s       *service
	c       closer // the carrier's connection, for a forced shutdown
	client  netip.AddrPort
	d       *dest
	tp      *template
	retried bool
	halves  int // directions ended; guarded by s.mu
	over    bool
}

// openTCP accounts a new connection from client, carried by c, and returns it with the
// real server to connect to. ok is false when no real server is available: the carrier
// resets the client ("no destination available" in ip_vs) and is done with it.
func (s *service) openTCP(client netip.AddrPort, c closer) (f *tcpFlow, to netip.AddrPort, ok bool) {
	f = &tcpFlow{s: s, c: c, client: client}
	if f.d, f.tp = s.pick(client, nil, false, c); f.d == nil {
		return nil, netip.AddrPort{}, false
	}
	return f, f.target(), true
}

// target is the address of f's real server.
func (f *tcpFlow) target() netip.AddrPort { return f.d.target(f.s.key.Addr.Port()) }

// dialTimeout bounds each connect to a real server.
func (f *tcpFlow) dialTimeout() time.Duration { return f.s.t.dialTimeout }

// failed records that the connect to f's real server failed with err; held bytes of the
// client's had been read (and counted) but not sent. Nothing reached that real server,
// so the connection is tried once more, on another one: failed returns where, with the
// held bytes counted there. ok false: no retry is left, the connection is over, and the
// carrier resets the client and reports nothing more.
func (f *tcpFlow) failed(err error, held int) (to netip.AddrPort, ok bool) {
	s, old := f.s, f.d
	s.unreachable(old, err)
	s.release(old, f.tp, true, f.c)
	f.d, f.tp = nil, nil
	if f.retried {
		f.over = true
		return netip.AddrPort{}, false
	}
	f.retried = true
	d, tp := s.pick(f.client, old, false, f.c)
	if d == nil {
		f.over = true
		return netip.AddrPort{}, false
	}
	if n := uint64(held); n > 0 {
		old.stats.inBytes.Add(-n)
		d.stats.inBytes.Add(n)
	}
	f.d, f.tp = d, tp
	return f.target(), true
}

// connected records that the connect to the real server completed.
func (f *tcpFlow) connected() {
	f.s.reached(f.d)
	f.s.stats.conns.Add(1)
}

// in counts n bytes read from the client (InBytes), out n bytes read from the real
// server (OutBytes).
func (f *tcpFlow) in(n int) {
	f.d.stats.inBytes.Add(uint64(n))
	f.s.stats.inBytes.Add(uint64(n))
}

func (f *tcpFlow) out(n int) {
	f.d.stats.outBytes.Add(uint64(n))
	f.s.stats.outBytes.Add(uint64(n))
}

// ended records that one direction reached the end of its stream with everything
// written, and reports whether the other had already: then the carrier closes both
// sockets (whose close sends the second FIN), else it passes the FIN on with a
// shutdown. The first moves the connection from active to inactive: the kernel leaves
// ESTABLISHED at the first FIN.
func (f *tcpFlow) ended() (both bool) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.halves++; f.halves == 1 {
		f.d.active--
		f.d.inactive++
	}
	return f.halves == 2
}

// closed ends the flow's accounting: the carrier closed (or reset) both sockets.
func (f *tcpFlow) closed() {
	if f.over {
		return
	}
	f.over = true
	s := f.s
	s.mu.Lock()
	wasActive := f.halves == 0
	s.mu.Unlock()
	s.release(f.d, f.tp, wasActive, f.c)
}

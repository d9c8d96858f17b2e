package userspace

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// spliceChunk is how many bytes one direction moves between counter updates. io.Copy
// between two *net.TCPConn splices through a pipe on Linux; a LimitedReader keeps that
// path while letting the byte counters advance during long transfers.
const spliceChunk = 128 << 10

func (s *service) acceptTCP() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off as net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.t.log.Warn("accept failed", "service", s.key.String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go s.handleTCP(c)
	}
}

// tcpConn is one proxied connection: the client's and the real server's sockets.
type tcpConn struct {
	client *net.TCPConn
	mu     sync.Mutex
	server *net.TCPConn
	dead   bool // cut before the real server's socket was set
}

// cut aborts the connection with a reset on both sides (forced shutdown).
func (c *tcpConn) cut() {
	c.mu.Lock()
	c.dead = true
	srv := c.server
	c.mu.Unlock()
	reset(c.client)
	if srv != nil {
		reset(srv)
	}
}

func (c *tcpConn) setServer(srv *net.TCPConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.server = srv
	return !c.dead
}

// reset closes a socket with SO_LINGER 0, so the peer sees RST rather than FIN: what a
// client of a dead or refused real server should see.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ua, ok := a.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// osKeepAlive turns TCP keep-alive on with the system's timers (net.ipv4.tcp_keepalive_*):
// dead peers are found eventually, for one setsockopt per socket instead of Go's four.
var osKeepAlive = net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}

func (s *service) dial(d *dest) (*net.TCPConn, error) {
	nd := net.Dialer{Timeout: s.t.dialTimeout, KeepAliveConfig: osKeepAlive}
	c, err := nd.Dial("tcp", d.target(s.key.Addr.Port()).String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (s *service) handleTCP(client *net.TCPConn) {
	defer s.wg.Done()
	c := &tcpConn{client: client}
	src := addrPortOf(client.RemoteAddr())
	d, tp := s.pick(src, nil, false, c)
	if d == nil {
		reset(client) // ip_vs: "no destination available"
		return
	}
	srv, err := s.dial(d)
	if err != nil {
		// Nothing was read from the client yet, so one other real server may take it.
		s.unreachable(d, err)
		s.release(d, tp, true, c)
		failed := d
		if d, tp = s.pick(src, failed, false, c); d == nil {
			reset(client)
			return
		}
		if srv, err = s.dial(d); err != nil {
			s.unreachable(d, err)
			s.release(d, tp, true, c)
			reset(client)
			return
		}
	}
	s.reached(d)
	s.stats.conns.Add(1)
	if !c.setServer(srv) {
		reset(srv)
		reset(client)
		s.release(d, tp, true, c)
		return
	}
	s.proxy(c, srv, d, tp)
}

// proxy copies both directions until both have ended. A direction that ends with EOF
// is passed on as a half close (CloseWrite), so a client that shuts its write side still
// gets the whole response; one that ends with an error resets both sides.
func (s *service) proxy(c *tcpConn, srv *net.TCPConn, d *dest, tp *template) {
	// half records that one direction ended and reports whether the other had already:
	// then both sockets are about to close, and Close sends the FIN that a CloseWrite
	// would (one shutdown(2) less per connection).
	var halves atomic.Int32
	half := func() (both bool) {
		if halves.Add(1) == 1 {
			s.halfClosed(d)
			return false
		}
		return true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := copyCounted(srv, c.client, &d.stats.inBytes, &s.stats.inBytes); err != nil {
			reset(srv)
			reset(c.client)
		} else if !half() {
			srv.CloseWrite()
		}
	}()
	if err := copyCounted(c.client, srv, &d.stats.outBytes, &s.stats.outBytes); err != nil {
		reset(srv)
		reset(c.client)
	} else if !half() {
		c.client.CloseWrite()
	}
	<-done
	c.client.Close()
	srv.Close()
	s.release(d, tp, false, c)
}

// copyCounted copies src to dst until src's EOF (nil) or an error.
//
// Small messages (requests and responses) go through a 16 KiB buffer with one read and
// one write each, inside one RawConn.Read so that the poller is prepared once per burst
// rather than once per read. Once reads keep filling the buffer the transfer is bulk,
// and io.Copy's splice path (through a LimitedReader, so the counters advance) moves it
// without copying through user space.
//
// A short read is followed by another read until EAGAIN: skipping that read (waiting for
// the next epoll edge instead) would save a syscall per message but hang on a FIN that
// arrived together with the data, since it raises no further edge.
func copyCounted(dst, src *net.TCPConn, a, b *atomic.Uint64) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var (
		eof   bool
		opErr error
		full  int // consecutive reads that filled buf
	)
	readWrite := func(fd uintptr) bool {
		for {
			n, err := syscallRead(int(fd), buf)
			switch {
			case err == errAgain:
				full = 0
				return false
			case err != nil:
				opErr = err
				return true
			case n == 0:
				eof = true
				return true
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				opErr = err
				return true
			}
			a.Add(uint64(n))
			b.Add(uint64(n))
			if n < len(buf) {
				// A short read does not prove the socket drained: a FIN that came with
				// the data raises no further edge, so read again until EAGAIN.
				full = 0
				continue
			}
			if full++; full >= 4 {
				return true // bulk: splice from here
			}
		}
	}
	lr := &io.LimitedReader{R: src}
	for {
		full = 0
		if err := rc.Read(readWrite); err != nil {
			return err
		}
		if opErr != nil {
			return opErr
		}
		if eof {
			return nil
		}
		lr.N = spliceChunk
		n, err := dst.ReadFrom(lr)
		if n > 0 {
			a.Add(uint64(n))
			b.Add(uint64(n))
		}
		if err != nil {
			return err
		}
		if n < spliceChunk {
			return nil // src ended before the chunk did: EOF
		}
	}
}

// bufSize is the per-direction buffer of a proxied connection, HAProxy's tune.bufsize.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

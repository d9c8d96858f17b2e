package userspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// spliceChunk is how many bytes one direction moves between counter updates. io.Copy
// between two *net.TCPConn splices through a pipe on Linux; a LimitedReader keeps that
// path while letting the byte counters advance during long transfers.
const spliceChunk = 128 << 10

// goroutineCarrier carries TCP with a goroutine per direction (the portable path): an
// accept loop per service, io.Copy between net.TCPConns (splice for bulk transfers).
type goroutineCarrier struct{}

func (goroutineCarrier) String() string { return "a goroutine per direction" }

func (goroutineCarrier) stop() {}

// goListener is a service's listener on the goroutine path; done closes with it, to
// end a pause of its accept loop.
type goListener struct {
	ln   *net.TCPListener
	done chan struct{}
}

func (l goListener) close() {
	l.ln.Close()
	close(l.done)
}

func (goroutineCarrier) listen(s *service) (listener, error) {
	lc := net.ListenConfig{Control: freebind, KeepAliveConfig: osKeepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", s.key.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	l := goListener{ln.(*net.TCPListener), make(chan struct{})}
	s.wg.Add(1)
	go s.acceptTCP(l)
	return l, nil
}

// acceptTCP accepts until the listener closes. The Go poller retries EAGAIN and
// ECONNABORTED itself; what AcceptTCP returns (EMFILE and friends) pauses the loop as
// acceptbackoff.go says, on the table's clock.
func (s *service) acceptTCP(l goListener) {
	defer s.wg.Done()
	var backoff acceptBackoff
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			tm := s.t.clock.NewTimer(s.acceptFailed(&backoff, err))
			select {
			case <-tm.C():
			case <-l.done:
				tm.Stop()
				return
			}
			continue
		}
		backoff.accepted()
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

func dialTCP(to netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	nd := net.Dialer{Timeout: timeout, KeepAliveConfig: osKeepAlive}
	c, err := nd.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (s *service) handleTCP(client *net.TCPConn) {
	defer s.wg.Done()
	c := &tcpConn{client: client}
	f, to, ok := s.openTCP(addrPortOf(client.RemoteAddr()), c)
	var srv *net.TCPConn
	for ok {
		var err error
		if srv, err = dialTCP(to, f.dialTimeout()); err == nil {
			break
		}
		to, ok = f.failed(err, 0)
	}
	if !ok {
		reset(client) // ip_vs: "no destination available"
		return
	}
	f.connected()
	if !c.setServer(srv) {
		reset(srv)
		reset(client)
		f.closed()
		return
	}
	proxy(c, srv, f)
}

// proxy copies both directions until both have ended. A direction that ends with EOF
// is passed on as a half close (CloseWrite), so a client that shuts its write side still
// gets the whole response; one that ends with an error resets both sides.
func proxy(c *tcpConn, srv *net.TCPConn, f *tcpFlow) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := copyCounted(srv, c.client, f.in); err != nil {
			reset(srv)
			reset(c.client)
		} else if !f.ended() {
			srv.CloseWrite()
		}
	}()
	// When both directions have ended both sockets are about to close, and Close sends
	// the FIN that a CloseWrite would (one shutdown(2) less per connection).
	if err := copyCounted(c.client, srv, f.out); err != nil {
		reset(srv)
		reset(c.client)
	} else if !f.ended() {
		c.client.CloseWrite()
	}
	<-done
	c.client.Close()
	srv.Close()
	f.closed()
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
func copyCounted(dst, src *net.TCPConn, count func(n int)) error {
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
			count(n)
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
			count(int(n))
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

//go:build linux

package userspace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

// carrierOf returns tb's carrier, and whether it is a C.
func carrierOf[C carrier](tb *Table) (C, bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	c, ok := tb.tcp.(C)
	return c, ok
}

// ringLoops and epollLoops return the loops of tb's carrier, if it is of that kind.
func ringLoops(tb *Table) []*uloop {
	if c, ok := carrierOf[*ringCarrier](tb); ok {
		return c.loops
	}
	return nil
}

func epollLoops(tb *Table) []*loop {
	if c, ok := carrierOf[*epollCarrier](tb); ok {
		return c.loops
	}
	return nil
}

// loopConns returns the client and real-server sockets of every connection the
// carrier's loops hold, read on the loops themselves (the slices are loop-owned).
func loopConns(t *testing.T, tb *Table) (cfds, sfds []int) {
	t.Helper()
	rl, el := ringLoops(tb), epollLoops(tb)
	if rl == nil && el == nil {
		t.Fatalf("TCP is carried by %s, not event loops", tb.tcp)
	}
	for _, l := range rl {
		done := make(chan struct{})
		l.post(func() {
			defer close(done)
			for _, c := range l.conns {
				if c != nil {
					cfds, sfds = append(cfds, c.cfd), append(sfds, c.sfd)
				}
			}
		})
		<-done
	}
	for _, l := range el {
		done := make(chan struct{})
		l.post(func() {
			defer close(done)
			for fd, c := range l.conns {
				if c != nil && fd == c.cfd {
					cfds, sfds = append(cfds, c.cfd), append(sfds, c.sfd)
				}
			}
		})
		<-done
	}
	return cfds, sfds
}

// bothEngines runs f over io_uring loops and over epoll loops (the fallback where the
// kernel refuses io_uring), each as a subtest given the Options that select it.
func bothEngines(t *testing.T, f func(t *testing.T, opts Options)) {
	t.Run("io_uring", func(t *testing.T) {
		requireRing(t)
		f(t, Options{})
	})
	t.Run("epoll", func(t *testing.T) { f(t, Options{epoll: true}) })
}

// loopLoads returns the fewest and most connections a loop of tb's carrier counts.
func loopLoads(tb *Table) (lo, hi int32) {
	lo, hi = 1<<30, 0
	add := func(v int32) { lo, hi = min(lo, v), max(hi, v) }
	for _, l := range epollLoops(tb) {
		add(l.load.Load())
	}
	for _, l := range ringLoops(tb) {
		add(l.load.Load())
	}
	return lo, hi
}

// TestEventLoopSocketOptions: the loops set TCP_NODELAY and SO_KEEPALIVE once on the
// listening socket, not on each accepted one; that relies on Linux copying both to the
// sockets accept(2) returns. Sockets to real servers get them with their own setsockopt.
func TestEventLoopSocketOptions(t *testing.T) { bothEngines(t, testSocketOptions) }

func testSocketOptions(t *testing.T, opts Options) {
	tb := newTestTable(t, opts)
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	c, err := dial(t, k.Addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfds, sfds := loopConns(t, tb)
	if len(cfds) != 1 {
		t.Fatalf("loops hold %d connections, want 1", len(cfds))
	}
	for _, s := range []struct {
		name string
		fd   int
	}{{"accepted", cfds[0]}, {"to the real server", sfds[0]}} {
		for _, o := range []struct {
			name       string
			level, opt int
		}{{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY}, {"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE}} {
			v, err := unix.GetsockoptInt(s.fd, o.level, o.opt)
			if err != nil {
				t.Fatalf("getsockopt %s on the %s socket: %v", o.name, s.name, err)
			}
			if v == 0 {
				t.Errorf("%s is off on the %s socket", o.name, s.name)
			}
		}
	}
}

// TestEventLoopListenerOnEveryLoop: every loop accepts on a service's listening socket,
// and none does once the service is deleted.
func TestEventLoopListenerOnEveryLoop(t *testing.T) {
	tb := newTestTable(t, Options{epoll: true})
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	loops := epollLoops(tb)
	count := func() (n int) {
		for _, l := range loops {
			l.mu.Lock()
			n += len(l.listeners)
			l.mu.Unlock()
		}
		return n
	}
	if got, want := count(), len(loops); got != want {
		t.Errorf("listener registered on %d loops, want %d", got, want)
	}
	for range 20 {
		if got := hit(t, k.Addr, ""); got != "a" {
			t.Fatalf("got %q", got)
		}
	}
	if err := tb.DeleteService(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 0 {
		t.Errorf("%d loops still hold the listener after DeleteService", got)
	}
}

// silentServer returns a real server whose SYNs go unanswered.
func silentServer(t *testing.T) *backend {
	return &backend{name: "silent", addr: testenv.UnansweredSYN(t)}
}

// TestEventLoopConnectTimeout: a real server that never answers the SYN is given up
// after DialTimeout, while the loop is otherwise idle (parked in the Go poller, or blocked
// in io_uring_enter), and the connection is retried on the other real server.
func TestEventLoopConnectTimeout(t *testing.T) { bothEngines(t, testConnectTimeout) }

func testConnectTimeout(t *testing.T, opts Options) {
	opts.DialTimeout = 300 * time.Millisecond
	tb := newTestTable(t, opts)
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{silentServer(t), a}, []int{1, 1})
	for i := range 2 { // rr: one of the two tries the silent server first
		start := time.Now()
		if got := hit(t, k.Addr, ""); got != "a" {
			t.Fatalf("connection %d answered by %q", i, got)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("connection %d took %v with a 300 ms dial timeout", i, d)
		}
	}
}

// queuedClient returns the accepted end (a raw non-blocking descriptor the caller owns)
// of a loopback connection whose client has already written request, and the client.
func queuedClient(t *testing.T, request string) (int, netip.AddrPort, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	f, err := a.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fd, true)
	unix.CloseOnExec(fd)
	return fd, c.LocalAddr().(*net.TCPAddr).AddrPort(), c
}

// TestEventLoopEarlyForward: what a client wrote before its connection was accepted
// goes to the real server in the same loop pass as the connect, so the real server
// finds it with the connection it accepts. The check runs on the loop itself, so the
// loop cannot have sent it later from an event. Each connection's request then still
// reaches the real server and the answer the client.
func TestEventLoopEarlyForward(t *testing.T) {
	tb := newTestTable(t, Options{epoll: true})
	rs, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{{name: "raw", addr: rs.Addr().(*net.TCPAddr).AddrPort()}}, []int{1})
	tb.mu.Lock()
	s := tb.services[k]
	tb.mu.Unlock()
	l := epollLoops(tb)[0]

	const n = 20
	early := 0
	for i := range n {
		request := fmt.Sprintf("request %d\n", i)
		fd, from, client := queuedClient(t, request)
		type result struct {
			conn   net.Conn
			queued string
			err    error
		}
		res := make(chan result, 1)
		l.post(func() {
			s.wg.Add(1)
			l.load.Add(1)
			l.startConn(s, fd, from)
			// Still on the loop: nothing but startConn can have sent yet.
			c, err := rs.Accept()
			if err != nil {
				res <- result{err: err}
				return
			}
			buf := make([]byte, 64)
			var got int
			rc, _ := c.(*net.TCPConn).SyscallConn()
			rc.Control(func(fd uintptr) {
				got, _, _ = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			})
			res <- result{conn: c, queued: string(buf[:max(got, 0)])}
		})
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.queued == request {
			early++
		}
		// The rest of the exchange works either way.
		rest := request[len(r.queued):]
		buf := make([]byte, len(rest))
		r.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r.conn, buf); err != nil || string(buf) != rest {
			t.Fatalf("connection %d: the real server read %q (%v), want %q", i, buf, err, rest)
		}
		io.WriteString(r.conn, "answer\n")
		r.conn.Close()
		client.SetDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(client); err != nil || string(b) != "answer\n" {
			t.Fatalf("connection %d: the client read %q (%v)", i, b, err)
		}
		client.Close()
	}
	// A loopback connect usually completes inside connect(2); when it does not, the
	// request waits for the connect to complete, which is correct but not early.
	if early == 0 {
		t.Errorf("no request of %d reached the real server with its connection", n)
	}
	t.Logf("%d of %d requests were queued when the real server accepted", early, n)
}

// TestEventLoopEarlyForwardRetry: a request the client sends at once, read before a
// connect that then fails, goes to the other real server and is counted there.
func TestEventLoopEarlyForwardRetry(t *testing.T) { bothEngines(t, testEarlyForwardRetry) }

func testEarlyForwardRetry(t *testing.T, opts Options) {
	tb := newTestTable(t, opts)
	a := startBackend(t, "a")
	dead := &backend{name: "dead", addr: freeAddr(t, "127.0.0.1")} // nothing listens
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{dead, a}, []int{1, 1})
	sent := 0
	for i := range 4 { // rr: half of them try the dead server first
		c, err := net.Dial("tcp", k.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		ping := fmt.Sprintf("ping %d\n", i)
		io.WriteString(c, ping) // before the real server has spoken
		sent += len(ping)
		r := bufio.NewReader(c)
		name, err1 := r.ReadString('\n')
		echo, err2 := r.ReadString('\n')
		c.Close()
		if name != "a\n" || echo != ping {
			t.Fatalf("connection %d: read %q (%v), %q (%v)", i, name, err1, echo, err2)
		}
	}
	ds, err := tb.Destinations(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		switch d.Addr {
		case dead.addr:
			if d.Stats.InBytes != 0 {
				t.Errorf("the dead real server is counted %d bytes in", d.Stats.InBytes)
			}
		case a.addr:
			if d.Stats.InBytes != uint64(sent) {
				t.Errorf("real server a is counted %d bytes in, want %d", d.Stats.InBytes, sent)
			}
		}
	}
}

// TestEventLoopSpreadsConnections: connections opened at once are shared between the
// loops, though whichever loop wakes first could accept them all (and did, before
// spread: 64 of 64 on one loop); and every loop's count returns to 0.
func TestEventLoopSpreadsConnections(t *testing.T) { bothEngines(t, testSpreadsConnections) }

func testSpreadsConnections(t *testing.T, opts Options) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	tb := newTestTable(t, opts)
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	const n = 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		clients []*client
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(t, k.Addr, "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	loads := func() (int32, int32) { return loopLoads(tb) }
	if lo, hi := loads(); hi-lo > handoffSlack+2 {
		t.Errorf("%d open connections: the loops hold between %d and %d", len(clients), lo, hi)
	}
	for _, c := range clients {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lo, hi := loads()
		if lo == 0 && hi == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after every connection closed the loops still count between %d and %d", lo, hi)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

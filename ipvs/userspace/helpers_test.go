package userspace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/loopback"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

// backend is a real server on loopback: on each connection it sends its name and a
// newline, then echoes what it reads until EOF, then closes its write side.
type backend struct {
	name string
	addr netip.AddrPort
	srv  *loopback.Server // nil for an address nothing serves
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	srv := loopback.Listen(t, func(c net.Conn) {
		fmt.Fprintf(c, "%s\n", name)
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	return &backend{name: name, addr: srv.Addr, srv: srv}
}

// kill stops the backend as a crashed process would: its listener and every
// connection close.
func (b *backend) kill() { b.srv.Close() }

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t *testing.T, ip string) netip.AddrPort { return loopback.ClosedAddr(t, ip) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newTestTable returns a table that is closed, and checked for leaked goroutines, when
// the test ends.
func newTestTable(t *testing.T, opts Options) *Table {
	t.Helper()
	base := runtime.NumGoroutine()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	opts.goroutines = opts.goroutines || forceGoroutines
	opts.epoll = opts.epoll || forceEpoll
	tb := New(opts)
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGoroutines(t, base)
	})
	return tb
}

// checkGoroutines polls until the goroutine count is back to base (other tests' and the
// runtime's goroutines may take a moment to finish).
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d after Close, %d before New\n%s", n, base, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addService adds a TCP service on a free loopback port with the given real servers
// (in the order given; the table lists them most recent first).
func addService(t *testing.T, tb *Table, svc ipvs.Service, bs []*backend, weights []int) ipvs.ServiceKey {
	t.Helper()
	ctx := context.Background()
	if !svc.Addr.IsValid() {
		svc.Addr = freeAddr(t, "127.0.0.1")
	}
	if svc.Protocol == 0 {
		svc.Protocol = ipvs.TCP
	}
	if err := tb.AddService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	k := ipvs.AddrKey(svc.Protocol, svc.Addr)
	for i, b := range bs {
		if err := tb.AddDestination(ctx, k, ipvs.Destination{Addr: b.addr, Weight: weights[i]}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// client is an open connection through the table that has read the backend's name.
type client struct {
	net.Conn
	r       *bufio.Reader
	backend string
}

// dial connects to the service from source address src (empty: any) and returns the
// connection with the name of the backend that answered.
func dial(t *testing.T, vip netip.AddrPort, src string) (*client, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", vip.String())
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read backend name: %w", err)
	}
	return &client{Conn: c, r: r, backend: strings.TrimSpace(name)}, nil
}

// hit opens a connection, notes which backend answered and closes it.
func hit(t *testing.T, vip netip.AddrPort, src string) string {
	t.Helper()
	c, err := dial(t, vip, src)
	if err != nil {
		t.Fatalf("connect to %s from %q: %v", vip, src, err)
	}
	c.Close()
	return c.backend
}

// waitConns polls the table until the destination at addr has the given active and
// inactive counts.
func waitConns(t *testing.T, tb *Table, k ipvs.ServiceKey, addr netip.AddrPort, active, inactive uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := tb.Destinations(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Addr == addr && d.ActiveConns == active && d.InactiveConns == inactive {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination %s: want %d active %d inactive; have %+v", addr, active, inactive, ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testenvRequireIPv6(t *testing.T, err error) {
	t.Helper()
	testenv.Require(t, false, "IPv6 loopback: %v", err)
}

// forceGoroutines makes newTestTable use the portable goroutine-per-direction data path
// (see TestGoroutinePath).
var forceGoroutines bool

// forceEpoll makes newTestTable use epoll event loops where io_uring works (see
// TestEpollPath).
var forceEpoll bool

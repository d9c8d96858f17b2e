//go:build linux

package userspace

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
	"github.com/vigil-lb/vigil/internal/testing/loopback"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

// requireRing skips the test (failing it in CI) unless io_uring event loops start on
// this kernel.
func requireRing(t *testing.T) {
	t.Helper()
	c, err := startRing(carrierEnv{})
	if err == nil {
		c.stop()
	}
	testenv.Require(t, err == nil, "io_uring event loops unavailable: %v", err)
}

// TestRingIsTheDefault: where the kernel allows io_uring, TCP goes through the
// io_uring loops, and the table says so in its log.
func TestRingIsTheDefault(t *testing.T) {
	requireRing(t)
	var log bytes.Buffer
	tb := newTestTable(t, Options{Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))})
	if len(ringLoops(tb)) == 0 {
		t.Fatalf("the table carries TCP without io_uring loops (%s)", tb.tcp)
	}
	if !strings.Contains(log.String(), "io_uring event loops") {
		t.Errorf("the log does not say which data path runs:\n%s", log.String())
	}
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	if got := hit(t, k.Addr, ""); got != "a" {
		t.Fatalf("got %q", got)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestRingFallsBackToEpoll: a kernel that refuses io_uring (a seccomp profile, the
// io_uring_disabled sysctl, a kernel before 6.1) gets epoll loops, and the log says why.
func TestRingFallsBackToEpoll(t *testing.T) {
	defer func(f func(uint32, uint32) (*rawsys.Ring, error)) { setupRing = f }(setupRing)
	setupRing = func(uint32, uint32) (*rawsys.Ring, error) {
		return nil, fmt.Errorf("io_uring_setup: %w", unix.EPERM)
	}
	var log bytes.Buffer
	tb := newTestTable(t, Options{Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))})
	if len(epollLoops(tb)) == 0 {
		t.Fatalf("TCP is carried by %s, want epoll loops", tb.tcp)
	}
	if s := log.String(); !strings.Contains(s, "epoll event loops") || !strings.Contains(s, "operation not permitted") {
		t.Errorf("the log does not say why io_uring is not used:\n%s", s)
	}
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	if got := hit(t, k.Addr, ""); got != "a" {
		t.Fatalf("got %q", got)
	}
}

// TestEventLoopDeleteServiceFreesAddress: once DeleteService returns, the service's
// address can be bound again. An accept in flight in a ring holds the listening socket
// open after close(2), so the loops cancel theirs and wait for them to come back.
func TestEventLoopDeleteServiceFreesAddress(t *testing.T) {
	bothEngines(t, func(t *testing.T, opts Options) {
		tb := newTestTable(t, opts)
		a := startBackend(t, "a")
		for i := range 3 {
			k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
			if got := hit(t, k.Addr, ""); got != "a" {
				t.Fatalf("got %q", got)
			}
			if err := tb.DeleteService(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", k.Addr.String())
			if err != nil {
				t.Fatalf("round %d: the deleted service's address is still taken: %v", i, err)
			}
			ln.Close()
		}
	})
}

// TestEventLoopStreamsBothWays: megabytes each way at once through one connection arrive
// intact and in order, the byte counters agree, and a half-close passes through.
func TestEventLoopStreamsBothWays(t *testing.T) {
	bothEngines(t, func(t *testing.T, opts Options) {
		tb := newTestTable(t, opts)
		a := startBackend(t, "a")
		k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
		c, err := dial(t, k.Addr, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		const size = 8 << 20
		data := make([]byte, size)
		rng := rand.NewChaCha8([32]byte{7})
		rng.Read(data)
		errc := make(chan error, 1)
		go func() {
			// Uneven writes, so that messages straddle the proxy's buffers.
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+int(rng.Uint64()%(40<<10)))
				if _, err := c.Write(rest[:n]); err != nil {
					errc <- err
					return
				}
				rest = rest[n:]
			}
			errc <- c.Conn.(*net.TCPConn).CloseWrite()
		}()
		h := sha256.New()
		n, err := io.Copy(h, c.r) // the echo, then EOF after the backend's CloseWrite
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(data); n != size || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("echo: %d bytes, sha256 %x; want %d bytes, %x", n, h.Sum(nil), size, want)
		}
		c.Close()
		waitConns(t, tb, k, a.addr, 0, 0)
		ds, err := tb.Destinations(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if in, out := ds[0].Stats.InBytes, ds[0].Stats.OutBytes; in != size || out != size+2 {
			t.Errorf("counted %d bytes in and %d out, want %d and %d", in, out, size, size+2)
		}
	})
}

// answerAndClose starts a real server that answers each connection's first line with
// "name: line" and closes at once, as an HTTP server does with Connection: close.
func answerAndClose(t *testing.T, name string) *backend {
	srv := loopback.Listen(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			io.WriteString(c, name+": "+line)
		}
	})
	return &backend{name: name, addr: srv.Addr, srv: srv}
}

// TestEventLoopManyShortConnections: connections opened and closed as fast as clients
// can, many at once, the real server closing first and the client closing as soon as it
// has the answer, as with HTTP and Connection: close; descriptor numbers are reused
// between one loop pass and the next. Every connection gets its answer and is counted
// out. (A shutdown(2) run by the ring on a worker thread, after the close of the next
// pass, reached the socket that had taken over its descriptor number.)
func TestEventLoopManyShortConnections(t *testing.T) {
	bothEngines(t, func(t *testing.T, opts Options) {
		tb := newTestTable(t, opts)
		a, b := answerAndClose(t, "a"), answerAndClose(t, "b")
		k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a, b}, []int{1, 1})
		const workers, each = 32, 100
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					c, err := net.DialTimeout("tcp", k.Addr.String(), 5*time.Second)
					if err != nil {
						errs <- err
						return
					}
					c.SetDeadline(time.Now().Add(3 * time.Second))
					msg := fmt.Sprintf("worker %02d message %03d\n", w, i)
					io.WriteString(c, msg)
					got := make([]byte, len("a: ")+len(msg))
					_, err = io.ReadFull(c, got)
					c.Close() // without waiting for the end of the stream
					if err != nil || (string(got) != "a: "+msg && string(got) != "b: "+msg) {
						errs <- fmt.Errorf("%q: read %q (%v)", msg, got, err)
						return // one failure per worker is enough to tell
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n++; n <= 5 {
				t.Error(err)
			}
		}
		if n > 0 {
			t.Fatalf("%d of %d workers failed", n, workers)
		}
		waitConns(t, tb, k, a.addr, 0, 0)
		waitConns(t, tb, k, b.addr, 0, 0)
	})
}

// TestEpollPath runs the TCP traffic tests again over the epoll loops, which carry TCP
// where the kernel refuses io_uring.
func TestEpollPath(t *testing.T) {
	forceEpoll = true
	defer func() { forceEpoll = false }()
	runTCPTrafficTests(t)
}

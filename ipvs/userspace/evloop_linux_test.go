//go:build linux

package userspace

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

// loopConns returns the client and real-server sockets of every connection the engine's
// loops hold, read on the loops themselves (the slices are loop-owned).
func loopConns(t *testing.T, tb *Table) (cfds, sfds []int) {
	t.Helper()
	if tb.engine == nil {
		t.Fatal("no event loop engine")
	}
	for _, l := range tb.engine.loops {
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

// TestEventLoopSocketOptions: the loops set TCP_NODELAY and SO_KEEPALIVE once on the
// listening socket, not on each accepted one; that relies on Linux copying both to the
// sockets accept(2) returns. Sockets to real servers get them with their own setsockopt.
func TestEventLoopSocketOptions(t *testing.T) {
	tb := newTestTable(t, Options{})
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
	tb := newTestTable(t, Options{})
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	count := func() (n int) {
		for _, l := range tb.engine.loops {
			l.mu.Lock()
			n += len(l.listeners)
			l.mu.Unlock()
		}
		return n
	}
	if got, want := count(), len(tb.engine.loops); got != want {
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
// after DialTimeout, while the loop is otherwise idle (parked in the Go poller), and the
// connection is retried on the other real server.
func TestEventLoopConnectTimeout(t *testing.T) {
	tb := newTestTable(t, Options{DialTimeout: 300 * time.Millisecond})
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

//go:build linux

package userspace

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// faultOnce returns a carrierEnv.fault that fails a wait (io_uring_enter or
// epoll_pwait) once with EBADF after arm, and listen with EACCES while failListen is set.
func faultOnce(arm, failListen *atomic.Bool) func(string) syscall.Errno {
	return func(c string) syscall.Errno {
		switch {
		case c != "listen" && arm.CompareAndSwap(true, false):
			return syscall.EBADF
		case c == "listen" && failListen.Load():
			return syscall.EACCES
		}
		return 0
	}
}

// waitCarrier polls until tb carries TCP with something other than was, and returns
// its name.
func waitCarrier(t *testing.T, tb *Table, was carrier) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tb.mu.Lock()
		c := tb.tcp
		tb.mu.Unlock()
		if c != was {
			return c.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("TCP is still carried by %s", was)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoopSyscallErrorDegrades: an event loop whose wait fails (EBADF from
// io_uring_enter or epoll_pwait, injected through the carriers' fault seam) does not
// panic: it resets the connections it carried, its carrier reports the error, and the
// table logs it and moves every TCP service to the next data path (io_uring to epoll,
// epoll to a goroutine per direction). New connections are served there; the
// connections the other loops carried go on; every connection is accounted for once
// closed; and the table closes cleanly (newTestTable checks goroutines).
func TestLoopSyscallErrorDegrades(t *testing.T) {
	for _, tc := range []struct {
		name, call, next string
		opts             Options
	}{
		{"io_uring", "io_uring_enter", "epoll event loops", Options{}},
		{"epoll", "epoll_pwait", "a goroutine per direction", Options{epoll: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.call == "io_uring_enter" {
				requireRing(t)
			}
			var arm, noListen atomic.Bool
			var log bytes.Buffer
			opts := tc.opts
			opts.fault = faultOnce(&arm, &noListen)
			opts.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))
			tb := newTestTable(t, opts)
			first := tb.tcp
			loops := len(ringLoops(tb)) + len(epollLoops(tb))
			a := startBackend(t, "a")
			k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
			var held []*client
			for range 6 { // spread over the loops
				c, err := dial(t, k.Addr, "")
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			arm.Store(true)
			// Any event wakes a loop into its next wait, which fails; the connection
			// that woke it may be reset with the loop.
			if c, err := dial(t, k.Addr, ""); err == nil {
				c.Close()
			}
			if got := waitCarrier(t, tb, first); !strings.Contains(got, tc.next) {
				t.Fatalf("degraded to %s, want %s", got, tc.next)
			}
			if s := log.String(); !strings.Contains(s, "userspace TCP data path failed") ||
				!strings.Contains(s, tc.call) || !strings.Contains(s, "bad file descriptor") {
				t.Errorf("the log does not say which call failed, and why:\n%s", s)
			}
			for i := range 10 {
				if got := hit(t, k.Addr, ""); got != "a" {
					t.Fatalf("connection %d after the failure answered by %q", i, got)
				}
			}
			alive := 0
			for _, c := range held {
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte("ping\n")); err == nil {
					if line, err := c.r.ReadString('\n'); err == nil && line == "ping\n" {
						alive++
					}
				}
				c.Close()
			}
			// Those the failed loop carried were reset; the other loops' went on.
			if alive == len(held) || loops > 1 && alive == 0 {
				t.Errorf("%d of %d connections open before the failure lived through it, on %d loops", alive, len(held), loops)
			}
			waitConns(t, tb, k, a.addr, 0, 0)
		})
	}
}

// TestLoopSyscallErrorFailsService: when the next data path cannot listen on a
// service's address, that service stops cleanly (it leaves the table, with an error in
// the log), and the table goes on: the service can be added again on the new data path.
func TestLoopSyscallErrorFailsService(t *testing.T) {
	var arm, noListen atomic.Bool
	var log bytes.Buffer
	tb := newTestTable(t, Options{fault: faultOnce(&arm, &noListen),
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))})
	first := tb.tcp
	a := startBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	noListen.Store(true)
	arm.Store(true)
	if c, err := dial(t, k.Addr, ""); err == nil {
		c.Close()
	}
	got := waitCarrier(t, tb, first)
	deadline := time.Now().Add(10 * time.Second)
	for {
		svcs, err := tb.Services(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(svcs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service is still in the table after its data path (now %s) failed to listen: %+v", got, svcs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := log.String(); !strings.Contains(s, "userspace service stopped") || !strings.Contains(s, "permission denied") {
		t.Errorf("the log does not say that the service stopped, and why:\n%s", s)
	}
	noListen.Store(false)
	k = addService(t, tb, ipvs.Service{ServiceKey: k, Scheduler: "rr"}, []*backend{a}, []int{1})
	if got := hit(t, k.Addr, ""); got != "a" {
		t.Fatalf("the service added again answered by %q", got)
	}
}

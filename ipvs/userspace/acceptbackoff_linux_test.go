//go:build linux

package userspace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

// allEngines runs f over every TCP data path: io_uring loops, epoll loops and a
// goroutine per direction.
func allEngines(t *testing.T, f func(t *testing.T, opts Options)) {
	bothEngines(t, f)
	t.Run("goroutines", func(t *testing.T) { f(t, Options{goroutines: true}) })
}

func serviceOf(tb *Table, k ipvs.ServiceKey) *service {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.services[k]
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// cpuTime is the CPU time the process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAcceptBackoffEMFILE: while the process has no descriptor left, a connection
// waiting in a service's backlog makes its accepts fail with EMFILE; the loops pause
// instead of trying again at once. Measured over 300 ms: the accepts that fail, and the
// CPU time of the process. Without the pause an epoll loop's level-triggered listener
// woke it again at once, and an io_uring loop re-armed its accept at once: each spun a
// CPU. Once the descriptors are back the connection is accepted and served.
func TestAcceptBackoffEMFILE(t *testing.T) { allEngines(t, testAcceptBackoffEMFILE) }

func testAcceptBackoffEMFILE(t *testing.T, opts Options) {
	fds := testenv.LowerFDLimit(t)
	tb := newTestTable(t, opts)
	a := namingBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	s := serviceOf(tb, k)
	c := testenv.NewPendingClient(t)

	fds.Exhaust()
	c.Connect(t, k.Addr)
	waitFor(t, "a failed accept", func() bool { return s.acceptErrors.Load() > 0 })
	const window = 300 * time.Millisecond
	failed0, cpu0, start := s.acceptErrors.Load(), cpuTime(t), time.Now()
	time.Sleep(window)
	failed, cpu, wall := s.acceptErrors.Load()-failed0, cpuTime(t)-cpu0, time.Since(start)
	fds.Release()
	t.Logf("over %v with no descriptor left: %d accepts failed, %v of CPU", wall.Round(time.Millisecond), failed, cpu.Round(time.Millisecond))
	// A pause of 5 ms doubling: 5 failures per loop in 300 ms. Spinning: thousands,
	// and a CPU per loop.
	if failed >= 50 {
		t.Errorf("%d accepts failed in %v: the loops retry without pausing", failed, wall)
	}
	if cpu > wall/2 {
		t.Errorf("the process used %v of CPU in %v with nothing to do but wait", cpu, wall)
	}

	// The longest pause so far is under a second.
	if got, err := c.Read(t); err != nil || got != "a\n" {
		t.Fatalf("after the descriptors came back the client read %q (%v), want the backend's name", got, err)
	}
}

// TestAcceptBackoffOnClock: a pause lasts until the table's clock says it is over (no
// accept is retried while a fake clock stands still); advancing the clock past it ends
// it, and a listener deleted while paused frees its address and lets the table close.
func TestAcceptBackoffOnClock(t *testing.T) {
	for _, then := range []string{"resume", "delete"} {
		t.Run(then, func(t *testing.T) {
			allEngines(t, func(t *testing.T, opts Options) { testAcceptBackoffOnClock(t, opts, then) })
		})
	}
}

func testAcceptBackoffOnClock(t *testing.T, opts Options, then string) {
	fake := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	opts.Clock = fake
	fds := testenv.LowerFDLimit(t)
	tb := newTestTable(t, opts)
	a := namingBackend(t, "a")
	k := addService(t, tb, ipvs.Service{Scheduler: "rr"}, []*backend{a}, []int{1})
	s := serviceOf(tb, k)
	c := testenv.NewPendingClient(t)

	fds.Exhaust()
	c.Connect(t, k.Addr)
	// Each failure that starts a pause schedules its end.
	waitFor(t, "a paused listener", func() bool {
		n := s.acceptErrors.Load()
		return n > 0 && fake.Pending() == int(n)
	})
	time.Sleep(200 * time.Millisecond)
	failed := s.acceptErrors.Load()
	if loops := max(len(ringLoops(tb)), len(epollLoops(tb)), 1); failed > uint64(loops) {
		t.Errorf("%d accepts failed with the clock standing still, want at most one per loop (%d)", failed, loops)
	}
	if got := fake.Pending(); got != int(failed) {
		t.Errorf("%d pauses pending, want %d", got, failed)
	}
	// What the director reads for /metrics and /status.
	if got, want := serviceAccepts(t, tb, k), (ipvs.AcceptStats{Errors: failed, Paused: true}); got == nil || *got != want {
		t.Errorf("Services reports accepts %+v while paused, want %+v", got, want)
	}
	fds.Release()

	switch then {
	case "resume":
		fake.Advance(acceptPauseMin)
		if got, err := c.Read(t); err != nil || got != "a\n" {
			t.Fatalf("after the pause the client read %q (%v), want the backend's name", got, err)
		}
		if got, want := serviceAccepts(t, tb, k), (ipvs.AcceptStats{Errors: failed}); got == nil || *got != want {
			t.Errorf("Services reports accepts %+v after the pause, want %+v", got, want)
		}
	case "delete":
		if err := tb.DeleteService(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		if opts.goroutines {
			// The accept goroutine stops its timer once it sees the listener closed.
			waitFor(t, "the accept goroutine's timer stopped", func() bool { return fake.Pending() == 0 })
		} else if got := fake.Pending(); got != 0 {
			t.Errorf("%d pauses pending after DeleteService, want 0", got)
		}
		ln, err := net.Listen("tcp", k.Addr.String())
		if err != nil {
			t.Fatalf("the address of a service deleted while paused is still taken: %v", err)
		}
		ln.Close()
		if got, err := c.Read(t); err == nil || strings.HasPrefix(got, "a") {
			t.Errorf("the client of a deleted service read %q (%v), want a reset or EOF", got, err)
		}
	}
}

// namingBackend is a real server that sends its name and a newline on each connection,
// and closes it. Unlike startBackend's it survives a failed accept: with no descriptor
// left accept(2) fails with EMFILE even when no connection is pending (Linux takes the
// descriptor before it looks at the backlog).
func namingBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			fmt.Fprintf(c, "%s\n", name)
			c.Close()
		}
	}()
	return &backend{name: name, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
}

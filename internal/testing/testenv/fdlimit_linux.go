package testenv

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FDLimit is a lowered soft RLIMIT_NOFILE of the process, for tests that make accept(2)
// fail with EMFILE. The limit is the process's: a test that lowers it must not run in
// parallel with others.
type FDLimit struct {
	t    testing.TB
	old  syscall.Rlimit
	fds  []int // taken by Exhaust
	once sync.Once
}

// LowerFDLimit lowers the soft RLIMIT_NOFILE to a little above the highest descriptor
// open; the test's cleanup restores it. Call it before opening what must see the limit:
// an io_uring accept takes it when it is submitted.
func LowerFDLimit(t testing.TB) *FDLimit {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	l := &FDLimit{t: t}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l.old); err != nil {
		t.Fatal(err)
	}
	lowered := l.old
	lowered.Cur = uint64(highest) + 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l
}

// Exhaust takes every descriptor left under the limit, so that accept(2) fails with
// EMFILE. It may be called again to take those closed since.
func (l *FDLimit) Exhaust() {
	for {
		fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 0)
		if err == unix.EMFILE {
			return
		}
		if err != nil {
			l.t.Fatalf("dup: %v", err)
		}
		l.fds = append(l.fds, fd)
	}
}

// Release gives the descriptors back and restores the limit.
func (l *FDLimit) Release() {
	l.once.Do(func() {
		for _, fd := range l.fds {
			unix.Close(fd)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l.old); err != nil {
			l.t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
}

// PendingClient is a socket opened before the descriptors run out, so that connect(2),
// which needs none, can put a connection in a listener's backlog after they have.
type PendingClient struct{ fd int }

// NewPendingClient opens the socket; the test's cleanup closes it.
func NewPendingClient(t testing.TB) *PendingClient {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &PendingClient{fd: fd}
	t.Cleanup(func() {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
	})
	return c
}

// Connect connects to an IPv4 address.
func (c *PendingClient) Connect(t testing.TB, to netip.AddrPort) {
	t.Helper()
	sa := &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	if err := unix.Connect(c.fd, sa); err != nil {
		t.Fatalf("connect to %s: %v", to, err)
	}
}

// Read returns the first line the connection receives within 5 s.
func (c *PendingClient) Read(t testing.TB) (string, error) {
	t.Helper()
	f := os.NewFile(uintptr(c.fd), "client")
	c.fd = -1
	defer f.Close()
	conn, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	return bufio.NewReader(conn).ReadString('\n')
}

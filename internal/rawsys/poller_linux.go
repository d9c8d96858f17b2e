//go:build linux

package rawsys

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is the epoll instance of an event loop that runs on a goroutine, with an
// eventfd that other goroutines use to wake it. Wait takes what is ready with a raw
// epoll_pwait and, when nothing is, parks the goroutine in the Go runtime's poller on
// the epoll descriptor until it has events, Wake is called, or a deadline passes.
//
// Why park instead of blocking in epoll_wait: a goroutine blocked in a system call
// keeps its P in the syscall state, so sysmon keeps polling every 20 us to 10 ms,
// retakes the P, hands it to another thread and wakes that one, and the loop's thread
// wakes sysmon again when the call returns. At 10,000 health-check probes a second
// that was 1,600-3,000 context switches a second; parked, the P is idle, sysmon sleeps,
// and one thread does it all: about 360 (docs/benchmarks.md, issue 4). The userspace
// data plane measured the same with Connection: close traffic.
//
// A Poller belongs to one goroutine, except Wake, which any goroutine may call until
// Close.
type Poller struct {
	fd, evfd int
	f        *os.File        // fd, registered with the runtime's poller
	rc       syscall.RawConn // f's, to park on it
	deadline time.Time       // the read deadline set on f
}

// NewPoller opens an epoll instance and its wake-up eventfd; name labels the
// descriptor (as in /proc/self/fd) and the errors.
func NewPoller(name string) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("%s: %w", name, os.NewSyscallError("eventfd", err))
	}
	p := &Poller{fd: epfd, evfd: evfd}
	fail := func(err error) (*Poller, error) {
		unix.Close(evfd)
		if p.f != nil {
			p.f.Close()
		} else {
			unix.Close(epfd)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if e := p.Add(evfd, unix.EPOLLIN, 0); e != 0 {
		return fail(os.NewSyscallError("epoll_ctl", e))
	}
	// An epoll descriptor is itself pollable: readable while it has events. Made
	// non-blocking, os.NewFile registers it with the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		return fail(os.NewSyscallError("fcntl", err))
	}
	p.f = os.NewFile(uintptr(epfd), name)
	if p.rc, err = p.f.SyscallConn(); err != nil {
		return fail(err)
	}
	// Fails unless the runtime's poller took the descriptor: Wait could not park.
	if err := p.f.SetReadDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("epoll descriptor in the Go poller: %w", err))
	}
	return p, nil
}

// Add registers fd for events; the events Wait returns carry fd and tag (EpollEvent.Fd
// and Pad), so that a loop can tell an event for a closed fd whose number was reused.
func (p *Poller) Add(fd int, events uint32, tag int32) unix.Errno {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: tag}
	return EpollCtl(p.fd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// Del unregisters fd. Closing fd does the same when it is the descriptor's last.
func (p *Poller) Del(fd int) unix.Errno {
	return EpollCtl(p.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Wake makes the loop's current or next Wait return with woke set.
func (p *Poller) Wake() {
	one := [8]byte{1}
	unix.RawSyscall(unix.SYS_WRITE, uintptr(p.evfd), uintptr(unsafe.Pointer(&one[0])), 8)
}

// Poll returns what is ready now, without waiting: the first n entries of events, and
// whether Wake was called.
func (p *Poller) Poll(events []unix.EpollEvent) (n int, woke bool, err error) {
	for {
		r, e := EpollPoll(p.fd, events)
		switch e {
		case 0:
			n, woke = p.consumeWake(events[:r])
			return n, woke, nil
		case unix.EINTR:
			continue
		}
		return 0, false, os.NewSyscallError("epoll_pwait", e)
	}
}

// Wait is Poll, except that when nothing is ready it parks until something is, until
// Wake, or until deadline (the zero time: none). It returns n == 0 and woke false only
// when the deadline has passed.
func (p *Poller) Wait(events []unix.EpollEvent, deadline time.Time) (n int, woke bool, err error) {
	if !deadline.Equal(p.deadline) {
		if err := p.f.SetReadDeadline(deadline); err != nil {
			return 0, false, fmt.Errorf("set epoll deadline: %w", err)
		}
		p.deadline = deadline
	}
	var perr unix.Errno
	// Read calls the function first and parks only when it returns false, until the
	// runtime sees the epoll descriptor readable (an edge after the call) or the
	// deadline. The function must poll: Read drops a readiness the runtime saw before it.
	rerr := p.rc.Read(func(fd uintptr) bool {
		for {
			r, e := EpollPoll(int(fd), events)
			if e == unix.EINTR {
				continue
			}
			n, perr = r, e
			return n > 0 || e != 0
		}
	})
	switch {
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return 0, false, nil
	case rerr != nil:
		return 0, false, fmt.Errorf("park on the epoll descriptor: %w", rerr)
	case perr != 0:
		return 0, false, os.NewSyscallError("epoll_pwait", perr)
	}
	n, woke = p.consumeWake(events[:n])
	return n, woke, nil
}

// consumeWake takes the eventfd's event out of events, reading the eventfd if it was
// there, and returns how many events are left.
func (p *Poller) consumeWake(events []unix.EpollEvent) (int, bool) {
	for i := range events {
		if int(events[i].Fd) == p.evfd {
			var b [8]byte
			Read(p.evfd, b[:])
			last := len(events) - 1
			events[i] = events[last]
			return last, true
		}
	}
	return len(events), false
}

// Close closes the epoll instance and the eventfd. No Wake may follow: the eventfd's
// number may belong to another file by then.
func (p *Poller) Close() error {
	unix.Close(p.evfd)
	return p.f.Close()
}

package checks

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// rawConnectSupported: connectOnly below is the connect-only tcp check's fast path.
const rawConnectSupported = true

// connectOnly opens a TCP connection to addr and aborts it, for the connect-only tcp check
// at thousands of checks per second. See rawDial.
func connectOnly(ctx context.Context, addr netip.AddrPort, source netip.Addr) error {
	f, stop, err := rawDial(ctx, addr, source)
	if err != nil {
		return err
	}
	stop()
	return f.Close()
}

// rawDial connects to addr and returns the connection as an *os.File registered with the
// runtime's poller, whose I/O fails once ctx is done (call stop when done with it). It is
// net.Dialer minus what a check never uses: name resolution, TCP_NODELAY,
// getsockname/getpeername, a goroutine watching ctx. Ten system calls for a connect-only
// check: socket, two setsockopt (SO_LINGER 0, TCP_QUICKACK 0; see prepareSocket), connect,
// fcntl and epoll_ctl (os.NewFile), poll, getsockopt(SO_ERROR), epoll_ctl and close.
func rawDial(ctx context.Context, addr netip.AddrPort, source netip.Addr) (*os.File, func() bool, error) {
	ip := addr.Addr().Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	if err := prepareSocket(uintptr(fd), true); err != nil {
		unix.Close(fd)
		return nil, nil, os.NewSyscallError("setsockopt", err)
	}
	if source.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(source.Unmap(), 0), ip.Is6())); err != nil {
			unix.Close(fd)
			return nil, nil, os.NewSyscallError("bind", err)
		}
	}
	err = unix.Connect(fd, sockaddr(netip.AddrPortFrom(ip, addr.Port()), ip.Is6()))
	inProgress := errors.Is(err, unix.EINPROGRESS)
	if err != nil && !inProgress {
		unix.Close(fd)
		return nil, nil, os.NewSyscallError("connect", err)
	}
	// The socket is non-blocking, so os.NewFile registers it with the runtime's poller and
	// deadlines work on it.
	f := os.NewFile(uintptr(fd), "tcp-check")
	// ctx's own timer ends the wait: no deadline timers on the file itself.
	stop := context.AfterFunc(ctx, func() { _ = f.SetDeadline(time.Unix(1, 0)) })
	if !inProgress {
		return f, stop, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		stop()
		f.Close()
		return nil, nil, err
	}
	var soErr error
	first := true
	werr := rc.Write(func(fd uintptr) bool {
		if first {
			// Called once before any wait, after the poller's readiness was reset: an
			// edge that came between registration and now is lost, so ask the kernel
			// whether the connect has finished (either way) before waiting for the next.
			first = false
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if n, err := unix.Poll(pfd, 0); err != nil || n == 0 {
				return false
			}
		}
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = os.NewSyscallError("getsockopt", err)
		case v != 0:
			soErr = os.NewSyscallError("connect", unix.Errno(v))
		}
		return true
	})
	if werr == nil {
		werr = soErr
	}
	if werr != nil {
		stop()
		f.Close()
		if ctx.Err() != nil {
			return nil, nil, context.DeadlineExceeded
		}
		return nil, nil, werr
	}
	return f, stop, nil
}

func sockaddr(ap netip.AddrPort, v6 bool) unix.Sockaddr {
	if v6 {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

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
// at thousands of checks per second. It is net.Dialer minus what a check never uses:
// name resolution, TCP_NODELAY, getsockname/getpeername, a goroutine watching ctx. Nine
// system calls: socket, two setsockopt (SO_LINGER 0, TCP_QUICKACK 0; see prepareSocket),
// connect, fcntl and epoll_ctl (os.NewFile), getsockopt(SO_ERROR), epoll_ctl and close.
func connectOnly(ctx context.Context, addr netip.AddrPort, source netip.Addr) error {
	ip := addr.Addr().Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if err := prepareSocket(uintptr(fd), true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("setsockopt", err)
	}
	if source.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(source.Unmap(), 0), ip.Is6())); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("bind", err)
		}
	}
	err = unix.Connect(fd, sockaddr(netip.AddrPortFrom(ip, addr.Port()), ip.Is6()))
	switch {
	case err == nil:
		unix.Close(fd)
		return nil
	case !errors.Is(err, unix.EINPROGRESS):
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	// The socket is non-blocking, so os.NewFile registers it with the runtime's poller and
	// deadlines work on it.
	f := os.NewFile(uintptr(fd), "tcp-check")
	defer f.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var soErr error
	first := true
	werr := rc.Write(func(fd uintptr) bool {
		if first {
			// Called once before any wait: the connect may still be in progress, when
			// SO_ERROR reads 0 too. Wait for writability first.
			first = false
			return false
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
	if werr != nil {
		if ctx.Err() != nil {
			return context.DeadlineExceeded
		}
		return werr
	}
	return soErr
}

func sockaddr(ap netip.AddrPort, v6 bool) unix.Sockaddr {
	if v6 {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

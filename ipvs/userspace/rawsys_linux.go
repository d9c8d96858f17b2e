//go:build linux

package userspace

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/rawsys"
)

// The event loops make their socket calls through rawsys (RawSyscall: none of them
// blocks). Only a loop's one blocking wait is a normal system call.

// rawConnect opens a non-blocking TCP socket with TCP_NODELAY and SO_KEEPALIVE and
// starts connecting it to to (EINPROGRESS is success).
func rawConnect(to netip.AddrPort) (int, unix.Errno) {
	a := to.Addr().Unmap()
	family := unix.AF_INET
	if !a.Is4() {
		family = unix.AF_INET6
	}
	var sa rawsys.Sockaddr
	sa.Set(netip.AddrPortFrom(a, to.Port()), !a.Is4())
	fd, e := rawsys.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	tuneConnect(fd)
	if e := rawsys.Connect(fd, &sa); e != 0 && e != unix.EINPROGRESS {
		rawsys.Close(fd)
		return -1, e
	}
	return fd, 0
}

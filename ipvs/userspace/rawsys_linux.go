//go:build linux

package userspace

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops' system calls. Every socket a loop touches is non-blocking and every
// call below returns at once (a zero-timeout epoll_wait included), so they go through
// RawSyscall: no entersyscall/exitsyscall, and no chance for sysmon to take the loop's P
// away while a loopback connect(2) runs the handshake inline. Only the loop's one
// blocking epoll_wait is a normal system call (loop.block).
//
// Errors come back as unix.Errno; 0 is success.

func rawRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(r), e
}

// rawSend is send(2): write(2) with flags.
func rawSend(fd int, p []byte, flags int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags), 0, 0)
	return int(r), e
}

// rawPoll is epoll_wait with a zero timeout: what is ready now, without blocking.
func rawPoll(epfd int, events []unix.EpollEvent) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	return int(r), e
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawShutdown(fd, how int) {
	unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
}

func rawSetsockoptInt(fd, level, opt, value int) unix.Errno {
	v := int32(value)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), 4, 0)
	return e
}

// rawAccept returns a non-blocking, close-on-exec connection and its peer's address.
func rawAccept(lfd int) (int, netip.AddrPort, unix.Errno) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(r), rawAddrPort(&rsa), 0
}

func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), bePort(a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), bePort(a.Port))
	}
	return netip.AddrPort{}
}

// bePort reads a port stored in network byte order.
func bePort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rawConnect opens a non-blocking TCP socket with TCP_NODELAY and SO_KEEPALIVE and
// starts connecting it to to (EINPROGRESS is success).
func rawConnect(to netip.AddrPort) (int, unix.Errno) {
	var (
		family = unix.AF_INET
		sa4    unix.RawSockaddrInet4
		sa6    unix.RawSockaddrInet6
		sa     unsafe.Pointer
		salen  uintptr
	)
	port := [2]byte{byte(to.Port() >> 8), byte(to.Port())}
	if a := to.Addr().Unmap(); a.Is4() {
		sa4.Family = unix.AF_INET
		sa4.Port = *(*uint16)(unsafe.Pointer(&port))
		sa4.Addr = a.As4()
		sa, salen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		family = unix.AF_INET6
		sa6.Family = unix.AF_INET6
		sa6.Port = *(*uint16)(unsafe.Pointer(&port))
		sa6.Addr = a.As16()
		sa, salen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	r, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	fd := int(r)
	tuneConnect(fd)
	_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), salen)
	if e != 0 && e != unix.EINPROGRESS {
		rawClose(fd)
		return -1, e
	}
	return fd, 0
}

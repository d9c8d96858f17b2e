//go:build linux

package rawsys

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

func Read(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(r), e
}

// Send is send(2): write(2) with flags, on a connected socket.
func Send(fd int, p []byte, flags int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(flags), 0, 0)
	return int(r), e
}

// EpollPoll is epoll_wait with a zero timeout: what is ready now, without blocking.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	return int(r), e
}

func EpollCtl(epfd, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

func Close(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func Shutdown(fd, how int) {
	unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
}

func Socket(family, typ, proto int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ), uintptr(proto))
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

func Setsockopt(fd, level, opt int, val unsafe.Pointer, size uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), size, 0)
	return e
}

func SetsockoptInt(fd, level, opt, value int) unix.Errno {
	v := int32(value)
	return Setsockopt(fd, level, opt, unsafe.Pointer(&v), 4)
}

func GetsockoptInt(fd, level, opt int) (int, unix.Errno) {
	var v int32
	size := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0)
	return int(v), e
}

// Sockaddr is room for a sockaddr_in or sockaddr_in6.
type Sockaddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uintptr
}

// Set fills sa with ap: an IPv4 address (ap's must be one, unmapped) unless v6.
func (sa *Sockaddr) Set(ap netip.AddrPort, v6 bool) {
	port := ap.Port()
	if !v6 {
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.b))
		*r = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().As4()}
		p := (*[2]byte)(unsafe.Pointer(&r.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.n = unix.SizeofSockaddrInet4
		return
	}
	r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa.b))
	*r = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&r.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.n = unix.SizeofSockaddrInet6
}

// Ptr and Len are the address and its length, for a system call or an SQE that takes them.
func (sa *Sockaddr) Ptr() unsafe.Pointer { return unsafe.Pointer(&sa.b) }
func (sa *Sockaddr) Len() uintptr        { return sa.n }

func Connect(fd int, sa *Sockaddr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.b)), sa.n)
	return e
}

func Bind(fd int, sa *Sockaddr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa.b)), sa.n)
	return e
}

// Accept returns a connection accept4(2) made with flags, and its peer's address.
func Accept(lfd, flags int) (int, netip.AddrPort, unix.Errno) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), uintptr(flags), 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(r), AddrPort(&rsa), 0
}

// AddrPort decodes an IPv4 or IPv6 socket address (IPv4-mapped addresses unmapped).
func AddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
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

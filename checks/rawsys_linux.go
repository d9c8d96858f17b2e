package checks

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop's per-probe system calls, made with RawSyscall. None of them blocks: the
// sockets are non-blocking, a connect returns EINPROGRESS, a close with SO_LINGER 0 sends
// an RST and returns, epoll_ctl and a zero-timeout epoll_pwait return at once. A plain
// Syscall tells the runtime the thread may block (entersyscall/exitsyscall, and sysmon may
// hand the P to another thread meanwhile): at tens of thousands of calls a second that
// bookkeeping showed in the profile beside the calls themselves. Only the loop's blocking
// wait (epoll_pwait with a timeout) goes through Syscall. These also skip x/sys/unix's
// Sockaddr interface, whose connect allocated one per probe.

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawSocket(family, typ, proto int) (int, error) {
	fd, _, e := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ), uintptr(proto))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawSetsockopt(fd, level, opt int, val unsafe.Pointer, size uintptr) error {
	_, _, e := syscall.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), size, 0)
	return errnoErr(e)
}

func rawSetsockoptInt(fd, level, opt, v int) error {
	v32 := int32(v)
	return rawSetsockopt(fd, level, opt, unsafe.Pointer(&v32), 4)
}

func rawGetsockoptInt(fd, level, opt int) (int, error) {
	var v int32
	size := uint32(4)
	_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0)
	return int(v), errnoErr(e)
}

// rawSockaddr is room for a sockaddr_in or sockaddr_in6.
type rawSockaddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uintptr
}

// set fills sa with ap (an IPv4 address when v4, else IPv6).
func (sa *rawSockaddr) set(ap netip.AddrPort, v6 bool) {
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

func rawConnect(fd int, sa *rawSockaddr) error {
	_, _, e := syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.b)), sa.n)
	return errnoErr(e)
}

func rawBind(fd int, sa *rawSockaddr) error {
	_, _, e := syscall.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa.b)), sa.n)
	return errnoErr(e)
}

func rawClose(fd int) {
	_, _, _ = syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// rawEpollPoll returns the ready events without waiting.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawSend sends b on a connected socket (sendto without an address).
func rawSend(fd int, b []byte, flags int) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

package checks

import (
	"os"

	"golang.org/x/sys/unix"
)

// icmpSockopts prepares an ICMP socket. A ping socket gets IP_RECVERR, so an ICMP error
// its echo caused (host unreachable, prohibited) ends the probe at once as an errno. A raw
// socket, which receives every ICMP message the host does, keeps only echo replies and
// the errors that may quote an echo (ICMP_FILTER, ICMPV6_FILTER): on a busy director a
// raw ICMPv6 socket would otherwise wake for every neighbour discovery packet.
func icmpSockopts(fd int, v4, raw bool) error {
	if !raw {
		return os.NewSyscallError("setsockopt", recvErrors(uintptr(fd), v4))
	}
	if v4 {
		// Bit n set blocks type n: keep echo reply (0), unreachable (3), time exceeded (11).
		keep := uint32(1<<0 | 1<<3 | 1<<11)
		return os.NewSyscallError("setsockopt ICMP_FILTER", unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(^keep)))
	}
	var f unix.ICMPv6Filter
	for i := range f.Data {
		f.Data[i] = ^uint32(0) // block everything...
	}
	for _, typ := range []int{1, 3, 129} { // ...but unreachable, time exceeded, echo reply
		f.Data[typ>>5] &^= 1 << (uint(typ) & 31)
	}
	return os.NewSyscallError("setsockopt ICMPV6_FILTER", unix.SetsockoptICMPv6Filter(fd, unix.IPPROTO_ICMPV6, unix.ICMPV6_FILTER, &f))
}

package checks

import "golang.org/x/sys/unix"

// recvErrors turns on IP_RECVERR (IPV6_RECVERR): without it Linux reports only the "hard"
// ICMP errors (port and protocol unreachable) to a connected UDP socket and drops a host
// or network unreachable, which keepalived's UDP_CHECK counts as a failure too
// (layer4.c sets it for the same reason).
func recvErrors(fd uintptr, v4 bool) error {
	if v4 {
		return unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	}
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
}

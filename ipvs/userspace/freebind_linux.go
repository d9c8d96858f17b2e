package userspace

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind lets a listener bind an address the host does not hold yet (IP_FREEBIND,
// IPV6_FREEBIND): kernel IPVS needs no local VIP, and a VRRP backup must be ready to
// serve the moment the VIP moves to it.
func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" || network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

package checks

import "golang.org/x/sys/unix"

// setLazyACK clears TCP_QUICKACK before connect. Linux then treats the socket as
// interactive ("pingpong" mode) and delays the handshake's final ACK hoping to piggyback
// it on data (tcp_rcv_synsent_state_process). A connect-only check that closes with an
// RST right away therefore sends SYN, gets SYN-ACK, and answers RST: the server never
// sees an established connection, as with HAProxy's tcp-check.
func setLazyACK(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
}

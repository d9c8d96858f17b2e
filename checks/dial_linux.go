package checks

import "golang.org/x/sys/unix"

// lingerAtDial: prepareSocket sets SO_LINGER 0 before connect.
const lingerAtDial = true

// prepareSocket runs on a check's socket before connect. SO_LINGER 0 makes every close an
// RST, however the probe ends: after a pass, a failure, or a timeout in the middle of the
// handshake, where the dialer closes the socket itself. Under load, timed-out dials that
// closed with a FIN filled the TIME_WAIT table, connect() then spent its time looking for
// a free port, more dials timed out: a spiral, seen at 10,000 checks/s.
func prepareSocket(fd uintptr, lazyACK bool) error {
	if err := unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return err
	}
	if lazyACK {
		// Best effort: a kernel without the option still gets a working check.
		_ = setLazyACK(int(fd))
	}
	return nil
}

// setLazyACK clears TCP_QUICKACK before connect. Linux then treats the socket as
// interactive ("pingpong" mode) and delays the handshake's final ACK hoping to piggyback
// it on data (tcp_rcv_synsent_state_process). A connect-only check that closes with an
// RST right away therefore sends SYN, gets SYN-ACK, and answers RST: the server never
// sees an established connection, as with HAProxy's tcp-check.
func setLazyACK(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
}

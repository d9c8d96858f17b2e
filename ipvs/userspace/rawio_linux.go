package userspace

import "golang.org/x/sys/unix"

var errAgain error = unix.EAGAIN

// syscallRead is read(2) on a non-blocking socket, retried on EINTR.
func syscallRead(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

//go:build !linux

package userspace

import "syscall"

var errAgain error = syscall.EAGAIN

// syscallRead is read(2) on a non-blocking socket, retried on EINTR.
func syscallRead(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

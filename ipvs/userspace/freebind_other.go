//go:build !linux

package userspace

import "syscall"

// freebind does nothing where IP_FREEBIND does not exist: the address must be local.
func freebind(network, address string, c syscall.RawConn) error { return nil }

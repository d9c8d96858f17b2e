//go:build unix && !linux

package checks

// icmpSockopts: the error reporting and type filters are Linux's; elsewhere the echo
// reply is still matched by address, ID and sequence number.
func icmpSockopts(fd int, v4, raw bool) error { return nil }

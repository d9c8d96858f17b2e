//go:build !linux

package checks

// lingerAtDial: elsewhere abort sets SO_LINGER 0 just before closing.
const lingerAtDial = false

// prepareSocket is Linux-only; elsewhere the handshake completes normally.
func prepareSocket(fd uintptr, lazyACK bool) error { return nil }

//go:build !linux

package checks

import (
	"context"
	"errors"
	"net/netip"
	"os"
)

// lingerAtDial: elsewhere abort sets SO_LINGER 0 just before closing.
const lingerAtDial = false

// prepareSocket is Linux-only; elsewhere the handshake completes normally.
func prepareSocket(fd uintptr, lazyACK bool) error { return nil }

// rawConnectSupported: elsewhere the connect-only check uses net.Dialer.
const rawConnectSupported = false

func connectOnly(ctx context.Context, addr netip.AddrPort, source netip.Addr) error {
	return errors.ErrUnsupported
}

func rawDial(ctx context.Context, addr netip.AddrPort, source netip.Addr) (*os.File, func() bool, error) {
	return nil, nil, errors.ErrUnsupported
}

//go:build !unix

package checks

import (
	"errors"
	"net/netip"
)

func openICMP(v4 bool, source netip.Addr) (icmpConn, error) {
	return icmpConn{}, errors.ErrUnsupported
}

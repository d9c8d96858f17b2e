//go:build !linux

package director

import (
	"errors"
	"net/netip"
)

// linuxLoopback is unavailable here: announcing needs Linux.
type linuxLoopback struct{}

var errNoLoopback = errors.New("putting virtual IPs on lo needs Linux")

func (linuxLoopback) Add(netip.Prefix) (bool, error) { return false, errNoLoopback }
func (linuxLoopback) Remove(netip.Prefix) error      { return errNoLoopback }

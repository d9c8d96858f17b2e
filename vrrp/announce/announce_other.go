//go:build !linux

package announce

import (
	"errors"
	"net/netip"
)

// Announcer is unavailable outside Linux.
type Announcer struct{}

// Open fails outside Linux.
func Open(ifname string) (*Announcer, error) {
	return nil, errors.New("open announcer on " + ifname + ": needs Linux")
}

func (a *Announcer) Announce([]netip.Addr) error { return errors.New("announce: needs Linux") }
func (a *Announcer) Close() error                { return nil }

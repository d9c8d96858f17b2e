package link

import (
	"context"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Watcher watches links through an RTNLGRP_LINK subscription.
type Watcher struct{}

// up is "administratively up and has carrier": IFF_RUNNING follows the operational
// state, so both `ip link set down` and a lost peer (veth, cable) count as down.
func up(a *netlink.LinkAttrs) bool {
	return a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0
}

// Watch calls fn with the current state of each named link, then on each change, until
// ctx is done. A link that does not exist is reported down.
func (Watcher) Watch(ctx context.Context, names []string, fn func(name string, up bool)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(ch, ctx.Done(), netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("subscribe to link updates: %w", err)
	}
	last := map[string]bool{}
	report := func(name string, u bool) {
		if prev, ok := last[name]; ok && prev == u {
			return
		}
		last[name] = u
		fn(name, u)
	}
	for _, n := range names {
		l, err := netlink.LinkByName(n)
		report(n, err == nil && up(l.Attrs()))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("link updates: %w", err)
		case u, ok := <-ch:
			if !ok {
				return nil
			}
			a := u.Attrs()
			if !slices.Contains(names, a.Name) {
				continue
			}
			report(a.Name, u.Header.Type != unix.RTM_DELLINK && up(a))
		}
	}
}

package vrrp

import (
	"fmt"
	"log/slog"

	"github.com/vigil-lb/vigil/vrrp/announce"
	"github.com/vigil-lb/vigil/vrrp/link"
	"github.com/vigil-lb/vigil/vrrp/transport"
	"github.com/vigil-lb/vigil/vrrp/vip"
)

// OpenLinux opens the kernel-facing parts for cfg: the raw VRRP socket on cfg.Interface,
// netlink address management, the AF_PACKET announcer and the netlink link watcher.
// Run closes the socket and the announcer when it returns.
func OpenLinux(cfg Config, logger *slog.Logger) (Deps, error) {
	tr, err := transport.Open(transport.Config{
		Interface: cfg.Interface, IPv6: cfg.family6(),
		UnicastSrc: cfg.UnicastSrc, UnicastPeers: cfg.UnicastPeers,
		// Every v2 instance listens for AH, so that a peer whose authentication differs
		// is counted as such, not missed (keepalived's AH goes to protocol 51 only).
		AH: cfg.Version == 2 && !cfg.family6(),
	})
	if err != nil {
		return Deps{}, fmt.Errorf("vrrp instance %q: %w", cfg.Name, err)
	}
	ans, err := openAnnouncers(cfg, func(dev string) (Announcer, error) { return announce.Open(dev) })
	if err != nil {
		tr.Close()
		return Deps{}, fmt.Errorf("vrrp instance %q: %w", cfg.Name, err)
	}
	return Deps{
		Transport: tr,
		Addresses: vip.NewPlaced(cfg.Interface, cfg.placements()),
		Announcer: ans,
		Links:     link.Watcher{},
		Logger:    logger,
	}, nil
}

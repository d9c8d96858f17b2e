package ipvs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
)

// resolveIPVSFamily looks up the IPVS generic-netlink family in the namespace at path
// ("" = the caller's). It is what makes IPVS usable where `modprobe ip_vs` is not: the
// kernel answers a lookup of a family nobody has registered by loading the module that
// declares it (genetlink's ctrl_getfamily calls request_module("net-pf-16-proto-16-
// family-IPVS"), an alias of ip_vs), with the kernel's own privileges, so a director
// without CAP_SYS_MODULE (the shipped systemd unit) gets ip_vs loaded as `ipvsadm -Ln`
// does (docs/reference.md, IPVS detection). The error wraps ErrUnavailable when the
// family does not exist after that.
func resolveIPVSFamily(path string, timeout time.Duration) error {
	cfg := &netlink.Config{}
	if path != "" {
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", path, err)
		}
		defer ns.Close()
		cfg.NetNS = int(ns)
	}
	c, err := genetlink.Dial(cfg)
	if err != nil {
		return fmt.Errorf("open generic netlink socket: %w", err)
	}
	defer c.Close()
	// Loading the module happens inside the lookup: the deadline covers it too.
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set generic netlink deadline: %w", err)
	}
	if _, err := c.GetFamily("IPVS"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (no generic netlink family IPVS, and the kernel could not load ip_vs): %s", ErrUnavailable, unavailableHint)
		}
		return fmt.Errorf("look up the IPVS generic netlink family: %w", err)
	}
	return nil
}

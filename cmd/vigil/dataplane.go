package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/userspace"
)

// openKernelTable opens kernel IPVS in vigil's own network namespace.
func openKernelTable(log *slog.Logger) (ipvs.Table, error) {
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// openTable opens the data plane the configuration asks for, kernel IPVS through
// openKernel. auto prefers kernel IPVS; it falls back to the userspace proxy, and says
// so, only when the proxy can serve every virtual server as configured: a director set up
// for DR, TUN or firewall marks that quietly became a proxy would hand its real servers
// the director's address instead of the client's, and serve no marked packet at all.
func openTable(cfg *conf.Config, log *slog.Logger, openKernel func(*slog.Logger) (ipvs.Table, error)) (ipvs.Table, string, error) {
	dp := cfg.Global.Dataplane
	if dp == conf.DataplaneUserspace {
		return userspaceTable(log), "userspace", nil
	}
	k, err := openKernel(log)
	if err == nil {
		return k, "kernel", nil
	}
	if dp == conf.DataplaneAuto && errors.Is(err, ipvs.ErrUnavailable) {
		if err := userspaceCanServe(cfg, err); err != nil {
			return nil, "", err
		}
		log.Warn("kernel IPVS is not available; using the userspace data plane", "reason", err.Error())
		return userspaceTable(log), "userspace", nil
	}
	return nil, "", fmt.Errorf("dataplane %s: %w", dp, err)
}

func userspaceTable(log *slog.Logger) ipvs.Table {
	return userspace.New(userspace.Options{Logger: log.With("dataplane", "userspace")})
}

// userspaceCanServe returns nil when the userspace proxy serves cfg as configured (NAT
// semantics, address services), and otherwise an error naming what it cannot serve and
// the fix; kernelErr is why kernel IPVS is missing.
func userspaceCanServe(cfg *conf.Config, kernelErr error) error {
	var what []string
	marks := false
	for _, vs := range cfg.VirtualServers {
		if mark := firstMark(vs); mark != 0 {
			what = append(what, fmt.Sprintf("virtual_server %q (firewall mark %d)", vs.Name, mark))
			marks = true
			continue
		}
		if allPorts(vs) {
			what = append(what, fmt.Sprintf("virtual_server %q (every port of %s)", vs.Name, firstAllPorts(vs)))
			marks = true // the proxy cannot listen on every port either
			continue
		}
		byMethod := map[conf.Forwarding][]string{}
		var methods []conf.Forwarding
		for _, rs := range vs.RealServers {
			if rs.Forwarding == conf.NAT {
				continue
			}
			if byMethod[rs.Forwarding] == nil {
				methods = append(methods, rs.Forwarding)
			}
			byMethod[rs.Forwarding] = append(byMethod[rs.Forwarding], rs.Name)
		}
		for _, m := range methods {
			what = append(what, fmt.Sprintf("virtual_server %q (forwarding = %q: %s)", vs.Name, m, strings.Join(byMethod[m], ", ")))
		}
	}
	if len(what) == 0 {
		return nil
	}
	fix := "load ip_vs as root (modprobe ip_vs; at every boot: ip_vs in /etc/modules-load.d/)"
	if !marks {
		fix += `, or set dataplane = "userspace" to proxy them with NAT semantics (real servers then see the director's address, not the client's)`
	}
	return fmt.Errorf("dataplane auto: kernel IPVS is not available, and the userspace data plane (NAT semantics) cannot serve %s; fix: %s (kernel: %w)",
		strings.Join(what, ", "), fix, kernelErr)
}

// firstMark is the first firewall mark vs balances (its own, or one of its group's), 0
// for none.
func firstMark(vs *conf.VirtualServer) uint32 {
	for _, s := range vs.Services() {
		if s.FWMark != 0 {
			return s.FWMark
		}
	}
	return 0
}

// allPorts reports whether vs balances every port of an address (its own, or a member
// of its group), which only kernel IPVS can.
func allPorts(vs *conf.VirtualServer) bool { return firstAllPorts(vs).IsValid() }

func firstAllPorts(vs *conf.VirtualServer) netip.Addr {
	for _, s := range vs.Services() {
		if s.FWMark == 0 && s.Address.Port() == 0 {
			return s.Address.Addr()
		}
	}
	return netip.Addr{}
}

// errStartedWithoutKernel is why a reload on a director that fell back to userspace
// cannot add what only kernel IPVS serves.
var errStartedWithoutKernel = fmt.Errorf("%w when vigil started; the userspace data plane runs until the next start", ipvs.ErrUnavailable)

// reloadDataplaneError refuses a reload that the running data plane cannot serve: on a
// director where auto fell back to userspace, the rule of openTable holds for every
// reload too (unless the new file asks for userspace itself).
func (d *runner) reloadDataplaneError(cfg *conf.Config) error {
	if !d.autoUserspace || cfg.Global.Dataplane == conf.DataplaneUserspace {
		return nil
	}
	return userspaceCanServe(cfg, errStartedWithoutKernel)
}

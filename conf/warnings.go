package conf

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Warnings returns problems that do not stop vigil from running but are probably
// mistakes, each located at the block it concerns.
func (c *Config) Warnings() hcl.Diagnostics {
	var diags hcl.Diagnostics
	warn := func(rng hcl.Range, summary, format string, args ...any) {
		r := rng
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r})
	}
	vips := map[string]bool{}
	for _, vi := range c.VRRPInstances {
		for _, p := range vi.VirtualIPAddresses {
			vips[p.Addr().String()] = true
		}
	}
	for _, vs := range c.VirtualServers {
		checkWarnings(vs, warn)
		if !c.Global.ManageSysctls {
			// Without expire_quiescent_template a persistence template keeps sending a client
			// to a quiesced (weight 0) real server until the template expires.
			if vs.Persistence != nil && vs.OnFailure == Quiesce {
				warn(vs.DeclRange, "Sysctl needed",
					"virtual server %q is persistent and quiesces failed real servers; with manage_sysctls = false set net.ipv4.vs.expire_quiescent_template = 1 yourself, or persistent clients stay on a failed server.", vs.Name)
			}
			// Without expire_nodest_conn, packets of connections to a removed destination
			// are dropped silently until the connection times out.
			if vs.OnFailure == Remove {
				warn(vs.DeclRange, "Sysctl needed",
					"virtual server %q removes failed real servers; with manage_sysctls = false set net.ipv4.vs.expire_nodest_conn = 1 yourself, or their connections hang until they time out.", vs.Name)
			}
		}
		if len(vs.RealServers) == 0 && !vs.SorryServer.IsValid() {
			warn(vs.DeclRange, "No real servers", "virtual server %q has no real_server and no sorry_server: it will refuse every connection.", vs.Name)
		}
		var total uint64
		for _, rs := range vs.RealServers {
			total += uint64(rs.Weight)
		}
		if len(vs.RealServers) > 0 && uint64(vs.Quorum)+uint64(vs.Hysteresis) > total {
			warn(vs.DeclRange, "Quorum unreachable",
				"virtual server %q needs quorum %d (+ hysteresis %d) but its real servers' weights add up to %d: it can never be up.", vs.Name, vs.Quorum, vs.Hysteresis, total)
		}
		for _, svc := range vs.Services() {
			if len(c.VRRPInstances) > 0 && svc.Address.IsValid() && !vips[svc.Address.Addr().String()] {
				warn(vs.DeclRange, "Address not managed by VRRP",
					"virtual server %q listens on %s, which is not a virtual_ipaddresses entry of any vrrp_instance; it will not follow failover.", vs.Name, svc.Address.Addr())
				break
			}
		}
	}
	c.trackingWarnings(warn)
	groupWarnings(c, warn)
	bgpWarnings(c, warn)
	return diags
}

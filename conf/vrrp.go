package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults and limits of vrrp_instance.
const (
	DefaultPriority         = 100
	DefaultVRRPVersion      = 3
	DefaultAdvertInterval   = time.Second
	MaxPreemptDelay         = 1000 * time.Second // keepalived's limit
	DefaultNotifyTimeout    = 10 * time.Second
	DefaultGARPMasterRepeat = 5
	DefaultGARPMasterDelay  = 5 * time.Second
	// MaxVirtualIPs is the limit of the 8-bit "Count IPvX Addr" field (RFC 5798 §5.2.5).
	MaxVirtualIPs = 255
	// MaxTrackWeight bounds tracking weights so that a priority stays within 1..254.
	MaxTrackWeight = 253
)

var vrrpSchema = &hcl.BodySchema{
	Attributes: attrSchema("interface", "virtual_router_id", "priority", "version", "advert_interval",
		"preempt", "preempt_delay", "accept", "handover", "virtual_ipaddresses", "unicast_src", "unicast_peers",
		"notify_master", "notify_backup", "notify_fault", "notify", "notify_timeout",
		"garp_master_repeat", "garp_master_delay", "garp_master_refresh"),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "track_interface", LabelNames: []string{"name"}},
		{Type: "track_virtual_server", LabelNames: []string{"name"}},
		{Type: "ipvs_sync"},
		trackRefBlocks[0], trackRefBlocks[1], trackRefBlocks[2],
		{Type: "authentication"},
	},
}

var trackSchema = &hcl.BodySchema{Attributes: attrSchema("weight")}

var syncGroupSchema = &hcl.BodySchema{Attributes: attrSchema("instances"), Blocks: trackRefBlocks}

func (d *decoder) decodeVRRPInstance(b *hcl.Block) *VRRPInstance {
	vi := &VRRPInstance{
		Name:           d.checkName(b),
		Priority:       DefaultPriority,
		Version:        DefaultVRRPVersion,
		AdvertInterval: DefaultAdvertInterval,
		Preempt:        true,
		Accept:         true,
		Handover:       true,
		Notify:         Notify{Timeout: DefaultNotifyTimeout},
		GARP:           GARP{MasterRepeat: DefaultGARPMasterRepeat, MasterDelay: DefaultGARPMasterDelay},
		DeclRange:      b.DefRange,
	}
	content, diags := b.Body.Content(vrrpSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	if a := d.required(at, "interface", b, ""); a != nil {
		if s, ok := d.nonEmpty(a); ok {
			if !validIfName(s) {
				d.errorf(a.Expr.Range(), "Invalid interface name", "%q is not a Linux interface name (at most 15 characters, no '/', ':' or spaces).", s)
			} else {
				vi.Interface = s
			}
		}
	}
	if a := d.required(at, "virtual_router_id", b, ""); a != nil {
		if n, ok := d.integer(a, 1, 255); ok {
			vi.VirtualRouterID = uint8(n)
		}
	}
	if a := at["priority"]; a != nil {
		if n, ok := d.integer(a, 1, 255); ok {
			if n == 255 {
				// RFC 5798 §6.1: 255 belongs to the router that owns the addresses on a real
				// interface. vigil adds and removes the virtual addresses itself, so it is
				// never the owner.
				d.errorf(a.Expr.Range(), "Value out of range",
					"priority 255 is reserved for the address owner (RFC 5798 §6.1), which vigil never is: it adds and removes the virtual addresses itself. Use 1..254.")
			} else {
				vi.Priority = uint8(n)
			}
		}
	}
	if a := at["version"]; a != nil {
		if n, ok := d.integer(a, 2, 3); ok {
			vi.Version = int(n)
		}
	}
	if a := at["advert_interval"]; a != nil {
		if v, ok := d.duration(a, 0, time.Hour); ok {
			d.advertInterval(a, vi, v)
		}
	}
	if a := at["preempt"]; a != nil {
		if v, ok := d.boolean(a); ok {
			vi.Preempt = v
		}
	}
	if a := at["handover"]; a != nil {
		if v, ok := d.boolean(a); ok {
			vi.Handover = v
		}
	}
	if a := at["preempt_delay"]; a != nil {
		if v, ok := d.duration(a, 0, MaxPreemptDelay); ok {
			vi.PreemptDelay = v
			if !vi.Preempt && v > 0 {
				d.errorf(a.NameRange, "Conflicting arguments", "preempt_delay has no effect with preempt = false; remove one of them.")
			}
		}
	}
	if a := at["accept"]; a != nil {
		if v, ok := d.boolean(a); ok && !v {
			// A director's master must take the VIP's traffic for IPVS to balance it; RFC
			// 5798's non-accepting master would need a firewall drop that also drops that
			// traffic (keepalived's vrrp_strict/no_accept trap). Not implemented: rejected.
			d.errorf(a.Expr.Range(), "Unsupported value",
				"accept = false is not supported: a vigil master always accepts traffic to its virtual addresses, which IPVS needs in order to balance it. Remove the attribute.")
		}
	}
	if a := d.required(at, "virtual_ipaddresses", b, " (RFC 5798 needs at least one virtual address)"); a != nil {
		d.virtualIPs(a, vi)
	}
	if a := at["unicast_src"]; a != nil {
		if ip, ok := d.ip(a); ok {
			if vi.Family != "" && FamilyOf(ip) != vi.Family {
				d.errorf(a.Expr.Range(), "Address family mismatch", "unicast_src %s is %s but the virtual addresses are %s.", ip, FamilyOf(ip), vi.Family)
			} else {
				vi.UnicastSource = ip
			}
			if at["unicast_peers"] == nil {
				d.errorf(a.NameRange, "Missing unicast_peers", "unicast_src needs unicast_peers; without peers the instance uses multicast.")
			}
		}
	}
	if a := at["unicast_peers"]; a != nil {
		d.unicastPeers(a, vi)
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"notify_master", &vi.Notify.Master}, {"notify_backup", &vi.Notify.Backup}, {"notify_fault", &vi.Notify.Fault}, {"notify", &vi.Notify.Any}} {
		if a := at[f.name]; a != nil {
			if argv, ok := d.argv(a); ok {
				*f.dst = argv
			}
		}
	}
	if a := at["notify_timeout"]; a != nil {
		if v, ok := d.duration(a, time.Second, time.Hour); ok {
			vi.Notify.Timeout = v
		}
	}
	if a := at["garp_master_repeat"]; a != nil {
		if n, ok := d.integer(a, 1, 100); ok {
			vi.GARP.MasterRepeat = int(n)
		}
	}
	if a := at["garp_master_delay"]; a != nil {
		if v, ok := d.duration(a, 0, time.Hour); ok {
			vi.GARP.MasterDelay = v
		}
	}
	if a := at["garp_master_refresh"]; a != nil {
		if v, ok := d.duration(a, 0, 24*time.Hour); ok {
			if v != 0 && v < time.Second {
				d.errorf(a.Expr.Range(), "Value out of range", "garp_master_refresh must be 0 (off) or at least 1s.")
			} else {
				vi.GARP.MasterRefresh = v
			}
		}
	}

	ifBlocks := ofType(content.Blocks, "track_interface")
	d.uniqueNames(ifBlocks)
	for _, tb := range ifBlocks {
		if !validIfName(tb.Labels[0]) {
			d.errorf(tb.LabelRanges[0], "Invalid interface name", "%q is not a Linux interface name (1..15 characters, no '/', ':' or spaces).", tb.Labels[0])
		}
		w := d.trackWeight(tb)
		vi.TrackInterfaces = append(vi.TrackInterfaces, TrackInterface{Name: tb.Labels[0], Weight: w, DeclRange: tb.DefRange})
	}
	syncBlocks := ofType(content.Blocks, "ipvs_sync")
	for i, sb := range syncBlocks {
		if i > 0 {
			d.errorf(sb.DefRange, "Duplicate ipvs_sync", "An instance has at most one ipvs_sync block; the first is at %s.", syncBlocks[0].DefRange)
			continue
		}
		vi.IPVSSync = d.decodeIPVSSync(sb, vi)
	}
	vi.Authentication = d.decodeAuthentication(content.Blocks, vi)
	vsBlocks := ofType(content.Blocks, "track_virtual_server")
	d.uniqueNames(vsBlocks)
	for _, tb := range vsBlocks {
		w := d.trackWeight(tb)
		vi.TrackVirtualServers = append(vi.TrackVirtualServers, TrackVirtualServer{Name: tb.Labels[0], Weight: w, DeclRange: tb.DefRange})
	}
	vi.Tracking = d.decodeTracking(content.Blocks)
	return vi
}

// advertInterval applies the version's timer resolution: whole seconds in the 8-bit
// Adver Int of RFC 3768 §5.3.7, centiseconds in the 12-bit Max Adver Int of RFC 5798 §5.2.7.
func (d *decoder) advertInterval(a *hcl.Attribute, vi *VRRPInstance, v time.Duration) {
	rng := a.Expr.Range()
	if vi.Version == 2 {
		if v%time.Second != 0 || v < time.Second || v > 255*time.Second {
			d.errorf(rng, "Invalid advert_interval for VRRP version 2",
				"VRRP version 2 advertises whole seconds (1s..255s), not %s; use version = 3 for sub-second intervals.", v)
			return
		}
	} else if v%(10*time.Millisecond) != 0 || v < 10*time.Millisecond || v > 4095*10*time.Millisecond {
		d.errorf(rng, "Invalid advert_interval",
			"VRRP version 3 advertises centiseconds: advert_interval must be a multiple of 10ms in 10ms..40.95s, not %s.", v)
		return
	}
	vi.AdvertInterval = v
}

func (d *decoder) virtualIPs(a *hcl.Attribute, vi *VRRPInstance) {
	list, ok := d.vipEntries(a)
	if !ok {
		return
	}
	rng := a.Expr.Range()
	if len(list) == 0 {
		d.errorf(rng, "No virtual addresses", "virtual_ipaddresses must list at least one address (RFC 5798 §5.2.5).")
		return
	}
	if len(list) > MaxVirtualIPs {
		d.errorf(rng, "Too many virtual addresses", "A VRRP advertisement carries at most %d addresses; got %d.", MaxVirtualIPs, len(list))
		return
	}
	seen := map[netip.Addr]bool{}
	for _, ent := range list {
		p, err := parsePrefix(ent.address)
		if err != nil {
			d.errorf(rng, "Invalid address", "virtual_ipaddresses: %s.", err)
			continue
		}
		ip := p.Addr()
		if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
			d.errorf(rng, "Invalid address", "virtual_ipaddresses: %s cannot be a virtual address.", ip)
			continue
		}
		if vi.Family == "" {
			vi.Family = FamilyOf(ip)
		} else if FamilyOf(ip) != vi.Family {
			d.errorf(rng, "Mixed address families",
				"virtual_ipaddresses mixes %s and %s addresses; a VRRP instance carries one family, so use one instance per family.", vi.Family, FamilyOf(ip))
			continue
		}
		if seen[ip] {
			d.errorf(rng, "Duplicate virtual address", "%s is listed twice.", ip)
			continue
		}
		seen[ip] = true
		vi.VirtualIPAddresses = append(vi.VirtualIPAddresses, p)
		d.vipDevice(rng, vi, ip, ent)
	}
	if vi.Version == 2 && vi.Family == Inet6 {
		d.errorf(rng, "IPv6 with VRRP version 2", "VRRP version 2 (RFC 3768) is IPv4 only; use version = 3 for IPv6 virtual addresses.")
	}
}

// parsePrefix parses "ip/len" or a bare IP (a host prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		ip, err := parseIP(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address with prefix length (\"ip/len\")", s)
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone; zones are not supported", s)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

func (d *decoder) unicastPeers(a *hcl.Attribute, vi *VRRPInstance) {
	list, ok := d.strList(a)
	if !ok {
		return
	}
	rng := a.Expr.Range()
	if len(list) == 0 {
		d.errorf(rng, "Empty unicast_peers", "unicast_peers must list at least one peer; remove it to use multicast.")
		return
	}
	for _, s := range list {
		ip, err := parseIP(s)
		if err != nil {
			d.errorf(rng, "Invalid address", "unicast_peers: %s.", err)
			continue
		}
		switch {
		case vi.Family != "" && FamilyOf(ip) != vi.Family:
			d.errorf(rng, "Address family mismatch", "unicast peer %s is %s but the virtual addresses are %s.", ip, FamilyOf(ip), vi.Family)
		case ip == vi.UnicastSource:
			d.errorf(rng, "Invalid unicast peer", "unicast peer %s is unicast_src itself.", ip)
		case slices.Contains(vi.UnicastPeers, ip):
			d.errorf(rng, "Duplicate unicast peer", "%s is listed twice.", ip)
		case ip.IsUnspecified() || ip.IsMulticast():
			d.errorf(rng, "Invalid address", "unicast peer %s must be a unicast address.", ip)
		default:
			vi.UnicastPeers = append(vi.UnicastPeers, ip)
		}
	}
}

func (d *decoder) argv(a *hcl.Attribute) ([]string, bool) {
	list, ok := d.strList(a)
	if !ok {
		return nil, false
	}
	if len(list) == 0 || list[0] == "" {
		d.errorf(a.Expr.Range(), "Empty command", "%s is an argv list whose first element names the program, e.g. [\"/etc/vigil/notify.sh\", \"master\"].", a.Name)
		return nil, false
	}
	return list, true
}

func (d *decoder) trackWeight(b *hcl.Block) int {
	content, diags := b.Body.Content(trackSchema)
	d.diags = append(d.diags, diags...)
	if a := content.Attributes["weight"]; a != nil {
		if n, ok := d.integer(a, -MaxTrackWeight, MaxTrackWeight); ok {
			return int(n)
		}
	}
	return 0
}

// checkVRRP applies the rules that span instances and virtual servers.
func (d *decoder) checkVRRP(cfg *Config) {
	type key struct {
		ifname string
		fam    Family
		vrid   uint8
	}
	seen := map[key]*VRRPInstance{}
	vips := map[netip.Addr]*VRRPInstance{}
	for _, vi := range cfg.VRRPInstances {
		if vi.Interface != "" && vi.VirtualRouterID != 0 && vi.Family != "" {
			// RFC 5798 §7.3: a VRID names one virtual router per LAN (and family).
			k := key{vi.Interface, vi.Family, vi.VirtualRouterID}
			if first, ok := seen[k]; ok {
				d.errorf(vi.DeclRange, "Duplicate virtual_router_id",
					"vrrp_instance %q uses virtual_router_id %d on %s (%s) like %q at %s.", vi.Name, vi.VirtualRouterID, vi.Interface, vi.Family, first.Name, first.DeclRange)
			} else {
				seen[k] = vi
			}
		}
		for _, p := range vi.VirtualIPAddresses {
			if first, ok := vips[p.Addr()]; ok && first != vi {
				d.errorf(vi.DeclRange, "Duplicate virtual address",
					"%s is a virtual address of both %q and %q.", p.Addr(), first.Name, vi.Name)
				continue
			}
			vips[p.Addr()] = vi
		}
		for _, t := range vi.TrackVirtualServers {
			if cfg.VirtualServer(t.Name) == nil {
				names := make([]string, len(cfg.VirtualServers))
				for i, vs := range cfg.VirtualServers {
					names[i] = vs.Name
				}
				d.errorf(t.DeclRange, "Unknown virtual server", "track_virtual_server %q names no virtual_server.%s", t.Name, didYouMean(t.Name, names))
			}
		}
	}
}

func (d *decoder) decodeSyncGroup(b *hcl.Block) *SyncGroup {
	sg := &SyncGroup{Name: d.checkName(b), DeclRange: b.DefRange}
	content, diags := b.Body.Content(syncGroupSchema)
	d.diags = append(d.diags, diags...)
	sg.Tracking = d.decodeTracking(content.Blocks)
	if a := d.required(content.Attributes, "instances", b, ""); a != nil {
		if list, ok := d.strList(a); ok {
			if len(list) == 0 {
				d.errorf(a.Expr.Range(), "Empty sync group", "instances must name at least one vrrp_instance.")
			}
			for _, n := range list {
				if slices.Contains(sg.Instances, n) {
					d.errorf(a.Expr.Range(), "Duplicate instance", "%q is listed twice.", n)
					continue
				}
				sg.Instances = append(sg.Instances, n)
			}
		}
	}
	return sg
}

func (d *decoder) checkSyncGroups(cfg *Config) {
	names := make([]string, len(cfg.VRRPInstances))
	for i, vi := range cfg.VRRPInstances {
		names[i] = vi.Name
	}
	member := map[string]*SyncGroup{}
	for _, sg := range cfg.SyncGroups {
		for _, n := range sg.Instances {
			if cfg.VRRPInstance(n) == nil {
				d.errorf(sg.DeclRange, "Unknown vrrp_instance", "vrrp_sync_group %q names %q, which is not a vrrp_instance.%s", sg.Name, n, didYouMean(n, names))
				continue
			}
			if first, ok := member[n]; ok && first != sg {
				d.errorf(sg.DeclRange, "Instance in two sync groups", "vrrp_instance %q is already in vrrp_sync_group %q.", n, first.Name)
				continue
			}
			member[n] = sg
		}
	}
}

// validIfName: IFNAMSIZ is 16 with the terminating NUL (include/uapi/linux/if.h), and
// dev_valid_name refuses '/', ':' and whitespace.
func validIfName(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}

package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Defaults and limits of virtual_server and real_server.
const (
	DefaultScheduler          = WeightedLeastConnection
	DefaultForwarding         = NAT
	DefaultOnFailure          = Quiesce
	DefaultPersistenceTimeout = 300 * time.Second
	MaxPersistenceTimeout     = 31 * 24 * time.Hour // ipvsadm's limit, as keepalived's
	DefaultWeight             = 1
	MaxWeight                 = 65535
)

var vsSchema = &hcl.BodySchema{
	Attributes: attrSchema("address", "fwmark", "group", "family", "protocol", "scheduler", "scheduler_flags",
		"forwarding", "on_failure", "quorum", "hysteresis", "sorry_server",
		"quorum_up", "quorum_down", "notify_timeout", "notify_user", "announce"),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "persistence"},
		{Type: "real_server", LabelNames: []string{"name"}},
	},
}

var persistenceSchema = &hcl.BodySchema{Attributes: attrSchema("timeout", "netmask")}

var rsSchema = &hcl.BodySchema{
	Attributes: attrSchema("address", "weight", "forwarding", "upper_threshold", "lower_threshold",
		"notify_up", "notify_down", "notify_timeout", "notify_user"),
	Blocks: []hcl.BlockHeaderSchema{{Type: "check", LabelNames: []string{"kind"}}},
}

var (
	protocols   = []Protocol{TCP, UDP, SCTP}
	forwardings = []Forwarding{NAT, DR, Tunnel}
	onFailures  = []OnFailure{Quiesce, Remove}
	schedFlags  = []SchedulerFlag{SHFallback, SHPort, MHFallback, MHPort, OnePacket}
)

func (d *decoder) decodeVirtualServer(b *hcl.Block) *VirtualServer {
	vs := &VirtualServer{
		Name:       d.checkName(b),
		Scheduler:  DefaultScheduler,
		Forwarding: DefaultForwarding,
		OnFailure:  DefaultOnFailure,
		Quorum:     1,
		DeclRange:  b.DefRange,
	}
	content, diags := b.Body.Content(vsSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	addrA, markA, famA, groupA := at["address"], at["fwmark"], at["family"], at["group"]
	switch {
	case groupA != nil:
		d.groupConflicts(groupA, addrA, markA, famA)
		d.useGroup(groupA, vs)
	case addrA != nil && markA != nil:
		d.errorf(markA.NameRange, "Conflicting arguments",
			"A virtual server has either address or fwmark, not both; address is set at %s.", addrA.NameRange)
	case addrA == nil && markA == nil:
		d.errorf(b.DefRange, "Missing required argument",
			"A virtual server needs address = \"ip:port\", fwmark = N or group = \"NAME\".")
	case addrA != nil:
		if ip, port, ok := d.endpoint(addrA, false); ok {
			if port < 0 && len(ofType(content.Blocks, "persistence")) == 0 {
				d.errorf(addrA.Expr.Range(), "Missing port",
					"address must be \"ip:port\" (IPv6: \"[ip]:port\"); without a port the service balances every port of the address (ipvsadm -A -t VIP:0 -p), which IPVS allows only for a persistent service: add a persistence block.")
			} else {
				vs.Address = netip.AddrPortFrom(ip, uint16(max(port, 0)))
				vs.Family = FamilyOf(ip)
			}
		}
		if famA != nil {
			d.errorf(famA.NameRange, "Unexpected argument",
				"family is only for fwmark services; an address service takes its family from the address.")
		}
	default:
		if n, ok := d.integer(markA, 1, 1<<32-1); ok {
			vs.FWMark = uint32(n)
		}
		vs.Family = Inet
		if famA != nil {
			if f, ok := enum(d, famA, []Family{Inet, Inet6}); ok {
				vs.Family = f
			}
		}
	}

	if a := at["protocol"]; a != nil {
		if p, ok := enum(d, a, protocols); ok {
			vs.Protocol = p
		}
	} else if (addrA != nil && markA == nil && groupA == nil) || groupHasAddresses(vs) {
		// keepalived silently falls back to UDP here; vigil refuses to guess.
		d.errorf(b.DefRange, "Missing required argument",
			"The argument \"protocol\" is required for an address service: \"tcp\", \"udp\" or \"sctp\".")
	}

	if a := at["scheduler"]; a != nil {
		if s, ok := enum(d, a, Schedulers); ok {
			vs.Scheduler = s
		}
	}
	if a := at["scheduler_flags"]; a != nil {
		d.decodeSchedFlags(a, vs)
	}
	if a := at["forwarding"]; a != nil {
		if f, ok := enum(d, a, forwardings); ok {
			vs.Forwarding = f
		}
	}
	if a := at["on_failure"]; a != nil {
		if f, ok := enum(d, a, onFailures); ok {
			vs.OnFailure = f
		}
	}
	if a := at["quorum"]; a != nil {
		if n, ok := d.integer(a, 1, 1<<32-1); ok {
			vs.Quorum = uint32(n)
		}
	}
	if a := at["hysteresis"]; a != nil {
		if n, ok := d.integer(a, 0, 1<<32-1); ok {
			vs.Hysteresis = uint32(n)
			if vs.Hysteresis >= vs.Quorum {
				d.errorf(a.Expr.Range(), "Value out of range",
					"hysteresis (%d) must be less than quorum (%d): quorum is lost below quorum - hysteresis.", vs.Hysteresis, vs.Quorum)
			}
		}
	}

	if pb := d.atMostOne(content.Blocks, "persistence"); pb != nil {
		vs.Persistence = d.decodePersistence(pb, vs.Family)
	} else if groupA != nil && allPortsMembers(vs.GroupMembers) {
		d.errorf(groupA.Expr.Range(), "Members without a port",
			"virtual_server_group %q has members without a port, which balance every port of their addresses (ipvsadm -A -t VIP:0 -p); IPVS allows that only for a persistent service: add a persistence block.", vs.Group)
	}

	d.decodeAnnounce(at["announce"], vs)
	notify := d.decodeVSNotify(at, vs)
	rsBlocks := ofType(content.Blocks, "real_server")
	d.uniqueNames(rsBlocks)
	seen := map[netip.AddrPort]*RealServer{}
	for _, rb := range rsBlocks {
		rs := d.decodeRealServer(rb, vs, notify)
		if rs.Address.IsValid() {
			if first, ok := seen[rs.Address]; ok {
				d.errorf(rb.DefRange, "Duplicate real server",
					"Real server %q has the same address %s as %q (%s).", rs.Name, fmtAddr(rs.Address), first.Name, first.DeclRange)
			} else {
				seen[rs.Address] = rs
			}
		}
		vs.RealServers = append(vs.RealServers, rs)
	}

	if a := at["sorry_server"]; a != nil {
		d.decodeSorryServer(a, vs, seen)
	}
	return vs
}

func fmtAddr(ap netip.AddrPort) string {
	if ap.Port() == 0 {
		return ap.Addr().String()
	}
	return ap.String()
}

func (d *decoder) decodeSchedFlags(a *hcl.Attribute, vs *VirtualServer) {
	list, ok := d.strList(a)
	if !ok {
		return
	}
	names := make([]string, len(schedFlags))
	for i, f := range schedFlags {
		names[i] = string(f)
	}
	rng := a.Expr.Range()
	for _, s := range list {
		f := SchedulerFlag(s)
		if !slices.Contains(schedFlags, f) {
			d.errorf(rng, "Invalid value for scheduler_flags", "%q is not a scheduler flag; use %s.%s", s, strings.Join(names, ", "), didYouMean(s, names))
			continue
		}
		if slices.Contains(vs.SchedulerFlags, f) {
			d.errorf(rng, "Duplicate scheduler flag", "%q is listed twice.", s)
			continue
		}
		switch {
		case strings.HasPrefix(s, "sh-") && vs.Scheduler != SourceHashing:
			d.errorf(rng, "Invalid scheduler flag", "%q only applies to scheduler \"sh\", not %q.", s, vs.Scheduler)
		case strings.HasPrefix(s, "mh-") && vs.Scheduler != MaglevHashing:
			d.errorf(rng, "Invalid scheduler flag", "%q only applies to scheduler \"mh\", not %q.", s, vs.Scheduler)
		case f == OnePacket && vs.Protocol != UDP:
			// The kernel clears IP_VS_SVC_F_ONEPACKET for anything but UDP.
			d.errorf(rng, "Invalid scheduler flag", "\"ops\" (one-packet scheduling) only applies to protocol = \"udp\".")
		}
		vs.SchedulerFlags = append(vs.SchedulerFlags, f)
	}
}

func (d *decoder) decodePersistence(b *hcl.Block, fam Family) *Persistence {
	p := &Persistence{Timeout: DefaultPersistenceTimeout, Netmask: 32}
	if fam == Inet6 {
		p.Netmask = 128
	}
	content, diags := b.Body.Content(persistenceSchema)
	d.diags = append(d.diags, diags...)
	if a := content.Attributes["timeout"]; a != nil {
		if v, ok := d.duration(a, time.Second, MaxPersistenceTimeout); ok {
			if v%time.Second != 0 {
				d.errorf(a.Expr.Range(), "Invalid duration", "timeout must be whole seconds; IPVS keeps persistence timeouts in seconds.")
			} else {
				p.Timeout = v
			}
		}
	}
	if a := content.Attributes["netmask"]; a != nil {
		if n, ok := d.netmask(a, fam); ok {
			p.Netmask = n
		}
	}
	return p
}

// netmask accepts a prefix length (24, "24", "/24") or, for IPv4, a dotted mask
// ("255.255.255.0", as ipvsadm -M).
func (d *decoder) netmask(a *hcl.Attribute, fam Family) (int, bool) {
	v, diags := a.Expr.Value(d.ctx)
	if diags.HasErrors() || v.IsNull() || v.Type() != cty.String {
		n, ok := d.integer(a, 1, int64(map[Family]int{Inet: 32, Inet6: 128}[fam]))
		return int(n), ok
	}
	s := strings.TrimPrefix(strings.TrimSpace(v.AsString()), "/")
	if strings.Contains(s, ".") {
		if fam != Inet {
			d.errorf(a.Expr.Range(), "Invalid netmask", "An IPv6 service takes a prefix length (1..128), not a dotted mask.")
			return 0, false
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			d.errorf(a.Expr.Range(), "Invalid netmask", "%q is not a netmask.", s)
			return 0, false
		}
		b := ip.As4()
		bits := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		n := 0
		for n < 32 && bits&(1<<(31-n)) != 0 {
			n++
		}
		if n == 0 || (n < 32 && bits<<n != 0) {
			d.errorf(a.Expr.Range(), "Invalid netmask", "%q is not a contiguous netmask of 1..32 bits.", s)
			return 0, false
		}
		return n, true
	}
	max := 32
	if fam == Inet6 {
		max = 128
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 1 || n > max {
		d.errorf(a.Expr.Range(), "Invalid netmask", "%q is not a prefix length in 1..%d.", s, max)
		return 0, false
	}
	return n, true
}

func (d *decoder) decodeRealServer(b *hcl.Block, vs *VirtualServer, notify notifyDefaults) *RealServer {
	rs := &RealServer{
		Name:       d.checkName(b),
		Weight:     DefaultWeight,
		Forwarding: vs.Forwarding,
		DeclRange:  b.DefRange,
	}
	content, diags := b.Body.Content(rsSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	if a := at["forwarding"]; a != nil {
		if f, ok := enum(d, a, forwardings); ok {
			rs.Forwarding = f
		}
	}
	if a := d.required(at, "address", b, ""); a != nil {
		if ip, port, ok := d.endpoint(a, false); ok {
			d.realServerAddress(a, vs, rs, ip, port)
		}
	}
	if a := at["weight"]; a != nil {
		if n, ok := d.integer(a, 0, MaxWeight); ok {
			rs.Weight = int(n)
		}
	}
	if a := at["upper_threshold"]; a != nil {
		if n, ok := d.integer(a, 0, 1<<32-1); ok {
			rs.UpperThreshold = uint32(n)
		}
	}
	if a := at["lower_threshold"]; a != nil {
		if n, ok := d.integer(a, 0, 1<<32-1); ok {
			rs.LowerThreshold = uint32(n)
			// ip_vs_ctl.c refuses a lower threshold above the upper one with ERANGE.
			if rs.LowerThreshold > 0 && rs.LowerThreshold > rs.UpperThreshold {
				d.errorf(a.Expr.Range(), "Value out of range",
					"lower_threshold (%d) needs an upper_threshold at least as high (now %d).", rs.LowerThreshold, rs.UpperThreshold)
			}
		}
	}
	d.decodeRSNotify(at, notify, rs)
	for _, cb := range ofType(content.Blocks, "check") {
		if c := d.decodeCheck(cb, rs); c != nil {
			rs.Checks = append(rs.Checks, c)
		}
	}
	return rs
}

// realServerAddress applies the port rules: the port follows the service unless given;
// DR and TUN deliver the packet unchanged, so they cannot remap ports.
func (d *decoder) realServerAddress(a *hcl.Attribute, vs *VirtualServer, rs *RealServer, ip netip.Addr, port int) {
	rng := a.Expr.Range()
	if vs.Family != "" && FamilyOf(ip) != vs.Family {
		d.errorf(rng, "Address family mismatch",
			"Real server %s is %s but virtual server %q is %s.", ip, FamilyOf(ip), vs.Name, vs.Family)
		return
	}
	svcPort, uniform := vs.servicePort()
	if port < 0 {
		port = int(svcPort) // 0: the port follows each service
	}
	if rs.Forwarding == DR || rs.Forwarding == Tunnel {
		switch {
		case !uniform && port != 0 && vs.Group != "":
			d.errorf(rng, "Port remap with "+string(rs.Forwarding),
				"%s forwarding cannot remap ports: the services of group %q are on several ports (or fwmarks), so the real server takes the port of each; omit the port.", strings.ToUpper(string(rs.Forwarding)), vs.Group)
			return
		case !uniform && port != 0 && (vs.IsFWMark() || vs.AllPorts()):
			what := "a fwmark service"
			if vs.AllPorts() {
				what = "a service on every port"
			}
			d.errorf(rng, "Port remap with "+string(rs.Forwarding),
				"%s forwarding cannot remap ports: a real server of %s takes the port the client used; omit the port.", strings.ToUpper(string(rs.Forwarding)), what)
			return
		case uniform && port != int(svcPort):
			d.errorf(rng, "Port remap with "+string(rs.Forwarding),
				"%s forwarding cannot remap ports: the real server's port (%d) must equal the virtual server's (%d), or be omitted.", strings.ToUpper(string(rs.Forwarding)), port, svcPort)
			return
		}
	}
	rs.Address = netip.AddrPortFrom(ip, uint16(port))
	rs.AddressRange = rng
	if !vs.IsFWMark() && rs.Address == vs.Address {
		d.errorf(rng, "Real server is its own virtual server",
			"Real server %q has the virtual server's own address %s: every connection would come back to the virtual server. Give the address of a server behind it.", rs.Name, fmtAddr(rs.Address))
	}
}

func (d *decoder) decodeSorryServer(a *hcl.Attribute, vs *VirtualServer, rss map[netip.AddrPort]*RealServer) {
	ip, port, ok := d.endpoint(a, false)
	if !ok {
		return
	}
	rng := a.Expr.Range()
	if vs.Family != "" && FamilyOf(ip) != vs.Family {
		d.errorf(rng, "Address family mismatch", "sorry_server %s is %s but the virtual server is %s.", ip, FamilyOf(ip), vs.Family)
		return
	}
	svcPort, _ := vs.servicePort()
	if port < 0 {
		port = int(svcPort) // 0 for fwmark: the port follows each service
	}
	if (vs.Forwarding == DR || vs.Forwarding == Tunnel) && port != int(svcPort) {
		d.errorf(rng, "Port remap with "+string(vs.Forwarding),
			"The sorry server is reached with %s forwarding, which cannot remap ports: omit its port or use the virtual server's.", strings.ToUpper(string(vs.Forwarding)))
		return
	}
	ap := netip.AddrPortFrom(ip, uint16(port))
	if !vs.IsFWMark() && ap == vs.Address {
		d.errorf(rng, "Sorry server is its own virtual server",
			"sorry_server %s is the virtual server's own address: every connection would come back to it.", fmtAddr(ap))
		return
	}
	if rs, ok := rss[ap]; ok {
		d.errorf(rng, "Invalid sorry_server", "sorry_server %s is also real server %q; it must be a separate server.", fmtAddr(ap), rs.Name)
		return
	}
	vs.SorryServer = ap
}

// checkLoops refuses, where the userspace proxy may carry the traffic (dataplane
// userspace, or auto on a host without IPVS), a real server or sorry server that is
// another virtual server: the proxy listens on that address itself, so two such services
// can send each connection round between them for ever.
func (d *decoder) checkLoops(cfg *Config) {
	if cfg.Global.Dataplane == DataplaneKernel {
		return
	}
	type listener struct {
		proto Protocol
		addr  netip.AddrPort
	}
	own := map[listener]*VirtualServer{}
	for _, vs := range cfg.VirtualServers {
		if !vs.IsFWMark() && vs.Address.IsValid() {
			own[listener{vs.Protocol, vs.Address}] = vs
		}
	}
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			if other, ok := own[listener{vs.Protocol, rs.Address}]; ok && other != vs {
				d.errorf(rs.AddressRange, "Real server is a virtual server",
					"Real server %q of %q is virtual server %q (%s), which the userspace data plane (dataplane = %q) listens on itself: connections could go round between the two. Give the address of a server behind it, or set dataplane = \"kernel\".",
					rs.Name, vs.Name, other.Name, fmtAddr(rs.Address), cfg.Global.Dataplane)
			}
		}
		if other, ok := own[listener{vs.Protocol, vs.SorryServer}]; ok && vs.SorryServer.IsValid() && other != vs {
			d.errorf(vs.DeclRange, "Sorry server is a virtual server",
				"The sorry_server of %q is virtual server %q (%s), which the userspace data plane (dataplane = %q) listens on itself. Give the address of a server behind it, or set dataplane = \"kernel\".",
				vs.Name, other.Name, fmtAddr(vs.SorryServer), cfg.Global.Dataplane)
		}
	}
}

// checkVirtualServerKeys rejects two services the kernel would see as one.
func (d *decoder) checkVirtualServerKeys(vss []*VirtualServer) {
	type key struct {
		proto Protocol
		addr  netip.AddrPort
		mark  uint32
		fam   Family
	}
	seen := map[key]*VirtualServer{}
	for _, vs := range vss {
		for _, svc := range vs.Services() {
			var k key
			switch {
			case svc.FWMark != 0:
				k = key{mark: svc.FWMark, fam: vs.Family}
			case svc.Address.IsValid() && vs.Protocol != "":
				k = key{proto: vs.Protocol, addr: svc.Address}
			default:
				continue
			}
			if first, ok := seen[k]; ok {
				what := fmt.Sprintf("%s %s", vs.Protocol, svc.Address)
				if svc.FWMark != 0 {
					what = fmt.Sprintf("fwmark %d (%s)", svc.FWMark, vs.Family)
				}
				if vs.Group != "" {
					what += fmt.Sprintf(", of group %q", vs.Group)
				}
				d.errorf(vs.DeclRange, "Duplicate virtual server",
					"Virtual server %q is the same IPVS service (%s) as %q at %s.", vs.Name, what, first.Name, first.DeclRange)
				break // one report per virtual server is enough
			}
			seen[k] = vs
		}
	}
}

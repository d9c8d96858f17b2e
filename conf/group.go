package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// MaxGroupServices bounds the IPVS services one virtual_server_group expands to (a /20 of
// addresses on one port): every real server's weight change is one write per service.
const MaxGroupServices = 4096

// VirtualServerGroup is a virtual_server_group block: addresses, address ranges and
// firewall marks that share one set of real servers and checks, as keepalived's. Each
// member is an IPVS service of its own; the checks run once per real server, and a real
// server's health sets its weight in every service of the group.
type VirtualServerGroup struct {
	Name string `json:"name"`
	// Family of every member: the addresses', or the family attribute for fwmarks.
	Family Family `json:"family"`
	// Entries are the addresses as written ("198.18.0.10-20:80"), for messages and diffs.
	Entries []string `json:"addresses"`
	// Members are the expanded services in file order: addresses (ranges ascending),
	// then firewall marks.
	Members []Service `json:"members"`

	DeclRange hcl.Range `json:"-"`
}

// Service is one IPVS service a virtual server stands for: an address service (with the
// virtual server's protocol) or a firewall-mark service (in its family).
type Service struct {
	Address netip.AddrPort `json:"address,omitempty"`
	FWMark  uint32         `json:"fwmark,omitempty"`
}

// String renders the member as the file writes it: "198.18.0.10:80" or "fwmark 6".
func (s Service) String() string {
	if s.FWMark != 0 {
		return "fwmark " + strconv.FormatUint(uint64(s.FWMark), 10)
	}
	return s.Address.String()
}

// Services returns the IPVS services vs stands for: its address or its firewall mark, or
// every member of its group.
func (vs *VirtualServer) Services() []Service {
	switch {
	case vs.Group != "":
		return vs.GroupMembers
	case vs.IsFWMark():
		return []Service{{FWMark: vs.FWMark}}
	case vs.Address.IsValid():
		return []Service{{Address: vs.Address}}
	}
	return nil
}

// servicePort is the port a real server without one takes: the service's for an address
// service, the one port of a group whose members are all addresses on that port. uniform
// is false for a fwmark service, an all-ports service and a group with several ports, with
// fwmarks or with all-ports members: there a real server without a port keeps, in each
// service, the port the client used.
func (vs *VirtualServer) servicePort() (port uint16, uniform bool) {
	switch {
	case vs.Group != "":
		for i, m := range vs.GroupMembers {
			if m.FWMark != 0 || m.Address.Port() == 0 || (i > 0 && m.Address.Port() != port) {
				return 0, false
			}
			port = m.Address.Port()
		}
		return port, len(vs.GroupMembers) > 0
	case vs.IsFWMark(), vs.AllPorts():
		return 0, false
	}
	return vs.Address.Port(), vs.Address.IsValid()
}

// AllPorts reports whether vs is an address service on every port (port 0): ipvsadm's
// "-A -t VIP:0 -p", keepalived's persistent virtual_server without a port.
func (vs *VirtualServer) AllPorts() bool { return vs.Address.IsValid() && vs.Address.Port() == 0 }

// allPortsMembers reports whether a group holds a member without a port.
func allPortsMembers(members []Service) bool {
	for _, m := range members {
		if m.FWMark == 0 && m.Address.Port() == 0 {
			return true
		}
	}
	return false
}

var groupSchema = &hcl.BodySchema{Attributes: attrSchema("addresses", "fwmarks", "family")}

// decodeGroups decodes the virtual_server_group blocks and keeps them by name for the
// virtual servers' group attributes.
func (d *decoder) decodeGroups(blocks []*hcl.Block) []*VirtualServerGroup {
	d.uniqueNames(blocks)
	d.groups = map[string]*VirtualServerGroup{}
	var out []*VirtualServerGroup
	for _, b := range blocks {
		g := d.decodeGroup(b)
		if _, dup := d.groups[g.Name]; !dup {
			d.groups[g.Name] = g
		}
		out = append(out, g)
	}
	return out
}

func (d *decoder) decodeGroup(b *hcl.Block) *VirtualServerGroup {
	g := &VirtualServerGroup{Name: d.checkName(b), DeclRange: b.DefRange}
	content, diags := b.Body.Content(groupSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	addrA, markA, famA := at["addresses"], at["fwmarks"], at["family"]
	if addrA == nil && markA == nil {
		d.errorf(b.DefRange, "Empty virtual_server_group",
			"A virtual_server_group needs addresses = [\"ip:port\", \"ip-N:port\", \"prefix/len:port\"] or fwmarks = [N, ...], or both.")
		return g
	}
	seen := map[Service]string{}
	// add appends one member; it reports false when the entry must stop (a duplicate,
	// reported once per entry, or the group's limit).
	add := func(s Service, entry string, rng hcl.Range) bool {
		if first, ok := seen[s]; ok {
			d.errorf(rng, "Duplicate group member", "%s is in the group twice (%q and %q).", s, first, entry)
			return false
		}
		if len(g.Members) >= MaxGroupServices {
			d.errorf(rng, "Group too large", "virtual_server_group %q expands to more than %d services; split it, or use a firewall mark.", g.Name, MaxGroupServices)
			return false
		}
		seen[s] = entry
		g.Members = append(g.Members, s)
		return true
	}
	if addrA != nil {
		if list, ok := d.strList(addrA); ok {
			rng := addrA.Expr.Range()
			if len(list) == 0 {
				d.errorf(rng, "Empty addresses", "addresses must list at least one address; omit it for a group of fwmarks only.")
			}
			for _, entry := range list {
				first, last, port, err := parseGroupAddress(entry)
				if err != nil {
					d.errorf(rng, "Invalid group address", "%q: %v.", entry, err)
					continue
				}
				if g.Family == "" {
					g.Family = FamilyOf(first)
				} else if FamilyOf(first) != g.Family {
					d.errorf(rng, "Address family mismatch", "%q is %s but the group's first address is %s; a group is of one family.", entry, FamilyOf(first), g.Family)
					continue
				}
				g.Entries = append(g.Entries, entry)
				for a := first; ; a = a.Next() {
					if !add(Service{Address: netip.AddrPortFrom(a, port)}, entry, rng) {
						break
					}
					if a == last {
						break
					}
				}
			}
		}
	}
	if famA != nil {
		if f, ok := enum(d, famA, []Family{Inet, Inet6}); ok {
			switch {
			case markA == nil:
				d.errorf(famA.NameRange, "Unexpected argument", "family is only for a group's fwmarks; addresses carry their own family.")
			case g.Family != "" && f != g.Family:
				d.errorf(famA.Expr.Range(), "Address family mismatch", "family %q differs from the group's addresses (%s); a group is of one family.", f, g.Family)
			default:
				g.Family = f
			}
		}
	}
	if g.Family == "" {
		g.Family = Inet
	}
	if markA != nil {
		d.groupMarks(markA, add)
	}
	return g
}

var listOfNumbers = cty.List(cty.Number)

func (d *decoder) groupMarks(a *hcl.Attribute, add func(Service, string, hcl.Range) bool) {
	v, ok := d.value(a, listOfNumbers, "list of numbers")
	if !ok {
		return
	}
	rng := a.Expr.Range()
	elems := v.AsValueSlice()
	if len(elems) == 0 {
		d.errorf(rng, "Empty fwmarks", "fwmarks must list at least one firewall mark; omit it for a group of addresses only.")
	}
	for _, e := range elems {
		if e.IsNull() {
			d.errorf(rng, "Invalid value", "a firewall mark must not be null.")
			continue
		}
		bf := e.AsBigFloat()
		n, acc := bf.Uint64()
		if !bf.IsInt() || acc != 0 || n < 1 || n > 1<<32-1 {
			d.errorf(rng, "Value out of range", "firewall marks are whole numbers in 1..4294967295, not %s.", numText(bf))
			continue
		}
		add(Service{FWMark: uint32(n)}, "fwmark "+strconv.FormatUint(n, 10), rng)
	}
}

// parseGroupAddress parses one entry of a group's addresses, with a port, or without one
// (port 0: every port, for a persistent virtual server only):
//
//	"198.18.0.10:80"               one address
//	"198.18.0.10"                  every port of one address
//	"198.18.0.10-20:80"            keepalived's range: the last octet runs from 10 to 20
//	"198.18.0.10-198.18.1.40:80"   a range between two addresses
//	"198.18.0.0/28:80"             every address of a prefix (host bits must be zero)
//	"[2001:db8::10-1f]:80"         IPv6: the last 16 bits, in hex, as keepalived reads them
func parseGroupAddress(s string) (first, last netip.Addr, port uint16, err error) {
	s = strings.TrimSpace(s)
	var host, portStr string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || (end+1 < len(s) && !strings.HasPrefix(s[end+1:], ":")) {
			return first, last, 0, fmt.Errorf("an IPv6 member is written \"[address]:port\" (or \"[address]\" for every port)")
		}
		host = s[1:end]
		if end+1 < len(s) {
			portStr = s[end+2:]
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			i := strings.LastIndex(s, ":")
			host, portStr = s[:i], s[i+1:]
		default:
			return first, last, 0, fmt.Errorf("an IPv6 member is written \"[address]:port\" (or \"[address]\" for every port)")
		}
	}
	if portStr != "" || strings.HasSuffix(s, ":") {
		p, perr := strconv.ParseUint(portStr, 10, 16)
		if perr != nil || p == 0 {
			return first, last, 0, fmt.Errorf("port %q is not in 1..65535 (omit the port for every port)", portStr)
		}
		port = uint16(p)
	}
	switch {
	case strings.Contains(host, "/"):
		pfx, err := netip.ParsePrefix(host)
		if err != nil || pfx.Addr().Zone() != "" || pfx.Addr().Is4In6() {
			return first, last, 0, fmt.Errorf("%q is not an address prefix", host)
		}
		if pfx.Masked() != pfx {
			return first, last, 0, fmt.Errorf("%s has host bits set; the prefix is %s", host, pfx.Masked())
		}
		if hostBits := pfx.Addr().BitLen() - pfx.Bits(); hostBits > 12 {
			return first, last, 0, fmt.Errorf("%s holds more than %d addresses", host, MaxGroupServices)
		}
		first, last = pfx.Addr(), lastOf(pfx)
	case strings.Contains(host, "-"):
		a, b, _ := strings.Cut(host, "-")
		first, err = parseIP(a)
		if err != nil {
			return first, last, 0, err
		}
		if strings.ContainsAny(b, ".:") {
			if last, err = parseIP(b); err != nil {
				return first, last, 0, err
			}
			if FamilyOf(last) != FamilyOf(first) {
				return first, last, 0, fmt.Errorf("the range's ends are of different families")
			}
		} else {
			// keepalived's short form replaces the last octet (IPv4, decimal) or the last
			// 16 bits (IPv6, hex) of the first address.
			if first.Is4() {
				n, err := strconv.ParseUint(b, 10, 8)
				if err != nil {
					return first, last, 0, fmt.Errorf("range end %q is not a last octet 0..255", b)
				}
				a4 := first.As4()
				a4[3] = byte(n)
				last = netip.AddrFrom4(a4)
			} else {
				n, err := strconv.ParseUint(b, 16, 16)
				if err != nil {
					return first, last, 0, fmt.Errorf("range end %q is not the last 16 bits in hex (0..ffff)", b)
				}
				a16 := first.As16()
				a16[14], a16[15] = byte(n>>8), byte(n)
				last = netip.AddrFrom16(a16)
			}
		}
		if last.Less(first) {
			return first, last, 0, fmt.Errorf("the range ends (%s) before it starts (%s)", last, first)
		}
	default:
		first, err = parseIP(host)
		if err != nil {
			return first, last, 0, err
		}
		last = first
	}
	if first.IsUnspecified() || first.IsMulticast() || last.IsMulticast() {
		return first, last, 0, fmt.Errorf("%s cannot hold unspecified or multicast addresses", host)
	}
	return first, last, port, nil
}

// lastOf is the highest address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// useGroup makes vs the virtual server of group g (its group attribute).
func (d *decoder) useGroup(a *hcl.Attribute, vs *VirtualServer) {
	name, ok := d.nonEmpty(a)
	if !ok {
		return
	}
	g := d.groups[name]
	if g == nil {
		names := make([]string, 0, len(d.groups))
		for n := range d.groups {
			names = append(names, n)
		}
		slices.Sort(names)
		d.errorf(a.Expr.Range(), "Unknown virtual_server_group", "No virtual_server_group is named %q.%s", name, didYouMean(name, names))
		return
	}
	vs.Group, vs.Family, vs.GroupMembers = g.Name, g.Family, g.Members
}

// groupConflicts rejects address, fwmark and family beside group: the group holds them.
func (d *decoder) groupConflicts(group *hcl.Attribute, others ...*hcl.Attribute) {
	for _, a := range others {
		if a != nil {
			d.errorf(a.NameRange, "Conflicting arguments",
				"A virtual server with group = ... takes its addresses, fwmarks and family from the virtual_server_group (group is set at %s); remove %s.", group.NameRange, a.Name)
		}
	}
}

// groupWarnings warns of groups no virtual server refers to: a typo in a group's name
// would otherwise leave its addresses unbalanced without a word (keepalived ignores them).
func groupWarnings(c *Config, warn func(rng hcl.Range, summary, format string, args ...any)) {
	used := map[string]bool{}
	for _, vs := range c.VirtualServers {
		used[vs.Group] = true
	}
	for _, g := range c.VirtualServerGroups {
		if !used[g.Name] {
			warn(g.DeclRange, "Unused virtual_server_group", "no virtual_server has group = %q: its addresses are not balanced.", g.Name)
		}
	}
}

// groupHasAddresses reports whether vs balances a group with address members, which need
// the virtual server's protocol.
func groupHasAddresses(vs *VirtualServer) bool {
	for _, m := range vs.GroupMembers {
		if m.FWMark == 0 {
			return true
		}
	}
	return false
}

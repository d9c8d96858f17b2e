package conf

import (
	"net/netip"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults and limits of the bgp block.
const (
	// DefaultHoldTime is RFC 4271 §10's suggested hold time; the keepalive interval is a
	// third of it. Set hold_time = "3s" (and bfd) where withdrawal must be fast.
	DefaultHoldTime = 90 * time.Second
	// MinHoldTime is RFC 4271 §4.2's lower bound for a hold time that is not zero.
	MinHoldTime = 3 * time.Second
	MaxHoldTime = 65535 * time.Second
	// DefaultWithdrawDelay is how long a stopping director keeps serving after it withdrew
	// its routes, for the routers to converge before its data plane stops.
	DefaultWithdrawDelay = 2 * time.Second
	MaxWithdrawDelay     = 5 * time.Minute
	// DefaultBFDInterval and DefaultBFDMultiplier are FRR bfdd's defaults (RFC 5880 §6.8.7:
	// the detection time is the interval times the multiplier).
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
	// MaxPasswordLen is the key length TCP MD5 (RFC 2385) takes in Linux
	// (TCP_MD5SIG_MAXKEYLEN).
	MaxPasswordLen = 80
)

// BGP is the bgp block: vigil announces the addresses of the virtual servers that set
// announce = true to its neighbors while they are up.
type BGP struct {
	ASN uint32 `json:"asn"`
	// RouterID is invalid when unset: the first IPv4 address of the host is used.
	RouterID netip.Addr `json:"router_id,omitzero"`
	// ListenPort is 0 unless set: vigil dials its neighbors and does not listen.
	ListenPort    uint16         `json:"listen_port,omitempty"`
	WithdrawDelay time.Duration  `json:"withdraw_delay"`
	Neighbors     []*BGPNeighbor `json:"neighbors"`

	DeclRange hcl.Range `json:"-"`
}

// BGPNeighbor is one router vigil peers with.
type BGPNeighbor struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// Port is the neighbor's BGP port (179 unless set).
	Port     uint16        `json:"port,omitempty"`
	HoldTime time.Duration `json:"hold_time"`
	// Password is the TCP MD5 signature key (RFC 2385); empty for none.
	Password Secret `json:"password,omitempty"`
	// BFD turns on BFD (RFC 5880) towards the neighbor, with BFDInterval as the transmit and
	// receive interval and BFDMultiplier as the detection multiplier.
	BFD           bool          `json:"bfd"`
	BFDInterval   time.Duration `json:"bfd_interval,omitempty"`
	BFDMultiplier int           `json:"bfd_multiplier,omitempty"`

	DeclRange hcl.Range `json:"-"`
}

var bgpSchema = &hcl.BodySchema{
	Attributes: attrSchema("asn", "router_id", "listen_port", "withdraw_delay"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "neighbor", LabelNames: []string{"address"}}},
}

var neighborSchema = &hcl.BodySchema{
	Attributes: attrSchema("asn", "port", "hold_time", "password", "bfd", "bfd_interval", "bfd_multiplier"),
}

// decodeBGP reads the bgp block (nil when there is none).
func (d *decoder) decodeBGP(b *hcl.Block) *BGP {
	if b == nil {
		return nil
	}
	content, diags := b.Body.Content(bgpSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	g := &BGP{WithdrawDelay: DefaultWithdrawDelay, DeclRange: b.DefRange}
	if a := d.required(at, "asn", b, " (vigil's autonomous system number)"); a != nil {
		if n, ok := d.integer(a, 1, 1<<32-1); ok {
			g.ASN = uint32(n)
		}
	}
	if a := at["router_id"]; a != nil {
		if ip, ok := d.ip(a); ok {
			if ip.Is4() {
				g.RouterID = ip
			} else {
				d.errorf(a.Expr.Range(), "Invalid router_id", "A BGP identifier is an IPv4 address (RFC 4271 §4.2), not %s.", ip)
			}
		}
	}
	if a := at["listen_port"]; a != nil {
		if n, ok := d.integer(a, 1, 65535); ok {
			g.ListenPort = uint16(n)
		}
	}
	if a := at["withdraw_delay"]; a != nil {
		if v, ok := d.duration(a, 0, MaxWithdrawDelay); ok {
			g.WithdrawDelay = v
		}
	}
	blocks := ofType(content.Blocks, "neighbor")
	seen := map[netip.Addr]*BGPNeighbor{}
	for _, nb := range blocks {
		n := d.decodeNeighbor(nb)
		if n == nil {
			continue
		}
		if first, ok := seen[n.Address]; ok {
			d.errorf(nb.DefRange, "Duplicate neighbor", "neighbor %q is already declared at %s.", n.Address, first.DeclRange)
			continue
		}
		seen[n.Address] = n
		g.Neighbors = append(g.Neighbors, n)
	}
	if len(blocks) == 0 {
		d.errorf(b.DefRange, "Missing neighbor", `A bgp block needs at least one neighbor "ADDRESS" { asn = N } to announce to.`)
	}
	return g
}

func (d *decoder) decodeNeighbor(b *hcl.Block) *BGPNeighbor {
	content, diags := b.Body.Content(neighborSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes
	n := &BGPNeighbor{HoldTime: DefaultHoldTime, DeclRange: b.DefRange}
	ip, err := parseIP(b.Labels[0])
	if err != nil {
		d.errorf(b.LabelRanges[0], "Invalid neighbor address", "%q is not an IP address: %v.", b.Labels[0], err)
		return nil
	}
	n.Address = ip
	if a := d.required(at, "asn", b, " (the neighbor's autonomous system number)"); a != nil {
		if v, ok := d.integer(a, 1, 1<<32-1); ok {
			n.ASN = uint32(v)
		}
	}
	if a := at["port"]; a != nil {
		if v, ok := d.integer(a, 1, 65535); ok {
			n.Port = uint16(v)
		}
	}
	if a := at["hold_time"]; a != nil {
		if v, ok := d.duration(a, MinHoldTime, MaxHoldTime); ok {
			if v%time.Second != 0 {
				d.errorf(a.Expr.Range(), "Invalid duration", "hold_time must be whole seconds: BGP carries it in seconds (RFC 4271 §4.2).")
			} else {
				n.HoldTime = v
			}
		}
	}
	if a := at["password"]; a != nil {
		if pw, ok := d.secret(a); ok {
			switch {
			case pw == "":
				d.secretErrorf(a, "Empty password", "The TCP MD5 password must have 1 to %d characters; remove the argument for none.", MaxPasswordLen)
			case len(pw) > MaxPasswordLen:
				d.secretErrorf(a, "Password too long", "The TCP MD5 password has %d bytes; Linux takes at most %d.", len(pw), MaxPasswordLen)
			default:
				n.Password = Secret(pw)
			}
		}
	}
	if a := at["bfd"]; a != nil {
		if v, ok := d.boolean(a); ok {
			n.BFD = v
		}
	}
	for _, name := range []string{"bfd_interval", "bfd_multiplier"} {
		if a := at[name]; a != nil && !n.BFD {
			d.errorf(a.NameRange, "BFD not enabled", "%s applies only with bfd = true.", name)
		}
	}
	if n.BFD {
		n.BFDInterval, n.BFDMultiplier = DefaultBFDInterval, DefaultBFDMultiplier
		if a := at["bfd_interval"]; a != nil {
			if v, ok := d.duration(a, 10*time.Millisecond, 60*time.Second); ok {
				n.BFDInterval = v
			}
		}
		if a := at["bfd_multiplier"]; a != nil {
			if v, ok := d.integer(a, 1, 255); ok {
				n.BFDMultiplier = int(v)
			}
		}
	}
	return n
}

// decodeAnnounce reads a virtual server's announce argument; checkAnnounce validates it
// against the bgp block once everything is decoded.
func (d *decoder) decodeAnnounce(a *hcl.Attribute, vs *VirtualServer) {
	if a == nil {
		return
	}
	if v, ok := d.boolean(a); ok {
		vs.Announce = v
		vs.announceRange = a.NameRange
	}
}

// checkAnnounce refuses announce = true without a bgp block or on a virtual server that
// has no address to announce.
func (d *decoder) checkAnnounce(cfg *Config) {
	for _, vs := range cfg.VirtualServers {
		if !vs.Announce {
			continue
		}
		if cfg.BGP == nil {
			d.errorf(vs.announceRange, "No bgp block",
				"virtual_server %q sets announce = true, but the file has no bgp { asn = N neighbor \"ADDRESS\" { asn = N } } block to announce it with.", vs.Name)
			continue
		}
		if len(vs.AnnouncedPrefixes()) == 0 {
			d.errorf(vs.announceRange, "Nothing to announce",
				"virtual_server %q has no address (a fwmark service): announce needs the virtual IP. Announce it from a virtual server on its address, or route it yourself.", vs.Name)
		}
	}
}

// bgpWarnings: an announced address with no neighbor of its family is announced to no one.
// vigil announces IPv4 prefixes over IPv4 sessions and IPv6 ones over IPv6 sessions only:
// MP-BGP IPv6 over an IPv4 session would need an IPv6 next hop the session does not carry.
func bgpWarnings(c *Config, warn func(rng hcl.Range, summary, format string, args ...any)) {
	if c.BGP == nil {
		return
	}
	has := map[bool]bool{}
	for _, n := range c.BGP.Neighbors {
		has[n.Address.Unmap().Is6()] = true
	}
	for _, vs := range c.VirtualServers {
		for _, p := range vs.AnnouncedPrefixes() {
			if v6 := p.Addr().Is6(); !has[v6] {
				fam := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
				warn(vs.announceRange, "Announced to no neighbor",
					"virtual_server %q announces %s, but the bgp block has no %s neighbor: vigil announces an %s prefix over %s sessions only. Add the router's %s address as a neighbor.",
					vs.Name, p, fam, fam, fam, fam)
				break
			}
		}
	}
}

// AnnouncedPrefixes returns the host prefixes (/32, /128) of vs's service addresses when vs
// sets announce, sorted, each once.
func (vs *VirtualServer) AnnouncedPrefixes() []netip.Prefix {
	if !vs.Announce {
		return nil
	}
	var out []netip.Prefix
	for _, s := range vs.Services() {
		if !s.Address.IsValid() {
			continue
		}
		a := s.Address.Addr().Unmap()
		p := netip.PrefixFrom(a, a.BitLen())
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

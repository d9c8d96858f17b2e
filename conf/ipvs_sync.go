package conf

import "github.com/hashicorp/hcl/v2"

var ipvsSyncSchema = &hcl.BodySchema{Attributes: attrSchema("interface", "sync_id")}

// decodeIPVSSync reads an ipvs_sync block inside a vrrp_instance: the kernel's
// connection-synchronisation daemons follow this instance's state. The defaults are the
// instance's interface and its virtual_router_id as the sync ID.
func (d *decoder) decodeIPVSSync(b *hcl.Block, vi *VRRPInstance) *IPVSSync {
	s := &IPVSSync{Interface: vi.Interface, SyncID: vi.VirtualRouterID, DeclRange: b.DefRange}
	d.decodeIPVSSyncBody(b, s, false)
	return s
}

// decodeActiveSync reads the top-level ipvs_sync block (nil when there is none): every
// director runs both daemons for as long as vigil runs, the master sending the
// connections it creates, the backup installing every other director's. That is what N
// active directors behind ECMP need, where any of them may receive any connection once a
// director dies: the kernel allows one master and one backup per namespace at once (two
// kernel threads with their own sockets, ip_vs_sync.c start_sync_thread), the master's
// socket does not loop its multicast back (set_mcast_loop 0), and a backup with a sync ID
// installs only messages that carry it. There is no instance to take defaults from, so
// both attributes are required.
func (d *decoder) decodeActiveSync(b *hcl.Block) *IPVSSync {
	if b == nil {
		return nil
	}
	s := &IPVSSync{Active: true, DeclRange: b.DefRange}
	d.decodeIPVSSyncBody(b, s, true)
	return s
}

func (d *decoder) decodeIPVSSyncBody(b *hcl.Block, s *IPVSSync, required bool) {
	content, diags := b.Body.Content(ipvsSyncSchema)
	d.diags = append(d.diags, diags...)
	why := " in a top-level ipvs_sync block: every director must use the same one"
	a := content.Attributes["interface"]
	if required {
		a = d.required(content.Attributes, "interface", b, " in a top-level ipvs_sync block (the interface sync messages go out and come in on)")
	}
	if a != nil {
		if v, ok := d.nonEmpty(a); ok {
			if !validIfName(v) {
				d.errorf(a.Expr.Range(), "Invalid interface name", "%q is not a Linux interface name (1..15 characters, no '/', ':' or spaces).", v)
			} else {
				s.Interface = v
			}
		}
	}
	a = content.Attributes["sync_id"]
	if required {
		a = d.required(content.Attributes, "sync_id", b, why)
	}
	if a != nil {
		if n, ok := d.integer(a, 0, 255); ok {
			s.SyncID = uint8(n)
		}
	}
}

// checkIPVSSync applies the rules of the ipvs_sync blocks: the kernel runs one master
// and one backup sync daemon per namespace, so one block drives them (the top-level one
// or one instance's), and only kernel IPVS has them.
func (d *decoder) checkIPVSSync(cfg *Config) {
	var first *IPVSSync
	var firstName string
	blocks := []*IPVSSync{}
	names := []string{}
	if cfg.IPVSSync != nil {
		blocks, names = append(blocks, cfg.IPVSSync), append(names, "the top-level ipvs_sync block")
	}
	for _, vi := range cfg.VRRPInstances {
		if vi.IPVSSync != nil {
			blocks, names = append(blocks, vi.IPVSSync), append(names, "vrrp_instance \""+vi.Name+"\"")
		}
	}
	for i, s := range blocks {
		if first != nil {
			d.errorf(s.DeclRange, "Duplicate ipvs_sync",
				"%s has an ipvs_sync block like %s at %s; the kernel runs one pair of sync daemons, so only one block can drive them.", names[i], firstName, first.DeclRange)
		} else {
			first, firstName = s, names[i]
		}
		if cfg.Global.Dataplane == DataplaneUserspace {
			d.errorf(s.DeclRange, "ipvs_sync without kernel IPVS",
				"ipvs_sync drives the kernel's IPVS connection synchronisation; dataplane = \"userspace\" has none. Remove the block or use the kernel data plane.")
		}
	}
}

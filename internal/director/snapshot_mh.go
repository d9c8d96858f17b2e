package director

import (
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// mhFingerprint is the fingerprint of the Maglev table the kernel builds for vs's service,
// computed from the table's destination list in its order; "" unless vs is one mh service
// the table holds. A destination listed at weight 0 counts with its configured weight: the
// kernel keeps a quiesced destination's last non-zero weight, so its slots.
func mhFingerprint(vs *conf.VirtualServer, table tableView) string {
	if vs.Scheduler != conf.MaglevHashing || vs.Group != "" || len(table) != 1 || !table[0].present {
		return ""
	}
	configured := make(map[netip.AddrPort]int, len(vs.RealServers))
	for _, rs := range vs.RealServers {
		configured[rs.Address] = rs.Weight
	}
	ds := make([]ipvs.MaglevDest, len(table[0].list))
	for i, d := range table[0].list {
		w := d.Weight
		if w <= 0 {
			w = configured[d.Addr]
		}
		ds[i] = ipvs.MaglevDest{Addr: d.Addr, LastWeight: w}
	}
	return ipvs.MaglevFingerprint(ds)
}

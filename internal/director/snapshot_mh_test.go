package director

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

func mhConfig(t *testing.T, backends ...*backend) *conf.Config {
	cfg := config(t, "", "quiesce", backends...)
	cfg.VirtualServers[0].Scheduler = conf.MaglevHashing
	return cfg
}

// Two directors, one started with all real servers and one that got the middle one by a
// reload, list the mh service's destinations in the same order and show the same
// fingerprint, the one of the table's list.
func TestMHFingerprintSameAfterDifferentHistories(t *testing.T) {
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	slices.SortFunc(bs, func(a, b *backend) int { return a.addr.Compare(b.addr) })
	a, b, c := bs[0], bs[1], bs[2]

	t1 := &ipvstest.Table{KernelOrder: true}
	d1 := start(t, t1, mhConfig(t, a, b, c))
	d1.waitWeight(c.addr, 4)

	t2 := &ipvstest.Table{KernelOrder: true}
	d2 := start(t, t2, mhConfig(t, a, c))
	d2.waitWeight(c.addr, 3)
	if err := d2.Reload(context.Background(), mhConfig(t, a, b, c)); err != nil {
		t.Fatal(err)
	}
	d2.waitWeight(b.addr, 3)
	d2.waitWeight(c.addr, 4)

	for _, f := range []*fixture{d1, d2} {
		ds, err := f.table.Destinations(context.Background(), vip)
		if err != nil {
			t.Fatal(err)
		}
		var list []netip.AddrPort
		md := make([]ipvs.MaglevDest, len(ds))
		for i, d := range ds {
			list = append(list, d.Addr)
			md[i] = ipvs.MaglevDest{Addr: d.Addr, LastWeight: d.Weight}
		}
		if want := []netip.AddrPort{c.addr, b.addr, a.addr}; !slices.Equal(list, want) {
			t.Errorf("table lists %v, want %v", list, want)
		}
		if got, want := f.Snapshot().VirtualServers[0].MHFingerprint, ipvs.MaglevFingerprint(md); got != want || got == "" {
			t.Errorf("status fingerprint %q, the table's %q", got, want)
		}
	}
	if f1, f2 := d1.Snapshot().VirtualServers[0].MHFingerprint, d2.Snapshot().VirtualServers[0].MHFingerprint; f1 != f2 {
		t.Errorf("fingerprints differ: %s and %s", f1, f2)
	}
	// Not mh: no fingerprint.
	t3 := ipvstest.New()
	d3 := start(t, t3, config(t, "", "quiesce", a))
	d3.waitWeight(a.addr, 2)
	if fp := d3.Snapshot().VirtualServers[0].MHFingerprint; fp != "" {
		t.Errorf("rr service has fingerprint %q", fp)
	}
}

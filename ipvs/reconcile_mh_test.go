package ipvs_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

func mhService(addrs ...netip.AddrPort) ipvs.VirtualService {
	vs := ipvs.VirtualService{Service: ipvs.Service{ServiceKey: webKey, Scheduler: "mh"}}
	for _, a := range addrs {
		vs.Destinations = append(vs.Destinations, ipvs.RealServer{Destination: dest(a, 1)})
	}
	return vs
}

// listed is the kernel's list of webKey's destinations, head first.
func listed(t *testing.T, tb ipvs.Table) []netip.AddrPort {
	t.Helper()
	ds, err := tb.Destinations(context.Background(), webKey)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.AddrPort
	for _, d := range ds {
		out = append(out, d.Addr)
	}
	return out
}

func fingerprint(t *testing.T, tb ipvs.Table) string {
	t.Helper()
	ds, err := tb.Destinations(context.Background(), webKey)
	if err != nil {
		t.Fatal(err)
	}
	md := make([]ipvs.MaglevDest, len(ds))
	for i, d := range ds {
		md[i] = ipvs.MaglevDest{Addr: d.Addr, LastWeight: d.Weight}
	}
	return ipvs.MaglevFingerprint(md)
}

// Directors with different reload and recovery histories end with the same list, so the
// same Maglev table.
func TestMHCanonicalOrderAcrossHistories(t *testing.T) {
	ctx := context.Background()
	want := []netip.AddrPort{rs3, rs2, rs1}
	all := mhService(rs2, rs1, rs3) // configuration order is not the canonical one

	fresh := &ipvstest.Table{KernelOrder: true}
	if _, err := ipvs.NewReconciler(fresh, ipvs.ReconcilerOptions{}).Apply(ctx, []ipvs.VirtualService{all}); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, fresh); !slices.Equal(got, want) {
		t.Fatalf("fresh director lists %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name    string
		history func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table)
	}{
		{"reload adds one in the middle", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			if _, err := r.Apply(ctx, []ipvs.VirtualService{mhService(rs1, rs3)}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Apply(ctx, []ipvs.VirtualService{all}); err != nil {
				t.Fatal(err)
			}
		}},
		{"reload adds the lowest", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			if _, err := r.Apply(ctx, []ipvs.VirtualService{mhService(rs2, rs3)}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Apply(ctx, []ipvs.VirtualService{all}); err != nil {
				t.Fatal(err)
			}
		}},
		{"resync repairs a destination deleted by hand", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			if _, err := r.Apply(ctx, []ipvs.VirtualService{all}); err != nil {
				t.Fatal(err)
			}
			if err := tb.DeleteDestination(ctx, webKey, rs2); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Resync(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"adopts a list another program added in configuration order", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			if err := tb.AddService(ctx, all.Service); err != nil {
				t.Fatal(err)
			}
			for _, d := range all.Destinations {
				if err := tb.AddDestination(ctx, webKey, d.Destination); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.Apply(ctx, []ipvs.VirtualService{all}); err != nil {
				t.Fatal(err)
			}
		}},
		{"on_failure remove puts one back", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			if _, err := r.Apply(ctx, []ipvs.VirtualService{all}); err != nil {
				t.Fatal(err)
			}
			if err := r.SetRemoved(ctx, webKey, rs2, true); err != nil {
				t.Fatal(err)
			}
			if err := r.SetRemoved(ctx, webKey, rs2, false); err != nil {
				t.Fatal(err)
			}
		}},
		{"update brings one back", func(t *testing.T, r *ipvs.Reconciler, tb *ipvstest.Table) {
			down := mhService(rs2, rs1, rs3)
			down.Destinations[2].Removed = true
			if _, err := r.Apply(ctx, []ipvs.VirtualService{down}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Update(ctx, all); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := &ipvstest.Table{KernelOrder: true}
			tc.history(t, ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{}), tb)
			if got := listed(t, tb); !slices.Equal(got, want) {
				t.Errorf("lists %v, want %v", got, want)
			}
			if a, b := fingerprint(t, tb), fingerprint(t, fresh); a != b {
				t.Errorf("fingerprint %s, the fresh director's %s", a, b)
			}
		})
	}
}

// Only mh services are reordered: another scheduler keeps the configuration's order and
// an mh service already in order costs no write.
func TestMHOrderOnlyWhenNeeded(t *testing.T) {
	ctx := context.Background()
	tb := &ipvstest.Table{KernelOrder: true}
	r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	rr := mhService(rs1, rs3, rs2)
	rr.Scheduler = "rr"
	if _, err := r.Apply(ctx, []ipvs.VirtualService{rr}); err != nil {
		t.Fatal(err)
	}
	if got, want := listed(t, tb), []netip.AddrPort{rs2, rs3, rs1}; !slices.Equal(got, want) {
		t.Errorf("rr lists %v, want %v (configuration order, most recent first)", got, want)
	}
	// mh: adding the highest address goes to the head, no delete.
	tb = &ipvstest.Table{KernelOrder: true}
	r = ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	if _, err := r.Apply(ctx, []ipvs.VirtualService{mhService(rs1, rs2)}); err != nil {
		t.Fatal(err)
	}
	c, err := r.Apply(ctx, []ipvs.VirtualService{mhService(rs1, rs2, rs3)})
	if err != nil {
		t.Fatal(err)
	}
	if c.DestinationsAdded != 1 || c.DestinationsDeleted != 0 {
		t.Errorf("adding the highest: %+v, want one add", c)
	}
	if c, err := r.Resync(ctx); err != nil || c != 0 {
		t.Errorf("resync of an ordered mh service: %d writes, %v", c, err)
	}
}

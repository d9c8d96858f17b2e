package ipvs_test

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

var (
	vip     = netip.MustParseAddrPort("198.18.0.10:80")
	webKey  = ipvs.AddrKey(ipvs.TCP, vip)
	rs1     = netip.MustParseAddrPort("198.18.1.1:80")
	rs2     = netip.MustParseAddrPort("198.18.1.2:80")
	rs3     = netip.MustParseAddrPort("198.18.1.3:80")
	markKey = ipvs.MarkKey(6666, ipvs.Inet4)
	foreign = ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.UDP, netip.MustParseAddrPort("10.96.0.10:53")), Scheduler: "rr"}
)

// diff is cmp.Diff that compares netip values by ==.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}))
}

func dest(a netip.AddrPort, w int) ipvs.Destination {
	return ipvs.Destination{Addr: a, Weight: w, Forwarding: ipvs.Direct}
}

func web() ipvs.VirtualService {
	return ipvs.VirtualService{
		Service: ipvs.Service{ServiceKey: webKey, Scheduler: "wlc", Persistent: true, Timeout: 300 * time.Second},
		Destinations: []ipvs.RealServer{
			{Destination: dest(rs1, 1)},
			{Destination: dest(rs2, 1)},
		},
	}
}

func fwm() ipvs.VirtualService {
	return ipvs.VirtualService{
		Service:      ipvs.Service{ServiceKey: markKey, Scheduler: "rr"},
		Destinations: []ipvs.RealServer{{Destination: ipvs.Destination{Addr: netip.AddrPortFrom(rs1.Addr(), 0), Weight: 1}}},
	}
}

func op(k ipvstest.OpKind, s ipvs.ServiceKey, d netip.AddrPort) ipvstest.Op {
	return ipvstest.Op{Kind: k, Service: s, Dest: d}
}

// snapshot reads a table back as services and their destinations.
func snapshot(t *testing.T, tb ipvs.Table) map[ipvs.ServiceKey][]ipvs.Destination {
	t.Helper()
	ctx := context.Background()
	svcs, err := tb.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[ipvs.ServiceKey][]ipvs.Destination{}
	for _, s := range svcs {
		ds, err := tb.Destinations(ctx, s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		out[s.ServiceKey] = []ipvs.Destination{}
		for _, d := range ds {
			out[s.ServiceKey] = append(out[s.ServiceKey], d.Destination)
		}
	}
	return out
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		seed    func(*ipvstest.Table)
		first   []ipvs.VirtualService // applied, then the op log is reset
		desired []ipvs.VirtualService
		want    []ipvstest.Op
	}{
		{
			name:    "empty table: creates everything",
			desired: []ipvs.VirtualService{web()},
			want: []ipvstest.Op{
				op(ipvstest.AddService, webKey, netip.AddrPort{}),
				op(ipvstest.AddDestination, webKey, rs1),
				op(ipvstest.AddDestination, webKey, rs2),
			},
		},
		{
			name: "restart: existing matching table is adopted with zero writes",
			seed: func(tb *ipvstest.Table) {
				tb.Seed(web().Service, dest(rs1, 1), dest(rs2, 1))
			},
			desired: []ipvs.VirtualService{web()},
			want:    nil,
		},
		{
			name: "adopt: a different weight is one update, not delete+add",
			seed: func(tb *ipvstest.Table) {
				tb.Seed(web().Service, dest(rs1, 5), dest(rs2, 1))
			},
			desired: []ipvs.VirtualService{web()},
			want:    []ipvstest.Op{op(ipvstest.UpdateDestination, webKey, rs1)},
		},
		{
			name: "adopt: a different scheduler is one UpdateService",
			seed: func(tb *ipvstest.Table) {
				s := web().Service
				s.Scheduler = "rr"
				tb.Seed(s, dest(rs1, 1), dest(rs2, 1))
			},
			desired: []ipvs.VirtualService{web()},
			want:    []ipvstest.Op{op(ipvstest.UpdateService, webKey, netip.AddrPort{})},
		},
		{
			name: "adopt: netmask 32 and 0 are the same host mask",
			seed: func(tb *ipvstest.Table) {
				s := web().Service
				s.Netmask = 32
				tb.Seed(s, dest(rs1, 1), dest(rs2, 1))
			},
			desired: []ipvs.VirtualService{web()},
			want:    nil,
		},
		{
			name: "a foreign service is never touched",
			seed: func(tb *ipvstest.Table) {
				tb.Seed(foreign, dest(netip.MustParseAddrPort("10.0.0.9:53"), 1))
			},
			desired: []ipvs.VirtualService{web()},
			want: []ipvstest.Op{
				op(ipvstest.AddService, webKey, netip.AddrPort{}),
				op(ipvstest.AddDestination, webKey, rs1),
				op(ipvstest.AddDestination, webKey, rs2),
			},
		},
		{
			name: "a destination the config does not name is removed from an owned service",
			seed: func(tb *ipvstest.Table) {
				tb.Seed(web().Service, dest(rs1, 1), dest(rs2, 1), dest(rs3, 1))
			},
			desired: []ipvs.VirtualService{web()},
			want:    []ipvstest.Op{op(ipvstest.DeleteDestination, webKey, rs3)},
		},
		{
			name:    "a service dropped from the config is deleted",
			first:   []ipvs.VirtualService{web(), fwm()},
			desired: []ipvs.VirtualService{web()},
			want:    []ipvstest.Op{op(ipvstest.DeleteService, markKey, netip.AddrPort{})},
		},
		{
			name:  "forwarding change is an update",
			first: []ipvs.VirtualService{web()},
			desired: func() []ipvs.VirtualService {
				w := web()
				w.Destinations[1].Forwarding = ipvs.NAT
				return []ipvs.VirtualService{w}
			}(),
			want: []ipvstest.Op{op(ipvstest.UpdateDestination, webKey, rs2)},
		},
		{
			name:  "a removed (on_failure=remove) destination is deleted",
			first: []ipvs.VirtualService{web()},
			desired: func() []ipvs.VirtualService {
				w := web()
				w.Destinations[0].Removed = true
				return []ipvs.VirtualService{w}
			}(),
			want: []ipvstest.Op{op(ipvstest.DeleteDestination, webKey, rs1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := ipvstest.New()
			if tt.seed != nil {
				tt.seed(tb)
			}
			r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
			if tt.first != nil {
				if _, err := r.Apply(ctx, tt.first); err != nil {
					t.Fatal(err)
				}
				tb.ResetOps()
			}
			c, err := r.Apply(ctx, tt.desired)
			if err != nil {
				t.Fatal(err)
			}
			if diff := diff(tt.want, tb.Ops()); diff != "" {
				t.Errorf("ops (-want +got):\n%s", diff)
			}
			if c.Total() != len(tt.want) {
				t.Errorf("Changes.Total() = %d, want %d (%+v)", c.Total(), len(tt.want), c)
			}
			// Applying the same state again is free.
			tb.ResetOps()
			if c, err := r.Apply(ctx, tt.desired); err != nil || c.Total() != 0 || len(tb.Ops()) != 0 {
				t.Errorf("second Apply: %+v, %v, ops %v; want no writes", c, err, tb.Ops())
			}
		})
	}
}

func TestSetWeightIsOneUpdate(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New()
	r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	if _, err := r.Apply(ctx, []ipvs.VirtualService{web()}); err != nil {
		t.Fatal(err)
	}
	tb.ResetOps()
	if err := r.SetWeight(ctx, webKey, rs2, 0); err != nil {
		t.Fatal(err)
	}
	if diff := diff([]ipvstest.Op{op(ipvstest.UpdateDestination, webKey, rs2)}, tb.Ops()); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
	got := snapshot(t, tb)[webKey]
	want := []ipvs.Destination{dest(rs1, 1), dest(rs2, 0)}
	if diff := diff(want, got); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	// The weight is part of the desired state: a resync keeps it.
	tb.ResetOps()
	if n, err := r.Resync(ctx); n != 0 || err != nil {
		t.Errorf("Resync = %d, %v; want 0, nil", n, err)
	}
	if err := r.SetWeight(ctx, webKey, rs3, 1); !errors.Is(err, ipvs.ErrUnknown) {
		t.Errorf("SetWeight of unknown destination: %v, want ErrUnknown", err)
	}
	if w := r.Writes(); w.DestinationsUpdated != 1 || w.DestinationsAdded != 2 || w.ServicesAdded != 1 {
		t.Errorf("Writes() = %+v", w)
	}
}

func TestSetRemoved(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New()
	r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	if _, err := r.Apply(ctx, []ipvs.VirtualService{web()}); err != nil {
		t.Fatal(err)
	}
	tb.ResetOps()
	if err := r.SetRemoved(ctx, webKey, rs1, true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRemoved(ctx, webKey, rs1, true); err != nil { // idempotent
		t.Fatal(err)
	}
	// A weight change while removed is only recorded.
	if err := r.SetWeight(ctx, webKey, rs1, 7); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Resync(ctx); n != 0 || err != nil {
		t.Errorf("Resync while removed = %d, %v; want 0 (removed stays removed)", n, err)
	}
	if err := r.SetRemoved(ctx, webKey, rs1, false); err != nil {
		t.Fatal(err)
	}
	want := []ipvstest.Op{
		op(ipvstest.DeleteDestination, webKey, rs1),
		op(ipvstest.AddDestination, webKey, rs1),
	}
	if diff := diff(want, tb.Ops()); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
	if diff := diff([]ipvs.Destination{dest(rs2, 1), dest(rs1, 7)}, snapshot(t, tb)[webKey]); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestResyncRepairsDrift(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		drift   func(*ipvstest.Table)
		repairs int
	}{
		{"no drift", func(*ipvstest.Table) {}, 0},
		{"external flush (ipvsadm -C)", (*ipvstest.Table).Flush, 5},
		{"destination deleted (ipvsadm -d)", func(tb *ipvstest.Table) { tb.SeedRemove(webKey, rs2) }, 1},
		{"service deleted (ipvsadm -D)", func(tb *ipvstest.Table) { tb.SeedRemove(markKey, netip.AddrPort{}) }, 2},
		{"weight changed (ipvsadm -e)", func(tb *ipvstest.Table) {
			tb.SeedRemove(webKey, rs1)
			tb.UpdateDestination(ctx, webKey, dest(rs2, 9))
			tb.ResetOps()
		}, 2},
		{"destination added to owned service", func(tb *ipvstest.Table) {
			tb.AddDestination(ctx, webKey, dest(rs3, 1))
			tb.ResetOps()
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := ipvstest.New()
			tb.Seed(foreign)
			r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
			if _, err := r.Apply(ctx, []ipvs.VirtualService{web(), fwm()}); err != nil {
				t.Fatal(err)
			}
			want := snapshot(t, tb)
			if tt.name == "external flush (ipvsadm -C)" {
				delete(want, foreign.ServiceKey) // flushed with the rest; not ours to restore
			}
			tb.ResetOps()
			tt.drift(tb)
			n, err := r.Resync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.repairs || len(tb.Ops()) != tt.repairs {
				t.Errorf("Resync repairs = %d (ops %v), want %d", n, tb.Ops(), tt.repairs)
			}
			got := snapshot(t, tb)
			for k := range got {
				if d := got[k]; len(d) > 0 {
					// Order may differ after repair; compare as sets.
					got[k] = sortDests(d)
					want[k] = sortDests(want[k])
				}
			}
			if diff := diff(want, got); diff != "" {
				t.Errorf("table after resync (-want +got):\n%s", diff)
			}
		})
	}
}

func sortDests(ds []ipvs.Destination) []ipvs.Destination {
	out := append([]ipvs.Destination(nil), ds...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Addr.Compare(out[i].Addr) < 0 {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPartialFailureContinues(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New()
	r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	other := web()
	other.ServiceKey = ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort("198.18.0.11:80"))
	tb.Fail(ipvstest.AddDestination, syscall.ENOMEM)
	c, err := r.Apply(ctx, []ipvs.VirtualService{web(), other})
	if !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Apply error = %v, want ENOMEM", err)
	}
	if c.ServicesAdded != 2 {
		t.Errorf("ServicesAdded = %d, want 2 (the second service is still tried)", c.ServicesAdded)
	}
	tb.Fail(ipvstest.AddDestination, nil)
	n, err := r.Resync(ctx)
	if err != nil || n != 4 {
		t.Errorf("Resync = %d, %v; want 4 destinations added", n, err)
	}
}

func TestErrorsKeepErrno(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New()
	if err := tb.AddService(ctx, web().Service); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddDestination(ctx, webKey, dest(rs1, 1)); err != nil {
		t.Fatal(err)
	}
	err := tb.AddDestination(ctx, webKey, dest(rs1, 1))
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("err = %v, want EEXIST", err)
	}
	if got, want := err.Error(), "add destination 198.18.1.1:80 to TCP 198.18.0.10:80: file exists"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

// applied returns a reconciler that has applied svcs to tb, with tb's log cleared.
func applied(t *testing.T, tb interface {
	ipvs.Table
	ResetOps()
}, svcs ...ipvs.VirtualService) *ipvs.Reconciler {
	t.Helper()
	r := ipvs.NewReconciler(tb, ipvs.ReconcilerOptions{})
	if _, err := r.Apply(context.Background(), svcs); err != nil {
		t.Fatal(err)
	}
	tb.ResetOps()
	return r
}

// readCounter counts the table reads a reconciler makes.
type readCounter struct {
	*ipvstest.Table
	reads int
}

func (c *readCounter) Services(ctx context.Context) ([]ipvs.ServiceInfo, error) {
	c.reads++
	return c.Table.Services(ctx)
}

func (c *readCounter) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	c.reads++
	return c.Table.Destinations(ctx, k)
}

// Update touches only its own service and diffs against its record instead of reading the
// table: a sorry server coming in while the real servers are quiesced is three writes and
// no read, and the other owned service is neither read nor written.
func TestUpdateTouchesOneService(t *testing.T) {
	ctx := context.Background()
	tb := &readCounter{Table: ipvstest.New()}
	r := applied(t, tb, web(), fwm())
	tb.reads = 0
	w := web()
	w.Destinations[0].Weight, w.Destinations[1].Weight = 0, 0
	w.Destinations = append(w.Destinations, ipvs.RealServer{Destination: dest(rs3, 1)})
	c, err := r.Update(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	want := []ipvstest.Op{
		op(ipvstest.UpdateDestination, webKey, rs1),
		op(ipvstest.UpdateDestination, webKey, rs2),
		op(ipvstest.AddDestination, webKey, rs3),
	}
	if d := diff(want, tb.Ops()); d != "" || c.Total() != 3 {
		t.Errorf("Update wrote %d (-want +got):\n%s", c.Total(), d)
	}
	if tb.reads != 0 {
		t.Errorf("Update read the table %d times, want none", tb.reads)
	}
	// The new desired state is what a resync keeps.
	tb.ResetOps()
	if n, err := r.Resync(ctx); err != nil || n != 0 {
		t.Errorf("Resync after Update = %d, %v; want 0 repairs", n, err)
	}

	// The sorry server goes out and the real servers come back: three writes again.
	tb.ResetOps()
	if c, err := r.Update(ctx, web()); err != nil || c.Total() != 3 {
		t.Fatalf("Update back = %+v, %v", c, err)
	}
	want = []ipvstest.Op{
		op(ipvstest.UpdateDestination, webKey, rs1),
		op(ipvstest.UpdateDestination, webKey, rs2),
		op(ipvstest.DeleteDestination, webKey, rs3),
	}
	if d := diff(want, tb.Ops()); d != "" {
		t.Errorf("Update back wrote (-want +got):\n%s", d)
	}
}

// Update follows on_failure = "remove" from its record: out is one delete, back in one add
// with the weight it should have, and a service it never had is created.
func TestUpdateRemovedAndNew(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New()
	r := applied(t, tb, web())
	w := web()
	w.Destinations[0].Removed = true
	if _, err := r.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Destinations[0].Weight = 7 // still out: nothing to write
	if _, err := r.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Destinations[0].Removed = false
	if _, err := r.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, fwm()); err != nil {
		t.Fatal(err)
	}
	want := []ipvstest.Op{
		op(ipvstest.DeleteDestination, webKey, rs1),
		op(ipvstest.AddDestination, webKey, rs1),
		op(ipvstest.AddService, markKey, netip.AddrPort{}),
		op(ipvstest.AddDestination, markKey, netip.AddrPortFrom(rs1.Addr(), 0)),
	}
	if d := diff(want, tb.Ops()); d != "" {
		t.Errorf("writes (-want +got):\n%s", d)
	}
	if got := snapshot(t, tb)[webKey]; got[len(got)-1] != dest(rs1, 7) {
		t.Errorf("rs1 back in the table as %+v, want weight 7", got[len(got)-1])
	}
}

// After a write fails the record no longer says what the table holds: the next Update of
// that service reads the table and repairs what it finds, instead of trusting the record.
func TestUpdateAfterFailedWriteReadsTable(t *testing.T) {
	ctx := context.Background()
	tb := &readCounter{Table: ipvstest.New()}
	r := applied(t, tb, web())
	tb.Fail(ipvstest.UpdateDestination, syscall.ENOMEM)
	w := web()
	w.Destinations[0].Weight = 0
	if _, err := r.Update(ctx, w); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Update with a failing table = %v, want ENOMEM", err)
	}
	tb.Fail(ipvstest.UpdateDestination, nil)
	tb.ResetOps()
	tb.reads = 0
	// Same desired state again: the record alone would say there is nothing to write.
	if _, err := r.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	if d := diff([]ipvstest.Op{op(ipvstest.UpdateDestination, webKey, rs1)}, tb.Ops()); d != "" {
		t.Errorf("retry wrote (-want +got):\n%s", d)
	}
	if tb.reads == 0 {
		t.Error("retry did not read the table")
	}
	// Back in line: the next Update trusts the record again.
	tb.reads = 0
	if _, err := r.Update(ctx, web()); err != nil || tb.reads != 0 {
		t.Errorf("Update after the repair: err %v, %d reads, want none", err, tb.reads)
	}
}

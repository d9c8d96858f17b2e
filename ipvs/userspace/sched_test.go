package userspace

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-lb/vigil/ipvs"
)

// mkDests builds a destination list in the kernel's order from names and weights given
// in the order they were added (the kernel puts each new one at the head).
func mkDests(weights map[string]int, order ...string) []*dest {
	var ds []*dest
	for i, n := range order {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 80)
		d := &dest{addr: ap, cfg: ipvs.Destination{Addr: ap, Weight: weights[n]}, lastWeight: weights[n], available: true}
		ds = append([]*dest{d}, ds...)
	}
	return ds
}

func nameOf(ds []*dest, d *dest) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("rs%d", d.addr.Addr().As4()[3])
}

func seq(s scheduler, ds []*dest, n int, c *pickCtx) []string {
	s.changed(ds)
	var out []string
	for range n {
		out = append(out, nameOf(ds, s.pick(ds, c)))
	}
	return out
}

func TestSchedulerSequences(t *testing.T) {
	ctx := &pickCtx{client: netip.MustParseAddrPort("192.0.2.1:1000"), vip: netip.MustParseAddrPort("198.51.100.1:80")}
	for _, tc := range []struct {
		name    string
		weights map[string]int
		n       int
		want    []string
	}{
		// rs2 was added last, so it heads the list and rr starts there.
		{"rr", map[string]int{"a": 1, "b": 1}, 4, []string{"rs2", "rs1", "rs2", "rs1"}},
		{"rr", map[string]int{"a": 1, "b": 0}, 3, []string{"rs1", "rs1", "rs1"}},
		{"rr", map[string]int{"a": 0, "b": 0}, 2, []string{"-", "-"}},
		// wrr 3:1 with the list [rs2(1), rs1(3)]: cw steps 3, 2, 1.
		{"wrr", map[string]int{"a": 3, "b": 1}, 8, []string{"rs1", "rs1", "rs2", "rs1", "rs1", "rs1", "rs2", "rs1"}},
		// Weights with gcd 2 step cw by 2: 4 then 2.
		{"wrr", map[string]int{"a": 4, "b": 2}, 6, []string{"rs1", "rs2", "rs1", "rs1", "rs2", "rs1"}},
		{"wrr", map[string]int{"a": 0, "b": 0}, 2, []string{"-", "-"}},
		// Without connections, the least-connection family takes the list head.
		{"lc", map[string]int{"a": 1, "b": 1}, 1, []string{"rs2"}},
		{"fo", map[string]int{"a": 1, "b": 3, "c": 2}, 2, []string{"rs2", "rs2"}},
		{"fo", map[string]int{"a": 2, "b": 2}, 1, []string{"rs2"}},
		{"ovf", map[string]int{"a": 1, "b": 3}, 1, []string{"rs2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order := []string{"a", "b", "c"}[:len(tc.weights)]
			ds := mkDests(tc.weights, order...)
			s, err := newScheduler(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			got := seq(s, ds, tc.n, ctx)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %v (-want +got):\n%s", tc.name, tc.weights, diff)
			}
		})
	}
}

// TestLeastConnectionFormulas checks the overhead arithmetic of lc, wlc, sed and nq
// against hand-computed kernel results.
func TestLeastConnectionFormulas(t *testing.T) {
	ctx := &pickCtx{}
	for _, tc := range []struct {
		sched           string
		wa, wb          int
		aAct, aIn, bAct int32
		want            string
	}{
		// lc: 1 active (256) beats 300 inactive.
		{"lc", 1, 1, 1, 0, 0, "rs2"},
		{"lc", 1, 1, 0, 300, 1, "rs2"},
		{"lc", 1, 1, 0, 200, 1, "rs1"},
		// wlc: 2 active at weight 3 (512/3) beats 1 active at weight 1 (256/1).
		{"wlc", 1, 3, 1, 0, 2, "rs2"},
		{"wlc", 1, 3, 1, 0, 4, "rs1"},
		// sed: (active+1)/weight: rs1 (0+1)/1=1 vs rs2 (2+1)/3=1: a tie keeps the head (rs2).
		{"sed", 1, 3, 0, 0, 2, "rs2"},
		{"sed", 1, 3, 0, 0, 3, "rs1"},
		// nq: an idle server wins at once, even with weight 1 against 100.
		{"nq", 1, 100, 0, 0, 1, "rs1"},
		{"nq", 1, 100, 1, 0, 1, "rs2"},
		// ovf: rs2 (weight 3) has 4 active > 3: skip to rs1.
		{"ovf", 1, 3, 0, 0, 4, "rs1"},
		{"ovf", 1, 3, 0, 0, 3, "rs2"},
	} {
		t.Run(fmt.Sprintf("%s/%+v", tc.sched, tc), func(t *testing.T) {
			ds := mkDests(map[string]int{"a": tc.wa, "b": tc.wb}, "a", "b")
			a, b := ds[1], ds[0]
			a.active, a.inactive, b.active = tc.aAct, tc.aIn, tc.bAct
			s, _ := newScheduler(tc.sched)
			s.changed(ds)
			if got := nameOf(ds, s.pick(ds, ctx)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWRRRatio(t *testing.T) {
	ds := mkDests(map[string]int{"a": 5, "b": 3, "c": 1}, "a", "b", "c")
	s, _ := newScheduler("wrr")
	count := map[string]int{}
	for _, n := range seq(s, ds, 900, &pickCtx{}) {
		count[n]++
	}
	if diff := cmp.Diff(map[string]int{"rs1": 500, "rs2": 300, "rs3": 100}, count); diff != "" {
		t.Errorf("wrr 5:3:1 over 900 picks (-want +got):\n%s", diff)
	}
}

func TestThresholdOverload(t *testing.T) {
	d := &dest{cfg: ipvs.Destination{Weight: 1, Upper: 4}}
	for _, tc := range []struct {
		total int32
		want  bool
	}{{3, false}, {4, true}, {3, true}, {2, false}, {4, true}} {
		d.active = tc.total
		d.updateOverload()
		if d.overloaded != tc.want {
			t.Errorf("upper 4, total %d: overloaded %v, want %v", tc.total, d.overloaded, tc.want)
		}
	}
	d = &dest{cfg: ipvs.Destination{Weight: 1, Upper: 4, Lower: 1}}
	for _, tc := range []struct {
		total int32
		want  bool
	}{{4, true}, {2, true}, {1, true}, {0, false}} {
		d.active = tc.total
		d.updateOverload()
		if d.overloaded != tc.want {
			t.Errorf("upper 4 lower 1, total %d: overloaded %v, want %v", tc.total, d.overloaded, tc.want)
		}
	}
}

func TestSourceHashing(t *testing.T) {
	for _, name := range []string{"sh", "mh"} {
		t.Run(name, func(t *testing.T) {
			ds := mkDests(map[string]int{"a": 1, "b": 1, "c": 1}, "a", "b", "c")
			s, _ := newScheduler(name)
			s.changed(ds)
			first := map[netip.Addr]*dest{}
			used := map[*dest]int{}
			for i := range 200 {
				src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
				for port := range 3 {
					c := &pickCtx{client: netip.AddrPortFrom(src, uint16(1024+port))}
					d := s.pick(ds, c)
					if d == nil {
						t.Fatalf("%s: no destination for %s", name, src)
					}
					if f, ok := first[src]; ok && f != d {
						t.Fatalf("%s: %s moved from %s to %s", name, src, nameOf(ds, f), nameOf(ds, d))
					}
					first[src] = d
				}
				used[first[src]]++
			}
			for _, d := range ds {
				if used[d] < 30 {
					t.Errorf("%s: %s got %d of 200 sources, want roughly a third", name, nameOf(ds, d), used[d])
				}
			}
			// Quiesce one: without the fallback flag its sources get nothing, others stay.
			victim := first[netip.AddrFrom4([4]byte{192, 0, 2, 0})]
			victim.cfg.Weight = 0
			s.changed(ds)
			for src, was := range first {
				c := &pickCtx{client: netip.AddrPortFrom(src, 1)}
				got := s.pick(ds, c)
				switch {
				case was == victim && got != nil:
					t.Errorf("%s without fallback: %s got %s, want none", name, src, nameOf(ds, got))
				case was != victim && name == "mh" && got != was:
					// Maglev keeps the quiesced server's slots (last_weight): no one else moves.
					t.Errorf("mh: %s moved from %s to %s when another was quiesced", src, nameOf(ds, was), nameOf(ds, got))
				}
				c.flags = ipvs.SchedFlag1 // sh-fallback / mh-fallback
				if got := s.pick(ds, c); got == nil || got == victim {
					t.Errorf("%s with fallback: %s got %s", name, src, nameOf(ds, got))
				}
			}
		})
	}
}

func TestSourceHashingWeights(t *testing.T) {
	ds := mkDests(map[string]int{"a": 3, "b": 1}, "a", "b")
	var s sh
	s.changed(ds)
	count := map[string]int{}
	for _, d := range s.buckets {
		count[nameOf(ds, d)]++
	}
	// The list is [rs2(1), rs1(3)]: buckets go 1, 3, 1, 3 ... : 64 and 192 of 256.
	if diff := cmp.Diff(map[string]int{"rs1": 192, "rs2": 64}, count); diff != "" {
		t.Errorf("sh buckets (-want +got):\n%s", diff)
	}
	var m mh
	m.changed(ds)
	count = map[string]int{}
	for _, d := range m.lookup {
		count[nameOf(ds, d)]++
	}
	if r := float64(count["rs1"]) / float64(count["rs2"]); r < 2.7 || r > 3.3 {
		t.Errorf("mh lookup 3:1 weights: %v (ratio %.2f)", count, r)
	}
}

func TestMaglevMinimalDisruption(t *testing.T) {
	w := map[string]int{}
	order := []string{}
	for i := range 10 {
		n := fmt.Sprint(i)
		w[n] = 1
		order = append(order, n)
	}
	ds := mkDests(w, order...)
	var before, after mh
	before.changed(ds)
	removed := ds[3]
	after.changed(append(append([]*dest{}, ds[:3]...), ds[4:]...))
	moved, kept := 0, 0
	for i := range before.lookup {
		if before.lookup[i] == removed {
			continue
		}
		if before.lookup[i] == after.lookup[i] {
			kept++
		} else {
			moved++
		}
	}
	if float64(moved) > 0.1*float64(kept+moved) {
		t.Errorf("removing 1 of 10: %d of %d other slots moved, want under 10%%", moved, kept+moved)
	}
}

func TestLocalityBased(t *testing.T) {
	now := time.Unix(1000, 0)
	ctx := &pickCtx{vip: netip.MustParseAddrPort("198.51.100.1:80"), now: now}
	for _, name := range []string{"lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			ds := mkDests(map[string]int{"a": 1, "b": 1}, "a", "b")
			s, _ := newScheduler(name)
			s.changed(ds)
			first := s.pick(ds, ctx)
			first.active++
			// Below overload (active <= weight... here 1 <= 1), the same server keeps the VIP.
			if got := s.pick(ds, ctx); got != first {
				t.Fatalf("second pick %s, want %s", nameOf(ds, got), nameOf(ds, first))
			}
			// 2 active > weight 1 while the other is under half its weight: overloaded.
			first.active++
			got := s.pick(ds, ctx)
			if got == first || got == nil {
				t.Fatalf("overloaded %s still picked (got %s)", nameOf(ds, first), nameOf(ds, got))
			}
			first.cfg.Weight = 0
			if got := s.pick(ds, ctx); got == first {
				t.Fatalf("weight-0 server picked")
			}
		})
	}
}

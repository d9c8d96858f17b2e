package ipvs

import (
	"net/netip"
	"slices"
	"testing"
)

func mdests(ws ...int) []MaglevDest {
	ds := make([]MaglevDest, len(ws))
	for i, w := range ws {
		ds[i] = MaglevDest{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + i)}), 80), LastWeight: w}
	}
	return ds
}

func shares(table []int, n int) []int {
	c := make([]int, n)
	for _, i := range table {
		if i >= 0 {
			c[i]++
		}
	}
	return c
}

func TestMaglevTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		// want: slots per destination within 2% of the table, -1 for "exactly 0".
		want []float64
	}{
		{"one", []int{1}, []float64{1}},
		{"equal", []int{1, 1, 1, 1}, []float64{.25, .25, .25, .25}},
		{"3:1", []int{3, 1}, []float64{.75, .25}},
		{"gcd reduces 300:100", []int{300, 100}, []float64{.75, .25}},
		{"zero last weight has no slot", []int{1, 0, 1}, []float64{.5, -1, .5}},
		{"large weights are shifted", []int{65535, 1}, []float64{.98, .02}},
		{"none", []int{0, 0}, []float64{-1, -1}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := MaglevTable(mdests(tc.weights...))
			if len(table) != MaglevSize {
				t.Fatalf("%d slots, want %d", len(table), MaglevSize)
			}
			got := shares(table, len(tc.weights))
			filled := 0
			for i, w := range tc.want {
				filled += got[i]
				if w < 0 {
					if got[i] != 0 {
						t.Errorf("destination %d: %d slots, want 0", i, got[i])
					}
					continue
				}
				if f := float64(got[i]) / MaglevSize; f < w-0.02 || f > w+0.02 {
					t.Errorf("destination %d: share %.3f, want %.2f", i, f, w)
				}
			}
			if anyPositive := slices.ContainsFunc(tc.weights, func(w int) bool { return w > 0 }); anyPositive && filled != MaglevSize {
				t.Errorf("%d of %d slots filled", filled, MaglevSize)
			} else if !anyPositive && slices.ContainsFunc(table, func(i int) bool { return i >= 0 }) {
				t.Error("a slot is filled with no positive weight")
			}
		})
	}
}

func TestMaglevGCDIsExact(t *testing.T) {
	// ip_vs_mh_gcd_weight: weights with a common factor give the very same table.
	if !slices.Equal(MaglevTable(mdests(2, 4, 6)), MaglevTable(mdests(1, 2, 3))) {
		t.Error("weights 2,4,6 and 1,2,3 give different tables")
	}
}

func TestMaglevFingerprint(t *testing.T) {
	ds := mdests(1, 1, 1)
	fp := MaglevFingerprint(ds)
	if len(fp) != 16 {
		t.Fatalf("fingerprint %q, want 16 hex digits", fp)
	}
	if again := MaglevFingerprint(slices.Clone(ds)); again != fp {
		t.Errorf("same list: %s then %s", fp, again)
	}
	rev := slices.Clone(ds)
	slices.Reverse(rev)
	if MaglevFingerprint(rev) == fp {
		t.Error("the reversed list has the same fingerprint: the kernel's table depends on the order")
	}
	if MaglevFingerprint(mdests(1, 1, 2)) == fp {
		t.Error("a changed weight keeps the fingerprint")
	}
	if MaglevFingerprint(mdests(5, 5, 5)) != fp {
		t.Error("weights 5,5,5 and 1,1,1 (same table) have different fingerprints")
	}
	// Pinned: a change here changes what operators compare across vigil versions.
	if fp != "5b847c55446ddbb0" {
		t.Errorf("fingerprint of 198.18.1.10-12:80 weight 1 in list order: %s, pinned 5b847c55446ddbb0", fp)
	}
}

func TestMaglevOrder(t *testing.T) {
	a := netip.MustParseAddrPort("198.18.1.10:80")
	b := netip.MustParseAddrPort("198.18.1.10:81")
	c := netip.MustParseAddrPort("198.18.1.11:80")
	for _, tc := range []struct {
		list []netip.AddrPort
		want bool
	}{
		{[]netip.AddrPort{c, b, a}, true},
		{[]netip.AddrPort{a, b, c}, false},
		{[]netip.AddrPort{c, a, b}, false},
		{nil, true},
	} {
		if got := MaglevCanonical(tc.list); got != tc.want {
			t.Errorf("MaglevCanonical(%v) = %v, want %v", tc.list, got, tc.want)
		}
	}
}

func TestHSipHash(t *testing.T) {
	if hsiphash32(1, maglevKey1) == hsiphash32(2, maglevKey1) || hsiphash32(1, maglevKey1) == hsiphash32(1, maglevKey2) {
		t.Error("hsiphash32 collides on trivial inputs")
	}
	if AddrFold(netip.MustParseAddr("198.18.0.1")) != 0xc6120001 {
		t.Error("AddrFold of an IPv4 address is not the address in host order")
	}
	if AddrFold(netip.MustParseAddr("::ffff:198.18.0.1")) != 0xc6120001 {
		t.Error("AddrFold of a v4-mapped address")
	}
}

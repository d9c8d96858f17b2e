package ipvs

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs/ipvsnl"
)

// A service or destination written through ipvsnl and read back (the kernel returns what
// it was given, plus IP_VS_SVC_F_HASHED) is the model's canonical form of it.
func TestKernelConversions(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, s := range []Service{
		{ServiceKey: AddrKey(TCP, ap("198.18.0.1:80")), Scheduler: "wlc"},
		{ServiceKey: AddrKey(UDP, ap("198.18.0.1:53")), Scheduler: "sh", Flags: SchedFlag1 | OnePacket, Persistent: true, Timeout: 300 * time.Second, Netmask: 24},
		{ServiceKey: AddrKey(TCP, ap("[2001:db8::1]:443")), Scheduler: "mh", Persistent: true, Timeout: time.Second, Netmask: 64},
		{ServiceKey: AddrKey(SCTP, ap("[::ffff:198.18.0.1]:9")), Scheduler: "rr", Netmask: 32, Timeout: time.Minute},
		{ServiceKey: MarkKey(6666, Inet4), Scheduler: "rr"},
		{ServiceKey: MarkKey(7, Inet6), Scheduler: "rr", Persistent: true, Timeout: 60500 * time.Millisecond, Netmask: 128},
	} {
		ns, err := toNLService(s)
		if err != nil {
			t.Fatalf("%s: %v", s.ServiceKey, err)
		}
		ns.Flags |= ipvsnl.FlagHashed
		if got, want := fromNLService(ns).Canonical(), s.Canonical(); got != want {
			t.Errorf("%s read back as %+v, want %+v", s.ServiceKey, got, want)
		}
		if k := nlKey(s.ServiceKey); k.Scheduler != "" || k.Flags != 0 || (k.FWMark == 0) == !k.Addr.IsValid() {
			t.Errorf("key of %s = %+v", s.ServiceKey, k)
		}
	}
	for _, bad := range []Service{
		{ServiceKey: AddrKey(TCP, ap("198.18.0.1:80"))},
		{ServiceKey: AddrKey(TCP, ap("198.18.0.1:80")), Scheduler: "rr", Netmask: 33},
		{ServiceKey: AddrKey(TCP, ap("198.18.0.1:80")), Scheduler: "rr", Persistent: true},
	} {
		if _, err := toNLService(bad); err == nil {
			t.Errorf("%+v converted, want an error", bad)
		}
	}
	for _, d := range []Destination{
		{Addr: ap("198.18.1.1:80"), Weight: 65535, Forwarding: Tunnel, Upper: 100, Lower: 10},
		{Addr: ap("[2001:db8::5]:0"), Weight: 0, Forwarding: Direct},
	} {
		nd := toNLDestination(d)
		nd.ActiveConns, nd.Stats = 3, ipvsnl.Stats{Conns: 1 << 40, OutBPS: 5}
		got := fromNLDestination(nd)
		if got.Destination != d || got.ActiveConns != 3 || got.Stats != (Stats{Conns: 1 << 40, OutBPS: 5}) {
			t.Errorf("%+v read back as %+v", d, got)
		}
	}
}

package ipvsadm

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenTable covers every branch of ipvsadm's layout: NAT/DR/TUN, persistence with and
// without a netmask, scheduler flags, one-packet, fwmark v4/v6, IPv6, large counters.
func goldenTable() []ipvs.ListedService {
	ap := netip.MustParseAddrPort
	d := func(a string, w int, f ipvs.Forwarding, act, inact uint32) ipvs.DestinationInfo {
		return ipvs.DestinationInfo{Destination: ipvs.Destination{Addr: ap(a), Weight: w, Forwarding: f}, ActiveConns: act, InactiveConns: inact}
	}
	web := ipvs.ListedService{
		ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, ap("192.168.137.254:80")), Scheduler: "rr"},
			Stats: ipvs.Stats{Conns: 10, InPkts: 123456789, OutPkts: 99, InBytes: 5_000_000_000, OutBytes: 200_000_000_000_000, CPS: 3, InBPS: 1500}},
		Destinations: []ipvs.DestinationInfo{
			d("192.168.137.200:80", 1, ipvs.Direct, 0, 10),
			d("192.168.137.130:80", 1, ipvs.Direct, 2, 10),
		},
	}
	web.Destinations[0].Stats = ipvs.Stats{Conns: 5, InPkts: 50, OutPkts: 40, InBytes: 3000, OutBytes: 2000, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 400, OutBPS: 300}
	return []ipvs.ListedService{
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.MarkKey(6666, ipvs.Inet4), Scheduler: "rr", Persistent: true, Timeout: 300 * time.Second}},
			Destinations: []ipvs.DestinationInfo{d("192.168.137.200:0", 1, ipvs.Direct, 0, 0), d("192.168.137.130:0", 1, ipvs.Direct, 0, 0)}},
		web,
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.UDP, ap("192.168.137.254:53")), Scheduler: "sh", Flags: ipvs.SchedFlag1 | ipvs.SchedFlag2 | ipvs.OnePacket}},
			Destinations: []ipvs.DestinationInfo{d("10.0.0.2:53", 65535, ipvs.NAT, 0, 0)}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, ap("192.168.137.254:3306")), Scheduler: "wlc", Persistent: true, Timeout: 60 * time.Second, Netmask: 24}},
			Destinations: []ipvs.DestinationInfo{d("172.18.5.241:3306", 0, ipvs.Tunnel, 1, 0), d("172.18.5.240:3306", 3, ipvs.Tunnel, 0, 0)}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, ap("[2001:db8::1]:443")), Scheduler: "mh", Flags: ipvs.SchedFlag2, Persistent: true, Timeout: 360 * time.Second, Netmask: 64}},
			Destinations: []ipvs.DestinationInfo{d("[2001:db8::10]:443", 2, ipvs.NAT, 0, 0)}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.MarkKey(7, ipvs.Inet6), Scheduler: "lc", Flags: ipvs.SchedFlag3}}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.SCTP, ap("10.1.1.1:9")), Scheduler: "fo"}}},
	}
}

func TestIPVSAdmGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"list.golden", func(b *bytes.Buffer) error { return WriteList(b, goldenTable(), ListOptions{}) }},
		{"list-stats.golden", func(b *bytes.Buffer) error { return WriteList(b, goldenTable(), ListOptions{Stats: true}) }},
		{"list-rate.golden", func(b *bytes.Buffer) error { return WriteList(b, goldenTable(), ListOptions{Rate: true}) }},
		{"save.golden", func(b *bytes.Buffer) error { return WriteSave(b, goldenTable()) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", tc.file, got, want)
			}
		})
	}
}

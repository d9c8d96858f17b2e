package ipvs

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenTable covers every branch of ipvsadm's layout: NAT/DR/TUN, persistence with and
// without a netmask, scheduler flags, one-packet, fwmark v4/v6, IPv6, large counters.
func goldenTable() []ListedService {
	ap := netip.MustParseAddrPort
	d := func(a string, w int, f Forwarding, act, inact uint32) DestinationInfo {
		return DestinationInfo{Destination: Destination{Addr: ap(a), Weight: w, Forwarding: f}, ActiveConns: act, InactiveConns: inact}
	}
	web := ListedService{
		ServiceInfo: ServiceInfo{Service: Service{ServiceKey: AddrKey(TCP, ap("192.168.137.254:80")), Scheduler: "rr"},
			Stats: Stats{Conns: 10, InPkts: 123456789, OutPkts: 99, InBytes: 5_000_000_000, OutBytes: 200_000_000_000_000, CPS: 3, InBPS: 1500}},
		Destinations: []DestinationInfo{
			d("192.168.137.200:80", 1, Direct, 0, 10),
			d("192.168.137.130:80", 1, Direct, 2, 10),
		},
	}
	web.Destinations[0].Stats = Stats{Conns: 5, InPkts: 50, OutPkts: 40, InBytes: 3000, OutBytes: 2000, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 400, OutBPS: 300}
	return []ListedService{
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: MarkKey(6666, Inet4), Scheduler: "rr", Persistent: true, Timeout: 300 * time.Second}},
			Destinations: []DestinationInfo{d("192.168.137.200:0", 1, Direct, 0, 0), d("192.168.137.130:0", 1, Direct, 0, 0)}},
		web,
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: AddrKey(UDP, ap("192.168.137.254:53")), Scheduler: "sh", Flags: SchedFlag1 | SchedFlag2 | OnePacket}},
			Destinations: []DestinationInfo{d("10.0.0.2:53", 65535, NAT, 0, 0)}},
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: AddrKey(TCP, ap("192.168.137.254:3306")), Scheduler: "wlc", Persistent: true, Timeout: 60 * time.Second, Netmask: 24}},
			Destinations: []DestinationInfo{d("172.18.5.241:3306", 0, Tunnel, 1, 0), d("172.18.5.240:3306", 3, Tunnel, 0, 0)}},
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: AddrKey(TCP, ap("[2001:db8::1]:443")), Scheduler: "mh", Flags: SchedFlag2, Persistent: true, Timeout: 360 * time.Second, Netmask: 64}},
			Destinations: []DestinationInfo{d("[2001:db8::10]:443", 2, NAT, 0, 0)}},
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: MarkKey(7, Inet6), Scheduler: "lc", Flags: SchedFlag3}}},
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: AddrKey(SCTP, ap("10.1.1.1:9")), Scheduler: "fo"}}},
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

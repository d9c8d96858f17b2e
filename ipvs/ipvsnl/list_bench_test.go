package ipvsnl

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
)

// BenchmarkList11000 lists 1,000 services with 10 destinations each, as the listing
// benchmark against ipvsadm -Sn does (bench/ipvs), through the whole receive path
// (netlink.Conn, genetlink.Conn, the session, the decoders) with nltest's socket in place
// of the kernel's.
func BenchmarkList11000(b *testing.B) {
	const nsvc, ndest = 1000, 10
	var svcs [][]byte
	for i := range nsvc {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80)
		svcs = append(svcs, kernelServiceMsg(Service{Family: Inet4, Protocol: protoTCP, Addr: a, Scheduler: "wlc", Netmask: 32}, big))
	}
	var dests [][]byte
	for i := range ndest {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i + 1)}), 80)
		dests = append(dests, kernelDestMsg(Destination{Family: Inet4, Addr: a, Weight: 1, ActiveConns: 3, Stats: big}))
	}
	c, err := New(fakeSocket(func(req netlink.Message) ([]netlink.Message, error) {
		if req.Data[0] == cmdGetService {
			return dumpOf(req, svcs...), nil
		}
		return dumpOf(req, dests...), nil
	}), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ss, err := c.Services(ctx)
		if err != nil || len(ss) != nsvc {
			b.Fatal(len(ss), err)
		}
		n := 0
		for _, s := range ss {
			ds, err := c.Destinations(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			n += len(ds)
		}
		if n != nsvc*ndest {
			b.Fatal(fmt.Sprint(n))
		}
	}
}

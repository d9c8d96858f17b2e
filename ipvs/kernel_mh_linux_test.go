package ipvs_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// mhMatchesKernel programs an mh service with mh-port (the port hashed with the source
// address) over four destinations of unequal weights, added through the reconciler in a
// configuration order that is not the canonical one, opens connections from many source
// ports and checks that each lands on the real server ipvs.MaglevTable predicts from the
// kernel's destination list, including 20 ports that the reversed list would send to the
// other real server.
func mhMatchesKernel(t *testing.T, x *lbLab, k ipvs.Table, r *ipvs.Reconciler, desired []ipvs.VirtualService) {
	ctx := bg()
	vip := netip.AddrPortFrom(x.vip, 443)
	var ds []ipvs.RealServer
	for i, p := range []uint16{8080, 443} { // not canonical: 8080 first
		for j, a := range []netip.Addr{x.rsAddr[1], x.rsAddr[0]} {
			ds = append(ds, ipvs.RealServer{Destination: ipvs.Destination{Addr: netip.AddrPortFrom(a, p), Weight: 1 + i + 2*j, Forwarding: ipvs.NAT}})
		}
	}
	svc := ipvs.VirtualService{Service: ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, vip), Scheduler: "mh", Flags: ipvs.SchedFlag2}, Destinations: ds}
	if _, err := r.Apply(ctx, append(desired, svc)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer func() {
		if _, err := r.Apply(ctx, desired); err != nil {
			t.Errorf("Apply without mh: %v", err)
		}
	}()
	listed, err := k.Destinations(ctx, svc.ServiceKey)
	must(t, err)
	md := make([]ipvs.MaglevDest, len(listed))
	var order []netip.AddrPort
	for i, d := range listed {
		md[i] = ipvs.MaglevDest{Addr: d.Addr, LastWeight: d.Weight}
		order = append(order, d.Addr)
	}
	if !ipvs.MaglevCanonical(order) {
		t.Errorf("kernel lists %v, not the canonical order", order)
	}
	table := ipvs.MaglevTable(md)
	name := map[netip.Addr]string{x.rsAddr[0]: "rs1", x.rsAddr[1]: "rs2"}
	client := netip.MustParseAddr("198.18.1.2")
	// Ports whose slot the reversed list gives to the other real server (about 0.4% of the
	// slots): landing right on those proves the order the kernel fills the table in.
	rev := slices.Clone(md)
	slices.Reverse(rev)
	revTable := ipvs.MaglevTable(rev)
	ports := make([]uint16, 0, 140)
	for p := uint16(20000); p < 20120; p++ {
		ports = append(ports, p)
	}
	orderPorts := 0
	for p := uint16(30000); p < 65000 && orderPorts < 20; p++ {
		s := ipvs.MaglevHash(client, p, 0) % ipvs.MaglevSize
		if md[table[s]].Addr.Addr() != rev[revTable[s]].Addr.Addr() {
			ports = append(ports, p)
			orderPorts++
		}
	}
	if orderPorts == 0 {
		t.Fatal("no source port tells the list order from its reverse")
	}
	wrong, n := 0, 0
	for _, p := range ports {
		want := name[md[table[ipvs.MaglevHash(client, p, 0)%ipvs.MaglevSize]].Addr.Addr()]
		var got string
		err := x.client.Do(func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: client.AsSlice(), Port: int(p)}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp4", vip.String())
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "who\n"); err != nil {
				return err
			}
			s, err := bufio.NewReader(c).ReadString('\n')
			got = strings.TrimSpace(s)
			return err
		})
		mustf(t, err, fmt.Sprintf("connection from port %d", p))
		n++
		if got != want {
			wrong++
			if wrong <= 5 {
				t.Errorf("source port %d: served by %s, the computed table says %s", p, got, want)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d connections disagree with the computed table", wrong, n)
	}
}

package userspace

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// A real server that is the service's own listener is never connected to: on main one
// request made the proxy connect to itself until EMFILE (20,000 descriptors in 5 s),
// accepting nothing else meanwhile.
func TestSelfLoopRefused(t *testing.T) {
	tests := []struct {
		name string
		svc  func(t *testing.T) netip.AddrPort
		dest func(vip netip.AddrPort) netip.AddrPort
	}{
		{"own address", func(t *testing.T) netip.AddrPort { return freeAddr(t, "127.0.0.1") },
			func(vip netip.AddrPort) netip.AddrPort { return vip }},
		{"own address, port from the service", func(t *testing.T) netip.AddrPort { return freeAddr(t, "127.0.0.1") },
			func(vip netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(vip.Addr(), 0) }},
		{"IPv4-mapped", func(t *testing.T) netip.AddrPort { return freeAddr(t, "127.0.0.1") },
			func(vip netip.AddrPort) netip.AddrPort {
				return netip.AddrPortFrom(netip.AddrFrom16(vip.Addr().As16()), vip.Port())
			}},
		{"wildcard listener, loopback real server", func(t *testing.T) netip.AddrPort {
			return netip.AddrPortFrom(netip.IPv4Unspecified(), freeAddr(t, "0.0.0.0").Port())
		}, func(vip netip.AddrPort) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), vip.Port())
		}},
		{"wildcard real server", func(t *testing.T) netip.AddrPort { return freeAddr(t, "127.0.0.1") },
			func(vip netip.AddrPort) netip.AddrPort {
				return netip.AddrPortFrom(netip.IPv4Unspecified(), vip.Port())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestTable(t, Options{})
			vip := tt.svc(t)
			ctx := context.Background()
			if err := tb.AddService(ctx, ipvs.Service{ServiceKey: ipvs.AddrKey(ipvs.TCP, vip), Scheduler: "rr"}); err != nil {
				t.Fatal(err)
			}
			k := ipvs.AddrKey(ipvs.TCP, vip)
			if err := tb.AddDestination(ctx, k, ipvs.Destination{Addr: tt.dest(vip), Weight: 1}); err != nil {
				t.Fatal(err)
			}
			dialTo := vip
			if vip.Addr().IsUnspecified() {
				dialTo = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), vip.Port())
			}
			fds := openFDs()
			peak := make(chan int)
			stop := make(chan struct{})
			go func() { // the most descriptors open while the client waits
				most := 0
				for {
					most = max(most, openFDs())
					select {
					case <-stop:
						peak <- most
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			// The only real server is the listener itself: no destination is available,
			// so the client is turned away at once.
			start := time.Now()
			c, err := net.DialTimeout("tcp", dialTo.String(), 5*time.Second)
			switch {
			case err != nil && os.IsTimeout(err):
				t.Fatal(err)
			case err == nil: // else reset before the dial returned: turned away too
				c.SetDeadline(time.Now().Add(3 * time.Second))
				c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
				if _, err := io.ReadAll(c); err != nil && os.IsTimeout(err) {
					t.Errorf("the connection was neither answered nor closed within 3s: %v", err)
				}
				c.Close()
			}
			// Watch the descriptors for a while: a loop would open hundreds within
			// milliseconds, so -short's 200 ms tells as surely as 500.
			watch := 500 * time.Millisecond
			if testing.Short() {
				watch = 200 * time.Millisecond
			}
			time.Sleep(max(0, watch-time.Since(start)))
			close(stop)
			if most := <-peak; fds >= 0 && most > fds+50 {
				t.Errorf("%d descriptors open while one client waited, %d before", most, fds)
			}

			// With a real real server beside it, every connection goes there.
			b := startBackend(t, "b")
			if err := tb.AddDestination(ctx, k, ipvs.Destination{Addr: b.addr, Weight: 1}); err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if got := hit(t, dialTo, ""); got != "b" {
					t.Fatalf("a connection went to %q", got)
				}
			}
			// The table still reports the destination as programmed (weight 1), so the
			// reconciler sees no drift to repair.
			ds, _ := tb.Destinations(ctx, k)
			for _, d := range ds {
				if d.Addr == tt.dest(vip) && d.Weight != 1 {
					t.Errorf("the looping destination is listed with weight %d, want the programmed 1", d.Weight)
				}
			}
		})
	}
}

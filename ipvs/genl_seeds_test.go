//go:build fuzzseeds

package ipvs

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteFuzzSeeds writes the checked-in seed corpus:
//
//	go test -tags fuzzseeds -run WriteFuzzSeeds ./ipvs
func TestWriteFuzzSeeds(t *testing.T) {
	st := Stats{Conns: 5_000_000_000, InBytes: 1 << 40, CPS: 7}
	svcs := map[string][]byte{
		"tcp4":         kernelServiceMsg(Service{ServiceKey: AddrKey(TCP, netip.MustParseAddrPort("198.18.0.1:80")), Scheduler: "wlc"}, st),
		"udp4-persist": kernelServiceMsg(Service{ServiceKey: AddrKey(UDP, netip.MustParseAddrPort("198.18.0.1:53")), Scheduler: "sh", Flags: SchedFlag1 | SchedFlag2 | OnePacket, Persistent: true, Timeout: 300 * time.Second, Netmask: 24}, st),
		"tcp6":         kernelServiceMsg(Service{ServiceKey: AddrKey(TCP, netip.MustParseAddrPort("[2001:db8::1]:443")), Scheduler: "mh", Persistent: true, Timeout: time.Second, Netmask: 64}, st),
		"fwmark4":      kernelServiceMsg(Service{ServiceKey: MarkKey(6666, Inet4), Scheduler: "rr"}, Stats{}),
		"fwmark6":      kernelServiceMsg(Service{ServiceKey: MarkKey(7, Inet6), Scheduler: "lc"}, Stats{}),
	}
	dests := map[string][]byte{
		"nat4": kernelDestMsg(DestinationInfo{Destination: Destination{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Weight: 1, Upper: 100, Lower: 10}, ActiveConns: 2, Stats: st}, Inet4),
		"tun6": kernelDestMsg(DestinationInfo{Destination: Destination{Addr: netip.MustParseAddrPort("[2001:db8::5]:0"), Weight: 65535, Forwarding: Tunnel}}, Inet6),
	}
	write := func(dir, name, body string) {
		p := filepath.Join("testdata", "fuzz", dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, b := range svcs {
		write("FuzzDecodeService", n, fmt.Sprintf("[]byte(%q)\n", b))
	}
	for n, b := range dests {
		write("FuzzDecodeDestination", n, fmt.Sprintf("[]byte(%q)\nbool(%v)\n", b, strings.HasSuffix(n, "6")))
	}
	replies := map[string][]byte{
		"dump": append(append(nlmsg(30, nlmFMulti, 7, svcs["tcp4"]), nlmsg(30, nlmFMulti, 7, svcs["fwmark4"])...), nlmsg(nlmsgDone, nlmFMulti, 7, nil)...),
		"ack":  nlmsg(nlmsgError, 0, 7, make([]byte, 20)),
		"late": append(nlmsg(nlmsgError, 0, 6, make([]byte, 20)), nlmsg(30, 0, 7, dests["nat4"])...),
	}
	for n, b := range replies {
		write("FuzzParseReplies", n, fmt.Sprintf("[]byte(%q)\nbool(%v)\n", b, n == "dump"))
	}
}

// The destination encoder and decoder agree (the kernel's acceptance of the encoding is
// proven in TestKernelVM).

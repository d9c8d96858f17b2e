//go:build fuzzseeds

package ipvsnl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFuzzSeeds writes the checked-in seed corpus:
//
//	go test -tags fuzzseeds -run WriteFuzzSeeds ./ipvs/ipvsnl
func TestWriteFuzzSeeds(t *testing.T) {
	st := Stats{Conns: 5_000_000_000, InBytes: 1 << 40, CPS: 7}
	svcs := map[string][]byte{
		"tcp4":         kernelServiceMsg(Service{Family: Inet4, Protocol: protoTCP, Addr: ap("198.18.0.1:80"), Scheduler: "wlc", Netmask: 32}, st),
		"udp4-persist": kernelServiceMsg(Service{Family: Inet4, Protocol: protoUDP, Addr: ap("198.18.0.1:53"), Scheduler: "sh", Flags: schedFlag1 | schedFlag2 | onePacket | FlagPersistent, Timeout: 300, Netmask: 24}, st),
		"tcp6":         kernelServiceMsg(Service{Family: Inet6, Protocol: protoTCP, Addr: ap("[2001:db8::1]:443"), Scheduler: "mh", Flags: FlagPersistent, Timeout: 1, Netmask: 64}, st),
		"fwmark4":      kernelServiceMsg(Service{Family: Inet4, FWMark: 6666, Scheduler: "rr", Netmask: 32}, Stats{}),
		"fwmark6":      kernelServiceMsg(Service{Family: Inet6, FWMark: 7, Scheduler: "lc", Netmask: 128}, Stats{}),
	}
	dests := map[string][]byte{
		"nat4": kernelDestMsg(Destination{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 1, Upper: 100, Lower: 10, ActiveConns: 2, Stats: st}),
		"tun6": kernelDestMsg(Destination{Family: Inet6, Addr: ap("[2001:db8::5]:0"), Weight: 65535, Forwarding: forwTun}),
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

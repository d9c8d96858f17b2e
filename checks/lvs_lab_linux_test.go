package checks

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// checksLab is one LAN (198.18.0.0/24, 2001:db8:18::/64) in network namespaces:
//
//	.1  prober   probes with raw ICMP sockets (ping_group_range as a new namespace has it)
//	.6  pinger   probes with ping sockets (ping_group_range opened to every group)
//	.2  server   dnsmasq on :53, a UDP echo on :7, a silent UDP listener on :9
//	.5  (server) rejected by nftables with ICMP host unreachable, whatever the protocol
//	.3  mute     ignores echo requests (net.ipv4.icmp_echo_ignore_all = 1)
//	.4  nobody: neighbour resolution fails
type checksLab struct {
	prober, pinger, server, mute *netlab.Host
}

func newChecksLab(t *testing.T) *checksLab {
	t.Helper()
	testenv.RequireRoot(t)
	dnsmasq := testenv.RequireBinary(t, "dnsmasq")
	nft := testenv.RequireBinary(t, "nft")
	l := netlab.New(t)
	lan := l.Bridge("lan")
	pfx := netip.MustParsePrefix
	x := &checksLab{prober: l.Host("prober"), pinger: l.Host("pinger"), server: l.Host("server"), mute: l.Host("mute")}
	l.Link(x.prober, "eth0", lan, pfx("198.18.0.1/24"), pfx("2001:db8:18::1/64"))
	l.Link(x.pinger, "eth0", lan, pfx("198.18.0.6/24"), pfx("2001:db8:18::6/64"))
	l.Link(x.server, "eth0", lan, pfx("198.18.0.2/24"), pfx("198.18.0.5/24"), pfx("2001:db8:18::2/64"))
	l.Link(x.mute, "eth0", lan, pfx("198.18.0.3/24"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(x.pinger.Sysctl("net.ipv4.ping_group_range", "0 2147483647"))
	must(x.mute.Sysctl("net.ipv4.icmp_echo_ignore_all", "1"))
	rules := "table inet vigil_test {\n chain input {\n  type filter hook input priority 0;\n  ip daddr 198.18.0.5 reject with icmp type host-unreachable\n }\n}\n"
	cmd := x.server.Command(t.Context(), nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}

	// Echo on :7, silence on :9.
	for port, reply := range map[int]func(b []byte) [][]byte{7: func(b []byte) [][]byte { return [][]byte{b} }, 9: func([]byte) [][]byte { return nil }} {
		pc, err := x.server.ListenPacket("udp", fmt.Sprintf(":%d", port))
		must(err)
		t.Cleanup(func() { pc.Close() })
		go servePackets(pc, reply)
	}

	ctx, cancel := context.WithCancel(context.Background())
	d := x.server.Command(ctx, dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--bind-interfaces", "--listen-address=198.18.0.2", "--listen-address=2001:db8:18::2", "--port=53",
		"--user=root", "--pid-file=", "--log-facility=-", "--log-queries",
		"--local=/vigil.test/", "--host-record=www.vigil.test,198.18.0.80")
	logPath := filepath.Join(t.TempDir(), "dnsmasq.log")
	logFile, err := os.Create(logPath)
	must(err)
	d.Stdout, d.Stderr = logFile, logFile
	must(d.Start())
	dnsmasqLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		cancel()
		d.Wait()
		logFile.Close()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", dnsmasqLog())
		}
	})
	// dnsmasq is ready when it answers.
	probe, err := NewDNS(netip.MustParseAddrPort("198.18.0.2:53"), DNSConfig{QueryType: "A", QueryName: "www.vigil.test"})
	must(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if res := x.run(t, x.prober, probe, time.Second); res.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer:\n%s", dnsmasqLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return x
}

// run probes once from inside h: the check's sockets are created in h's namespace.
func (x *checksLab) run(t *testing.T, h *netlab.Host, c Checker, timeout time.Duration) Result {
	t.Helper()
	var res Result
	err := h.Do(func() error {
		res = check(t, c, timeout)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type labCase struct {
	name    string
	from    func(x *checksLab) *netlab.Host
	kind    string
	target  string
	cfg     any
	timeout time.Duration
	ok      bool
	reason  string
	// fast: the verdict must come well before the timeout (an ICMP error ends it).
	fast bool
}

func prober(x *checksLab) *netlab.Host { return x.prober }
func pinger(x *checksLab) *netlab.Host { return x.pinger }

// TestLVSChecksLab runs the dns, udp and ping checks against real servers in network
// namespaces: Debian's dnsmasq, a UDP echo, hosts that answer, ignore and reject ICMP, and
// an address nobody holds.
func TestLVSChecksLab(t *testing.T) {
	x := newChecksLab(t)
	// short where the timeout is the verdict; long elsewhere: beyond the neighbour table's
	// 3 s, long enough to tell "fast", and generous on a loaded machine.
	short := 500 * time.Millisecond
	long := 5 * time.Second
	tests := []labCase{
		// DNS_CHECK against dnsmasq: RCODE 0 passes, with or without an answer.
		{"dns A", prober, "dns", "198.18.0.2:53", DNSConfig{QueryType: "A", QueryName: "www.vigil.test"}, long, true, "dns A www.vigil.test.: 198.18.0.2:53 answered NOERROR", false},
		{"dns AAAA without data", prober, "dns", "198.18.0.2:53", DNSConfig{QueryType: "AAAA", QueryName: "www.vigil.test"}, long, true, "answered NOERROR", false},
		{"dns over IPv6", prober, "dns", "[2001:db8:18::2]:53", DNSConfig{QueryType: "A", QueryName: "www.vigil.test"}, long, true, "answered NOERROR", false},
		{"dns NXDOMAIN", prober, "dns", "198.18.0.2:53", DNSConfig{QueryType: "A", QueryName: "nope.vigil.test"}, long, false, "answered NXDOMAIN (3), want NOERROR", false},
		{"dns REFUSED", prober, "dns", "198.18.0.2:53", DNSConfig{QueryType: "A", QueryName: "www.example.test"}, long, false, "answered REFUSED (5)", false},
		// keepalived's default query (SOA of the root) needs a recursive server; dnsmasq
		// without upstreams refuses it.
		{"dns default query, not recursive", prober, "dns", "198.18.0.2:53", DNSConfig{}, long, false, "dns SOA .: 198.18.0.2:53 answered REFUSED", false},
		{"dns nothing on the port", prober, "dns", "198.18.0.2:54", DNSConfig{}, long, false, "ICMP port unreachable from 198.18.0.2:54: nothing listens on udp port 54", true},
		{"dns host that is not there", prober, "dns", "198.18.0.4:53", DNSConfig{}, long, false, "ICMP host unreachable from 198.18.0.4:53", false},

		// UDP_CHECK.
		{"udp echo", prober, "udp", "198.18.0.2:7", UDPConfig{Payload: []byte("vigil"), Expect: []byte("vigil")}, long, true, "replied 5 bytes", false},
		{"udp echo over IPv6", prober, "udp", "[2001:db8:18::2]:7", UDPConfig{Payload: []byte{1, 2}, Expect: []byte{1, 2}}, long, true, "replied 2 bytes", false},
		{"udp silent, no reply needed", prober, "udp", "198.18.0.2:9", UDPConfig{Payload: []byte("x")}, short, true, "no ICMP error", false},
		{"udp silent, reply required", prober, "udp", "198.18.0.2:9", UDPConfig{RequireReply: true}, short, false, "timeout after 500ms waiting for a reply", false},
		{"udp port unreachable from a remote host", prober, "udp", "198.18.0.2:8", UDPConfig{}, long, false, "ICMP port unreachable", true},
		{"udp host unreachable from a firewall", prober, "udp", "198.18.0.5:7", UDPConfig{}, long, false, "ICMP host unreachable from 198.18.0.5:7", true},
		// Nobody answers ARP: silence for 3 s, then the kernel reports the host unreachable.
		// With a shorter timeout the check would pass, as keepalived's does.
		{"udp host that is not there", prober, "udp", "198.18.0.4:7", UDPConfig{}, long, false, "ICMP host unreachable from 198.18.0.4:7", false},

		// PING_CHECK, both socket kinds, IPv4 and IPv6.
		{"ping raw", prober, "ping", "198.18.0.2:0", PingConfig{}, long, true, "echo reply from 198.18.0.2 (raw socket)", false},
		{"ping socket", pinger, "ping", "198.18.0.2:0", PingConfig{}, long, true, "echo reply from 198.18.0.2 (ping socket)", false},
		{"ping raw IPv6", prober, "ping", "[2001:db8:18::2]:0", PingConfig{}, long, true, "echo reply from 2001:db8:18::2 (raw socket)", false},
		{"ping socket IPv6", pinger, "ping", "[2001:db8:18::2]:0", PingConfig{}, long, true, "echo reply from 2001:db8:18::2 (ping socket)", false},
		{"ping source address", prober, "ping", "198.18.0.2:0", PingConfig{SourceAddr: netip.MustParseAddr("198.18.0.1")}, long, true, "echo reply", false},
		{"ping ignored, raw", prober, "ping", "198.18.0.3:0", PingConfig{}, short, false, "ping 198.18.0.3: no echo reply: timeout after 500ms waiting (raw socket)", false},
		{"ping ignored, ping socket", pinger, "ping", "198.18.0.3:0", PingConfig{}, short, false, "no echo reply: timeout after 500ms waiting (ping socket)", false},
		{"ping rejected, raw", prober, "ping", "198.18.0.5:0", PingConfig{}, long, false, "ping 198.18.0.5: ICMP host unreachable from 198.18.0.5", true},
		{"ping rejected, ping socket", pinger, "ping", "198.18.0.5:0", PingConfig{}, long, false, "ping 198.18.0.5: ICMP host unreachable (ping socket)", true},
		{"ping nobody, raw", prober, "ping", "198.18.0.4:0", PingConfig{}, long, false, "ICMP host unreachable", false},
		{"ping nobody, ping socket", pinger, "ping", "198.18.0.4:0", PingConfig{}, long, false, "ICMP host unreachable", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.kind, netip.MustParseAddrPort(tc.target), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := x.run(t, tc.from(x), c, tc.timeout)
			took := time.Since(start)
			if res.OK != tc.ok || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("got OK=%v %q, want OK=%v and %q", res.OK, res.Reason, tc.ok, tc.reason)
			}
			if tc.fast && took > tc.timeout/2 {
				t.Errorf("took %s of its %s: an ICMP error must end the probe at once", took, tc.timeout)
			}
			t.Logf("%s in %s", res.Reason, took.Round(time.Millisecond))
		})
	}
}

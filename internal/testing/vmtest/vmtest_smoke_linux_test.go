package vmtest_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vishvananda/netlink"
)

// TestVMSmoke boots the guest once and proves what every kernel test relies on: IPVS
// programmable through moby/ipvs and visible to ipvsadm, scheduler modules auto-loaded
// through modprobe, and netlab namespaces passing TCP.
func TestVMSmoke(t *testing.T) {
	opts := vmtest.Options{
		Binaries:     map[string]string{"vmkernel": "github.com/vigil-lb/vigil/internal/testing/vmtest/cmd/vmkernel"},
		HostBinaries: []string{"ipvsadm", "nft", "iptables"},
		Files:        map[string]string{"/etc/smoke/marker": "testdata/fuzz/FuzzGuestReport/marker"},
	}
	// iptables dlopens its matches and targets from here; ldd does not list them.
	if xt, _ := filepath.Glob("/usr/lib/*/xtables"); len(xt) == 1 {
		opts.Files[xt[0]] = xt[0]
	}
	vmtest.Run(t, opts, map[string]func(t *testing.T){
		"binaries":  testBinaries,
		"fwmark":    testFwmark,
		"ipvs":      testIPVS,
		"modprobe":  testModprobe,
		"alias":     testAliasAutoload,
		"netlab":    testNetlab,
		"guest-env": testGuestEnv,
	})
}

// testBinaries checks Options.Binaries (built with go build) and Options.Files arrived.
func testBinaries(t *testing.T) {
	out, _ := exec.Command("vmkernel", "-h").CombinedOutput()
	if !strings.Contains(string(out), "-package") {
		t.Errorf("vmkernel -h:\n%s\nwant its usage", out)
	}
	if b, err := os.ReadFile("/etc/smoke/marker"); err != nil || !strings.Contains(string(b), "vigil-vmtest") {
		t.Errorf("/etc/smoke/marker = %q, %v", b, err)
	}
}

func testGuestEnv(t *testing.T) {
	if !vmtest.InGuest() {
		t.Fatal("InGuest() = false inside the VM")
	}
	if os.Getuid() != 0 {
		t.Errorf("uid %d, want 0", os.Getuid())
	}
}

func testIPVS(t *testing.T) {
	if out, err := exec.Command("modprobe", "ip_vs").CombinedOutput(); err != nil {
		t.Fatalf("modprobe ip_vs: %v: %s", err, out)
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("IPVS missing after modprobe: %v", err)
	}
	h, err := ipvs.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svc := &ipvs.Service{
		AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: net.ParseIP("198.18.0.10"), Port: 80, SchedName: "wlc", Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("add service: %v", err)
	}
	defer h.DelService(svc)
	dst := &ipvs.Destination{AddressFamily: syscall.AF_INET, Address: net.ParseIP("198.18.1.1"), Port: 8080, Weight: 7}
	if err := h.NewDestination(svc, dst); err != nil {
		t.Fatalf("add destination: %v", err)
	}
	svcs, err := h.GetServices()
	if err != nil || len(svcs) != 1 || svcs[0].SchedName != "wlc" || svcs[0].Port != 80 {
		t.Fatalf("GetServices() = %+v, %v; want one wlc service on port 80", svcs, err)
	}
	dsts, err := h.GetDestinations(svcs[0])
	if err != nil || len(dsts) != 1 || dsts[0].Weight != 7 {
		t.Fatalf("GetDestinations() = %+v, %v; want one with weight 7", dsts, err)
	}
	out, err := exec.Command("ipvsadm", "-Ln").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -Ln: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "198.18.0.10:80 wlc") || !strings.Contains(string(out), "198.18.1.1:8080") {
		t.Errorf("ipvsadm -Ln:\n%s\nwant the service and its destination", out)
	}
}

// testModprobe unloads a scheduler and lets the kernel load it again on demand
// (request_module runs /sbin/modprobe, which reads modules.dep).
func testModprobe(t *testing.T) {
	if out, err := exec.Command("rmmod", "ip_vs_sh").CombinedOutput(); err != nil {
		t.Fatalf("rmmod ip_vs_sh: %v: %s", err, out)
	}
	h, err := ipvs.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svc := &ipvs.Service{
		AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP,
		Address: net.ParseIP("198.18.0.11"), Port: 53, SchedName: "sh", Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("add service with scheduler sh after rmmod: %v", err)
	}
	h.DelService(svc)
	mods, _ := os.ReadFile("/proc/modules")
	if !strings.Contains(string(mods), "ip_vs_sh ") {
		t.Errorf("ip_vs_sh not loaded again")
	}
}

// testAliasAutoload unloads dummy and creates a dummy link: the kernel asks modprobe for
// the alias "rtnl-link-dummy", which only modules.alias maps to the module.
func testAliasAutoload(t *testing.T) {
	if out, err := exec.Command("rmmod", "dummy").CombinedOutput(); err != nil {
		t.Fatalf("rmmod dummy: %v: %s", err, out)
	}
	l := netlab.New(t)
	h := l.Host("a")
	if err := h.Handle().LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "d0"}}); err != nil {
		t.Fatalf("add dummy link after rmmod dummy: %v", err)
	}
}

func testNetlab(t *testing.T) {
	l := netlab.New(t)
	a, b := l.Host("a"), l.Host("b")
	l.Pair(a, "eth0", b, "eth0")
	if err := a.AddAddr("eth0", netip.MustParsePrefix("198.18.5.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("eth0", netip.MustParsePrefix("198.18.5.2/24")); err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen("tcp", "198.18.5.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "hi from b\n")
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Dial(ctx, "tcp", "198.18.5.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hi from b\n" {
		t.Errorf("read %q, %v; want %q", line, err, "hi from b\n")
	}
	out, err := a.Command(ctx, "cat", "/proc/net/dev").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "eth0:") {
		t.Errorf("cat /proc/net/dev in a: %v\n%s", err, out)
	}
}

// testFwmark proves the modules a firewall-mark virtual server needs: nftables and
// iptables (nft backend, via nft_compat and xt_mark) can both set marks.
func testFwmark(t *testing.T) {
	for _, c := range [][]string{
		{"nft", "add table inet vigil"},
		{"nft", "add chain inet vigil pre { type filter hook prerouting priority mangle; }"},
		{"nft", "add rule inet vigil pre ip daddr 198.18.0.10 tcp dport 80 meta mark set 7"},
		{"iptables", "-t mangle -A PREROUTING -d 198.18.0.11/32 -p tcp --dport 80 -j MARK --set-mark 8"},
	} {
		if out, err := exec.Command(c[0], strings.Fields(c[1])...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", c[0], c[1], err, out)
		}
	}
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "meta mark set 0x00000007") {
		t.Errorf("nft list ruleset: %v\n%s\nwant the mark rule", err, out)
	}
}

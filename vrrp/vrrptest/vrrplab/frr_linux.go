package vrrplab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// FRRConfig describes an FRR vrrpd peer: one virtual router, VRID 51 on eth0
// (docs/reference.md, FRR's vrrpd).
type FRRConfig struct {
	Priority uint8
	// Version is 3 (the default) or 2 (IPv4 only).
	Version int
	// Interval is the advertisement interval, a multiple of 10 ms (of 1 s for version 2).
	Interval time.Duration
	// NoPreempt: a higher priority does not take over from a running master.
	NoPreempt bool
	// VIP overrides the lab's IPv4 VIP; an IPv6 prefix makes an IPv6 virtual router.
	VIP netip.Prefix
}

// FRR is a running vrrpd (the Daemon) beside the host's zebra.
type FRR struct {
	*Daemon
	vty string
	v6  bool
}

// FRRState is what vrrpd reports of its virtual router.
type FRRState struct {
	Status                    string // "Initialize", "Backup" or "Master"
	AdvertsSent, AdvertsRecvd int
}

// zebras are the zebra daemons the lab started, one per host and kept across vrrpd
// restarts: vrrpd learns the interfaces from it.
var zebras = struct {
	sync.Mutex
	dir map[*netlab.Host]string
}{dir: map[*netlab.Host]string{}}

// StartFRR runs Debian's FRR vrrpd in h, first setting up what FRR's model needs (its
// documentation's "System Configuration"): a macvlan in bridge mode on eth0 with the
// virtual router's MAC (00:00:5e:00:01:33 for VRID 51 in IPv4, 00:00:5e:00:02:33 in
// IPv6), a random link-local address, and the VIP on it; vrrpd sets it protodown while
// backup. zebra runs once per host, vrrpd as the returned daemon, both in the foreground
// logging to stdout, as user frr, their sockets in a directory of their own.
func (l *Lab) StartFRR(h *netlab.Host, fc FRRConfig) *FRR {
	l.T.Helper()
	vip := VIP
	if fc.VIP.IsValid() {
		vip = fc.VIP
	}
	v6 := vip.Addr().Is6()
	dir := l.frrDir(h)
	l.frrMacvlan(h, vip)
	fam, ipcmd := "4", "ip"
	if v6 {
		fam, ipcmd = "6", "ipv6"
	}
	version := fc.Version
	if version == 0 {
		version = 3
	}
	conf := fmt.Sprintf("interface eth0\n vrrp 51 version %d\n vrrp 51 priority %d\n vrrp 51 advertisement-interval %d\n vrrp 51 %s %s\n",
		version, fc.Priority, fc.Interval.Milliseconds(), ipcmd, vip.Addr())
	if fc.NoPreempt {
		conf += " no vrrp 51 preempt\n"
	}
	path := filepath.Join(dir, "vrrpd.conf")
	l.frrWrite(path, conf)
	d := &Daemon{Name: h.Name(), out: &testenv.Buffer{}, done: make(chan struct{})}
	l.start(d, h.Command(context.Background(), "/usr/lib/frr/vrrpd", "-z", filepath.Join(dir, "zserv.api"),
		"-i", filepath.Join(dir, "vrrpd-"+fam+".pid"), "--vty_socket", dir, "-f", path, "-u", "frr", "-g", "frr", "--log", "stdout"))
	return &FRR{Daemon: d, vty: dir, v6: v6}
}

// State asks vrrpd (through vtysh) for its virtual router's state.
func (f *FRR) State() (FRRState, error) {
	out, err := exec.Command("vtysh", "--vty_socket", f.vty, "-c", "show vrrp 51 json").Output()
	if err != nil {
		return FRRState{}, fmt.Errorf("vtysh show vrrp: %w", err)
	}
	var routers []map[string]json.RawMessage
	if err := json.Unmarshal(out, &routers); err != nil || len(routers) != 1 {
		return FRRState{}, fmt.Errorf("vtysh show vrrp: %q: %v", out, err)
	}
	key := "v4"
	if f.v6 {
		key = "v6"
	}
	var fam struct {
		Status string
		Stats  struct{ AdverTx, AdverRx int }
	}
	if err := json.Unmarshal(routers[0][key], &fam); err != nil {
		return FRRState{}, fmt.Errorf("vtysh show vrrp: %s: %w", key, err)
	}
	return FRRState{Status: fam.Status, AdvertsSent: fam.Stats.AdverTx, AdvertsRecvd: fam.Stats.AdverRx}, nil
}

// frrDir returns h's FRR directory, starting zebra there the first time. FRR drops to
// user frr, so the directory (outside the test's private temporary directory) and its
// files are frr's.
func (l *Lab) frrDir(h *netlab.Host) string {
	l.T.Helper()
	zebras.Lock()
	defer zebras.Unlock()
	if dir, ok := zebras.dir[h]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "vigil-frr-")
	if err != nil {
		l.T.Fatal(err)
	}
	l.T.Cleanup(func() {
		zebras.Lock()
		delete(zebras.dir, h)
		zebras.Unlock()
		os.RemoveAll(dir)
	})
	l.frrOwn(dir)
	zebras.dir[h] = dir
	d := &Daemon{Name: h.Name() + "-zebra", out: &testenv.Buffer{}, done: make(chan struct{})}
	l.start(d, h.Command(context.Background(), "/usr/lib/frr/zebra", "-z", filepath.Join(dir, "zserv.api"),
		"-i", filepath.Join(dir, "zebra.pid"), "--vty_socket", dir, "-f", "/dev/null", "-u", "frr", "-g", "frr", "--log", "stdout"))
	WaitFor(l.T, 10*time.Second, "zebra's socket", func() bool {
		_, err := os.Stat(filepath.Join(dir, "zserv.api"))
		return err == nil
	})
	return dir
}

// frrMacvlan creates h's macvlan for vip's family once.
func (l *Lab) frrMacvlan(h *netlab.Host, vip netip.Prefix) {
	l.T.Helper()
	name, mac, nodad := "vrrp4-51", "00:00:5e:00:01:33", []string(nil)
	if vip.Addr().Is6() {
		name, mac, nodad = "vrrp6-51", "00:00:5e:00:02:33", []string{"nodad"}
	}
	if _, err := h.Handle().LinkByName(name); err == nil {
		return
	}
	for _, args := range [][]string{
		{"link", "add", name, "link", "eth0", "type", "macvlan", "mode", "bridge"},
		{"link", "set", name, "address", mac},
		// Set apart from creation: this kernel refuses addrgenmode in the creating request.
		{"link", "set", name, "addrgenmode", "random"},
		append([]string{"addr", "add", vip.String(), "dev", name}, nodad...),
		{"link", "set", name, "up"},
	} {
		if out, err := h.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
			l.T.Fatalf("ip %v in %s: %v: %s", args, h.Name(), err, out)
		}
	}
}

func (l *Lab) frrWrite(path, content string) {
	l.T.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		l.T.Fatal(err)
	}
	l.frrOwn(path)
}

func (l *Lab) frrOwn(path string) {
	l.T.Helper()
	u, err := user.Lookup("frr")
	if err != nil {
		l.T.Fatalf("FRR's user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		l.T.Fatal(err)
	}
}

package vrrplab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// BuildVigil builds cmd/vigil into a temporary directory and returns the binary's path:
// the product as an operator runs it, for tests that configure it with HCL.
func BuildVigil(t testing.TB) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("find the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vigil: %v\n%s", err, out)
	}
	return bin
}

// StartVigilRun writes hcl to a file and runs `vigil run --no-realtime` on it in h (the
// lab's peer, keepalived, runs at normal priority too).
func (l *Lab) StartVigilRun(h *netlab.Host, bin, hcl string) *Daemon {
	l.T.Helper()
	dir := filepath.Join(l.Dir, h.Name()+"-vigil-run-"+fmt.Sprint(time.Now().UnixNano()))
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		l.T.Fatal(err)
	}
	d := &Daemon{Name: h.Name(), out: &testenv.Buffer{}, done: make(chan struct{})}
	l.start(d, h.Command(context.Background(), bin, "run", "--no-realtime", "-f", path))
	return d
}

// StartKeepalivedConf runs keepalived in h with conf, a whole keepalived.conf, as
// StartKeepalived does.
func (l *Lab) StartKeepalivedConf(h *netlab.Host, conf string) *Daemon {
	l.T.Helper()
	dir := filepath.Join(l.Dir, h.Name()+"-keepalived-"+fmt.Sprint(time.Now().UnixNano()))
	os.MkdirAll(dir, 0o755)
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		l.T.Fatal(err)
	}
	d := &Daemon{Name: h.Name(), Keepalived: true, pidDir: dir, out: &testenv.Buffer{}, done: make(chan struct{})}
	cmd := h.Command(context.Background(), "keepalived", "-n", "-l", "-D", "-G", "-P", "-f", confPath,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	l.start(d, cmd)
	return d
}

// AddressLabel returns the label of addr on h's interface dev, and whether it is there.
func AddressLabel(h *netlab.Host, dev string, addr netip.Addr) (string, bool) {
	link, err := h.Handle().LinkByName(dev)
	if err != nil {
		return "", false
	}
	addrs, err := h.Handle().AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return "", false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return a.Label, true
		}
	}
	return "", false
}

// VigilRunConfig is an HCL file for `vigil run` on a lab director: no API, the
// userspace data plane (no virtual servers), tracked items in blocks, and VRRP instance
// VI_1 (VRID 51, priority 150, v3, 100 ms adverts) with the virtual_ipaddresses value
// vips and body inside it.
func VigilRunConfig(blocks, vips, body string) string {
	return fmt.Sprintf(`global {
  listen    = ""
  dataplane = "userspace"
}
%s
vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  priority            = 150
  version             = 3
  advert_interval     = "100ms"
  virtual_ipaddresses = %s
%s
}
`, blocks, vips, body)
}

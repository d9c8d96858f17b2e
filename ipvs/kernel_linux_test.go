package ipvs

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// On a kernel without IPVS (this project's build host), OpenKernel must fail at once with
// ErrUnavailable and name the fix, instead of moby/ipvs's silent no-op.
func TestOpenKernelUnavailable(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS; the unavailable path is proven on the host, the available one in the VM tests")
	}
	start := time.Now()
	k, err := OpenKernel(KernelOptions{})
	if err == nil {
		k.Close()
		t.Fatal("OpenKernel succeeded on a kernel without /proc/net/ip_vs")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	want := `kernel IPVS is not available (no generic netlink family IPVS, and the kernel could not load ip_vs): load the ip_vs module as root (modprobe ip_vs; at every boot: ip_vs in /etc/modules-load.d/)`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("OpenKernel took %v to fail; want fast", d)
	}
	if _, err := OpenKernel(KernelOptions{Netns: "/nonexistent/netns"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("bad netns path: err = %v, want it named", err)
	}
}

var _ SysctlTable = (*Kernel)(nil)

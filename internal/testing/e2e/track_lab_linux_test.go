package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// The tracking acceptance of issue 16: `vigil run` at priority 150 beside a real
// keepalived at 100, in network namespaces. A failing vrrp_script, a tracked process
// killed, and an `echo` into a track_file each move the VIP to keepalived, and back when
// the script passes, the process is restarted and the file says 0 again. The VIPs include
// one on a second interface with a label, which moves with the rest.

// vip2 lives on eth1 of both directors, labelled eth1:vip.
var vip2 = netip.MustParsePrefix("198.18.1.254/24")

// trackLab is the lab with eth1 on a second bridge, the vigil binary and keepalived at
// priority 100 on d2, with the same two addresses.
func trackLab(t *testing.T) (*vrrplab.Lab, string) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "keepalived")
	testenv.RequireBinary(t, "nsenter")
	lab := vrrplab.New(t)
	lan2 := lab.Net.Bridge("lan2")
	lab.Net.Link(lab.D1, "eth1", lan2, netip.MustParsePrefix("198.18.1.11/24"))
	lab.Net.Link(lab.D2, "eth1", lan2, netip.MustParsePrefix("198.18.1.12/24"))
	bin := vrrplab.BuildVigil(t)
	lab.StartKeepalivedConf(lab.D2, fmt.Sprintf(`global_defs {
    router_id d2
    vrrp_version 3
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        %s
        %s dev eth1 label eth1:vip
    }
}
`, vrrplab.VIP, vip2))
	return lab, bin
}

// trackedVigil is vigil's configuration on d1: priority 150, the lab's two addresses,
// with blocks (tracked items) and tracks (inside the instance).
func trackedVigil(blocks, tracks string) string {
	return vrrplab.VigilRunConfig(blocks, fmt.Sprintf(`[%q, { address = %q, dev = "eth1", label = "eth1:vip" }]`, vrrplab.VIP, vip2), tracks)
}

// waitMaster waits until want alone holds both addresses (the second on eth1, labelled).
func waitMaster(t *testing.T, lab *vrrplab.Lab, want, why string) {
	t.Helper()
	vrrplab.WaitFor(t, 20*time.Second, want+" alone holding both addresses "+why, func() bool {
		h := lab.Holders()
		if len(h) != 1 || h[0] != want {
			return false
		}
		label, ok := vrrplab.AddressLabel(lab.Director(want), "eth1", vip2.Addr())
		_, other := vrrplab.AddressLabel(lab.Director(map[string]string{"d1": "d2", "d2": "d1"}[want]), "eth1", vip2.Addr())
		return ok && label == "eth1:vip" && !other
	})
}

func TestTrackScriptAgainstKeepalived(t *testing.T) {
	lab, bin := trackLab(t)
	flag := filepath.Join(t.TempDir(), "haproxy-ok")
	must(t, os.WriteFile(flag, nil, 0o644), "create the flag")
	v := lab.StartVigilRun(lab.D1, bin, trackedVigil(fmt.Sprintf(`vrrp_script "chk_haproxy" {
  command  = ["test", "-e", %q]
  interval = "200ms"
  rise     = 2
  fall     = 2
}`, flag), `  track_script "chk_haproxy" { weight = -60 }`))
	waitMaster(t, lab, "d1", "at start")
	must(t, os.Remove(flag), "remove the flag")
	waitMaster(t, lab, "d2", "while the script fails (150 - 60 < 100)")
	must(t, os.WriteFile(flag, nil, 0o644), "restore the flag")
	waitMaster(t, lab, "d1", "once the script passes again")
	if v.Exited() {
		t.Fatalf("vigil exited:\n%s", v.Output())
	}
}

func TestTrackProcessAgainstKeepalived(t *testing.T) {
	lab, bin := trackLab(t)
	prog := testenv.ProgramCopy(t, "/bin/sleep", "vigil-lab-hap")
	start := func() *exec.Cmd {
		c := exec.Command(prog, "1000")
		must(t, c.Start(), "start the tracked process")
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	p := start()
	v := lab.StartVigilRun(lab.D1, bin, trackedVigil(`track_process "hap" {
  process = "vigil-lab-hap"
  args    = ["1000"]
}`, `  track_process "hap" {}`)) // weight 0: FAULT while it is gone
	waitMaster(t, lab, "d1", "while the process runs")
	p.Process.Kill()
	p.Wait()
	waitMaster(t, lab, "d2", "after the process was killed")
	start()
	waitMaster(t, lab, "d1", "after the process was restarted")
	// From inside its namespace vigil reached the proc connector (through an ancestor's
	// namespace, the initial one): it did not fall back to reading /proc.
	if out := v.Output(); strings.Contains(out, "process events unavailable") {
		t.Errorf("vigil polled /proc instead of using process events:\n%s", out)
	}
}

func TestTrackFileAgainstKeepalived(t *testing.T) {
	lab, bin := trackLab(t)
	path := filepath.Join(t.TempDir(), "prio")
	lab.StartVigilRun(lab.D1, bin, trackedVigil(fmt.Sprintf(`track_file "prio" {
  path = %q
  init = 0
}`, path), `  track_file "prio" {}`))
	waitMaster(t, lab, "d1", "with 0 in the file")
	testenv.Shell(t, "echo -100 > "+path)
	waitMaster(t, lab, "d2", "after echo -100 (150 - 100 < 100)")
	testenv.Shell(t, "echo 0 > "+path)
	waitMaster(t, lab, "d1", "after echo 0")
}

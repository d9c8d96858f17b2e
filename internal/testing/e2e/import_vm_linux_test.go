package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
)

// importCorpusGuest is where the operators' keepalived files of the importer's corpus
// are in the guest.
const importCorpusGuest = "/import-corpus"

// importCases are the corpus files written for the VM lab (198.18.0.0/24, real servers
// .21 and .22 answering HTTP on port 80) and how many real-server entries ipvsadm lists
// once keepalived has programmed them all.
var importCases = []struct {
	file  string
	dests int
}{
	{"dr-web-http.conf", 2},  // DR web, HTTP_GET checks, a VRRP instance holding the VIP
	{"fwmark-group.conf", 3}, // two fwmark services, persistence with a netmask, NAT and DR
	{"vsg.conf", 8},          // a virtual_server_group: an address, a range of two, a fwmark
}

// TestImportEquivalenceVM: for three keepalived configurations, the IPVS table vigil
// programs from `vigil import`'s output, as written, equals (ipvsadm -Sn, order aside)
// the one keepalived programs from the original, in the same VM boot, each in a fresh
// lab with healthy real servers; with VRRP, vigil's threads run at SCHED_RR and leave
// every CPU to ordinary tasks. One boot, which also runs testRealtimeGuard.
func TestImportEquivalenceVM(t *testing.T) {
	if mode := os.Getenv(spinnerEnv); mode != "" {
		rtSpinner(mode) // started by testRealtimeGuard
	}
	testenv.Short(t, "boots a VM")
	files := map[string]string{}
	if !vmtest.InGuest() {
		p, err := filepath.Abs(filepath.Join("..", "..", "..", "conf", "keepalived", "translate", "testdata", "corpus", "operators"))
		must(t, err, "corpus path")
		files[importCorpusGuest] = p
	}
	vmtest.Run(t, vmtest.Options{
		Binaries: map[string]string{
			"vigil":   "github.com/vigil-lb/vigil/cmd/vigil",
			"capexec": "github.com/vigil-lb/vigil/internal/testing/e2e/capexec", // realtime_guard
		},
		HostBinaries: []string{"keepalived", "ipvsadm"},
		Files:        files,
		Timeout:      8 * time.Minute,
	}, map[string]func(*testing.T){
		"import_equivalence": testImportEquivalence,
		// In the same boot: vigil's real-time guard against the guest's scheduler.
		"realtime_guard": testRealtimeGuard,
	})
}

func testImportEquivalence(t *testing.T) {
	for _, c := range importCases {
		t.Run(strings.TrimSuffix(c.file, ".conf"), func(t *testing.T) {
			src := filepath.Join(importCorpusGuest, c.file)
			dir := t.TempDir()

			x := newDRLab(t, 1, 2, false)
			lb := x.directors[0]
			ka := startKeepalivedFile(t, lb, src, dir)
			want := stableTable(t, lb, c.dests, "keepalived")
			ka.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- ka.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				ka.Process.Kill()
				t.Fatal("keepalived did not stop within 20 s of SIGTERM")
			}
			if out := ipvsadmS(t, lb); strings.TrimSpace(out) != "" {
				t.Fatalf("keepalived left IPVS entries behind:\n%s", out)
			}

			// The import, as an operator runs it, and its output as written.
			out := filepath.Join(dir, "vigil.hcl")
			imp := exec.Command("vigil", "import", "--config-id", "lb1", src, "-o", out)
			if b, err := imp.CombinedOutput(); err != nil {
				t.Fatalf("vigil import: %v\n%s", err, b)
			}
			hcl, err := os.ReadFile(out)
			must(t, err, "read the import")
			check := exec.Command("vigil", "check", "-f", out)
			check.Env = []string{}
			if b, err := check.CombinedOutput(); err != nil {
				t.Fatalf("vigil check of the import, with no environment: %v\n%s", err, b)
			}
			// A vigil not ready within 20 s: what runs on the CPUs, and its goroutines if
			// it spins (the CI hang: a CPU held at real-time priority, RCU stalls).
			stop := watchHang(t, 20*time.Second, "vigil")
			v := startVigil(t, lb, "vigil", string(hcl))
			stop()
			got := stableTable(t, lb, c.dests, "vigil")
			if strings.Contains(string(hcl), "vrrp_instance") {
				// The guard (vrrp.RealtimeGuard): every thread at SCHED_RR (those the
				// runtime started since are raised within a second), the CPUs still
				// serve ordinary tasks, and vigil never had to lower itself.
				waitFor(t, 5*time.Second, "every vigil thread at SCHED_RR", func() bool {
					p := policiesOf("vigil")
					return p[unix.SCHED_NORMAL] == 0 && p[unix.SCHED_RR] > 0
				})
				othersRunOnEveryCPU(t, "vigil ran VRRP at SCHED_RR")
				if l := v.log.String(); strings.Contains(l, "back to SCHED_OTHER") || !strings.Contains(l, "VRRP timing protected") {
					t.Errorf("vigil's real-time guard: want it raised and never lowered:\n%s", l)
				}
			}
			if got != want {
				t.Errorf("IPVS tables differ\nkeepalived (ipvsadm -Sn, sorted):\n%s\nvigil from the import:\n%s\nimported configuration:\n%s", want, got, hcl)
			} else {
				t.Logf("same IPVS table from keepalived and vigil:\n%s", got)
			}
		})
	}
}

// startKeepalivedFile runs keepalived (checkers and VRRP) in h on the configuration
// file, its pid files in dir, and kills it when t ends.
func startKeepalivedFile(t *testing.T, h *netlab.Host, conf, dir string) *exec.Cmd {
	t.Helper()
	log := &syncBuffer{}
	cmd := h.Command(context.Background(), "keepalived", "-n", "-l", "-D", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	must(t, cmd.Start(), "start keepalived")
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("keepalived log:\n%s", log.String())
		}
	})
	return cmd
}

func ipvsadmS(t *testing.T, h *netlab.Host) string {
	t.Helper()
	b, err := h.Command(context.Background(), "ipvsadm", "-Sn").Output()
	must(t, err, "ipvsadm -Sn")
	return string(b)
}

// stableTable waits until ipvsadm -Sn lists dests real-server entries and then stays
// the same for 3 s (the checks have run more than once), and returns it with each
// service's entries sorted and the services sorted: the kernel lists in the order
// entries were added, which is not the configuration's.
func stableTable(t *testing.T, h *netlab.Host, dests int, who string) string {
	t.Helper()
	var last string
	var since time.Time
	waitFor(t, 60*time.Second, who+"'s table with all its real servers, unchanged for 3 s", func() bool {
		time.Sleep(200 * time.Millisecond)
		s := sortedTable(ipvsadmS(t, h))
		if strings.Count(s, "\n-a ") != dests || s != last {
			last, since = s, time.Now()
			return false
		}
		return time.Since(since) >= 3*time.Second
	})
	return last
}

func sortedTable(s string) string {
	var services []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			slices.Sort(cur[1:])
			services = append(services, strings.Join(cur, "\n"))
		}
		cur = nil
	}
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "-A "):
			flush()
			cur = []string{l}
		case strings.HasPrefix(l, "-a "):
			cur = append(cur, l)
		}
	}
	flush()
	slices.Sort(services)
	return "\n" + strings.Join(services, "\n") + "\n"
}

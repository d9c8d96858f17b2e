package ipvs_test

import (
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/vmtest"
)

// TestKernelVM boots Debian's kernel under qemu once and runs every kernel-IPVS acceptance
// check of issue 3 inside it (see kernelSuite), with Debian's ipvsadm copied in as the
// reference the output is compared with, and the vigil command (for `vigil ipvs list`). Narrow it with VIGIL_VMTEST_RUN=NAT etc.
func TestKernelVM(t *testing.T) {
	vmtest.Run(t, vmtest.Options{
		HostBinaries: []string{"ipvsadm"},
		Binaries:     map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
		Timeout:      8 * time.Minute,
	}, map[string]func(*testing.T){
		"API":     suiteAPI,
		"NAT":     suiteNAT,
		"DR":      suiteDR,
		"TUN":     suiteTUN,
		"Sync":    suiteSync,
		"Clients": suiteClients,
	})
}

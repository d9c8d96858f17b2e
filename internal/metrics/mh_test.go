package metrics

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/status"
)

// TestMHFingerprintSeries: an mh virtual server exports its Maglev table's fingerprint as
// a label of a constant 1; other virtual servers export none.
func TestMHFingerprintSeries(t *testing.T) {
	snap := status.Snapshot{VirtualServers: []status.VirtualServer{
		{Name: "web", Key: "TCP 198.18.0.10:80", Protocol: "tcp", Address: "198.18.0.10:80", Scheduler: "mh", MHFingerprint: "5b847c55446ddbb0", Present: true},
		{Name: "dns", Key: "UDP 198.18.0.10:53", Protocol: "udp", Address: "198.18.0.10:53", Scheduler: "rr", Present: true},
	}}
	mfs := parse(t, scrape(t, New(&fakeSource{s: snap}, BuildInfo{}).Handler()))
	want := `{fingerprint="5b847c55446ddbb0",virtual_server="web"} 1`
	if got := series(mfs["vigil_ipvs_mh_fingerprint"]); strings.Join(got, "\n") != want {
		t.Errorf("vigil_ipvs_mh_fingerprint:\n got %s\nwant %s", strings.Join(got, "\n     "), want)
	}
}

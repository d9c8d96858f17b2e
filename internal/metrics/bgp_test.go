package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/internal/status"
)

// bgpSample is a speaker with an established and an active session, one route announced
// and one withdrawn.
func bgpSample() *status.BGP {
	t0 := time.Unix(1_800_000_000, 0)
	return &status.BGP{ASN: 65000, RouterID: "198.18.0.11",
		Neighbors: []status.BGPPeer{
			{Address: "198.18.0.100", ASN: 65001, State: "established", Since: t0, Established: 3, BFD: true},
			{Address: "198.18.0.101", ASN: 65001, State: "active", Since: t0.Add(time.Second), LastDown: "hold timer expired"},
		},
		Routes: []status.BGPRoute{
			{Prefix: "198.18.30.1/32", Announced: true, Reason: "up", Since: t0.Add(2 * time.Second), VirtualServers: []string{"web"}},
			{Prefix: "198.18.30.2/32", Reason: "virtual server dns down (quorum lost)", Since: t0.Add(3 * time.Second)},
		},
	}
}

// TestBGPSeries: each neighbor's session state, whether it is up, how often it came up and
// when it last changed; each route's announcement and its last change; the speaker's state.
// Without a bgp block there is no vigil_bgp_* series at all.
func TestBGPSeries(t *testing.T) {
	snap := status.Snapshot{BGP: bgpSample()}
	mfs := parse(t, scrape(t, New(&fakeSource{s: snap}, BuildInfo{}).Handler()))
	want := map[string][]string{
		"vigil_bgp_speaker_up": {`{} 1`},
		"vigil_bgp_session_state": {
			`{neighbor="198.18.0.100"} 6`,
			`{neighbor="198.18.0.101"} 3`,
		},
		"vigil_bgp_session_up": {
			`{neighbor="198.18.0.100"} 1`,
			`{neighbor="198.18.0.101"} 0`,
		},
		"vigil_bgp_session_established_total": {
			`{neighbor="198.18.0.100"} 3`,
			`{neighbor="198.18.0.101"} 0`,
		},
		"vigil_bgp_session_last_change_timestamp_seconds": {
			`{neighbor="198.18.0.100"} 1800000000`,
			`{neighbor="198.18.0.101"} 1800000001`,
		},
		"vigil_bgp_route_announced": {
			`{prefix="198.18.30.1/32"} 1`,
			`{prefix="198.18.30.2/32"} 0`,
		},
		"vigil_bgp_routes_announced": {`{} 1`},
		"vigil_bgp_route_last_change_timestamp_seconds": {
			`{prefix="198.18.30.1/32"} 1800000002`,
			`{prefix="198.18.30.2/32"} 1800000003`,
		},
	}
	got := map[string][]string{}
	for name, mf := range mfs {
		if strings.HasPrefix(name, "vigil_bgp_") {
			got[name] = series(mf)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vigil_bgp_* series (-want +got):\n%s", diff)
	}

	// A speaker that could not start: down, no session.
	snap.BGP = &status.BGP{ASN: 65000, Error: "start BGP speaker: address in use",
		Routes: []status.BGPRoute{{Prefix: "198.18.30.1/32", Reason: "BGP speaker not running"}}}
	mfs = parse(t, scrape(t, New(&fakeSource{s: snap}, BuildInfo{}).Handler()))
	if got := series(mfs["vigil_bgp_speaker_up"]); !cmp.Equal(got, []string{`{} 0`}) {
		t.Errorf("vigil_bgp_speaker_up with a failed speaker: %v", got)
	}
	if got := series(mfs["vigil_bgp_routes_announced"]); !cmp.Equal(got, []string{`{} 0`}) {
		t.Errorf("vigil_bgp_routes_announced with a failed speaker: %v", got)
	}

	snap.BGP = nil
	for name := range parse(t, scrape(t, New(&fakeSource{s: snap}, BuildInfo{}).Handler())) {
		if strings.HasPrefix(name, "vigil_bgp_") {
			t.Errorf("%s without a bgp block", name)
		}
	}
}

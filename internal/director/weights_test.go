package director

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

func TestPlace(t *testing.T) {
	rs := &conf.RealServer{Weight: 5, Checks: []*conf.Check{{}}}
	quiesce := &conf.VirtualServer{OnFailure: conf.Quiesce}
	remove := &conf.VirtualServer{OnFailure: conf.Remove}
	for _, tc := range []struct {
		name  string
		vs    *conf.VirtualServer
		state rsState
		want  placement
	}{
		{"up", quiesce, rsState{health: Up, dynamic: -1}, placement{5, true, true}},
		{"up dynamic", quiesce, rsState{health: Up, dynamic: 7}, placement{7, true, true}},
		{"up dynamic zero", quiesce, rsState{health: Up, dynamic: 0}, placement{0, true, true}},
		{"down quiesce", quiesce, rsState{health: Down, dynamic: -1}, placement{0, true, false}},
		{"down remove", remove, rsState{health: Down, dynamic: -1}, placement{0, false, false}},
		{"new unknown gets no traffic", quiesce, rsState{health: Unknown, dynamic: -1}, placement{0, true, false}},
		{"new unknown remove stays out", remove, rsState{health: Unknown, dynamic: -1}, placement{0, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := place(tc.vs, rs, &tc.state); got != tc.want {
				t.Errorf("place() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAdoptedHealth(t *testing.T) {
	for _, tc := range []struct {
		configured, kernel int
		want               Health
	}{{5, 5, Up}, {5, 3, Up}, {5, 0, Down}, {0, 0, Up}} {
		if got := adoptedHealth(&conf.RealServer{Weight: tc.configured}, tc.kernel); got != tc.want {
			t.Errorf("adoptedHealth(configured %d, kernel %d) = %v, want %v", tc.configured, tc.kernel, got, tc.want)
		}
	}
}

func TestQuorumHysteresis(t *testing.T) {
	vs := &conf.VirtualServer{Quorum: 4, Hysteresis: 1}
	for _, tc := range []struct {
		sum       int
		was, want bool
	}{
		{0, true, false}, {2, true, false}, {3, true, true}, {3, false, false},
		{4, false, false}, {5, false, true}, {9, false, true},
	} {
		if got := quorumUp(vs, tc.sum, tc.was); got != tc.want {
			t.Errorf("quorumUp(sum=%d, was=%v) = %v, want %v", tc.sum, tc.was, got, tc.want)
		}
	}
}

func TestPlanSorryServer(t *testing.T) {
	vip := netip.MustParseAddrPort("198.18.0.254:80")
	vs := &conf.VirtualServer{
		Name: "web", Address: vip, Protocol: conf.TCP, Scheduler: conf.RoundRobin,
		Forwarding: conf.DR, OnFailure: conf.Quiesce, Quorum: 1,
		SorryServer: netip.MustParseAddrPort("198.18.0.30:80"),
		RealServers: []*conf.RealServer{
			{Name: "a", Address: netip.MustParseAddrPort("198.18.0.21:80"), Weight: 1, Forwarding: conf.DR, Checks: []*conf.Check{{}}},
			{Name: "b", Address: netip.MustParseAddrPort("198.18.0.22:80"), Weight: 2, Forwarding: conf.DR, Checks: []*conf.Check{{}}},
		},
	}
	states := []rsState{{health: Down, dynamic: -1}, {health: Up, dynamic: -1}}
	p, _ := planVirtualServer(vs, states, true)
	if !p.quorumUp || p.sorry || p.healthy != 1 {
		t.Fatalf("one up: quorumUp=%v sorry=%v healthy=%d, want true false 1", p.quorumUp, p.sorry, p.healthy)
	}
	states[1].health = Down
	p, svc := planVirtualServer(vs, states, true)
	want := []ipvs.RealServer{
		{Destination: ipvs.Destination{Addr: vs.RealServers[0].Address, Weight: 0, Forwarding: ipvs.Direct}},
		{Destination: ipvs.Destination{Addr: vs.RealServers[1].Address, Weight: 0, Forwarding: ipvs.Direct}},
		{Destination: ipvs.Destination{Addr: vs.SorryServer, Weight: 1, Forwarding: ipvs.Direct}},
	}
	if p.quorumUp || !p.sorry {
		t.Fatalf("all down: quorumUp=%v sorry=%v, want false true", p.quorumUp, p.sorry)
	}
	if diff := cmp.Diff(want, svc.Destinations, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("destinations (-want +got):\n%s", diff)
	}
}

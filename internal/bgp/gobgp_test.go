package bgp

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// router is a passive GoBGP speaker on 127.0.0.1 standing in for the upstream router (the
// FRR lab in internal/testing/bgplab is the real one).
type router struct {
	s    *server.BgpServer
	port uint16
}

func startRouter(t *testing.T, password string) *router {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s := server.NewBgpServer()
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65001, RouterId: "198.18.20.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65000, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 3, KeepaliveInterval: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &router{s: s, port: port}
}

// routes lists the IPv4 prefixes in the router's table with their next hops.
func (r *router) routes(t *testing.T) map[netip.Prefix]string {
	t.Helper()
	out := map[netip.Prefix]string{}
	err := r.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC},
		func(nlri bgp.NLRI, paths []*apiutil.Path) {
			p, err := netip.ParsePrefix(nlri.String())
			if err != nil {
				t.Errorf("prefix %q: %v", nlri.String(), err)
				return
			}
			for _, pa := range paths {
				for _, a := range pa.Attrs {
					if nh, ok := a.(*bgp.PathAttributeNextHop); ok {
						out[p] = nh.Value.String()
					}
				}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // generous: the machine is shared
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnnounceWithdraw: a route announced reaches the router with vigil's address as next
// hop, a withdrawal removes it, Close withdraws the rest and ends the session; the TCP MD5
// password never reaches the log or Peers.
func TestAnnounceWithdraw(t *testing.T) {
	const password = "md5-secret-in-test"
	r := startRouter(t, password)
	var logs testenv.Buffer
	changes := make(chan Peer, 16)
	ctx := context.Background()
	s, err := Start(ctx, Config{ASN: 65000, RouterID: netip.MustParseAddr("198.18.20.11"), Neighbors: []Neighbor{{
		Address: netip.MustParseAddr("127.0.0.1"), Port: r.port, ASN: 65001, HoldTime: 3 * time.Second, Password: password,
	}}}, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnPeer: func(p Peer) {
			select {
			case changes <- p:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	waitFor(t, "the session", func() bool { ps := s.Peers(); return len(ps) == 1 && ps[0].State == StateEstablished })
	vip, other := netip.MustParsePrefix("198.18.30.1/32"), netip.MustParsePrefix("198.18.30.2/32")
	for _, p := range []netip.Prefix{vip, other, vip} {
		if err := s.Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both routes at the router", func() bool { return len(r.routes(t)) == 2 })
	if nh := r.routes(t)[vip]; nh != "127.0.0.1" {
		t.Errorf("next hop of %s = %q, want 127.0.0.1 (the session's local address)", vip, nh)
	}
	if err := s.Withdraw(ctx, vip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawal", func() bool { _, ok := r.routes(t)[vip]; return !ok })
	if got := s.Announced(); len(got) != 1 || got[0] != other {
		t.Errorf("Announced() = %v, want [%s]", got, other)
	}
	if err := s.Withdraw(ctx, vip); err != nil {
		t.Errorf("withdraw twice: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the router to drop the rest", func() bool { return len(r.routes(t)) == 0 })
	if err := s.Announce(ctx, vip); err == nil {
		t.Error("Announce after Close succeeded")
	}
	select {
	case p := <-changes:
		if p.Address != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("OnPeer got %+v", p)
		}
	default:
		t.Error("OnPeer was never called")
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the log holds the password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "BGP session established") {
		t.Errorf("the log does not say the session came up:\n%s", logs.String())
	}
}

// TestBFDFollowsSession: a neighbor's BFD session runs only while its BGP session is
// Established (FRR's bfdd replaces the session it had before then; see bfdFollow), and
// starting or stopping it leaves the BGP session alone.
func TestBFDFollowsSession(t *testing.T) {
	r := startRouter(t, "")
	ctx := context.Background()
	type seen struct {
		state string
		bfd   bool
	}
	var mu sync.Mutex
	var log []seen
	var s *Server
	started := make(chan struct{})
	s, err := Start(ctx, Config{ASN: 65000, RouterID: netip.MustParseAddr("198.18.20.11"), Neighbors: []Neighbor{{
		Address: netip.MustParseAddr("127.0.0.1"), Port: r.port, ASN: 65001, HoldTime: 3 * time.Second,
		BFD: true, BFDInterval: 100 * time.Millisecond, BFDMultiplier: 3,
	}}}, Options{OnPeer: func(p Peer) {
		<-started
		on, err := gobgpBFD(s)
		if err != nil { // Close stopping GoBGP under the last change
			return
		}
		mu.Lock()
		log = append(log, seen{p.State, on})
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(started)
	defer s.Close(ctx)
	established := func() bool { ps := s.Peers(); return ps[0].State == StateEstablished }
	waitFor(t, "the session", established)
	waitFor(t, "BFD on with the session", func() bool { return bfdEnabled(t, s) })

	// The router shuts the session and keeps it shut: BFD stops.
	if err := r.s.DisablePeer(ctx, &api.DisablePeerRequest{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session down", func() bool { return !established() })
	waitFor(t, "BFD off without the session", func() bool { return !bfdEnabled(t, s) })
	if err := r.s.EnablePeer(ctx, &api.EnablePeerRequest{Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session again", established)
	waitFor(t, "BFD on again", func() bool { return bfdEnabled(t, s) })
	if n := s.Peers()[0].Established; n != 2 {
		t.Errorf("session established %d times, want 2 (starting BFD must not reset it)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range log {
		// OnPeer runs after the change, so BFD is already as the state wants it.
		if e.bfd != (e.state == StateEstablished) {
			t.Errorf("BFD on = %v in state %s; want on in established only (all: %v)", e.bfd, e.state, log)
		}
	}
}

// bfdEnabled reports whether GoBGP has BFD configured for s's one neighbor.
func bfdEnabled(t *testing.T, s *Server) bool {
	t.Helper()
	on, err := gobgpBFD(s)
	if err != nil {
		t.Errorf("list peers: %v", err)
	}
	return on
}

func gobgpBFD(s *Server) (on bool, err error) {
	err = s.s.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		on = p.GetBfd().GetEnabled()
	})
	return on, err
}

// TestWrongPassword: with a different TCP MD5 key the router drops the segments and the
// session never comes up.
func TestWrongPassword(t *testing.T) {
	r := startRouter(t, "right")
	ctx := context.Background()
	s, err := Start(ctx, Config{ASN: 65000, RouterID: netip.MustParseAddr("198.18.20.11"), Neighbors: []Neighbor{{
		Address: netip.MustParseAddr("127.0.0.1"), Port: r.port, ASN: 65001, HoldTime: 3 * time.Second, Password: "wrong",
	}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	time.Sleep(1500 * time.Millisecond)
	if ps := s.Peers(); ps[0].State == StateEstablished {
		t.Fatalf("established with the wrong password: %+v", ps[0])
	}
}

// TestSetNeighbors: neighbors are added, kept and removed by address.
func TestSetNeighbors(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Config{ASN: 65000, RouterID: netip.MustParseAddr("198.18.20.11")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	// 198.18.0.0/15 with no route: the dials fail, which is all this test needs.
	a, b := netip.MustParseAddr("198.18.99.1"), netip.MustParseAddr("198.18.99.2")
	n := func(addr netip.Addr, asn uint32) Neighbor {
		return Neighbor{Address: addr, ASN: asn, HoldTime: 9 * time.Second}
	}
	steps := []struct {
		set  []Neighbor
		want []netip.Addr
	}{
		{[]Neighbor{n(a, 1), n(b, 2)}, []netip.Addr{a, b}},
		{[]Neighbor{n(b, 2)}, []netip.Addr{b}},
		{[]Neighbor{n(b, 3), n(a, 1)}, []netip.Addr{a, b}},
		{nil, nil},
	}
	for i, st := range steps {
		if err := s.SetNeighbors(ctx, st.set); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var got []netip.Addr
		for _, p := range s.Peers() {
			got = append(got, p.Address)
		}
		if !slicesEqual(got, st.want) {
			t.Errorf("step %d: peers %v, want %v", i, got, st.want)
		}
	}
	if ps := s.Peers(); len(ps) != 0 {
		t.Errorf("peers left: %v", ps)
	}
}

func slicesEqual(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFirstRouterID(t *testing.T) {
	ipnet := func(s string) net.Addr {
		_, n, _ := net.ParseCIDR(s)
		ip, _, _ := net.ParseCIDR(s)
		n.IP = ip
		return n
	}
	tests := []struct {
		addrs []net.Addr
		want  string
	}{
		{[]net.Addr{ipnet("fe80::1/64"), ipnet("169.254.1.1/16"), ipnet("198.18.20.11/24"), ipnet("198.18.20.12/24")}, "198.18.20.11"},
		{[]net.Addr{ipnet("2001:db8::1/64")}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		got, ok := firstRouterID(tt.addrs)
		if (tt.want == "" && ok) || (tt.want != "" && got.String() != tt.want) {
			t.Errorf("firstRouterID(%v) = %v, %v; want %q", tt.addrs, got, ok, tt.want)
		}
	}
}

package metrics

import "github.com/vigil-lb/vigil/internal/status"

// bgpFamilies are the BGP speaker's series (issue 19): each neighbor's session and each
// announced virtual IP. Why a session went down or a route was withdrawn is free text, so
// it is in /status, `vigil status` and the log, not in a label.
type bgpFamilies struct {
	speakerUp, sessionState, sessionUp, sessionEstablished, sessionChange *family
	routeAnnounced, routesAnnounced, routeChange                          *family
}

// newBGPFamilies makes the families with f, the writer's constructor.
func newBGPFamilies(f func(name, typ, help string) *family) bgpFamilies {
	const g, c = "gauge", "counter"
	return bgpFamilies{
		speakerUp:          f("vigil_bgp_speaker_up", g, "1 while the BGP speaker runs, 0 when it could not start (the error is in /status); absent without a bgp block."),
		sessionState:       f("vigil_bgp_session_state", g, "BGP session state as BGP4-MIB numbers it: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established."),
		sessionUp:          f("vigil_bgp_session_up", g, "1 while the BGP session with the neighbor is established."),
		sessionEstablished: f("vigil_bgp_session_established_total", c, "Times the BGP session with the neighbor was established."),
		sessionChange:      f("vigil_bgp_session_last_change_timestamp_seconds", g, "Unix time the BGP session with the neighbor last changed state."),
		routeAnnounced:     f("vigil_bgp_route_announced", g, "1 while the virtual IP is announced over BGP, 0 while it is withdrawn."),
		routesAnnounced:    f("vigil_bgp_routes_announced", g, "Virtual IPs announced over BGP."),
		routeChange:        f("vigil_bgp_route_last_change_timestamp_seconds", g, "Unix time the virtual IP was last announced or withdrawn."),
	}
}

// bgpStateNumber is BGP4-MIB's bgpPeerState (RFC 4273) for status.BGPPeer.State.
var bgpStateNumber = map[string]float64{
	"idle": 1, "connect": 2, "active": 3, "opensent": 4, "openconfirm": 5, "established": 6,
}

// fill writes g's series; g is nil without a bgp block.
func (b *bgpFamilies) fill(g *status.BGP) {
	if g == nil {
		return
	}
	b.speakerUp.add(b2f(g.Error == ""))
	for i := range g.Neighbors {
		n := &g.Neighbors[i]
		nl := label{"neighbor", n.Address}
		if v, ok := bgpStateNumber[n.State]; ok {
			b.sessionState.add(v, nl)
		}
		b.sessionUp.add(b2f(n.State == "established"), nl)
		b.sessionEstablished.addUint(n.Established, nl)
		if !n.Since.IsZero() {
			b.sessionChange.add(unixSeconds(n.Since), nl)
		}
	}
	announced := 0
	for i := range g.Routes {
		r := &g.Routes[i]
		pl := label{"prefix", r.Prefix}
		b.routeAnnounced.add(b2f(r.Announced), pl)
		if r.Announced {
			announced++
		}
		if !r.Since.IsZero() {
			b.routeChange.add(unixSeconds(r.Since), pl)
		}
	}
	b.routesAnnounced.add(float64(announced))
}

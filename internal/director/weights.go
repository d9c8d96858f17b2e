package director

import (
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
)

// Health is a real server's health as its checks decide it.
type Health int

// Health values. Unknown is a server whose checks have not yet reported.
const (
	Unknown Health = iota
	Up
	Down
)

func (h Health) String() string {
	switch h {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// rsState is what the director knows of one real server beyond its configuration.
type rsState struct {
	health Health
	// dynamic is the weight an exec check with dynamic_weight set, -1 for none.
	dynamic int
	// admin is the operator's state (vigil drain / maint / ready): admin.go.
	admin adminState
	// since is when health last changed (or the real server appeared); flaps counts its
	// changes between up and down; history holds the last maxHistory transitions of
	// health and admin state, oldest first (history.go).
	since   time.Time
	flaps   uint64
	history []status.Transition
}

func newRSState(hasChecks bool) rsState {
	s := rsState{dynamic: -1}
	if !hasChecks {
		s.health = Up // a real server with no check is always up
	}
	return s
}

// adoptedHealth is the health of a real server the table already held at start-up, with
// weight w: serving (or configured at 0) is up, quiesced is down. Its checks start from
// that state, so rise and fall apply from the first probe and a restart of vigil changes
// nothing the kernel does unless the checks say so.
func adoptedHealth(rs *conf.RealServer, w int) Health {
	if w > 0 || rs.Weight == 0 {
		return Up
	}
	return Down
}

// placement is where a real server stands in the table.
type placement struct {
	weight  int
	present bool // false: kept out of the table (on_failure = "remove")
	alive   bool // counts toward the quorum
}

// place decides a real server's weight from its health: up gets its configured weight (or
// the dynamic one), down gets 0 (quiesce: established connections finish, no new ones
// arrive) or leaves the table (remove), and unknown is treated as down, so a new real
// server receives no traffic before its first check passes.
//
// The operator's state comes first: drain is weight 0 whatever the health (established
// connections finish), maint is weight 0 too, or out of the table with --remove; neither
// counts toward the quorum.
func place(vs *conf.VirtualServer, rs *conf.RealServer, s *rsState) placement {
	out := placement{present: vs.OnFailure != conf.Remove}
	switch s.health {
	case Up:
		out.weight = rs.Weight
		if s.dynamic >= 0 {
			out.weight = s.dynamic
		}
		out.present, out.alive = true, true
	}
	switch s.admin.state {
	case Drain:
		out.weight, out.alive = 0, false
	case Maint:
		out.weight, out.alive = 0, false
		out.present = !s.admin.remove && vs.OnFailure != conf.Remove
	}
	return out
}

// quorumUp applies keepalived's quorum with hysteresis: a virtual server is up when the
// sum of its alive real servers' weights reaches quorum + hysteresis, down when it falls
// below quorum - hysteresis or to zero, and otherwise stays as it was.
func quorumUp(vs *conf.VirtualServer, sum int, was bool) bool {
	q, h := int(vs.Quorum), int(vs.Hysteresis)
	switch {
	case sum == 0 || sum < q-h:
		return false
	case sum >= q+h:
		return true
	}
	return was
}

// vsPlan is what the director knows of a virtual server beyond its real servers' states:
// the outcome of planning it. Its desired table state is the reconciler's to keep.
type vsPlan struct {
	healthy  int  // real servers that are up
	ready    int  // real servers the operator has not drained or put in maintenance
	quorumUp bool // the virtual server counts as up (VRRP tracking)
	sorry    bool // the sorry server replaces the real servers
}

// planVirtualServer computes the desired kernel state of vs from its real servers' states
// (by index in vs.RealServers). wasUp is the previous quorum state (for hysteresis).
func planVirtualServer(vs *conf.VirtualServer, states []rsState, wasUp bool) (vsPlan, ipvs.VirtualService) {
	var p vsPlan
	svc := ipvs.VirtualService{Service: serviceOf(vs), Destinations: make([]ipvs.RealServer, 0, len(vs.RealServers)+1)}
	var buf [16]placement
	places := buf[:0]
	if n := len(vs.RealServers); n <= len(buf) {
		places = buf[:n]
	} else {
		places = make([]placement, n)
	}
	sum := 0
	for i, rs := range vs.RealServers {
		s := &states[i]
		places[i] = place(vs, rs, s)
		if places[i].alive {
			sum += places[i].weight
		}
		if s.health == Up {
			p.healthy++
		}
		if s.admin.state == Ready {
			p.ready++
		}
	}
	p.quorumUp = quorumUp(vs, sum, wasUp)
	p.sorry = !p.quorumUp && vs.SorryServer.IsValid()
	for i, rs := range vs.RealServers {
		pl := places[i]
		if p.sorry {
			// keepalived takes every real server out while the sorry server serves; vigil
			// quiesces them instead (or removes them under on_failure = "remove"), so
			// connections already established finish.
			pl.weight = 0
		}
		svc.Destinations = append(svc.Destinations, ipvs.RealServer{
			Destination: destinationOf(rs, pl.weight),
			Removed:     !pl.present,
		})
	}
	if p.sorry {
		svc.Destinations = append(svc.Destinations, ipvs.RealServer{Destination: sorryDestination(vs)})
	}
	return p, svc
}

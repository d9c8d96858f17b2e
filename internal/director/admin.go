package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
)

// AdminState is a real server's administrative state, the operator's word over its
// health, in HAProxy's terms mapped onto IPVS.
type AdminState uint8

const (
	// Ready: the weight follows health (the default).
	Ready AdminState = iota
	// Drain: weight 0 whatever the health; established connections finish, checks keep
	// running.
	Drain
	// Maint: out of service with its checks paused: weight 0, or out of the table with
	// remove (vigil maint --remove).
	Maint
)

func (a AdminState) String() string {
	switch a {
	case Drain:
		return "drain"
	case Maint:
		return "maint"
	}
	return "ready"
}

// ParseAdminState is the inverse of String.
func ParseAdminState(s string) (AdminState, error) {
	switch s {
	case "ready":
		return Ready, nil
	case "drain":
		return Drain, nil
	case "maint":
		return Maint, nil
	}
	return Ready, fmt.Errorf("unknown administrative state %q (ready, drain or maint)", s)
}

// adminState is a real server's administrative state as the loop keeps it.
type adminState struct {
	state  AdminState
	remove bool      // maint: the destination is deleted rather than quiesced
	since  time.Time // when the operator set it; zero for ready since start
}

// AdminChange is one real server an administrative request selected.
type AdminChange struct {
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"`
	Address       string `json:"address"`
	From          string `json:"from"`
	To            string `json:"to"`
	Changed       bool   `json:"changed"` // false: it already was in that state
}

// ErrNoMatch wraps the error of a selector that selects no real server.
var ErrNoMatch = errors.New("no real server matches")

// selector is "VS/RS": a virtual server's name, or *, and a real server's name, address
// (ip:port) or host (ip), or *.
type selector struct{ vs, rs string }

func parseSelector(s string) (selector, error) {
	vs, rs, ok := strings.Cut(s, "/")
	if !ok || vs == "" || rs == "" || strings.Contains(rs, "/") {
		return selector{}, fmt.Errorf("%q is not VS/RS (a virtual server's name or *, a slash, a real server's name, address or *)", s)
	}
	if vs == "*" && rs == "*" {
		return selector{}, fmt.Errorf("%q selects every real server of every virtual server; name a virtual server (VS/*) or a real server (*/RS)", s)
	}
	return selector{vs, rs}, nil
}

func (s selector) String() string { return s.vs + "/" + s.rs }

func (s selector) matchRS(rs *conf.RealServer) bool {
	if s.rs == "*" || s.rs == rs.Name || s.rs == rs.Address.String() {
		return true
	}
	a, err := netip.ParseAddr(s.rs)
	return err == nil && a.Unmap() == rs.Address.Addr().Unmap()
}

// match returns the real servers of cfg that s selects, in the order of the file.
func (s selector) match(cfg *conf.Config) ([]rsRef, error) {
	var out []rsRef
	vsFound := s.vs == "*"
	for i, vs := range cfg.VirtualServers {
		if s.vs != "*" && s.vs != vs.Name {
			continue
		}
		vsFound = true
		for j, rs := range vs.RealServers {
			if s.matchRS(rs) {
				out = append(out, rsRef{i, j})
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if !vsFound {
		names := make([]string, 0, len(cfg.VirtualServers))
		for _, vs := range cfg.VirtualServers {
			names = append(names, vs.Name)
		}
		return nil, fmt.Errorf("%w %s: there is no virtual server %q (have: %s)", ErrNoMatch, s, s.vs, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("%w %s: no real server is named %q or has that address", ErrNoMatch, s, s.rs)
}

// SetAdmin sets the administrative state of the real servers sel selects ("VS/RS",
// "VS/*", "*/RS"): Drain, Maint (remove deletes the destinations) or Ready. The weights
// change at once, as a health change does; the state outlives reloads and, with a state
// file, restarts. It returns every selected real server, changed or not, and the error of
// saving the state file, if any (the change itself stands).
func (d *Director) SetAdmin(ctx context.Context, sel string, to AdminState, remove bool) ([]AdminChange, error) {
	s, err := parseSelector(sel)
	if err != nil {
		return nil, err
	}
	if remove && to != Maint {
		return nil, errors.New("remove goes with maint only")
	}
	var out []AdminChange
	var stepErr error
	err = d.do(ctx, func(c context.Context) { out, stepErr = d.setAdmin(c, s, to, remove) })
	return out, errors.Join(err, stepErr)
}

// setAdmin is SetAdmin's step on the loop.
func (d *Director) setAdmin(ctx context.Context, s selector, to AdminState, remove bool) ([]AdminChange, error) {
	if d.cur.phase != phaseRunning {
		return nil, errors.New("director is shutting down")
	}
	refs, err := s.match(d.cur.cfg)
	if err != nil {
		return nil, err
	}
	now := d.o.Clock.Now()
	c := d.edit()
	out := make([]AdminChange, 0, len(refs))
	checksChange := false
	for _, ref := range refs {
		vs := c.base.cfg.VirtualServers[ref.svc]
		rs := vs.RealServers[ref.rs]
		was := c.base.services.at(ref.svc).rs[ref.rs].admin
		ch := AdminChange{VirtualServer: vs.Name, RealServer: rs.Name, Address: rs.Address.String(),
			From: adminText(was), To: adminText(adminState{state: to, remove: remove})}
		if was.state == to && was.remove == remove {
			out = append(out, ch)
			continue
		}
		ch.Changed = true
		out = append(out, ch)
		st := c.realServer(ref)
		st.admin = adminState{state: to, remove: remove, since: now}
		if (was.state == Maint) != (to == Maint) && len(rs.Checks) > 0 {
			// Entering maint pauses the checks and forgets what they said; leaving it
			// starts them again from nothing, so the weight comes back only once they pass.
			checksChange = true
			st.health, st.dynamic = Unknown, -1
		}
		st.history = appendHistory(st.history, status.Transition{At: now, Kind: "admin", From: ch.From, To: ch.To, Reason: "set by the operator"})
		d.log.Info("real server administrative state", "virtual_server", vs.Name, "real_server", rs.Name,
			"address", rs.Address.String(), "from", ch.From, "to", ch.To)
	}
	if checksChange {
		// As a reload does (see checksSeq): readers pair these checks with this view.
		d.checksSeq.Add(1)
		defer d.checksSeq.Add(1)
		if err := d.sched.Set(d.checkSpecs(c.next, nil)); err != nil {
			d.log.Error("pause or resume health checks", "err", err)
		}
	}
	d.commit(ctx, c)
	return out, d.saveState()
}

// adminText renders a state as the operator names it: ready, drain, maint, maint (removed).
func adminText(a adminState) string {
	if a.state == Maint && a.remove {
		return "maint (removed)"
	}
	return a.state.String()
}

// adminEntries lists the real servers of v that are not ready, for the state file.
func adminEntries(v *view) []adminEntry {
	var out []adminEntry
	for i, vs := range v.cfg.VirtualServers {
		for j, rs := range vs.RealServers {
			if a := v.services.at(i).rs[j].admin; a.state != Ready {
				out = append(out, adminEntry{key: rsKey{vsKeyOf(vs), rs.Address}, vs: vs.Name, rs: rs.Name, admin: a})
			}
		}
	}
	return out
}

type adminEntry struct {
	key    rsKey
	vs, rs string
	admin  adminState
}

// restoreAdmin gives the real servers of next the administrative states of entries (the
// state file's, at start-up), by virtual-server identity and address. It returns how many
// it restored.
func restoreAdmin(next *view, entries map[string]adminState) int {
	n := 0
	for i, vs := range next.cfg.VirtualServers {
		key := vsKeyOf(vs)
		for j, rs := range vs.RealServers {
			a, ok := entries[rsKey{key, rs.Address}.String()]
			if !ok {
				continue
			}
			st := &next.services.at(i).rs[j]
			st.admin = a
			if a.state == Maint && len(rs.Checks) > 0 {
				st.health, st.dynamic = Unknown, -1
			}
			n++
		}
	}
	return n
}

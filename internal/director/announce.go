package director

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/status"
)

// SpeakerFactory starts a BGP speaker.
type SpeakerFactory func(ctx context.Context, cfg bgp.Config, log *slog.Logger) (bgp.Speaker, error)

func startGoBGP(ctx context.Context, cfg bgp.Config, log *slog.Logger) (bgp.Speaker, error) {
	return bgp.Start(ctx, cfg, bgp.Options{Logger: log})
}

// Loopback puts the announced virtual IPs on the loopback interface, where the data plane
// receives them (IPVS takes packets for local addresses only).
type Loopback interface {
	// Add puts p on lo; added is false when it already was there (vigil then leaves it
	// there at the end).
	Add(p netip.Prefix) (added bool, err error)
	Remove(p netip.Prefix) error
}

// routeWant is the announce rule's verdict on one prefix.
type routeWant struct {
	announce bool
	reason   string
	vss      []string // the virtual servers on its address, in file order
}

// wantRoutes applies the announce rules to v: a prefix that a virtual server announces is
// announced while every virtual server on its address is up (quorum, not drained, its
// services programmed: programmed reports that) and the director runs; otherwise it is
// withdrawn, with the first reason found.
func wantRoutes(v *view, programmed func(vs *conf.VirtualServer) bool) map[netip.Prefix]routeWant {
	out := map[netip.Prefix]routeWant{}
	if v == nil || v.cfg == nil {
		return out
	}
	for _, vs := range v.cfg.VirtualServers {
		for _, p := range vs.AnnouncedPrefixes() {
			out[p] = routeWant{announce: true, reason: "up"}
		}
	}
	if len(out) == 0 {
		return out
	}
	// Every virtual server on an announced address counts, announce set or not: the
	// router sends it all the address's traffic.
	for i, vs := range v.cfg.VirtualServers {
		for _, p := range hostPrefixes(vs) {
			w, ok := out[p]
			if !ok {
				continue
			}
			w.vss = append(w.vss, vs.Name)
			if w.announce {
				if why := downReason(vs, v.services.at(i).plan, programmed); why != "" {
					w.announce, w.reason = false, why
				}
			}
			out[p] = w
		}
	}
	if v.phase != phaseRunning {
		for p, w := range out {
			w.announce, w.reason = false, "director stopping"
			out[p] = w
		}
	}
	return out
}

// downReason is why vs keeps its address from being announced, "" when it does not.
func downReason(vs *conf.VirtualServer, p vsPlan, programmed func(*conf.VirtualServer) bool) string {
	switch {
	case len(vs.RealServers) > 0 && p.ready == 0:
		return fmt.Sprintf("virtual server %s drained", vs.Name)
	case !p.quorumUp:
		return fmt.Sprintf("virtual server %s down (quorum lost)", vs.Name)
	case !programmed(vs):
		return fmt.Sprintf("virtual server %s not programmed", vs.Name)
	}
	return ""
}

// hostPrefixes are the /32 and /128 of vs's service addresses.
func hostPrefixes(vs *conf.VirtualServer) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range vs.Services() {
		if s.Address.IsValid() {
			a := s.Address.Addr().Unmap()
			if p := netip.PrefixFrom(a, a.BitLen()); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// routes is the director's BGP side: the speaker, the virtual IPs on lo and what is
// announced. The owner of the director's state drives it (sync after each publish); its
// status is read through an atomic pointer.
type routes struct {
	newSpeaker SpeakerFactory
	lo         Loopback
	log        *slog.Logger
	clock      clock.Clock

	sp     bgp.Speaker
	cfg    *conf.BGP // the configuration the speaker runs (or failed to start with)
	err    string    // why the speaker is not running
	state  map[netip.Prefix]*routeState
	onLo   map[netip.Prefix]bool // true: vigil added it
	prevLo map[netip.Prefix]bool // what a previous run added (the state file), until the first sync
	stopAt bool                  // a route was withdrawn by the stop

	// What readers see, under mu: the routes, the speaker (whose Peers any goroutine may
	// call) and why it is not running.
	mu     sync.Mutex
	pub    []status.BGPRoute
	pubSp  bgp.Speaker
	pubErr string
}

type routeState struct {
	announced bool
	reason    string
	since     time.Time
	vss       []string
}

func newRoutes(o Options, log *slog.Logger) *routes {
	r := &routes{newSpeaker: o.NewSpeaker, lo: o.Loopback, log: log, clock: o.Clock,
		state: map[netip.Prefix]*routeState{}, onLo: map[netip.Prefix]bool{}}
	if r.newSpeaker == nil {
		r.newSpeaker = startGoBGP
	}
	if r.lo == nil {
		r.lo = linuxLoopback{}
	}
	return r
}

// sync brings the speaker, lo and the announcements in line with v; programmed tells
// whether a virtual server's services are in the table.
func (r *routes) sync(v *view, programmed func(*conf.VirtualServer) bool) {
	if r.sp == nil && r.cfg == nil && len(r.state) == 0 && len(r.prevLo) == 0 && (v.cfg == nil || v.cfg.BGP == nil) {
		return // no bgp block: nothing to do on each step
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want map[netip.Prefix]routeWant
	if v.cfg != nil {
		r.configure(ctx, v.cfg.BGP)
		want = wantRoutes(v, programmed)
	}
	// Addresses go on lo once configured, before any announcement, and stay while
	// withdrawn: a flow the router still sends during convergence is served.
	if v.phase == phaseRunning {
		for p := range want {
			if _, ok := r.onLo[p]; ok {
				continue
			}
			added, err := r.lo.Add(p)
			if err == nil && !added && r.prevLo[p] {
				// Left by a previous run that was killed: vigil's again, removed at the stop.
				added = true
				r.log.Info("virtual IP on lo adopted from the previous run", "prefix", p.String())
			}
			if err != nil {
				r.log.Error("put the virtual IP on lo; it is not announced", "prefix", p.String(), "err", err)
				w := want[p]
				w.announce, w.reason = false, fmt.Sprintf("cannot put it on lo: %v", err)
				want[p] = w
				continue
			}
			r.onLo[p] = added
		}
		r.dropPrevLo(want)
	}
	now := r.clock.Now()
	order := make([]netip.Prefix, 0, len(want))
	for p := range want {
		order = append(order, p)
	}
	slices.SortFunc(order, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, p := range order {
		w := want[p]
		st := r.state[p]
		if st == nil {
			st = &routeState{since: now}
			r.state[p] = st
		}
		st.vss = w.vss
		if w.announce && r.sp == nil {
			w.announce, w.reason = false, "BGP speaker not running"
		}
		if st.announced == w.announce && st.reason == w.reason {
			continue
		}
		if w.announce != st.announced {
			if err := r.set(ctx, p, w.announce); err != nil {
				r.log.Error("BGP route", "prefix", p.String(), "err", err)
				st.reason = err.Error()
				continue
			}
			st.since = now
			if !w.announce && v.phase != phaseRunning {
				r.stopAt = true
			}
			if w.announce {
				r.log.Info("virtual IP announced", "prefix", p.String(), "virtual_servers", w.vss)
			} else {
				r.log.Warn("virtual IP withdrawn", "prefix", p.String(), "reason", w.reason)
			}
		}
		st.announced, st.reason = w.announce, w.reason
	}
	// Prefixes no longer configured: withdrawn, and off lo if vigil put them there.
	for p, st := range r.state {
		if _, ok := want[p]; ok {
			continue
		}
		if st.announced {
			if err := r.set(ctx, p, false); err != nil {
				r.log.Error("BGP route", "prefix", p.String(), "err", err)
				continue
			}
			r.log.Info("virtual IP withdrawn", "prefix", p.String(), "reason", "no longer configured")
		}
		delete(r.state, p)
		r.removeLo(p)
	}
	r.publish()
}

func (r *routes) set(ctx context.Context, p netip.Prefix, announce bool) error {
	if r.sp == nil {
		return nil
	}
	if announce {
		return r.sp.Announce(ctx, p)
	}
	return r.sp.Withdraw(ctx, p)
}

// adoptLo takes the virtual IPs a previous run put on lo (its state file): the first sync
// adopts those still announced and removes the others, so that a killed director leaves
// no address behind for long.
func (r *routes) adoptLo(ps []netip.Prefix) {
	for _, p := range ps {
		if r.prevLo == nil {
			r.prevLo = map[netip.Prefix]bool{}
		}
		r.prevLo[p] = true
	}
}

// dropPrevLo removes from lo what a previous run put there and want no longer has.
func (r *routes) dropPrevLo(want map[netip.Prefix]routeWant) {
	for p := range r.prevLo {
		if _, ok := want[p]; ok {
			continue
		}
		if err := r.lo.Remove(p); err != nil {
			r.log.Warn("remove a virtual IP a previous run left on lo", "prefix", p.String(), "err", err)
			continue
		}
		r.log.Info("virtual IP a previous run left on lo removed: no longer announced", "prefix", p.String())
	}
	r.prevLo = nil
}

// ownedLo are the virtual IPs vigil put on lo, sorted, for the state file.
func (r *routes) ownedLo() []netip.Prefix {
	var out []netip.Prefix
	for p, added := range r.onLo {
		if added {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

func (r *routes) removeLo(p netip.Prefix) {
	added, ok := r.onLo[p]
	if !ok {
		return
	}
	delete(r.onLo, p)
	if added {
		if err := r.lo.Remove(p); err != nil {
			r.log.Warn("remove the virtual IP from lo", "prefix", p.String(), "err", err)
		}
	}
}

// configure starts, reconfigures or stops the speaker for c (nil: no bgp block). A
// changed identity (asn, router_id, listen_port) restarts it; changed neighbors do not.
func (r *routes) configure(ctx context.Context, c *conf.BGP) {
	if c == r.cfg || (c != nil && r.cfg != nil && bgpEqual(c, r.cfg)) {
		r.cfg = c
		return
	}
	old := r.cfg
	r.cfg = c
	if r.sp != nil && (c == nil || old == nil || c.ASN != old.ASN || c.RouterID != old.RouterID || c.ListenPort != old.ListenPort) {
		r.closeSpeaker(ctx)
	}
	if c == nil {
		r.err = ""
		return
	}
	if r.sp != nil {
		if err := r.sp.SetNeighbors(ctx, neighbors(c)); err != nil {
			r.log.Error("BGP neighbors", "err", err)
		}
		return
	}
	sp, err := r.newSpeaker(ctx, speakerConfig(c), r.log)
	if err != nil {
		r.err = err.Error()
		r.log.Error("start the BGP speaker; no virtual IP is announced", "err", err)
		return
	}
	r.sp, r.err = sp, ""
}

func bgpEqual(a, b *conf.BGP) bool {
	if a.ASN != b.ASN || a.RouterID != b.RouterID || a.ListenPort != b.ListenPort || a.WithdrawDelay != b.WithdrawDelay {
		return false
	}
	return slices.Equal(neighbors(a), neighbors(b))
}

func speakerConfig(c *conf.BGP) bgp.Config {
	return bgp.Config{ASN: c.ASN, RouterID: c.RouterID, ListenPort: c.ListenPort, Neighbors: neighbors(c)}
}

func neighbors(c *conf.BGP) []bgp.Neighbor {
	out := make([]bgp.Neighbor, len(c.Neighbors))
	for i, n := range c.Neighbors {
		out[i] = bgp.Neighbor{Address: n.Address, Port: n.Port, ASN: n.ASN, HoldTime: n.HoldTime,
			Password: n.Password.Reveal(), BFD: n.BFD, BFDInterval: n.BFDInterval, BFDMultiplier: n.BFDMultiplier}
	}
	return out
}

// closeSpeaker withdraws everything and closes the sessions.
func (r *routes) closeSpeaker(ctx context.Context) {
	if r.sp == nil {
		return
	}
	if err := r.sp.Close(ctx); err != nil {
		r.log.Warn("close the BGP speaker", "err", err)
	}
	r.sp = nil
	for _, st := range r.state {
		st.announced = false
	}
}

// waitWithdrawn is the stop's pause between withdrawing the routes and stopping the data
// plane: withdraw_delay, for the routers to move the flows elsewhere. It does not wait when
// nothing was withdrawn.
func (r *routes) waitWithdrawn(ctx context.Context) {
	if !r.stopAt || r.cfg == nil || r.cfg.WithdrawDelay <= 0 {
		return
	}
	r.log.Info("routes withdrawn; waiting before the data plane stops", "withdraw_delay", r.cfg.WithdrawDelay)
	t := r.clock.NewTimer(r.cfg.WithdrawDelay)
	defer t.Stop()
	select {
	case <-t.C():
	case <-ctx.Done():
	}
}

// stop closes the speaker and takes the virtual IPs vigil added off lo, once the data
// plane has stopped.
func (r *routes) stop(ctx context.Context) {
	r.closeSpeaker(ctx)
	for p := range r.onLo {
		r.removeLo(p)
	}
	r.publish()
}

func (r *routes) publish() {
	out := make([]status.BGPRoute, 0, len(r.state))
	for p, st := range r.state {
		out = append(out, status.BGPRoute{Prefix: p.String(), Announced: st.announced, Reason: st.reason,
			Since: st.since, VirtualServers: slices.Clone(st.vss)})
	}
	slices.SortFunc(out, func(a, b status.BGPRoute) int {
		return netip.MustParsePrefix(a.Prefix).Addr().Compare(netip.MustParsePrefix(b.Prefix).Addr())
	})
	r.mu.Lock()
	r.pub, r.pubSp, r.pubErr = out, r.sp, r.err
	r.mu.Unlock()
}

func (r *routes) speaker() bgp.Speaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pubSp
}

// status is the BGP part of a snapshot, nil without a bgp block. Any goroutine may call it.
func (r *routes) status(c *conf.BGP) *status.BGP {
	if c == nil {
		return nil
	}
	st := &status.BGP{ASN: c.ASN}
	if c.RouterID.IsValid() {
		st.RouterID = c.RouterID.String()
	}
	r.mu.Lock()
	st.Routes = slices.Clone(r.pub)
	r.mu.Unlock()
	if sp := r.speaker(); sp != nil {
		for _, p := range sp.Peers() {
			st.Neighbors = append(st.Neighbors, status.BGPPeer{Address: p.Address.String(), ASN: p.ASN, State: p.State,
				Since: p.Since, LastDown: p.Reason, Established: p.Established, BFD: p.BFD})
		}
	} else {
		r.mu.Lock()
		st.Error = r.pubErr
		r.mu.Unlock()
	}
	return st
}

// programmed reports whether the table holds every service of vs as desired.
func (d *Director) programmed(vs *conf.VirtualServer) bool {
	for _, k := range kernelKeys(vs) {
		if !d.rec.Programmed(k) {
			return false
		}
	}
	return true
}

package vrrp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/fsm"
)

// State is a VRRP router state (see vrrp/fsm).
type State = fsm.State

// The states, re-exported for callers of Status.
const (
	Initialize = fsm.Initialize
	Backup     = fsm.Backup
	Master     = fsm.Master
	Fault      = fsm.Fault
)

// Deps are the kernel-facing parts an Instance drives; OpenLinux builds the real ones.
type Deps struct {
	Transport Transport
	Addresses AddressManager
	Announcer Announcer
	// Links watches the instance's own interface (down: Fault, like keepalived) and its
	// interface tracks. Nil: interfaces are taken as up.
	Links LinkWatcher
	// Clock defaults to the system clock, Logger to slog.Default(), Notify to ExecCommand.
	Clock  clock.Clock
	Logger *slog.Logger
	Notify CommandRunner
	// OnTransition, if set, is called (from Run's goroutine) after each state change.
	OnTransition func(name string, from, to State)
}

// Status is a snapshot of an instance, for /status and metrics.
type Status struct {
	Name  string
	State State
	// BasePriority is the configured priority; Priority the effective one after tracking.
	BasePriority, Priority uint8
	// Master is the current master's address (ours when Master); invalid when unknown.
	Master              netip.Addr
	MasterAdverInterval time.Duration
	AdvertsSent         uint64
	AdvertsReceived     uint64 // valid adverts for this virtual router
	// Invalid counts dropped packets by reason (see advert.Reason).
	Invalid        map[advert.Reason]uint64
	Transitions    uint64
	LastTransition time.Time
	// Tracks is the last known state (up) of each tracked item.
	Tracks map[string]bool
	// Faulted: a weight-0 tracked item (or the interface, or a sync group member) is down.
	Faulted bool
}

// Instance is one running virtual router.
type Instance struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	clock  clock.Clock
	garp   GARPConfig
	group  *SyncGroup
	vips   []netip.Addr
	notify *notifier

	mu         sync.Mutex
	st         Status
	tracks     map[string]int // by trackKey: 1 up, 0 down, or a file's value; missing: not yet reported
	groupFault bool
	forced     []fsm.EventKind
	running    bool
	wake       chan struct{}
	release    chan struct{}
	handover   bool // cfg.Handover, changed by SetHandover
}

// NewInstance checks cfg and returns an instance ready to Run.
func NewInstance(cfg Config, deps Deps) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Transport == nil || deps.Addresses == nil || deps.Announcer == nil {
		return nil, fmt.Errorf("vrrp instance %q: transport, address manager and announcer are required", cfg.Name)
	}
	deps.Clock = clock.OrSystem(deps.Clock)
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	in := &Instance{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger.With("vrrp_instance", cfg.Name),
		clock:    deps.Clock,
		garp:     cfg.GARP.withDefaults(),
		tracks:   map[string]int{},
		handover: cfg.Handover,
		wake:     make(chan struct{}, 1),
		release:  make(chan struct{}, 1),
	}
	for _, v := range cfg.VIPs {
		in.vips = append(in.vips, v.Addr())
	}
	in.st = Status{Name: cfg.Name, State: Initialize, BasePriority: cfg.Priority, Priority: cfg.Priority,
		Invalid: map[advert.Reason]uint64{}, Tracks: map[string]bool{}}
	return in, nil
}

// Config returns the configuration the instance runs with.
func (in *Instance) Config() Config { return in.cfg }

// SetTracked reports the state of a tracked item (a virtual server's health, a script's
// or a process's state; interfaces are watched by the instance itself). Unknown names
// are ignored. It never blocks.
func (in *Instance) SetTracked(name string, up bool) { in.SetTrackedValue(name, b2i(up)) }

// SetTrackedValue reports the value of a TrackFile item (for up/down items: 1 up, 0
// down). It never blocks.
func (in *Instance) SetTrackedValue(name string, v int) {
	in.mu.Lock()
	in.tracks[name] = v
	in.mu.Unlock()
	in.poke()
}

// SetHandover changes the handover setting (Config.Handover) of a running instance: a
// reload that changes only that needs no restart, which would move the addresses twice.
// The setting is read when the instance stops; Config still reports the value the
// instance was built with.
func (in *Instance) SetHandover(on bool) {
	in.mu.Lock()
	in.handover = on
	in.mu.Unlock()
}

func (in *Instance) handoverSetting() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.handover
}

// Release ends a handover at once: a stopping master that is still waiting for a new
// master to advertise releases its addresses now. It never blocks.
func (in *Instance) Release() {
	select {
	case in.release <- struct{}{}:
	default:
	}
}

func (in *Instance) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Status returns a snapshot.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.st
	s.Invalid = make(map[advert.Reason]uint64, len(in.st.Invalid))
	for k, v := range in.st.Invalid {
		s.Invalid[k] = v
	}
	s.Tracks = make(map[string]bool, len(in.cfg.Tracks))
	for _, t := range in.cfg.Tracks {
		v, ok := in.tracks[trackKey(t)]
		s.Tracks[t.Name] = trackUp(t, v, ok)
	}
	return s
}

// evaluate returns the effective priority, whether a tracked item (or our own
// interface) holds the instance in Fault, and whether an awaited track has not reported
// yet (see effective).
func (in *Instance) evaluate() (prio uint8, fault, pending bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	prio, fault, pending = effective(in.cfg.Priority, in.cfg.Tracks, in.tracks)
	if v, ok := in.tracks[linkKey(in.cfg.Interface)]; ok && v == 0 {
		return in.cfg.Priority, true, pending
	}
	return prio, fault, pending
}

// linkKey keeps watched interfaces apart from external tracks of the same name.
func linkKey(ifname string) string { return "\x00link:" + ifname }

// Run runs the virtual router until ctx is done, then shuts it down: a master sends a
// priority-0 advert and then removes its addresses (RFC 5798 §6.4.3). It returns nil
// after a clean shutdown, or the error that stopped it.
func (in *Instance) Run(ctx context.Context) error {
	in.mu.Lock()
	if in.running {
		in.mu.Unlock()
		return fmt.Errorf("vrrp instance %q: already running", in.cfg.Name)
	}
	in.running = true
	in.mu.Unlock()

	in.notify = newNotifier(in.cfg.Name, in.cfg.Notify, in.deps.Notify, in.log)
	defer in.notify.close()
	// The receiver and the link watcher outlive ctx: a master handing over after ctx ends
	// must still hear the new master's advert. Run stops them when it returns.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()

	pkts := make(chan Packet, 64)
	recvErr := make(chan error, 1)
	go func() {
		for {
			p, err := in.deps.Transport.Receive()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case pkts <- p:
			case <-watchCtx.Done():
				return
			}
		}
	}()
	if in.deps.Links != nil {
		names := []string{in.cfg.Interface}
		for _, t := range in.cfg.Tracks {
			if t.Kind == TrackInterface && !slices.Contains(names, t.Name) {
				names = append(names, t.Name)
			}
		}
		go func() {
			err := in.deps.Links.Watch(watchCtx, names, func(name string, up bool) {
				in.mu.Lock()
				in.tracks[linkKey(name)] = b2i(up)
				in.mu.Unlock()
				in.poke()
			})
			if err != nil && watchCtx.Err() == nil {
				in.log.Error("interface watch stopped", "err", err)
			}
		}()
	}

	r := &runner{in: in, src: in.deps.Transport.Source()}
	prio, fault, pending := in.evaluate()
	r.m = fsm.Machine{Params: fsm.Params{
		Version: in.cfg.Version, Priority: prio, Interval: in.cfg.Interval,
		Preempt: in.cfg.Preempt, PreemptDelay: in.cfg.PreemptDelay, Primary: r.src,
		Handover: in.handoverSetting(),
	}}
	r.ownFault = fault
	if fault && in.group != nil {
		in.group.setFault(in, true)
	}
	// A router that was killed left its addresses on the interface. Starting as backup it
	// must not answer for them while another router is master (two hosts answering ARP for
	// the VIP), so it drops them first, as keepalived does at start; a router that becomes
	// master adds them back. Removing addresses that are not there is not an error.
	clearCtx, clearCancel := context.WithTimeout(ctx, 5*time.Second)
	if err := in.deps.Addresses.Remove(clearCtx, in.cfg.VIPs); err != nil {
		in.log.Warn("remove virtual addresses left from an earlier run", "err", err)
	}
	clearCancel()
	r.applyFault(in.clock.Now())
	if pending {
		in.log.Info("waiting for the first state of the tracked scripts, processes and files before starting")
	} else {
		r.start(in.clock.Now())
	}

	timer := in.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var runErr error
	stop := ctx.Done()
loop:
	for {
		if stop == nil && !r.m.Leaving() {
			break // handed over
		}
		now := in.clock.Now()
		if next := r.nextDeadline(); !next.IsZero() {
			timer.Stop()
			select { // drain a fire that raced with Stop
			case <-timer.C():
			default:
			}
			timer.Reset(max(next.Sub(now), 0))
		}
		select {
		case <-stop:
			stop = nil
			r.stopping = true
			now := in.clock.Now()
			r.m.Params.Handover = in.handoverSetting()
			r.step(fsm.Event{Kind: fsm.Shutdown}, now)
			if r.m.Leaving() {
				in.log.Info("stopping: priority 0 sent; the virtual addresses stay until a new master advertises",
					"at_most", r.m.LeaveBy.Sub(now).Round(time.Millisecond).String())
			}
		case <-in.release:
			if stop == nil {
				break loop
			}
		case err := <-recvErr:
			runErr = fmt.Errorf("vrrp instance %q: receive adverts on %s: %w", in.cfg.Name, in.cfg.Interface, err)
			break loop
		case p := <-pkts:
			r.receive(p, in.clock.Now())
		case <-in.wake:
			r.reevaluate(in.clock.Now())
		case <-timer.C():
			// Adverts that arrived while this goroutine was not running (CPU starvation)
			// go first: select picks among ready cases at random, and a backup must not
			// declare the master dead with its advert waiting in the queue. Gosched lets
			// a receiver that the netpoller has just readied hand its packet over.
			runtime.Gosched()
			for drained := false; !drained; {
				select {
				case p := <-pkts:
					r.receive(p, in.clock.Now())
				default:
					drained = true
				}
			}
			now := in.clock.Now()
			if in.group != nil && r.m.State == fsm.Backup && !now.Before(r.m.MasterDownAt) && in.group.peerHearsMaster(in) {
				r.step(fsm.Event{Kind: fsm.DeferTakeover}, now)
			} else {
				r.step(fsm.Event{Kind: fsm.Tick}, now)
			}
			r.garpTimers(now)
		}
	}
	// A handover ends here too (the second Shutdown releases), as after a receive error
	// nothing can hear the new master.
	for r.m.State != fsm.Initialize {
		r.step(fsm.Event{Kind: fsm.Shutdown}, in.clock.Now())
	}
	stopWatch()
	if c, ok := in.deps.Announcer.(io.Closer); ok {
		c.Close()
	}
	if c, ok := in.deps.Addresses.(io.Closer); ok {
		c.Close()
	}
	if err := in.deps.Transport.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("vrrp instance %q: close transport: %w", in.cfg.Name, err)
	}
	return runErr
}

// runner is the state owned by Run's goroutine.
type runner struct {
	in       *Instance
	m        fsm.Machine
	src      netip.Addr
	ownFault bool
	fault    bool // ownFault or the sync group's
	started  bool // Startup was stepped (it waits for awaited tracks)
	stopping bool // ctx is done: never start
	garpAt   time.Time
	refresh  time.Time
	auth     authState
}

func (r *runner) nextDeadline() time.Time {
	next := r.m.NextDeadline()
	for _, t := range []time.Time{r.garpAt, r.refresh} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

func (r *runner) step(ev fsm.Event, now time.Time) {
	var acts []fsm.Action
	due := r.m.MasterDownAt
	r.m, acts = fsm.Step(r.m, ev, now)
	in := r.in
	// A takeover logs what each of its actions took (and how late a Master_Down timer
	// fired), so that a slow one shows where its time went.
	var took []any
	timing := slices.ContainsFunc(acts, func(a fsm.Action) bool { return a.Kind == fsm.AddVIPs })
	if timing {
		if !due.IsZero() {
			took = append(took, "timer_late", now.Sub(due))
		}
		defer func() { in.log.Info("took the virtual addresses", took...) }()
	}
	for _, a := range acts {
		began := in.clock.Now()
		switch a.Kind {
		case fsm.SendAdvert:
			r.send(a.Priority)
		case fsm.AddVIPs:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := in.deps.Addresses.Add(ctx, in.cfg.VIPs); err != nil {
				in.log.Error("add virtual addresses", "err", err)
			}
			cancel()
		case fsm.RemoveVIPs:
			r.garpAt, r.refresh = time.Time{}, time.Time{}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := in.deps.Addresses.Remove(ctx, in.cfg.VIPs); err != nil {
				in.log.Error("remove virtual addresses", "err", err)
			}
			cancel()
		case fsm.Announce:
			r.announce(in.garp.Count)
			if in.garp.Delay > 0 {
				r.garpAt = now.Add(in.garp.Delay)
			}
			if in.garp.Refresh > 0 {
				r.refresh = now.Add(in.garp.Refresh)
			}
		case fsm.Transition:
			if a.From == fsm.Master {
				r.garpAt, r.refresh = time.Time{}, time.Time{}
			}
			in.log.Info("VRRP transition", "from", a.From, "to", a.To, "priority", r.m.Params.Priority)
			in.mu.Lock()
			in.st.Transitions++
			in.st.LastTransition = now
			in.mu.Unlock()
			in.notify.transition(a.To.String(), r.m.Params.Priority)
			if in.deps.OnTransition != nil {
				in.deps.OnTransition(in.cfg.Name, a.From, a.To)
			}
			if in.group != nil {
				in.group.transitioned(in, a.From, a.To)
			}
		}
		if timing {
			took = append(took, a.Kind.String(), in.clock.Now().Sub(began))
		}
	}
	in.mu.Lock()
	in.st.State = r.m.State
	in.st.Priority = r.m.Params.Priority
	in.st.Master = r.m.Master
	in.st.MasterAdverInterval = r.m.MasterAdverInterval
	in.st.Faulted = r.fault
	in.mu.Unlock()
}

func (r *runner) send(prio uint8) {
	in := r.in
	a := advert.Advert{Version: in.cfg.Version, VRID: in.cfg.VRID, Priority: prio, Interval: in.cfg.Interval, Addrs: in.vips}
	in.cfg.Auth.stamp(&a)
	if in.cfg.Auth.Type == advert.AuthAH {
		r.auth.nextAH()
	}
	dsts := in.cfg.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{advert.Group4}
		if in.cfg.family6() {
			dsts = []netip.Addr{advert.Group6}
		}
	}
	for _, dst := range dsts {
		msg, err := a.Marshal(r.src, dst)
		if err == nil {
			err = r.transmit(msg, dst)
		}
		if err != nil {
			in.log.Warn("send advert", "dst", dst, "err", err)
			continue
		}
		in.mu.Lock()
		in.st.AdvertsSent++
		in.mu.Unlock()
	}
}

func (r *runner) announce(n int) {
	for range n {
		if err := r.in.deps.Announcer.Announce(r.in.vips); err != nil {
			r.in.log.Warn("announce virtual addresses", "err", err)
			return
		}
	}
}

func (r *runner) garpTimers(now time.Time) {
	if !r.garpAt.IsZero() && !now.Before(r.garpAt) {
		r.garpAt = time.Time{}
		r.announce(r.in.garp.Repeat)
	}
	if !r.refresh.IsZero() && !now.Before(r.refresh) {
		r.refresh = now.Add(r.in.garp.Refresh)
		r.announce(r.in.garp.Repeat)
	}
}

// receive validates a packet (RFC 5798 §7.1 plus keepalived's extra checks) and feeds
// the state machine, counting every drop by reason.
func (r *runner) receive(p Packet, now time.Time) {
	in := r.in
	if p.Src == r.src {
		return // our own advert looped back
	}
	a, reason := r.check(p)
	if reason == reasonNotVRRP {
		return
	}
	in.mu.Lock()
	if reason != "" {
		in.st.Invalid[reason]++
	} else {
		in.st.AdvertsReceived++
	}
	in.mu.Unlock()
	if reason != "" {
		in.log.Debug("dropped VRRP packet", "src", p.Src, "reason", reason)
		return
	}
	r.step(fsm.Event{Kind: fsm.Advert, Src: p.Src, Priority: a.Priority, Interval: a.Interval}, now)
}

func (r *runner) check(p Packet) (advert.Advert, advert.Reason) {
	cfg := &r.in.cfg
	unicast := len(cfg.UnicastPeers) > 0
	if unicast && !slices.Contains(cfg.UnicastPeers, p.Src) {
		return advert.Advert{}, advert.ReasonSource
	}
	// RFC 5798 §7.1: TTL must be 255. keepalived skips the check for unicast, where a
	// peer may be routed.
	if !unicast && p.TTL >= 0 && p.TTL != advert.TTL {
		return advert.Advert{}, advert.ReasonTTL
	}
	if p.Src.Is6() != cfg.family6() {
		return advert.Advert{}, advert.ReasonFamily
	}
	dst := p.Dst
	if !dst.IsValid() {
		dst = advert.Group4
		if cfg.family6() {
			dst = advert.Group6
		}
	}
	ah, msg, reason := unwrapAH(p)
	if reason != "" {
		return advert.Advert{}, reason
	}
	a, err := advert.Parse(msg, p.Src, dst)
	if err != nil {
		reason := advert.ReasonOf(err)
		if reason == "" {
			reason = advert.ReasonTruncated
		}
		return a, reason
	}
	switch {
	case a.VRID != cfg.VRID:
		return a, advert.ReasonVRID
	case a.Version != cfg.Version:
		return a, advert.ReasonVersionMatch
	}
	// Only an advert for this virtual router is judged by its authentication, as
	// keepalived matches the VRID first; and one that fails it is not trusted further.
	if reason := r.authenticate(p, a, ah); reason != "" {
		return a, reason
	}
	switch {
	case a.Version == 2 && a.Interval != cfg.Interval:
		// RFC 3768 §7.1 and keepalived: a v2 advert with another interval is dropped.
		return a, advert.ReasonIntervalV2
	case !sameAddrs(a.Addrs, r.in.vips):
		return a, advert.ReasonAddrs
	}
	return a, ""
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

// reevaluate applies tracking and sync-group input that arrived since the last time.
func (r *runner) reevaluate(now time.Time) {
	in := r.in
	prio, fault, pending := in.evaluate()
	in.mu.Lock()
	forced := in.forced
	in.forced = nil
	in.mu.Unlock()
	if prio != r.m.Params.Priority {
		in.log.Info("effective priority changed", "from", r.m.Params.Priority, "to", prio)
		r.step(fsm.Event{Kind: fsm.SetPriority, Priority: prio}, now)
	}
	if fault != r.ownFault {
		r.ownFault = fault
		if in.group != nil {
			in.group.setFault(in, fault)
		}
	}
	r.applyFault(now)
	if !r.started && !pending && !r.m.Leaving() && !r.stopping {
		r.start(now)
	}
	for _, k := range forced {
		r.step(fsm.Event{Kind: k}, now)
	}
}

func (r *runner) start(now time.Time) {
	r.started = true
	r.step(fsm.Event{Kind: fsm.Startup}, now)
}

func (r *runner) applyFault(now time.Time) {
	r.in.mu.Lock()
	fault := r.ownFault || r.in.groupFault
	r.in.mu.Unlock()
	if fault == r.fault {
		return
	}
	r.fault = fault
	if fault {
		r.step(fsm.Event{Kind: fsm.FaultOn}, now)
	} else {
		r.step(fsm.Event{Kind: fsm.FaultOff}, now)
	}
}

// ErrInGroup is returned by NewSyncGroup for an instance that already has a group.
var ErrInGroup = errors.New("vrrp instance already in a sync group")

// SyncGroup makes instances fail over together (keepalived's vrrp_sync_group): when one
// member is in Fault all are; when one becomes Master the others do; when one leaves
// Master for Backup the others follow (and do not preempt back until one of the group
// becomes master again). Typical use: a NAT director's outside VIP and inside gateway.
type SyncGroup struct {
	name    string
	mu      sync.Mutex
	members []*Instance
	faulted map[*Instance]bool
}

// NewSyncGroup groups instances; call it before their Run.
func NewSyncGroup(name string, members ...*Instance) (*SyncGroup, error) {
	g := &SyncGroup{name: name, members: members, faulted: map[*Instance]bool{}}
	for _, m := range members {
		if m.group != nil {
			return nil, fmt.Errorf("sync group %q: instance %q: %w", name, m.cfg.Name, ErrInGroup)
		}
		m.group = g
	}
	return g, nil
}

func (g *SyncGroup) setFault(from *Instance, fault bool) {
	g.mu.Lock()
	g.faulted[from] = fault
	anyFault := false
	for _, f := range g.faulted {
		anyFault = anyFault || f
	}
	members := slices.Clone(g.members)
	g.mu.Unlock()
	// Every member, from included: when two members fault at once (a track of the whole
	// group) and clear one after the other, the last to clear must also clear its own
	// view, which the first set while it was still faulted.
	for _, m := range members {
		m.mu.Lock()
		changed := m.groupFault != anyFault
		m.groupFault = anyFault
		m.mu.Unlock()
		if changed {
			m.poke()
		}
	}
}

// peerHearsMaster reports whether another member is a backup that still hears a live
// master: then the group cannot go master, and a member whose timer ran out waits
// (keepalived's vrrp_sync_can_goto_master). Without this, a group whose members see
// different masters would flap at every Master_Down_Interval.
func (g *SyncGroup) peerHearsMaster(from *Instance) bool {
	g.mu.Lock()
	members := slices.Clone(g.members)
	g.mu.Unlock()
	for _, m := range members {
		if m == from {
			continue
		}
		m.mu.Lock()
		hears := m.st.State == Backup && m.st.Master.IsValid()
		m.mu.Unlock()
		if hears {
			return true
		}
	}
	return false
}

func (g *SyncGroup) transitioned(from *Instance, old, cur State) {
	var k fsm.EventKind
	switch {
	case cur == Master:
		k = fsm.ForceMaster
	case old == Master && cur == Backup:
		k = fsm.ForceBackup
	default:
		return
	}
	g.mu.Lock()
	members := slices.Clone(g.members)
	g.mu.Unlock()
	for _, m := range members {
		if m == from {
			continue
		}
		m.mu.Lock()
		m.forced = append(m.forced, k)
		m.mu.Unlock()
		m.poke()
	}
}

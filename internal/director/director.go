// Package director owns vigil's running state: it applies a configuration to the health
// checks, the IPVS reconciler and the VRRP instances, and turns health into weights.
//
// It is the one place that knows all of conf, checks, ipvs and vrrp; those packages do not
// know each other. All state changes happen on one goroutine (the loop): health events from
// the check scheduler, reloads and periodic resyncs are queued to it, so a reload never
// races a weight change.
//
// Health to weight: a real server whose checks all pass is up and gets its configured
// weight (or the one an exec check with dynamic_weight reports); when a check falls it is
// down and gets weight 0 (on_failure = "quiesce": established connections finish, no new
// ones arrive) or is deleted (on_failure = "remove"). Each change is one write to the
// table. A new real server is down until its first check result; at start-up a real
// server that the table already holds starts up (or down, if quiesced there) and its
// checks need fall failures (or rise passes) to change that, so a restart of vigil changes
// nothing the kernel does.
package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
)

// Options configure a Director. Table is required.
type Options struct {
	Logger     *slog.Logger
	Table      ipvs.Table
	Dataplane  string // "kernel" or "userspace", for status
	Version    string
	ConfigPath string
	// Observer, if set, receives every probe's duration and result (metrics histogram).
	Observer func(virtualServer, realServer, check string, took time.Duration, ok bool)
	// NewVRRP builds a VRRP instance; nil uses the Linux one (raw sockets, netlink).
	NewVRRP VRRPFactory
	// CheckClock drives the check scheduler; nil is the system clock.
	CheckClock checks.Clock
	// Now is the wall clock for status times; nil is time.Now.
	Now func() time.Time
}

// SysctlManager is a table that can read and set the IPVS sysctls of its namespace
// (kernel IPVS does).
type SysctlManager interface {
	Sysctls() (ipvs.Sysctls, error)
	EnsureSysctls(need ipvs.Sysctls) (changed []string, err error)
}

// Director applies configurations and keeps the table in line with health.
type Director struct {
	o     Options
	log   *slog.Logger
	rec   *ipvs.Reconciler
	sched *checks.Scheduler

	// Server events are queued by the scheduler's callback and drained by the loop.
	evMu    sync.Mutex
	evQueue []checks.ServerEvent
	evWake  chan struct{}
	reqs    chan func(context.Context)
	// labels maps a check ID to its metric label ("http", "http#2"), under evMu.
	labels map[string]string
	// prints are the running configuration's check fingerprints and specKeys the Key of
	// every check the scheduler runs, by ID (the loop's).
	prints   map[*conf.Check]string
	specKeys map[string]string

	mu       sync.Mutex // guards everything below; the loop is the only writer
	cfg      *conf.Config
	vsByKey  map[vsKey]*conf.VirtualServer
	servers  map[string]rsKey // check scheduler server ID -> real server
	states   map[rsKey]*rsState
	plans    map[vsKey]vsPlan
	vrrps    map[string]*vrrpRun
	groups   map[string][]string // sync group -> instances
	config   status.ConfigStatus
	counters status.IPVSCounters
	warnings []string
	started  time.Time
	phase    phase
	loopDone chan struct{}
	cancel   context.CancelFunc

	// syncd runs the kernel's connection-sync daemons (nil when the table has none);
	// its goroutine ends with syncDone.
	syncd    *syncd
	syncDone chan struct{}

	// notifier runs notify_up / notify_down and quorum_up / quorum_down commands.
	notifier *notify.Runner
	// track runs the VRRP trackers (vrrp_script, track_process, track_file).
	track trackerSet

	// Owned by the loop goroutine.
	resyncEvery *time.Ticker
	resyncOn    bool
}

type phase int

const (
	phaseNew phase = iota
	phaseRunning
	phaseStopping
	phaseStopped
)

// New returns a director that has not applied anything yet.
func New(o Options) *Director {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewVRRP == nil {
		o.NewVRRP = linuxVRRP
	}
	d := &Director{
		o:       o,
		log:     o.Logger,
		rec:     ipvs.NewReconciler(o.Table, ipvs.ReconcilerOptions{Logger: o.Logger}),
		evWake:  make(chan struct{}, 1),
		reqs:    make(chan func(context.Context)),
		vsByKey: map[vsKey]*conf.VirtualServer{},
		servers: map[string]rsKey{},
		states:  map[rsKey]*rsState{},
		plans:   map[vsKey]vsPlan{},
		vrrps:   map[string]*vrrpRun{},
		groups:  map[string][]string{},
	}
	d.notifier = notify.New(notify.Options{Logger: o.Logger})
	d.sched = checks.NewScheduler(checks.Options{
		Logger:   o.Logger,
		Clock:    o.CheckClock,
		OnServer: d.enqueue,
		OnCheck:  d.observe,
	})
	return d
}

// Start applies the first configuration: it prepares the kernel (sysctls, timeouts),
// adopts what the table already holds, programs the virtual servers, and starts the
// checks, the VRRP instances and the periodic resync. It returns once the table is
// programmed; the rest runs until Stop. On error nothing keeps running.
func (d *Director) Start(ctx context.Context, cfg *conf.Config) error {
	d.mu.Lock()
	if d.phase != phaseNew {
		d.mu.Unlock()
		return errors.New("director already started")
	}
	d.started = d.o.Now()
	d.mu.Unlock()

	warnings := d.prepareKernel(ctx, nil, cfg)
	adopted := d.adopt(ctx, cfg)

	d.mu.Lock()
	d.warnings = warnings
	d.install(cfg, adopted)
	changes, err := d.syncLocked(ctx)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("program the virtual servers: %w", err)
	}
	d.log.Info("virtual servers programmed", "virtual_servers", len(cfg.VirtualServers),
		"writes", changes.Total(), "adopted_real_servers", len(adopted))

	if err := d.sched.Set(d.checkSpecs(cfg, nil)); err != nil {
		return fmt.Errorf("start the health checks: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	if sd, ok := d.o.Table.(ipvs.SyncDaemons); ok {
		d.syncd = newSyncd(sd, d.log)
		d.syncd.configure(syncConfig(cfg))
		d.syncDone = make(chan struct{})
		go func() {
			defer close(d.syncDone)
			d.syncd.run(runCtx, 5*time.Second)
		}()
	} else if t := syncConfig(cfg); t.configure {
		msg := fmt.Sprintf("vrrp_instance %q: ipvs_sync ignored: the %s data plane has no connection synchronisation", t.instance, d.o.Dataplane)
		d.log.Warn(msg)
		d.warnings = append(d.warnings, msg)
	}
	if err := d.startVRRPLocked(runCtx, cfg); err != nil {
		d.mu.Unlock()
		cancel()
		d.sched.Stop()
		return err
	}
	d.config = status.ConfigStatus{Path: d.o.ConfigPath, Generation: 1, LoadedAt: d.o.Now()}
	d.phase = phaseRunning
	d.cancel = cancel
	d.loopDone = make(chan struct{})
	d.mu.Unlock()

	go d.loop(runCtx)
	return nil
}

// prepareKernel sets the IPVS sysctls the configuration needs (or warns where it may not)
// and the connection timeouts.
// old is the running configuration on a reload (nil at start): unchanged timeouts are not
// written again.
func (d *Director) prepareKernel(ctx context.Context, old, cfg *conf.Config) (warnings []string) {
	warn := func(msg string) {
		d.log.Warn(msg)
		warnings = append(warnings, msg)
	}
	var persistentQuiesce, remove, direct bool
	for _, vs := range cfg.VirtualServers {
		if vs.OnFailure == conf.Remove {
			remove = true
		} else if vs.Persistence != nil {
			persistentQuiesce = true
		}
		for _, rs := range vs.RealServers {
			direct = direct || rs.Forwarding == conf.DR || rs.Forwarding == conf.Tunnel
		}
	}
	need := ipvs.NeededSysctls(persistentQuiesce, remove, direct)
	if sm, ok := d.o.Table.(SysctlManager); ok && need != (ipvs.Sysctls{}) {
		if cfg.Global.ManageSysctls {
			changed, err := sm.EnsureSysctls(need)
			switch {
			case err != nil:
				warn(fmt.Sprintf("set IPVS sysctls: %v", err))
			case len(changed) > 0:
				d.log.Info("IPVS sysctls set so that failed real servers really stop receiving clients", "set", changed)
			}
		} else if have, err := sm.Sysctls(); err == nil {
			for _, name := range have.Missing(need) {
				warn(fmt.Sprintf("%s is 0 and manage_sysctls = false: clients may keep reaching a failed real server; set it to 1", name))
			}
		}
	}
	if t := cfg.Global.IPVSTimeouts; t != (conf.IPVSTimeouts{}) && (old == nil || old.Global.IPVSTimeouts != t) {
		err := d.o.Table.SetTimeouts(ctx, ipvs.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP})
		if err != nil {
			warn(fmt.Sprintf("set IPVS timeouts: %v", err))
		}
	}
	return warnings
}

// adopt reads the weights the table already holds for configured real servers.
func (d *Director) adopt(ctx context.Context, cfg *conf.Config) map[rsKey]int {
	out := map[rsKey]int{}
	svcs, err := d.o.Table.Services(ctx)
	if err != nil {
		d.log.Warn("read the table for adoption; starting as if it were empty", "err", err)
		return out
	}
	have := map[ipvs.ServiceKey]bool{}
	for _, s := range svcs {
		have[s.ServiceKey] = true
	}
	for _, vs := range cfg.VirtualServers {
		d.adoptVirtualServer(ctx, vs, have, out)
	}
	return out
}

// install makes cfg the running configuration: real servers keep their state across it
// (by service and address). d.mu is held.
func (d *Director) install(cfg *conf.Config, adopted map[rsKey]int) {
	states := map[rsKey]*rsState{}
	vsByKey := map[vsKey]*conf.VirtualServer{}
	servers := map[string]rsKey{}
	plans := map[vsKey]vsPlan{}
	carry := &stateCarry{d: d}
	for _, vs := range cfg.VirtualServers {
		key := vsKeyOf(vs)
		vsByKey[key] = vs
		if p, ok := d.plans[key]; ok {
			plans[key] = p
		}
		for _, rs := range vs.RealServers {
			k := rsKey{key, rs.Address}
			servers[k.String()] = k
			s, ok := d.states[k]
			if !ok {
				s, ok = carry.lookup(vs, rs)
			}
			switch {
			case !ok:
				s = newRSState(len(rs.Checks) > 0)
				if w, ok := adopted[k]; ok && len(rs.Checks) > 0 {
					s.health = adoptedHealth(rs, w)
				}
			case len(rs.Checks) == 0:
				s.health, s.dynamic = Up, -1 // its checks were removed: always up
			}
			states[k] = s
		}
	}
	d.cfg, d.states, d.vsByKey, d.servers, d.plans = cfg, states, vsByKey, servers, plans
}

// desiredLocked plans every virtual server. d.mu is held.
func (d *Director) desiredLocked() []ipvs.VirtualService {
	out := make([]ipvs.VirtualService, 0, len(d.cfg.VirtualServers))
	for _, vs := range d.cfg.VirtualServers {
		key := vsKeyOf(vs)
		prev, ok := d.plans[key]
		p := planVirtualServer(vs, d.states, !ok || prev.quorumUp)
		d.plans[key] = p
		out = append(out, p.services()...)
	}
	return out
}

// syncLocked applies the whole desired state through the reconciler. d.mu is held.
func (d *Director) syncLocked(ctx context.Context) (ipvs.Changes, error) {
	before := d.quorumStates()
	changes, err := d.rec.Apply(ctx, d.desiredLocked())
	if err != nil {
		d.counters.WriteErrors++
	}
	d.reportQuorumLocked(before)
	return changes, err
}

func (d *Director) quorumStates() map[string]bool {
	out := map[string]bool{}
	for key, p := range d.plans {
		if vs := d.vsByKey[key]; vs != nil {
			out[vs.Name] = p.quorumUp
		}
	}
	return out
}

// reportQuorumLocked logs the quorum changes since before and tells the VRRP instances
// the state of every virtual server they may track. d.mu is held.
func (d *Director) reportQuorumLocked(before map[string]bool) {
	for _, vs := range d.cfg.VirtualServers {
		p := d.plans[vsKeyOf(vs)]
		if was, known := before[vs.Name]; known && was != p.quorumUp {
			d.quorumChangedLocked(vs, p)
			continue
		}
		for _, run := range d.vrrps {
			run.inst.SetTracked(trackVSName(vs.Name), p.quorumUp)
		}
	}
}

// quorumChangedLocked logs a virtual server's new quorum state and reports it to the VRRP
// instances (an instance ignores names it does not track). d.mu is held.
func (d *Director) quorumChangedLocked(vs *conf.VirtualServer, p vsPlan) {
	if p.quorumUp {
		d.log.Info("virtual server quorum up", "virtual_server", vs.Name, "healthy_real_servers", p.healthy)
	} else {
		d.log.Warn("virtual server quorum lost", "virtual_server", vs.Name, "healthy_real_servers", p.healthy,
			"sorry_server", p.sorry)
	}
	for _, run := range d.vrrps {
		run.inst.SetTracked(trackVSName(vs.Name), p.quorumUp)
	}
	d.notifyQuorumLocked(vs, p)
}

// enqueue is the scheduler's OnServer: it never blocks the scheduler.
func (d *Director) enqueue(ev checks.ServerEvent) {
	d.evMu.Lock()
	d.evQueue = append(d.evQueue, ev)
	d.evMu.Unlock()
	select {
	case d.evWake <- struct{}{}:
	default:
	}
}

func (d *Director) observe(ev checks.CheckEvent) {
	if d.o.Observer == nil {
		return
	}
	d.evMu.Lock()
	label, ok := d.labels[ev.ID]
	d.evMu.Unlock()
	if !ok {
		label = ev.Kind
	}
	d.o.Observer(ev.VirtualServer, ev.RealServer, label, ev.Result.Latency, ev.Result.OK)
}

// loop is the only goroutine that changes state after Start.
func (d *Director) loop(ctx context.Context) {
	defer close(d.loopDone)
	d.resyncEvery = time.NewTicker(time.Hour)
	defer d.resyncEvery.Stop()
	d.setResyncInterval(d.cfg.Global.ResyncInterval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.evWake:
			d.evMu.Lock()
			q := d.evQueue
			d.evQueue = nil
			d.evMu.Unlock()
			for _, ev := range q {
				d.health(ctx, ev)
			}
		case fn := <-d.reqs:
			fn(ctx)
		case <-d.resyncEvery.C:
			if d.resyncOn {
				d.resync(ctx)
			}
		}
	}
}

// setResyncInterval (re)arms the periodic resync; 0 turns it off. Only the loop calls it.
func (d *Director) setResyncInterval(every time.Duration) {
	d.resyncOn = every > 0
	if every > 0 {
		d.resyncEvery.Reset(every)
	}
}

// do runs fn on the loop and waits for it.
func (d *Director) do(ctx context.Context, fn func(context.Context)) error {
	done := make(chan struct{})
	select {
	case d.reqs <- func(c context.Context) { fn(c); close(done) }:
	case <-d.loopDone:
		return errors.New("director is not running")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// health applies one real server's new health: one write to the table, or a full apply
// when the virtual server's quorum (and so its sorry server) changes.
func (d *Director) health(ctx context.Context, ev checks.ServerEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.servers[ev.Server]
	if !ok {
		return // a real server a reload removed
	}
	s, vs := d.states[k], d.vsByKey[k.svc]
	if s == nil || vs == nil {
		return
	}
	was := s.health
	switch ev.New {
	case checks.Up:
		s.health = Up
	case checks.Down:
		s.health = Down
	default:
		return
	}
	d.notifyHealthLocked(vs, k, was, s.health, ev)
	s.dynamic = ev.Weight
	prev := d.plans[k.svc]
	p := planVirtualServer(vs, d.states, prev.quorumUp)
	d.plans[k.svc] = p
	if p.sorry != prev.sorry || len(p.service.Destinations) != len(prev.service.Destinations) {
		// The sorry server comes in or goes out: this virtual server's services alone are
		// reconciled.
		for _, err := range d.applyServices(ctx, p) {
			d.counters.WriteErrors++
			d.log.Error("apply quorum change; the next resync retries", "virtual_server", vs.Name, "err", err)
		}
	} else {
		// One write per service: a group's real server changes in every service at once.
		for _, err := range d.writeHealth(ctx, prev, p) {
			d.counters.WriteErrors++
			d.log.Error("write real server weight; the next resync retries", "virtual_server", vs.Name,
				"real_server", ev.RealServer, "err", err)
		}
	}
	if p.quorumUp != prev.quorumUp {
		d.quorumChangedLocked(vs, p)
	}
}

// writeDestination makes the minimal write that turns had into want: nothing, one
// UpdateDestination (weight), one DeleteDestination or one AddDestination.
func (d *Director) writeDestination(ctx context.Context, svc ipvs.ServiceKey, had, want ipvs.RealServer) error {
	addr := want.Addr
	switch {
	case want.Removed && !had.Removed:
		return d.rec.SetRemoved(ctx, svc, addr, true)
	case !want.Removed && had.Removed:
		if err := d.rec.SetWeight(ctx, svc, addr, want.Weight); err != nil { // recorded only
			return err
		}
		return d.rec.SetRemoved(ctx, svc, addr, false)
	case !want.Removed && want.Weight != had.Weight:
		return d.rec.SetWeight(ctx, svc, addr, want.Weight)
	}
	return nil
}

// resync repairs drift between the table and the desired state (an operator's ipvsadm -C,
// a destination deleted by hand).
func (d *Director) resync(ctx context.Context) {
	repairs, err := d.rec.Resync(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counters.Resyncs++
	d.counters.Repairs += uint64(repairs)
	d.counters.LastResyncAt = d.o.Now()
	d.counters.LastResyncErr = ""
	if err != nil {
		d.counters.LastResyncErr = err.Error()
		d.log.Error("IPVS resync", "err", err)
	}
	if repairs > 0 {
		d.log.Warn("IPVS table drifted from the configuration; repaired", "repairs", repairs)
	}
}

// Resync runs one resync now (for tests and operators) and returns the repairs made.
func (d *Director) Resync(ctx context.Context) (int, error) {
	var before uint64
	err := d.do(ctx, func(c context.Context) {
		d.mu.Lock()
		before = d.counters.Repairs
		d.mu.Unlock()
		d.resync(c)
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.counters.Repairs - before), err
}

// Stop shuts down: VRRP instances send priority 0 and release their addresses, checks
// stop, and the table is left as it is (so connections survive a restart) unless remove
// is set, which deletes the services vigil owns.
func (d *Director) Stop(ctx context.Context, remove bool) {
	d.mu.Lock()
	if d.phase != phaseRunning {
		d.mu.Unlock()
		return
	}
	d.phase = phaseStopping
	runs := make([]*vrrpRun, 0, len(d.vrrps))
	for _, r := range d.vrrps {
		runs = append(runs, r)
	}
	d.mu.Unlock()

	stopVRRP(ctx, runs)
	d.track.stop()
	d.sched.Stop()
	d.stopNotify(ctx)
	d.cancel()
	<-d.loopDone
	if d.syncd != nil {
		<-d.syncDone
		d.syncd.stop(ctx)
	}
	if remove {
		changes, err := d.rec.Apply(ctx, nil)
		if err != nil {
			d.log.Error("remove virtual servers", "err", err)
		}
		d.log.Info("virtual servers removed from the table", "writes", changes.Total())
	} else if d.o.Dataplane != "userspace" {
		d.log.Info("IPVS table left in place; established connections keep flowing")
	}
	d.mu.Lock()
	d.phase = phaseStopped
	d.mu.Unlock()
}

// Healthy is nil while the director runs (for /healthz).
func (d *Director) Healthy() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.phase {
	case phaseRunning:
		return nil
	case phaseNew:
		return errors.New("starting")
	}
	return errors.New("shutting down")
}

package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/notify"
	"github.com/vigil-lb/vigil/internal/state"
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
	// NewVRRP builds a VRRP instance; nil uses the Linux one (raw sockets, netlink) on
	// Clock.
	NewVRRP VRRPFactory
	// Clock is the time of everything the director runs: status times, the periodic
	// resync, the health checks, the VRRP trackers and the Linux VRRP instances; nil is
	// the system clock.
	Clock clock.Clock
	// CheckGoroutines runs every health-check probe in a goroutine that Clock times
	// (checks.Options.Goroutines), none on the checks' event loop, which keeps the system
	// clock's time: set it with a fake Clock.
	CheckGoroutines bool
	// StateFile keeps the administrative states and the owned services across restarts
	// (statefile.go); "" keeps them in memory only.
	StateFile string
	// Loader, if set, reads the configuration for ReloadFile, keeping each file's parse
	// (conf.d directories, includes); nil reads one file with conf.LoadLimited.
	Loader *conf.Loader
	// NewSpeaker starts the BGP speaker of a bgp block; nil is GoBGP (internal/bgp).
	NewSpeaker SpeakerFactory
	// Loopback puts announced virtual IPs on lo; nil is netlink.
	Loopback Loopback
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
	sched *checks.Scheduler
	// syncd runs the kernel's connection-sync daemons (nil when the table has none); its
	// goroutine ends with syncDone.
	syncd    *syncd
	syncDone chan struct{}

	// Readers load these; only the owner stores them.
	view   atomic.Pointer[view]
	labels atomic.Pointer[map[string]string] // check ID -> metric label ("http", "http#2")
	// checksSeq is odd while a reload changes the scheduler's checks and publishes its
	// view, so Snapshot can pair the checks with the view of the same configuration.
	checksSeq atomic.Uint64

	// mail carries the scheduler's server events to the loop; reqs the other requests.
	mail     mailbox
	reqs     chan func(context.Context)
	loopDone chan struct{}
	cancel   context.CancelFunc
	// life serialises Start and Stop (never taken by a reader).
	life sync.Mutex
	// closing is the last count of closing connection entries, for Connections.
	closing closingCache

	// Owned by the loop goroutine (see the package doc).
	cur *view
	rec *ipvs.Reconciler
	// servers maps a check scheduler server ID to its real server in cur.
	servers map[string]rsRef
	// prints are the running configuration's check fingerprints and specKeys the Key of
	// every check the scheduler runs, by ID.
	prints   map[*conf.Check]string
	specKeys map[string]string
	vrrps    map[string]*vrrpRun
	groups   map[string][]string // sync group -> instances
	// track runs the VRRP trackers (vrrp_script, track_process, track_file).
	track trackerSet
	// notifier runs notify_up / notify_down and quorum_up / quorum_down commands.
	notifier *notify.Runner
	resync   clock.Ticker
	resyncOn bool
	// saved is what the state file holds (as last read or written).
	saved state.File
	// routes announces the virtual IPs over BGP (announce.go).
	routes *routes
}

// New returns a director that has not applied anything yet.
func New(o Options) *Director {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.OrSystem(o.Clock)
	if o.NewVRRP == nil {
		o.NewVRRP = linuxVRRP(o.Clock)
	}
	d := &Director{
		o:        o,
		log:      o.Logger,
		rec:      ipvs.NewReconciler(o.Table, ipvs.ReconcilerOptions{Logger: o.Logger}),
		mail:     mailbox{wake: make(chan struct{}, 1)},
		reqs:     make(chan func(context.Context)),
		loopDone: make(chan struct{}),
		servers:  map[string]rsRef{},
		vrrps:    map[string]*vrrpRun{},
		groups:   map[string][]string{},
	}
	if sd, ok := o.Table.(ipvs.SyncDaemons); ok {
		d.syncd = newSyncd(sd, d.log, o.Clock)
	}
	d.routes = newRoutes(o, o.Logger)
	d.notifier = notify.New(notify.Options{Logger: o.Logger})
	d.sched = checks.NewScheduler(checks.Options{
		Logger:     o.Logger,
		Clock:      o.Clock,
		Goroutines: o.CheckGoroutines,
		OnServer:   d.enqueue,
		OnCheck:    d.observe,
	})
	return d
}

// Start applies the first configuration: it prepares the kernel (sysctls, timeouts),
// adopts what the table already holds, programs the virtual servers, and starts the
// checks, the VRRP instances and the periodic resync. It returns once the table is
// programmed; the rest runs until Stop. On error nothing keeps running.
func (d *Director) Start(ctx context.Context, cfg *conf.Config) error {
	d.life.Lock()
	defer d.life.Unlock()
	if d.view.Load() != nil || d.cur != nil {
		return errors.New("director already started")
	}
	// Until the loop runs, this goroutine owns the state.
	started := d.o.Clock.Now()
	saved, warnings := d.loadState()
	warnings = append(warnings, d.prepareKernel(ctx, nil, cfg)...)
	adopted := d.adopt(ctx, cfg)
	next, known := d.install(&view{}, cfg, adopted)
	next.started, next.warnings = started, warnings
	if n := restoreAdmin(next, saved.admin); n > 0 {
		d.log.Info("administrative states restored from the state file", "real_servers", n, "path", d.o.StateFile)
	}
	// The services a previous run owned: those the configuration no longer has go now.
	d.rec.Own(saved.owned)
	d.logDropped(cfg, saved.owned)
	d.routes.adoptLo(saved.lo)
	changes, err := d.applyAll(ctx, next, known)
	if err != nil {
		return fmt.Errorf("program the virtual servers: %w", err)
	}
	d.log.Info("virtual servers programmed", "virtual_servers", len(cfg.VirtualServers),
		"writes", changes.Total(), "adopted_real_servers", len(adopted))

	if err := d.sched.Set(d.checkSpecs(next, nil)); err != nil {
		return fmt.Errorf("start the health checks: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	if d.syncd != nil {
		d.syncd.configure(syncConfig(cfg))
		d.syncDone = make(chan struct{})
		go func() {
			defer close(d.syncDone)
			d.syncd.run(runCtx, 5*time.Second)
		}()
	} else if t := syncConfig(cfg); t.configure {
		msg := fmt.Sprintf("%s: ipvs_sync ignored: the %s data plane has no connection synchronisation", t.block(), d.o.Dataplane)
		d.log.Warn(msg)
		next.warnings = append(next.warnings, msg)
	}
	if err := d.startVRRP(runCtx, next); err != nil {
		cancel()
		d.sched.Stop()
		return err
	}
	next.vrrps = d.runningVRRP()
	next.config = status.ConfigStatus{Path: d.o.ConfigPath, Generation: 1, LoadedAt: d.o.Clock.Now()}
	next.counters.Writes = uint64(d.rec.Writes().Total())
	next.phase = phaseRunning
	d.cancel = cancel
	d.publish(next)
	d.saveState()
	go d.loop(runCtx)
	return nil
}

// Stop shuts down: VRRP instances send priority 0 and release their addresses, checks
// stop, and the table is left as it is (so connections survive a restart) unless remove
// is set, which deletes the services vigil owns.
func (d *Director) Stop(ctx context.Context, remove bool) {
	d.life.Lock()
	defer d.life.Unlock()
	if v := d.view.Load(); v == nil || v.phase != phaseRunning {
		return
	}
	// The loop keeps applying health while the instances hand over.
	var runs []*vrrpRun
	err := d.do(context.WithoutCancel(ctx), func(context.Context) {
		next := d.next()
		next.phase = phaseStopping
		d.publish(next)
		runs = next.vrrps
	})
	if err != nil {
		return
	}
	// The routes went with the stopping view: the routers move the flows before the data
	// plane stops.
	d.routes.waitWithdrawn(ctx)
	stopVRRP(ctx, d.o.Clock, runs)
	d.sched.Stop()
	d.stopNotify(ctx)
	d.cancel()
	<-d.loopDone
	// The loop has ended: this goroutine owns the state now.
	d.track.stop()
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
	d.routes.stop(ctx)
	next := d.next()
	next.phase = phaseStopped
	next.counters.Writes = uint64(d.rec.Writes().Total())
	d.publish(next)
	d.saveState()
}

// Healthy is nil while the director runs (for /healthz).
func (d *Director) Healthy() error {
	v := d.view.Load()
	if v == nil {
		return errors.New("starting")
	}
	if v.phase == phaseRunning {
		return nil
	}
	return errors.New("shutting down")
}

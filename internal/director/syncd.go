package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/vrrp"
)

// syncTarget is what the kernel's sync daemons should be: the roles on an interface with
// a sync ID.
type syncTarget struct {
	// state is a bitmask of ipvs.SyncMaster and ipvs.SyncBackup, as the kernel's own
	// sync_state: 0 none, both for the top-level ipvs_sync block.
	state     ipvs.SyncState
	iface     string
	syncID    uint8
	instance  string // the vrrp_instance whose state drives it; "" for the top-level block
	active    bool   // the top-level block: both daemons whatever VRRP says
	configure bool   // an ipvs_sync block exists
}

// syncBoth is the top-level block's roles: the master daemon sends this director's
// connections, the backup installs every other director's.
const syncBoth = ipvs.SyncMaster | ipvs.SyncBackup

// daemons lists the daemons the target wants, master first.
func (t syncTarget) daemons() []ipvs.SyncDaemon {
	var out []ipvs.SyncDaemon
	for _, r := range []ipvs.SyncState{ipvs.SyncMaster, ipvs.SyncBackup} {
		if t.state&r != 0 {
			out = append(out, ipvs.SyncDaemon{State: r, Interface: t.iface, SyncID: t.syncID})
		}
	}
	return out
}

// roleName is what status and the log call the target's roles.
func roleName(s ipvs.SyncState) string {
	switch s {
	case 0:
		return "none"
	case syncBoth:
		return "master+backup"
	}
	return s.String()
}

// block names the ipvs_sync block in the log and the reload diff.
func (t syncTarget) block() string {
	if t.active {
		return "top level"
	}
	return fmt.Sprintf("vrrp_instance %q", t.instance)
}

// syncRole maps a VRRP state to the sync daemon role keepalived's lvs_sync_daemon gives
// it: master while master (it multicasts the connections it creates), backup while
// backup or in fault (it installs the master's), none once the instance stopped.
func syncRole(s vrrp.State) ipvs.SyncState {
	switch s {
	case vrrp.Master:
		return ipvs.SyncMaster
	case vrrp.Backup, vrrp.Fault:
		return ipvs.SyncBackup
	}
	return 0
}

// syncd runs the kernel's IPVS connection-synchronisation daemons as one VRRP instance's
// state says, so that connections established through the master survive a failover, or
// both at once for the top-level block, so that connections survive when ECMP moves them
// between N active directors. VRRP transitions only record the wanted role; a goroutine
// of its own makes the netlink calls, so the VRRP loop never waits for them.
type syncd struct {
	tbl   ipvs.SyncDaemons
	log   *slog.Logger
	clock clock.Clock

	mu       sync.Mutex
	cfg      syncTarget                // the ipvs_sync block (state unused)
	roles    map[string]ipvs.SyncState // by instance, from its transitions
	stopping bool
	applied  syncTarget
	lastErr  error
	wake     chan struct{}
}

func newSyncd(tbl ipvs.SyncDaemons, log *slog.Logger, clk clock.Clock) *syncd {
	return &syncd{tbl: tbl, log: log, clock: clk, roles: map[string]ipvs.SyncState{}, wake: make(chan struct{}, 1)}
}

func (s *syncd) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// configure records the ipvs_sync block (at start and on every reload).
func (s *syncd) configure(t syncTarget) {
	s.mu.Lock()
	changed := s.cfg != t
	s.cfg = t
	s.mu.Unlock()
	if changed {
		s.poke()
	}
}

// transition is the VRRP hook: an instance changed state.
func (s *syncd) transition(instance string, to vrrp.State) {
	s.mu.Lock()
	s.roles[instance] = syncRole(to)
	drives := s.cfg.configure && s.cfg.instance == instance
	s.mu.Unlock()
	if drives {
		s.poke()
	}
}

// wantLocked is the target now. s.mu is held.
func (s *syncd) wantLocked() syncTarget {
	t := s.cfg
	t.state = 0
	switch {
	case !t.configure || s.stopping:
	case t.active:
		t.state = syncBoth
	default:
		t.state = s.roles[t.instance]
	}
	return t
}

// run applies the wanted daemons until ctx ends, retrying a failure every retry.
func (s *syncd) run(ctx context.Context, retry time.Duration) {
	tick := s.clock.NewTicker(retry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C():
			s.mu.Lock()
			failed := s.lastErr != nil
			s.mu.Unlock()
			if !failed {
				continue
			}
		}
		s.apply(ctx)
	}
}

// apply makes the kernel's daemons match the wanted target: daemons of another role,
// interface or sync ID are stopped (also those a killed vigil left behind), then the
// wanted one is started. Without an ipvs_sync block daemons are left alone, unless vigil
// started them.
func (s *syncd) apply(ctx context.Context) {
	s.mu.Lock()
	t := s.wantLocked()
	if !t.configure && s.applied.state == 0 && !s.applied.configure {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.reconcile(ctx, t)
	s.mu.Lock()
	prevErr := s.lastErr
	s.lastErr = err
	if err == nil {
		s.applied = t
	}
	s.mu.Unlock()
	switch {
	case err != nil && (prevErr == nil || prevErr.Error() != err.Error()):
		s.log.Error("IPVS connection sync daemons", "ipvs_sync", t.block(), "err", err)
	case err == nil && t.state != 0:
		s.log.Info("IPVS connection sync daemons running", "ipvs_sync", t.block(), "role", roleName(t.state),
			"interface", t.iface, "sync_id", t.syncID)
	case err == nil:
		s.log.Info("IPVS connection sync daemons stopped", "ipvs_sync", t.block())
	}
}
func (s *syncd) reconcile(ctx context.Context, t syncTarget) error {
	running, err := s.tbl.SyncDaemons(ctx)
	if err != nil {
		return err
	}
	want := t.daemons()
	var errs []error
	for _, r := range running {
		if i := slices.Index(want, r); i >= 0 {
			want = slices.Delete(want, i, i+1)
			continue
		}
		if err := s.tbl.StopSyncDaemon(ctx, r.State); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	for _, w := range want {
		if err := s.tbl.StartSyncDaemon(ctx, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stop stops the daemons vigil runs; call it once run has returned.
func (s *syncd) stop(ctx context.Context) {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.apply(ctx)
}

// status reports the daemons the instance drives, or with instance "" those of the
// top-level block, for /status.
func (s *syncd) status(instance string) (cfg syncTarget, role string, errText string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.configure || s.cfg.active != (instance == "") || s.cfg.instance != instance {
		return syncTarget{}, "", "", false
	}
	cfg = s.cfg
	role = roleName(s.applied.state)
	if s.lastErr != nil {
		errText = s.lastErr.Error()
	}
	return cfg, role, errText, true
}

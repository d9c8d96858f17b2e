package director

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/vrrp"
)

// syncTarget is what the kernel's sync daemons should be: the role (0: none) on an
// interface with a sync ID.
type syncTarget struct {
	state     ipvs.SyncState
	iface     string
	syncID    uint8
	instance  string // the vrrp_instance whose state drives it
	configure bool   // an ipvs_sync block exists
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
// state says, so that connections established through the master survive a failover.
// VRRP transitions only record the wanted role; a goroutine of its own makes the netlink
// calls, so the VRRP loop never waits for them.
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
	if t.configure && !s.stopping {
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
		s.log.Error("IPVS connection sync daemons", "vrrp_instance", t.instance, "err", err)
	case err == nil && t.state != 0:
		s.log.Info("IPVS connection sync daemon running", "vrrp_instance", t.instance, "role", t.state.String(),
			"interface", t.iface, "sync_id", t.syncID)
	case err == nil:
		s.log.Info("IPVS connection sync daemons stopped", "vrrp_instance", t.instance)
	}
}
func (s *syncd) reconcile(ctx context.Context, t syncTarget) error {
	running, err := s.tbl.SyncDaemons(ctx)
	if err != nil {
		return err
	}
	want := ipvs.SyncDaemon{State: t.state, Interface: t.iface, SyncID: t.syncID}
	have := false
	var errs []error
	for _, r := range running {
		if t.state != 0 && r == want {
			have = true
			continue
		}
		if err := s.tbl.StopSyncDaemon(ctx, r.State); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	if t.state != 0 && !have {
		if err := s.tbl.StartSyncDaemon(ctx, want); err != nil {
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

// status reports the daemon the instance drives, for /status.
func (s *syncd) status(instance string) (cfg syncTarget, role string, errText string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.configure || s.cfg.instance != instance {
		return syncTarget{}, "", "", false
	}
	cfg = s.cfg
	role = "none"
	if s.applied.state != 0 {
		role = s.applied.state.String()
	}
	if s.lastErr != nil {
		errText = s.lastErr.Error()
	}
	return cfg, role, errText, true
}

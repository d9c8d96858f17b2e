package director

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
)

// Reload applies cfg as the difference from the running configuration: unchanged real
// servers keep their health and their checks' phase, changed checks restart, removed
// virtual servers are deleted and added ones created; nothing is flushed. The diff is
// logged as one block.
func (d *Director) Reload(ctx context.Context, cfg *conf.Config) error {
	var err error
	doErr := d.do(ctx, func(runCtx context.Context) { err = d.reload(ctx, runCtx, cfg) })
	if doErr != nil {
		d.ReloadFailed(doErr)
		return doErr
	}
	return err
}

// ReloadFailed records a reload that never reached the director (the file did not
// validate): everything keeps running as it was.
func (d *Director) ReloadFailed(err error) {
	_ = d.do(context.Background(), func(context.Context) {
		next := d.next()
		c := &next.config
		ok := false
		c.ReloadsFailed++
		c.LastReloadAt = d.o.Clock.Now()
		c.LastReloadOK = &ok
		c.LastReloadResult = status.ReloadRejected
		c.LastReloadErr = err.Error()
		c.LastReloadDiff = nil
		d.publish(next)
	})
}

// reloadPlan is what a reload changes, worked out before anything is touched.
type reloadPlan struct {
	cfg *conf.Config
	// diff describes the change in the words of the file: configDiff's lines, then the
	// VRRP instances', then ipvs_sync's. The trackers' lines go before the instances'
	// (at vrrpAt) when the reload applies them.
	diff   []string
	vrrpAt int
	// prints are the new configuration's check fingerprints, computed for the diff and
	// reused for the checks' keys.
	prints map[*conf.Check]string
	vrrp   vrrpPlan
	sync   syncTarget
	// syncChanged: the ipvs_sync block changed.
	syncChanged bool
}

// planReload works out a reload of cfg from the running state without changing it.
func (d *Director) planReload(cfg *conf.Config) reloadPlan {
	old := d.cur.cfg
	p := reloadPlan{cfg: cfg, prints: map[*conf.Check]string{}}
	p.diff = configDiff(old, cfg, func(c *conf.Check) string { return d.fingerprint(p.prints, c) })
	p.vrrp = d.planVRRP(cfg)
	p.vrrpAt = len(p.diff)
	p.diff = append(p.diff, p.vrrp.diff...)
	ot, nt := syncConfig(old), syncConfig(cfg)
	p.sync, p.syncChanged = nt, ot != nt
	if p.syncChanged {
		switch {
		case !nt.configure:
			p.diff = append(p.diff, fmt.Sprintf("- ipvs_sync (%s)", ot.block()))
		case !ot.configure:
			p.diff = append(p.diff, fmt.Sprintf("+ ipvs_sync (%s, %s, sync id %d)", nt.block(), nt.iface, nt.syncID))
		default:
			p.diff = append(p.diff, fmt.Sprintf("~ ipvs_sync (%s, %s, sync id %d)", nt.block(), nt.iface, nt.syncID))
		}
	}
	return p
}

// reload is the loop's step for Reload: plan, then apply. ctx is the caller's, for the
// writes; runCtx the loop's, for what keeps running (VRRP instances).
func (d *Director) reload(ctx, runCtx context.Context, cfg *conf.Config) error {
	if d.cur.phase != phaseRunning {
		return errors.New("director is shutting down")
	}
	began := d.o.Clock.Now()
	return d.applyReload(ctx, runCtx, d.planReload(cfg), began)
}

// applyReload makes the plan's configuration the running one and publishes the result.
func (d *Director) applyReload(ctx, runCtx context.Context, p reloadPlan, began time.Time) error {
	old := d.cur
	warnings := d.prepareKernel(ctx, old.cfg, p.cfg)
	next, known := d.install(old, p.cfg, nil)
	next.warnings = warnings
	changes, applyErr := d.applyAll(ctx, next, known)
	trackDiff, vrrpErr := d.applyVRRP(ctx, runCtx, next, p.vrrp)
	p.diff = slices.Insert(p.diff, p.vrrpAt, trackDiff...)
	next.vrrps = d.runningVRRP()
	if p.syncChanged && d.syncd != nil {
		d.syncd.configure(p.sync)
	}
	if p.cfg.Global.ResyncInterval != old.cfg.Global.ResyncInterval {
		d.setResyncInterval(p.cfg.Global.ResyncInterval)
	}
	// The checks change last, together with the view (see checksSeq): a reader never sees
	// the checks of one configuration beside the rest of another, even while stopping a
	// VRRP instance above waits for its handover.
	d.checksSeq.Add(1)
	defer d.checksSeq.Add(1)
	setErr := d.sched.Set(d.checkSpecs(next, p.prints))
	err := errors.Join(applyErr, setErr, vrrpErr)

	now := d.o.Clock.Now()
	c := &next.config
	c.LastReloadAt = now
	c.LastReloadDiff = p.diff
	ok := err == nil
	c.LastReloadOK = &ok
	if err != nil {
		c.ReloadsFailed++
		c.LastReloadResult = status.ReloadPartial
		c.LastReloadErr = err.Error()
		d.log.Error("reload applied with errors; the next resync retries the table", "err", err)
	} else {
		c.ReloadsOK++
		c.LastReloadResult = status.ReloadApplied
		c.LastReloadErr = ""
	}
	c.Generation++
	c.LoadedAt = now
	c.LastReloadDuration = d.o.Clock.Now().Sub(began)
	d.publish(next)
	d.saveState()
	diff := p.diff
	if len(diff) == 0 {
		diff = []string{"(no change)"}
	}
	d.log.Info("configuration reloaded\n  "+strings.Join(diff, "\n  "),
		"generation", c.Generation, "writes", changes.Total(), "took", c.LastReloadDuration)
	return err
}
